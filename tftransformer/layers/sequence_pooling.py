import keras
from keras import ops

from tftransformer._arguments import check_choice, check_input_rank
from tftransformer.layers.masking import check_mask_matches

POOLING_MODES = ("cls", "mean", "max")


@keras.saving.register_keras_serializable(package="tftransformer")
class SequencePooling(keras.layers.Layer):
    """Pools a sequence of token vectors into one vector per example.

    `"cls"` takes the first token (BERT's `[CLS]` position), `"mean"` averages
    the real tokens and `"max"` takes the element-wise maximum over the real
    tokens; padded positions never contribute to `"mean"` or `"max"`.

    Args:
        mode: one of `"cls"`, `"mean"`, `"max"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: float tensor of shape `(batch, seq, hidden)`.
        padding_mask: optional bool or int tensor of shape `(batch, seq)`,
            true for real tokens. When omitted, the Keras mask of `inputs`
            is used, and failing that every position counts.

    Returns:
        A float tensor of shape `(batch, hidden)`.

    Example:
    ```python
    x = np.random.rand(2, 5, 8).astype("float32")
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], bool)
    pooled = tftransformer.layers.SequencePooling("mean")(x, padding_mask=mask)
    # (2, 8)
    ```
    """

    def __init__(self, mode="cls", **kwargs):
        super().__init__(**kwargs)
        self.mode = check_choice("mode", mode, POOLING_MODES)
        self.supports_masking = True

    def build(self, inputs_shape):
        check_input_rank(self, inputs_shape, ("batch", "seq", "dim"))
        super().build(inputs_shape)

    def call(self, inputs, padding_mask=None, mask=None):
        if padding_mask is None:
            padding_mask = mask
        if padding_mask is not None:
            # In "cls" mode too: a mask of another sequence is a mistake.
            check_mask_matches("padding_mask", padding_mask, inputs)
        if self.mode == "cls":
            return inputs[:, 0, :]
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        # (batch, seq, 1), broadcast over the hidden axis.
        keep = ops.expand_dims(ops.cast(padding_mask, "bool"), axis=-1)
        if self.mode == "mean":
            # Summed in float32: a float16 sum over thousands of positions
            # overflows or loses the mean (CPU reductions add in the input's
            # precision).
            values = ops.cast(inputs, "float32")
            # `where`, not a product: a non-finite padded vector times 0
            # would be NaN.
            total = ops.sum(ops.where(keep, values, 0.0), axis=1)
            # An all-padding row yields zeros rather than NaN.
            count = ops.maximum(ops.sum(ops.cast(keep, "float32"), axis=1), 1.0)
            return ops.cast(total / count, inputs.dtype)
        # -inf, not a large negative constant, so real values below it win.
        lowest = ops.cast(float("-inf"), inputs.dtype)
        pooled = ops.max(ops.where(keep, inputs, lowest), axis=1)
        any_real = ops.any(keep, axis=1)
        return ops.where(any_real, pooled, ops.zeros_like(pooled))

    def pool_texts(self, inputs, text_ids, text_starts):
        """Pools each text of packed rows (see `tftransformer.data.text_packing`).

        Args:
            inputs: `(batch, seq, hidden)`, the encoder's output on packed rows.
            text_ids: int `(batch, seq)`, each token's text in its row (1, 2,
                ...), 0 for padding.
            text_starts: int `(batch, max_texts)`, each text's first token.

        Returns:
            `(batch, max_texts, hidden)`: per text, what `call` gives for the
            text alone (`"cls"`: its first token; `"mean"`, `"max"`: over its
            tokens). Empty slots give zeros (`"cls"`: the row's first token).
        """
        if self.mode == "cls":
            # (batch, max_texts, 1) indices, broadcast over the hidden axis.
            starts = ops.expand_dims(ops.cast(text_starts, "int32"), -1)
            return ops.take_along_axis(inputs, starts, axis=1)
        max_texts = ops.shape(text_starts)[1]
        slots = ops.arange(1, max_texts + 1, dtype="int32")
        # (batch, max_texts, seq): True where a token belongs to the text.
        member = ops.equal(
            ops.expand_dims(ops.cast(text_ids, "int32"), 1),
            ops.reshape(slots, (1, -1, 1)),
        )
        if self.mode == "mean":
            # Summed in float32, as in `call`.
            weights = ops.cast(member, "float32")
            total = ops.einsum("bts,bsh->bth", weights, ops.cast(inputs, "float32"))
            count = ops.maximum(ops.sum(weights, axis=-1, keepdims=True), 1.0)
            return ops.cast(total / count, inputs.dtype)
        lowest = ops.cast(float("-inf"), inputs.dtype)
        # (batch, max_texts, seq, hidden)
        values = ops.where(
            ops.expand_dims(member, -1), ops.expand_dims(inputs, 1), lowest
        )
        pooled = ops.max(values, axis=2)
        any_real = ops.expand_dims(ops.any(member, axis=-1), -1)
        return ops.where(any_real, pooled, ops.zeros_like(pooled))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1])

    def get_config(self):
        config = super().get_config()
        config.update({"mode": self.mode})
        return config
