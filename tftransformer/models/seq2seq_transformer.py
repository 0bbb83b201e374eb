import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tftransformer._arguments import (
    check_bool,
    check_int,
    check_model_keywords,
)
from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock
from tftransformer.models._task_base import InMemoryBatches
from tftransformer.models.decoding import (
    check_token_id,
    compiled_function,
    encoder_arrays,
    last_log_probs,
)
from tftransformer.models.transformer_encoder import (
    check_stack_arguments,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class Seq2SeqTransformer(InMemoryBatches, keras.Model):
    """An encoder-decoder Transformer producing next-token logits.

    The encoder embeds `encoder_token_ids` and runs `num_layers`
    `TransformerEncoderBlock`s (`"encoder_layer_{i}"`); the decoder embeds
    `decoder_token_ids` and runs `num_layers` `TransformerDecoderBlock`s
    (`"decoder_layer_{i}"`) with causal self-attention and cross-attention
    over the encoder output; a dense layer (`"logits"`) maps each decoder
    position to logits over the decoder vocabulary. Padding masks apply to
    both self-attention and cross-attention.

    Train it with teacher forcing: the decoder input is the target sequence
    shifted right (starting with a start token) and the label at position
    `t` is the target token `t`, e.g. with
    `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.
    `greedy_decode` generates with the trained model.

    The logits are float32 even under a mixed precision policy, so the loss
    is computed at full precision.

    Args:
        encoder_vocabulary_size: positive int, the number of source token ids.
        decoder_vocabulary_size: positive int, the number of target token ids.
        num_layers: positive int, the number of encoder blocks and of decoder
            blocks.
        num_heads: positive int, attention heads per block; must divide
            `hidden_dim`.
        hidden_dim: positive int, the width of the token vectors.
        intermediate_dim: positive int, the feed-forward width of each block.
        max_sequence_length: positive int, the longest source or target
            sequence the `"learned"` position tables cover.
        dropout: float in [0, 1), dropout of embeddings and blocks.
        position_kind: one of `"learned"`, `"sine"` (absolute positions added
            to the embeddings) or `"relative"` (a relative position bias in
            every block's self-attention instead).
        norm_first: bool, pre-norm (`True`) or post-norm (`False`) blocks.
        layer_norm_epsilon: float, epsilon of every layer norm.
        dtype: optional dtype policy of every layer, e.g. `"mixed_bfloat16"`.
        **kwargs: passed to `keras.Model`, e.g. `name`.

    Call arguments:
        inputs: dict of `(batch, seq)` tensors: `"encoder_token_ids"`,
            `"encoder_padding_mask"`, `"decoder_token_ids"` and
            `"decoder_padding_mask"`; the masks are 1 at real tokens and 0 at
            padding.

    Returns:
        Float32 logits of shape `(batch, dec_seq, decoder_vocabulary_size)`.

    Example:
    ```python
    model = tftransformer.models.Seq2SeqTransformer(
        encoder_vocabulary_size=100,
        decoder_vocabulary_size=120,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
        max_sequence_length=32,
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # x: the four input arrays; y: the target ids, (batch, dec_seq).
    model.fit(x, y, epochs=10)
    model.greedy_decode(x["encoder_token_ids"], 1, 2, max_length=32)
    ```
    """

    def __init__(
        self,
        encoder_vocabulary_size,
        decoder_vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        max_sequence_length,
        dropout=0.1,
        position_kind="learned",
        norm_first=False,
        layer_norm_epsilon=1e-5,
        dtype=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs)
        (
            encoder_vocabulary_size,
            decoder_vocabulary_size,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length,
            dropout,
        ) = check_stack_arguments(
            position_kind,
            dropout,
            encoder_vocabulary_size=encoder_vocabulary_size,
            decoder_vocabulary_size=decoder_vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        relative = position_kind == "relative"
        block_kwargs = {
            "intermediate_dim": intermediate_dim,
            "num_heads": num_heads,
            "dropout": dropout,
            "layer_norm_epsilon": layer_norm_epsilon,
            "norm_first": norm_first,
            "use_relative_position_bias": relative,
            "dtype": dtype,
        }

        # === Layers ===
        def stack(prefix, vocabulary_size, block_cls):
            embeddings = TokenAndPositionEmbedding(
                vocabulary_size=vocabulary_size,
                sequence_length=max_sequence_length,
                embedding_dim=hidden_dim,
                position_kind="none" if relative else position_kind,
                dtype=dtype,
                name=f"{prefix}_embeddings",
            )
            # As in `TransformerEncoder`: post-norm blocks get normalized
            # embeddings, a pre-norm stack ends with a norm.
            layer_norm = keras.layers.LayerNormalization(
                epsilon=layer_norm_epsilon,
                dtype=dtype,
                name=(
                    f"{prefix}_final_layer_norm"
                    if norm_first
                    else f"{prefix}_embeddings_layer_norm"
                ),
            )
            dropout_layer = keras.layers.Dropout(
                dropout, dtype=dtype, name=f"{prefix}_embeddings_dropout"
            )
            blocks = [
                block_cls(**block_kwargs, name=f"{prefix}_layer_{i}")
                for i in range(num_layers)
            ]
            return embeddings, layer_norm, dropout_layer, blocks

        (
            self.encoder_embeddings,
            self.encoder_layer_norm,
            self.encoder_embeddings_dropout,
            self.encoder_layers,
        ) = stack("encoder", encoder_vocabulary_size, TransformerEncoderBlock)
        (
            self.decoder_embeddings,
            self.decoder_layer_norm,
            self.decoder_embeddings_dropout,
            self.decoder_layers,
        ) = stack("decoder", decoder_vocabulary_size, TransformerDecoderBlock)
        self.logits_dense = keras.layers.Dense(
            decoder_vocabulary_size, dtype=dtype, name="logits"
        )
        self.logits_float32 = keras.layers.Activation(
            "linear", dtype="float32", name="logits_float32"
        )

        # === Functional model ===
        def int_input(name):
            return keras.Input(shape=(None,), dtype="int32", name=name)

        inputs = {
            name: int_input(name)
            for name in (
                "encoder_token_ids",
                "encoder_padding_mask",
                "decoder_token_ids",
                "decoder_padding_mask",
            )
        }
        # (batch, enc_seq, hidden)
        x = self.encoder_embeddings(inputs["encoder_token_ids"])
        if not norm_first:
            x = self.encoder_layer_norm(x)
        x = self.encoder_embeddings_dropout(x)
        for block in self.encoder_layers:
            x = block(x, padding_mask=inputs["encoder_padding_mask"])
        if norm_first:
            x = self.encoder_layer_norm(x)
        encoder_sequence = x
        # (batch, dec_seq, hidden)
        x = self.decoder_embeddings(inputs["decoder_token_ids"])
        if not norm_first:
            x = self.decoder_layer_norm(x)
        x = self.decoder_embeddings_dropout(x)
        for block in self.decoder_layers:
            x = block(
                x,
                encoder_sequence,
                decoder_padding_mask=inputs["decoder_padding_mask"],
                encoder_padding_mask=inputs["encoder_padding_mask"],
            )
        if norm_first:
            x = self.decoder_layer_norm(x)
        # (batch, dec_seq, decoder_vocabulary_size)
        logits = self.logits_float32(self.logits_dense(x))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.encoder_vocabulary_size = encoder_vocabulary_size
        self.decoder_vocabulary_size = decoder_vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.position_kind = position_kind
        self.norm_first = norm_first
        self.layer_norm_epsilon = layer_norm_epsilon

    def greedy_decode(
        self,
        encoder_token_ids,
        start_token_id,
        end_token_id,
        max_length,
        encoder_padding_mask=None,
        pad_token_id=0,
        jit_compile=False,
    ):
        """Generates target sequences by picking the most likely next token.

        Decoding starts from `start_token_id` and appends the argmax of the
        logits at the last decoded position until every sequence has produced
        `end_token_id` or `max_length` tokens exist. The sources are encoded
        once; each step runs only the newest decoder token, reusing the
        earlier positions' keys and values (`call_with_cache`).

        Args:
            encoder_token_ids: int array `(batch, enc_seq)`.
            start_token_id: int, the first decoder token.
            end_token_id: int, the token that ends a sequence.
            max_length: int >= 2, the longest output, start token included.
            encoder_padding_mask: optional array `(batch, enc_seq)`, 1 at real
                tokens; defaults to `encoder_token_ids != pad_token_id`.
            pad_token_id: int, the id written after a sequence's end token.
            jit_compile: bool, whether XLA compiles the one-token decoding
                step: faster per token (README, "Generation speed"), at a
                compilation (a second or two) for each new batch size,
                source length and `max_length`. Pays when sources of a few
                lengths are decoded many times (pad them to a few lengths).

        Returns:
            An int32 NumPy array `(batch, length)`, `length <= max_length`:
            column 0 is `start_token_id`, each row runs up to and including
            its first `end_token_id` (if any), then holds `pad_token_id`.
            `length` is the shortest that holds every row.
        """
        max_length = check_int("max_length", max_length, 2)
        vocabulary_size = self.decoder_vocabulary_size
        start_token_id = check_token_id(
            "start_token_id", start_token_id, vocabulary_size
        )
        end_token_id = check_token_id("end_token_id", end_token_id, vocabulary_size)
        pad_token_id = check_token_id("pad_token_id", pad_token_id, vocabulary_size)
        jit_compile = check_bool("jit_compile", jit_compile)
        if self.position_kind == "learned" and max_length > self.max_sequence_length:
            raise ValueError(
                "max_length must not exceed max_sequence_length with learned "
                f"positions. Received: max_length={max_length}, "
                f"max_sequence_length={self.max_sequence_length}"
            )
        encoder_token_ids, encoder_padding_mask = encoder_arrays(
            encoder_token_ids,
            encoder_padding_mask,
            pad_token_id,
            self.encoder_vocabulary_size,
        )
        batch_size = encoder_token_ids.shape[0]
        tokens = np.full((batch_size, max_length), pad_token_id, dtype="int32")
        tokens[:, 0] = start_token_id
        finished = np.zeros((batch_size,), dtype=bool)
        step_log_probs, cache = self._start_cached_decoding(
            encoder_token_ids, encoder_padding_mask, max_length, jit_compile
        )
        for step in range(1, max_length):
            log_probs, cache = step_log_probs(
                tokens[:, step - 1 : step], step - 1, cache
            )
            next_tokens = np.argmax(log_probs, axis=-1).astype("int32")
            tokens[:, step] = np.where(finished, pad_token_id, next_tokens)
            finished |= next_tokens == end_token_id
            if finished.all():
                return tokens[:, : step + 1]
        return tokens

    def _start_cached_decoding(
        self, encoder_token_ids, encoder_padding_mask, max_length, jit_compile=False
    ):
        """Encodes the sources once; returns a step function and its caches.

        The step function takes the decoder tokens `(batch, new_length)` at
        positions `index, ...`, the index and the caches, and returns the
        next-token log-probabilities after the last of them (a NumPy array
        `(batch, vocabulary)`) and the updated caches. With `jit_compile`,
        XLA compiles the steps after the first; the encoder and the first
        step (which fills the cross-attention cache) run once per call, where
        a compilation would not pay.
        """
        encoder_padding_mask = tf.constant(encoder_padding_mask)
        encoder_sequence = compiled_function(self, "encode", _encode)(
            tf.constant(encoder_token_ids), encoder_padding_mask
        )
        # Two functions: their argument lists differ (a tf.function with
        # reduce_retracing cannot generalize over the number of arguments).
        first_step = compiled_function(self, "first_log_probs", _cached_log_probs)
        step = compiled_function(
            self, "cached_log_probs", _cached_log_probs, jit_compile=jit_compile
        )
        cache = self.build_cache(
            encoder_token_ids.shape[0], max_length, encoder_token_ids.shape[1]
        )
        state = {"encoder_sequence": encoder_sequence}

        def step_log_probs(token_ids, index, cache):
            # The first call fills the cross-attention cache from the encoder
            # output; later calls read it.
            encoder_sequence = state.pop("encoder_sequence", None)
            arguments = (tf.constant(token_ids), tf.constant(index), *cache)
            arguments += (encoder_padding_mask,)
            if encoder_sequence is None:
                log_probs, *cache = step(*arguments)
            else:
                log_probs, *cache = first_step(*arguments, encoder_sequence)
            return log_probs.numpy(), tuple(cache)

        return step_log_probs, cache

    def encode(self, encoder_token_ids, encoder_padding_mask, training=False):
        """Runs the encoder alone.

        Args:
            encoder_token_ids: int tensor `(batch, enc_seq)`.
            encoder_padding_mask: tensor `(batch, enc_seq)`, 1 at real tokens.
            training: bool, whether dropout is active.

        Returns:
            The encoder output `(batch, enc_seq, hidden_dim)`, as the decoder
            reads it.
        """
        x = self.encoder_embeddings(encoder_token_ids)
        if not self.norm_first:
            x = self.encoder_layer_norm(x)
        x = self.encoder_embeddings_dropout(x, training=training)
        for block in self.encoder_layers:
            x = block(x, padding_mask=encoder_padding_mask, training=training)
        if self.norm_first:
            x = self.encoder_layer_norm(x)
        return x

    def build_cache(self, batch_size, max_length, encoder_length, per_layer=False):
        """Returns empty key/value caches for `call_with_cache`.

        Args:
            batch_size: int, the number of sequences.
            max_length: int, the number of decoder positions the cache holds.
            encoder_length: int, the length of the encoder sequence.
            per_layer: bool, whether to return one cache per layer (what a
                LiteRT export steps with: LiteRT slices at most 5-D
                tensors).

        Returns:
            A tuple `(self_attention_cache, cross_attention_cache)` of zero
            tensors in the compute dtype, of shapes `(batch_size, num_layers,
            2, max_length, num_heads, head_dim)` and `(batch_size,
            num_layers, 2, encoder_length, num_heads, head_dim)`; with
            `per_layer`, two lists of `num_layers` zero tensors each, of
            those shapes without the `num_layers` axis.
        """
        head_dim = self.hidden_dim // self.num_heads
        heads = (self.num_heads, head_dim)
        if per_layer:
            shape = (batch_size, 2)
            return tuple(
                [
                    ops.zeros(shape + (length,) + heads, dtype=self.compute_dtype)
                    for _ in range(self.num_layers)
                ]
                for length in (max_length, encoder_length)
            )
        shape = (batch_size, self.num_layers, 2)
        return (
            ops.zeros(shape + (max_length,) + heads, dtype=self.compute_dtype),
            ops.zeros(shape + (encoder_length,) + heads, dtype=self.compute_dtype),
        )

    def call_with_cache(
        self,
        decoder_token_ids,
        cache_update_index,
        self_attention_cache,
        cross_attention_cache,
        encoder_padding_mask,
        encoder_sequence=None,
    ):
        """Runs new decoder positions, reusing earlier keys and values.

        The decoder tokens sit at positions `cache_update_index, ...`; each
        attends to the cached positions before it and to the new ones up to
        itself, so feeding a target in pieces gives the logits of one full
        call. Inference mode (no dropout).

        Args:
            decoder_token_ids: int tensor `(batch, new_length)`.
            cache_update_index: int or scalar int tensor, the position of the
                first new token.
            self_attention_cache: tensor from `build_cache` or the previous
                call, `(batch, num_layers, 2, max_length, num_heads,
                head_dim)`; or a list of one `(batch, 2, max_length,
                num_heads, head_dim)` tensor per layer (`build_cache` with
                `per_layer`), returned as such a list.
            cross_attention_cache: tensor from `build_cache` or the previous
                call, `(batch, num_layers, 2, enc_seq, num_heads, head_dim)`;
                or a list of one tensor per layer, as `self_attention_cache`.
            encoder_padding_mask: tensor `(batch, enc_seq)`, 1 at real source
                tokens.
            encoder_sequence: the output of `encode`, given on the first call
                only: the cross-attention cache is then filled from it (once
                per source); without it the cache is read as it is.

        Returns:
            A tuple of float32 logits `(batch, new_length,
            decoder_vocabulary_size)` and the two updated caches.

        Example:
        ```python
        encoded = model.encode(source_ids, source_mask)
        self_cache, cross_cache = model.build_cache(2, 16, source_ids.shape[1])
        logits, self_cache, cross_cache = model.call_with_cache(
            start_ids, 0, self_cache, cross_cache, source_mask, encoded
        )
        ```
        """
        x = self.decoder_embeddings(decoder_token_ids, start_index=cache_update_index)
        if not self.norm_first:
            x = self.decoder_layer_norm(x)
        per_layer = isinstance(self_attention_cache, (list, tuple))
        self_caches, cross_caches = [], []
        for i, block in enumerate(self.decoder_layers):
            x, layer_self_cache, layer_cross_cache = block(
                x,
                encoder_sequence,
                encoder_padding_mask=encoder_padding_mask,
                self_attention_cache=(
                    self_attention_cache[i]
                    if per_layer
                    else self_attention_cache[:, i, ...]
                ),
                self_attention_cache_update_index=cache_update_index,
                cross_attention_cache=(
                    cross_attention_cache[i]
                    if per_layer
                    else cross_attention_cache[:, i, ...]
                ),
                cross_attention_cache_update_index=(
                    None if encoder_sequence is None else 0
                ),
                training=False,
            )
            self_caches.append(layer_self_cache)
            cross_caches.append(layer_cross_cache)
        if self.norm_first:
            x = self.decoder_layer_norm(x)
        logits = self.logits_float32(self.logits_dense(x))
        if per_layer:
            return logits, self_caches, cross_caches
        return (
            logits,
            ops.stack(self_caches, axis=1),
            ops.stack(cross_caches, axis=1),
        )

    def get_config(self):
        # The functional config (a layer graph) cannot be passed back to this
        # constructor, so the config is the constructor's arguments.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "encoder_vocabulary_size": self.encoder_vocabulary_size,
            "decoder_vocabulary_size": self.decoder_vocabulary_size,
            "num_layers": self.num_layers,
            "num_heads": self.num_heads,
            "hidden_dim": self.hidden_dim,
            "intermediate_dim": self.intermediate_dim,
            "max_sequence_length": self.max_sequence_length,
            "dropout": self.dropout,
            "position_kind": self.position_kind,
            "norm_first": self.norm_first,
            "layer_norm_epsilon": self.layer_norm_epsilon,
        }

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.dtype_policies.deserialize(config["dtype"])
        return cls(**config)


def _encode(model, encoder_token_ids, encoder_padding_mask):
    return model.encode(encoder_token_ids, encoder_padding_mask)


def _cached_log_probs(model, *arguments):
    logits, self_attention_cache, cross_attention_cache = model.call_with_cache(
        *arguments
    )
    return last_log_probs(logits), self_attention_cache, cross_attention_cache
