import keras
import numpy as np
import tensorflow as tf
from keras import ops

from tftransformer._arguments import (
    check_bool,
    check_int,
    check_model_keywords,
    is_finite_number,
    is_int,
)
from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.models._task_base import InMemoryBatches
from tftransformer.models.decoding import (
    check_token_id,
    compiled_function,
    last_log_probs,
    token_id_array,
)
from tftransformer.models.transformer_encoder import (
    check_stack_arguments,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class CausalLM(InMemoryBatches, keras.Model):
    """A decoder-only Transformer language model (GPT-style).

    Token ids are embedded (`"embeddings"`), run through `num_layers`
    `TransformerDecoderBlock`s without cross-attention (`"decoder_layer_{i}"`,
    causal self-attention only) and mapped by a dense layer (`"logits"`) to
    next-token logits over the vocabulary. Train it on token sequences with
    the labels shifted left by one: the logits at position `t` predict token
    `t + 1`. `generate` continues prompts by sampling.

    The logits are float32 even under a mixed precision policy.

    Args:
        vocabulary_size: positive int, the number of token ids.
        num_layers: positive int, the number of decoder blocks.
        num_heads: positive int, attention heads per block; must divide
            `hidden_dim`.
        hidden_dim: positive int, the width of the token vectors.
        intermediate_dim: positive int, the feed-forward width of each block.
        max_sequence_length: positive int, the longest sequence the
            `"learned"` position table covers.
        dropout: float in [0, 1), dropout of embeddings and blocks.
        position_kind: one of `"learned"`, `"sine"` (absolute positions added
            to the embeddings) or `"relative"` (a causal relative position
            bias in every block's self-attention instead).
        norm_first: bool, pre-norm (`True`) or post-norm (`False`) blocks.
        layer_norm_epsilon: float, epsilon of every layer norm.
        dtype: optional dtype policy of every layer, e.g. `"mixed_bfloat16"`.
        **kwargs: passed to `keras.Model`, e.g. `name`.

    Call arguments:
        inputs: dict of `(batch, seq)` int tensors: `"token_ids"` and
            `"padding_mask"` (1 at real tokens, 0 at padding).

    Returns:
        Float32 logits of shape `(batch, seq, vocabulary_size)`.

    Example:
    ```python
    model = tftransformer.models.CausalLM(
        vocabulary_size=100,
        num_layers=2,
        num_heads=4,
        hidden_dim=64,
        intermediate_dim=128,
        max_sequence_length=64,
    )
    model.compile(
        optimizer="adam",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    # ids: (batch, 65) token ids; inputs are ids[:, :-1], labels ids[:, 1:].
    inputs = {"token_ids": ids[:, :-1], "padding_mask": ids[:, :-1] != 0}
    model.fit(inputs, ids[:, 1:], epochs=10)
    model.generate(ids[:2, :5], max_length=30, temperature=0.8, top_k=10)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
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
            vocabulary_size,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length,
            dropout,
        ) = check_stack_arguments(
            position_kind,
            dropout,
            vocabulary_size=vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        relative = position_kind == "relative"

        # === Layers ===
        self.embeddings = TokenAndPositionEmbedding(
            vocabulary_size=vocabulary_size,
            sequence_length=max_sequence_length,
            embedding_dim=hidden_dim,
            position_kind="none" if relative else position_kind,
            dtype=dtype,
            name="embeddings",
        )
        # As in `Seq2SeqTransformer`: post-norm blocks get normalized
        # embeddings, a pre-norm stack ends with a norm.
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon,
            dtype=dtype,
            name="final_layer_norm" if norm_first else "embeddings_layer_norm",
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.decoder_layers = [
            TransformerDecoderBlock(
                intermediate_dim=intermediate_dim,
                num_heads=num_heads,
                dropout=dropout,
                layer_norm_epsilon=layer_norm_epsilon,
                norm_first=norm_first,
                use_relative_position_bias=relative,
                dtype=dtype,
                name=f"decoder_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.logits_dense = keras.layers.Dense(
            vocabulary_size, dtype=dtype, name="logits"
        )
        self.logits_float32 = keras.layers.Activation(
            "linear", dtype="float32", name="logits_float32"
        )

        # === Functional model ===
        inputs = {
            name: keras.Input(shape=(None,), dtype="int32", name=name)
            for name in ("token_ids", "padding_mask")
        }
        # (batch, seq, hidden)
        x = self.embeddings(inputs["token_ids"])
        if not norm_first:
            x = self.layer_norm(x)
        x = self.embeddings_dropout(x)
        for block in self.decoder_layers:
            x = block(x, decoder_padding_mask=inputs["padding_mask"])
        if norm_first:
            x = self.layer_norm(x)
        # (batch, seq, vocabulary_size)
        logits = self.logits_float32(self.logits_dense(x))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)
        if dtype is not None:
            self.dtype_policy = keras.dtype_policies.get(dtype)

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.max_sequence_length = max_sequence_length
        self.dropout = dropout
        self.position_kind = position_kind
        self.norm_first = norm_first
        self.layer_norm_epsilon = layer_norm_epsilon

    def generate(
        self,
        prompt_ids,
        max_length,
        temperature=1.0,
        top_k=None,
        seed=None,
        end_token_id=None,
        prompt_padding_mask=None,
        pad_token_id=0,
        jit_compile=True,
    ):
        """Continues prompts by sampling one token at a time.

        At each position after its prompt, a row's next token is drawn from
        `softmax(logits / temperature)` restricted to the `top_k` most likely
        tokens. `top_k=1` is greedy decoding (the argmax, whatever the
        temperature and seed). Sampling uses a NumPy generator seeded with
        `seed`, so equal seeds give equal outputs.

        One call runs the shortest prompt through the model and fills a
        key/value cache (`call_with_cache`); every later step runs only the
        newest token, so each step costs the same whatever the length.

        Args:
            prompt_ids: int array `(batch, prompt_length)`, each row a prompt
                of at least one token, shorter ones padded on the right.
            max_length: int, the length of the outputs, prompt included;
                more than `prompt_length`.
            temperature: float > 0; below 1 sharpens the distribution, above
                1 flattens it.
            top_k: optional int >= 1, sample among the `top_k` most likely
                tokens only; `None` samples from the whole vocabulary.
            seed: optional int >= 0, the seed of the sampling generator.
            end_token_id: optional int; a row that produces it stops and is
                padded with `pad_token_id` from there.
            prompt_padding_mask: optional array `(batch, prompt_length)`, 1 at
                the prompt's tokens and 0 at its padding; defaults to all ones.
            pad_token_id: int, the id written after an end token.
            jit_compile: bool, whether XLA compiles the one-token decoding
                step. Faster per token, at a compilation (about a second)
                for each new batch size and `max_length`; `False` avoids it
                for one-off calls. The prompt runs without XLA either way.

        Returns:
            An int32 NumPy array `(batch, length)`: each row's prompt followed
            by its generated tokens. `length` is `max_length`, or less when
            every row has produced `end_token_id`.

        Example:
        ```python
        model.generate(np.array([[5, 6, 7]]), max_length=20, top_k=1)
        ```
        """
        if not is_finite_number(temperature) or temperature <= 0:
            raise ValueError(
                "temperature must be a finite number > 0 (use top_k=1 for "
                f"greedy decoding). Received: temperature={temperature!r}"
            )
        temperature = float(temperature)
        if top_k is not None:
            top_k = check_int(
                "top_k", top_k, 1, self.vocabulary_size, " (the vocabulary size)"
            )
        if end_token_id is not None:
            end_token_id = check_token_id(
                "end_token_id", end_token_id, self.vocabulary_size
            )
        pad_token_id = check_token_id(
            "pad_token_id", pad_token_id, self.vocabulary_size
        )
        jit_compile = check_bool("jit_compile", jit_compile)
        if seed is not None:
            # NumPy's own errors did not name the argument.
            seed = check_int("seed", seed, 0, what=" or None")
        prompt_ids = token_id_array("prompt_ids", prompt_ids, self.vocabulary_size)
        if prompt_ids.ndim != 2 or prompt_ids.shape[1] == 0:
            raise ValueError(
                "prompt_ids must have shape (batch, prompt_length) with "
                f"prompt_length >= 1. Received: shape {prompt_ids.shape}"
            )
        batch_size, prompt_length = prompt_ids.shape
        if not is_int(max_length) or max_length <= prompt_length:
            raise ValueError(
                "max_length must be an integer greater than the prompt length. "
                f"Received: max_length={max_length!r}, prompt length "
                f"{prompt_length}"
            )
        max_length = int(max_length)
        if self.position_kind == "learned" and max_length > self.max_sequence_length:
            raise ValueError(
                "max_length must not exceed max_sequence_length with learned "
                f"positions. Received: max_length={max_length}, "
                f"max_sequence_length={self.max_sequence_length}"
            )
        if prompt_padding_mask is None:
            prompt_lengths = np.full((batch_size,), prompt_length)
        else:
            mask = np.asarray(ops.convert_to_numpy(prompt_padding_mask)).astype(bool)
            if mask.shape != prompt_ids.shape:
                raise ValueError(
                    "prompt_padding_mask must have the shape of prompt_ids "
                    f"{prompt_ids.shape}. Received: shape {mask.shape}"
                )
            # Generation writes at each row's length: a 0 before a 1 (left
            # padding, a gap) would have prompt tokens overwritten.
            bad = np.flatnonzero(~mask[:, 0] | (mask[:, 1:] > mask[:, :-1]).any(1))
            if bad.size:
                raise ValueError(
                    "prompt_padding_mask must mark each row's prompt as 1s "
                    "followed by 0s (at least one 1: prompts padded on the "
                    f"right). Received: row {bad[0]} is "
                    f"{mask[bad[0]].astype(int).tolist()}"
                )
            prompt_lengths = mask.sum(axis=1)

        rng = np.random.default_rng(seed)
        # XLA fuses the many small ops of a one-token step (README,
        # "Generation speed"); it compiles once per input shape. The prompt
        # runs once per call, where a compilation would not pay.
        fill_cache = compiled_function(self, "cached_log_probs", _cached_log_probs)
        step_log_probs = compiled_function(
            self, "cached_log_probs", _cached_log_probs, jit_compile=jit_compile
        )
        tokens = np.full((batch_size, max_length), pad_token_id, dtype="int32")
        tokens[:, :prompt_length] = prompt_ids
        finished = np.zeros((batch_size,), dtype=bool)
        # Every row's first `start` tokens are its prompt: one call fills the
        # cache with them, then each step feeds one token.
        start = int(prompt_lengths.min())
        log_probs, cache = fill_cache(
            tf.constant(tokens[:, :start]),
            self.build_cache(batch_size, max_length),
            tf.constant(0),
        )
        for step in range(start, max_length):
            next_tokens = _sample(log_probs.numpy(), temperature, top_k, rng)
            generating = step >= prompt_lengths
            tokens[:, step] = np.where(
                ~generating,
                tokens[:, step],
                np.where(finished, pad_token_id, next_tokens),
            )
            if end_token_id is not None:
                finished |= generating & (next_tokens == end_token_id)
                if finished.all():
                    return tokens[:, : step + 1]
            if step + 1 < max_length:
                log_probs, cache = step_log_probs(
                    tf.constant(tokens[:, step : step + 1]), cache, tf.constant(step)
                )
        return tokens

    def build_cache(self, batch_size, max_length, per_layer=False):
        """Returns an empty key/value cache for `call_with_cache`.

        Args:
            batch_size: int, the number of sequences.
            max_length: int, the number of positions the cache holds.
            per_layer: bool, whether to return one cache per layer (what a
                LiteRT export steps with: LiteRT slices at most 5-D
                tensors).

        Returns:
            A zero tensor of shape `(batch_size, num_layers, 2, max_length,
            num_heads, hidden_dim // num_heads)` in the compute dtype; with
            `per_layer`, a list of `num_layers` zero tensors of shape
            `(batch_size, 2, max_length, num_heads, hidden_dim // num_heads)`.
        """
        head_dim = self.hidden_dim // self.num_heads
        shape = (batch_size, 2, max_length, self.num_heads, head_dim)
        if per_layer:
            return [
                ops.zeros(shape, dtype=self.compute_dtype)
                for _ in range(self.num_layers)
            ]
        shape = (batch_size, self.num_layers, *shape[1:])
        return ops.zeros(shape, dtype=self.compute_dtype)

    def call_with_cache(self, token_ids, cache, cache_update_index):
        """Runs new positions through the model, reusing earlier keys/values.

        The tokens sit at positions `cache_update_index, ...`; each attends
        to the cached positions before it and to the new ones up to itself,
        so feeding a sequence in pieces gives the logits of one full call.
        Inference mode (no dropout).

        Args:
            token_ids: int tensor `(batch, new_length)`.
            cache: tensor from `build_cache` or from the previous call, of
                shape `(batch, num_layers, 2, max_length, num_heads,
                head_dim)`; or a list of one `(batch, 2, max_length,
                num_heads, head_dim)` tensor per layer (what a LiteRT
                export steps with: LiteRT slices at most 5-D tensors),
                returned as such a list.
            cache_update_index: int or scalar int tensor, the position of the
                first new token.

        Returns:
            A tuple of float32 logits `(batch, new_length, vocabulary_size)`
            and the updated cache.

        Example:
        ```python
        cache = model.build_cache(batch_size=2, max_length=16)
        logits, cache = model.call_with_cache(prompt_ids, cache, 0)
        next_ids = ops.argmax(logits[:, -1], axis=-1)[:, None]
        logits, cache = model.call_with_cache(next_ids, cache, prompt_length)
        ```
        """
        # (batch, new_length, hidden)
        x = self.embeddings(token_ids, start_index=cache_update_index)
        if not self.norm_first:
            x = self.layer_norm(x)
        per_layer = isinstance(cache, (list, tuple))
        caches = []
        for i, block in enumerate(self.decoder_layers):
            x, layer_cache = block(
                x,
                self_attention_cache=cache[i] if per_layer else cache[:, i, ...],
                self_attention_cache_update_index=cache_update_index,
                training=False,
            )
            caches.append(layer_cache)
        if self.norm_first:
            x = self.layer_norm(x)
        logits = self.logits_float32(self.logits_dense(x))
        return logits, caches if per_layer else ops.stack(caches, axis=1)

    def get_config(self):
        # The functional config (a layer graph) cannot be passed back to this
        # constructor, so the config is the constructor's arguments.
        return {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.dtype_policies.serialize(self.dtype_policy),
            "vocabulary_size": self.vocabulary_size,
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


def _cached_log_probs(model, token_ids, cache, cache_update_index):
    logits, cache = model.call_with_cache(token_ids, cache, cache_update_index)
    return last_log_probs(logits), cache


def _sample(log_probs, temperature, top_k, rng):
    """Draws one token per row from `softmax(log_probs / temperature)`,
    restricted to the `top_k` most likely tokens."""
    if top_k == 1:
        return np.argmax(log_probs, axis=-1).astype("int32")
    logits = log_probs.astype("float64") / temperature
    if top_k is not None and top_k < logits.shape[-1]:
        # Exactly top_k tokens, also when logits tie (bfloat16 logits do).
        keep = np.argpartition(logits, -top_k, axis=-1)[:, -top_k:]
        kept = np.full_like(logits, -np.inf)
        np.put_along_axis(kept, keep, np.take_along_axis(logits, keep, -1), -1)
        logits = kept
    probabilities = np.exp(logits - logits.max(axis=-1, keepdims=True))
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    # Inverse transform sampling: one uniform draw per row.
    cumulative = np.cumsum(probabilities, axis=-1)
    draws = rng.random((len(logits), 1)) * cumulative[:, -1:]
    return np.minimum((cumulative < draws).sum(axis=-1), logits.shape[-1] - 1).astype(
        "int32"
    )
