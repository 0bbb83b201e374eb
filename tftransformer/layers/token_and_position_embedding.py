import keras
from keras import ops

from tftransformer._arguments import (
    check_bool,
    check_choice,
    check_input_rank,
    check_int,
)
from tftransformer.layers.initializers import clone_initializer
from tftransformer.layers.position_embedding import PositionEmbedding
from tftransformer.layers.sine_position_encoding import SinePositionEncoding

POSITION_KINDS = ("learned", "sine", "none")


@keras.saving.register_keras_serializable(package="tftransformer")
class TokenAndPositionEmbedding(keras.layers.Layer):
    """Token embedding plus an optional absolute position signal.

    Looks token ids up in a learned table and adds, depending on
    `position_kind`, a learned position embedding (`"learned"`, as in BERT),
    the fixed sinusoidal encoding (`"sine"`, as in "Attention Is All You
    Need") or nothing (`"none"`, for models whose attention layers carry a
    relative position bias instead).

    Args:
        vocabulary_size: positive int, the number of token ids.
        sequence_length: positive int, the size of the learned position
            table, i.e. the longest sequence `"learned"` accepts. `"sine"` and
            `"none"` accept any length and keep it only in the config.
        embedding_dim: positive int, the width of the embeddings.
        position_kind: one of `"learned"`, `"sine"`, `"none"`.
        mask_zero: bool, whether token id 0 is padding. If true, the layer
            produces a Keras mask that is false at id 0.
        embeddings_initializer: initializer of the token table and of the
            learned position table. Defaults to `"glorot_uniform"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: int tensor of token ids, shape `(batch, seq)`.
        start_index: int or scalar int tensor, the position of the first
            token (useful when decoding one step at a time).

    Returns:
        A float tensor of shape `(batch, seq, embedding_dim)`, with a Keras
        mask of shape `(batch, seq)` attached when `mask_zero=True`.

    Example:
    ```python
    token_ids = np.array([[5, 3, 9, 0, 0]])
    layer = tftransformer.layers.TokenAndPositionEmbedding(
        vocabulary_size=10, sequence_length=8, embedding_dim=16, mask_zero=True
    )
    outputs = layer(token_ids)  # (1, 5, 16)
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        sequence_length,
        embedding_dim,
        position_kind="learned",
        mask_zero=False,
        embeddings_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        vocabulary_size = check_int("vocabulary_size", vocabulary_size, 1)
        sequence_length = check_int("sequence_length", sequence_length, 1)
        embedding_dim = check_int("embedding_dim", embedding_dim, 1)
        check_choice("position_kind", position_kind, POSITION_KINDS)
        self.vocabulary_size = vocabulary_size
        self.sequence_length = sequence_length
        self.embedding_dim = embedding_dim
        self.position_kind = position_kind
        self.mask_zero = check_bool("mask_zero", mask_zero)
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)
        self.supports_masking = self.mask_zero

        self.token_embedding = keras.layers.Embedding(
            input_dim=vocabulary_size,
            output_dim=embedding_dim,
            embeddings_initializer=clone_initializer(self.embeddings_initializer),
            mask_zero=self.mask_zero,
            dtype=self.dtype_policy,
            name="token_embedding",
        )
        if position_kind == "learned":
            self.position_embedding = PositionEmbedding(
                sequence_length=sequence_length,
                initializer=clone_initializer(self.embeddings_initializer),
                dtype=self.dtype_policy,
                name="position_embedding",
            )
        elif position_kind == "sine":
            self.position_embedding = SinePositionEncoding(
                dtype=self.dtype_policy, name="position_embedding"
            )
        else:
            self.position_embedding = None

    def build(self, inputs_shape):
        inputs_shape = tuple(inputs_shape)
        check_input_rank(self, inputs_shape, ("batch", "seq"))
        self.token_embedding.build(inputs_shape)
        if self.position_embedding is not None:
            self.position_embedding.build(inputs_shape + (self.embedding_dim,))

    def call(self, inputs, start_index=0):
        # (batch, seq, embedding_dim)
        outputs = self.token_embedding(inputs)
        if self.position_embedding is not None:
            outputs = outputs + self.position_embedding(
                outputs, start_index=start_index
            )
        return outputs

    def compute_mask(self, inputs, mask=None):
        if not self.mask_zero:
            return None
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, inputs_shape):
        return tuple(inputs_shape) + (self.embedding_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "vocabulary_size": self.vocabulary_size,
                "sequence_length": self.sequence_length,
                "embedding_dim": self.embedding_dim,
                "position_kind": self.position_kind,
                "mask_zero": self.mask_zero,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config
