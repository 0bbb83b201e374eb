import keras
import numpy as np

from tftransformer._arguments import check_int, python_number
from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock
from tftransformer.models.decoding import check_token_id, encoder_arrays
from tftransformer.models.transformer_encoder import (
    POSITION_KINDS,
    check_dropout,
    check_positive_int,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class Seq2SeqTransformer(keras.Model):
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
        dropout = python_number(dropout)
        (
            encoder_vocabulary_size,
            decoder_vocabulary_size,
            num_layers,
            num_heads,
            hidden_dim,
            intermediate_dim,
            max_sequence_length,
        ) = check_positive_int(
            encoder_vocabulary_size=encoder_vocabulary_size,
            decoder_vocabulary_size=decoder_vocabulary_size,
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_sequence_length,
        )
        if hidden_dim % num_heads:
            raise ValueError(
                "hidden_dim must be divisible by num_heads. "
                f"Received: hidden_dim={hidden_dim}, num_heads={num_heads}"
            )
        if position_kind not in POSITION_KINDS:
            raise ValueError(
                f"position_kind must be one of {POSITION_KINDS}. "
                f"Received: position_kind={position_kind!r}"
            )
        check_dropout(dropout)
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
    ):
        """Generates target sequences by picking the most likely next token.

        Decoding starts from `start_token_id` and appends the argmax of the
        logits at the last decoded position until every sequence has produced
        `end_token_id` or `max_length` tokens exist. Every step runs the
        model on a buffer of fixed length `max_length`; causal attention keeps
        the not-yet-decoded positions from affecting the decoded ones.

        Args:
            encoder_token_ids: int array `(batch, enc_seq)`.
            start_token_id: int, the first decoder token.
            end_token_id: int, the token that ends a sequence.
            max_length: int >= 2, the longest output, start token included.
            encoder_padding_mask: optional array `(batch, enc_seq)`, 1 at real
                tokens; defaults to `encoder_token_ids != pad_token_id`.
            pad_token_id: int, the id written after a sequence's end token.

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
        if self.position_kind == "learned" and max_length > self.max_sequence_length:
            raise ValueError(
                "max_length must not exceed max_sequence_length with learned "
                f"positions. Received: max_length={max_length}, "
                f"max_sequence_length={self.max_sequence_length}"
            )
        encoder_token_ids, encoder_padding_mask = encoder_arrays(
            encoder_token_ids, encoder_padding_mask, pad_token_id
        )
        batch_size = encoder_token_ids.shape[0]
        tokens = np.full((batch_size, max_length), pad_token_id, dtype="int32")
        tokens[:, 0] = start_token_id
        finished = np.zeros((batch_size,), dtype=bool)
        positions = np.arange(max_length)[None, :]
        for step in range(1, max_length):
            inputs = {
                "encoder_token_ids": encoder_token_ids,
                "encoder_padding_mask": encoder_padding_mask,
                "decoder_token_ids": tokens,
                "decoder_padding_mask": np.broadcast_to(
                    positions < step, tokens.shape
                ).astype("int32"),
            }
            # A fixed input shape lets every step reuse one traced function.
            logits = self.predict_on_batch(inputs)
            next_tokens = np.argmax(logits[:, step - 1, :], axis=-1).astype("int32")
            tokens[:, step] = np.where(finished, pad_token_id, next_tokens)
            finished |= next_tokens == end_token_id
            if finished.all():
                return tokens[:, : step + 1]
        return tokens

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
