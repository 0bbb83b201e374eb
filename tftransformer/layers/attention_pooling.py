import keras
from keras import ops

from tftransformer._arguments import check_bool, check_input_rank, check_int
from tftransformer.layers.initializers import clone_initializer
from tftransformer.layers.masking import check_mask_matches

# Added to the scores of masked positions before the softmax, which runs in
# float32 whatever the compute dtype: exp(-1e9) is exactly 0 there.
_MASKED_SCORE = -1e9


@keras.saving.register_keras_serializable(package="tftransformer")
class AttentionPooling(keras.layers.Layer):
    """Pools a sequence of vectors with learned attention weights.

    The additive attention of hierarchical attention networks (Yang et al.,
    2016): each position `i` gets a score `v^T tanh(W h_i + b)`, the scores
    are turned into weights by a softmax over the real positions, and the
    output is the weighted sum of the vectors. Masked positions get a weight
    of exactly zero; a row with no real position pools to zeros.

    Args:
        hidden_dim: int > 0, the width of the projection `W`; `None` for
            the input width.
        kernel_initializer: initializer of `W` and `v`. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of `b`. Defaults to `"zeros"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: float tensor of shape `(batch, seq, dim)`.
        padding_mask: optional bool or int tensor of shape `(batch, seq)`,
            true for real positions. When omitted, the Keras mask of
            `inputs` is used, and failing that every position counts.
        return_attention_scores: bool, whether to also return the weights.

    Returns:
        A tensor of shape `(batch, dim)`; with `return_attention_scores`,
        also the float32 weights of shape `(batch, seq)`, which sum to 1 over
        the real positions of each row.

    Example:
    ```python
    chunks = np.random.rand(2, 4, 8).astype("float32")
    mask = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)
    layer = tftransformer.layers.AttentionPooling(hidden_dim=16)
    pooled, weights = layer(chunks, padding_mask=mask, return_attention_scores=True)
    # pooled: (2, 8); weights[0, 2:] == 0
    ```
    """

    def __init__(
        self,
        hidden_dim=None,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if hidden_dim is not None:
            hidden_dim = check_int("hidden_dim", hidden_dim, 1, what=" or None")
        self.hidden_dim = hidden_dim
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        check_input_rank(self, inputs_shape, ("batch", "seq", "dim"))
        hidden_dim = self.hidden_dim or inputs_shape[-1]
        self._projection = keras.layers.Dense(
            hidden_dim,
            activation="tanh",
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="projection",
        )
        self._projection.build(inputs_shape)
        # v: one score per position.
        self._score = keras.layers.Dense(
            1,
            use_bias=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            dtype=self.dtype_policy,
            name="score",
        )
        self._score.build(tuple(inputs_shape[:-1]) + (hidden_dim,))

    def call(self, inputs, padding_mask=None, mask=None, return_attention_scores=False):
        return_attention_scores = check_bool(
            "return_attention_scores", return_attention_scores
        )
        if padding_mask is None:
            padding_mask = mask
        if padding_mask is None:
            padding_mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        check_mask_matches("padding_mask", padding_mask, inputs)
        keep = ops.cast(padding_mask, "bool")
        # (batch, seq); the softmax runs in float32 for bfloat16 inputs.
        scores = ops.cast(
            ops.squeeze(self._score(self._projection(inputs)), -1), "float32"
        )
        scores = ops.where(keep, scores, _MASKED_SCORE)
        # Multiplying by the mask zeroes rows with no real position, whose
        # softmax would otherwise be uniform over the padding.
        # Over one position the softmax is 1; `ops.softmax` would warn.
        if scores.shape[-1] == 1:
            weights = ops.cast(keep, "float32")
        else:
            weights = ops.softmax(scores, axis=-1) * ops.cast(keep, "float32")
        # `where`, not a product: a non-finite padded vector times its zero
        # weight would be NaN.
        values = ops.where(ops.expand_dims(keep, -1), ops.cast(inputs, "float32"), 0.0)
        # Summed in float32, as the mean pooling: a 16-bit sum over long
        # sequences loses precision.
        pooled = ops.cast(
            ops.sum(ops.expand_dims(weights, -1) * values, axis=1), inputs.dtype
        )
        if return_attention_scores:
            return pooled, weights
        return pooled

    def compute_mask(self, inputs, mask=None):
        return None

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "hidden_dim": self.hidden_dim,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
