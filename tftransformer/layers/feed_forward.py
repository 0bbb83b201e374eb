import keras

from tftransformer._arguments import check_fraction, check_int, python_number
from tftransformer.layers.initializers import clone_initializer


@keras.saving.register_keras_serializable(package="tftransformer")
class FeedForward(keras.layers.Layer):
    """Position-wise feed-forward network of a Transformer block.

    Applies `Dense(intermediate_dim)`, the activation, dropout, a `Dense` back
    to the input width, and dropout again, independently at every position.

    Args:
        intermediate_dim: int, the width of the hidden layer.
        activation: string or callable, the hidden activation. Defaults to
            `"gelu"`.
        dropout: float in `[0, 1)`, the dropout rate after the activation and
            after the output projection. Defaults to `0.0`.
        kernel_initializer: initializer of both kernels. Defaults to
            `"glorot_uniform"`.
        bias_initializer: initializer of both biases. Defaults to `"zeros"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, ..., hidden_dim)`.
        training: bool, whether dropout is active.

    Returns:
        A tensor of the shape of `inputs`.

    Example:
    ```python
    layer = tftransformer.layers.FeedForward(intermediate_dim=64)
    x = np.random.rand(2, 10, 16).astype("float32")
    outputs = layer(x)  # (2, 10, 16)
    ```
    """

    def __init__(
        self,
        intermediate_dim,
        activation="gelu",
        dropout=0.0,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        intermediate_dim = check_int("intermediate_dim", intermediate_dim, 1)
        dropout = python_number(dropout)
        check_fraction("dropout", dropout)
        self.intermediate_dim = intermediate_dim
        self.activation = keras.activations.get(activation)
        self.dropout = dropout
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.supports_masking = True

    def build(self, inputs_shape):
        hidden_dim = inputs_shape[-1]
        self._intermediate_dense = keras.layers.Dense(
            self.intermediate_dim,
            activation=self.activation,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="intermediate_dense",
        )
        self._intermediate_dense.build(inputs_shape)
        self._intermediate_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="intermediate_dropout"
        )
        self._output_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="output_dense",
        )
        self._output_dense.build(tuple(inputs_shape[:-1]) + (self.intermediate_dim,))
        self._output_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="output_dropout"
        )

    def call(self, inputs, training=None):
        x = self._intermediate_dense(inputs)
        x = self._intermediate_dropout(x, training=training)
        x = self._output_dense(x)
        return self._output_dropout(x, training=training)

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "intermediate_dim": self.intermediate_dim,
                "activation": keras.activations.serialize(self.activation),
                "dropout": self.dropout,
                "kernel_initializer": keras.initializers.serialize(
                    self.kernel_initializer
                ),
                "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            }
        )
        return config
