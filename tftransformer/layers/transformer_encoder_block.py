import keras

from tftransformer._arguments import (
    check_bool,
    check_fraction,
    check_int,
    check_positive_number,
    python_number,
)
from tftransformer.layers.feed_forward import FeedForward
from tftransformer.layers.initializers import clone_initializer
from tftransformer.layers.masking import (
    check_sequence_shape,
    explicit_mask_arguments,
    merge_padding_and_attention_mask,
)
from tftransformer.layers.multi_head_attention import MultiHeadAttention
from tftransformer.layers.relative_position_bias import _check_bucket_arguments


@keras.saving.register_keras_serializable(package="tftransformer")
class TransformerEncoderBlock(keras.layers.Layer):
    """Transformer encoder block: self-attention and a feed-forward network.

    Each of the two sublayers is wrapped in a residual connection and a layer
    normalization, applied after the residual sum (post-LN, as in BERT) or to
    the sublayer input (pre-LN, as in GPT-2) when `norm_first=True`. The
    attention can add a T5-style relative position bias.

    Args:
        intermediate_dim: int, the hidden width of the feed-forward network.
        num_heads: int, the number of attention heads; must divide the
            hidden width of the inputs.
        dropout: float in `[0, 1)`, the dropout rate of the attention
            probabilities, of both residual branches and inside the
            feed-forward network. Defaults to `0.0`.
        activation: string or callable, the feed-forward activation.
            Defaults to `"gelu"`.
        layer_norm_epsilon: float, the epsilon of the layer normalizations.
            Defaults to `1e-5`.
        norm_first: bool, whether to normalize the sublayer inputs (pre-LN)
            instead of the residual sums (post-LN). Defaults to `False`.
        use_relative_position_bias: bool, whether the attention adds a learned
            bidirectional relative position bias. Defaults to `False`.
        relative_position_buckets: int, the number of relative position
            buckets. Defaults to `32`.
        relative_position_max_distance: int, the distance from which all
            positions share the last bucket. Defaults to `128`.
        kernel_initializer: initializer of the dense and attention kernels.
            Defaults to `"glorot_uniform"`.
        bias_initializer: initializer of the dense and attention biases.
            Defaults to `"zeros"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, seq, hidden)`.
        padding_mask: optional bool tensor of shape `(batch, seq)`, true for
            real tokens. When `None`, the Keras mask of `inputs` is used.
        attention_mask: optional bool tensor of shape `(batch, seq, seq)`,
            true where attention is allowed. A key is attended only where
            both masks allow it.
        training: bool, whether dropout is active.
        return_attention_scores: bool, whether to also return the attention
            probabilities.

    Returns:
        A tensor of shape `(batch, seq, hidden)`, and with
        `return_attention_scores=True` also the attention probabilities of
        shape `(batch, num_heads, seq, seq)`.

    Example:
    ```python
    block = tftransformer.layers.TransformerEncoderBlock(
        intermediate_dim=64, num_heads=4
    )
    x = np.random.rand(2, 10, 32).astype("float32")
    padding_mask = np.arange(10) < np.array([[10], [6]])
    outputs = block(x, padding_mask=padding_mask)  # (2, 10, 32)
    ```
    """

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        dropout=0.0,
        activation="gelu",
        layer_norm_epsilon=1e-5,
        norm_first=False,
        use_relative_position_bias=False,
        relative_position_buckets=32,
        relative_position_max_distance=128,
        kernel_initializer="glorot_uniform",
        bias_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        set_block_arguments(
            self,
            bidirectional=True,
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            activation=activation,
            layer_norm_epsilon=layer_norm_epsilon,
            norm_first=norm_first,
            use_relative_position_bias=use_relative_position_bias,
            relative_position_buckets=relative_position_buckets,
            relative_position_max_distance=relative_position_max_distance,
            kernel_initializer=kernel_initializer,
            bias_initializer=bias_initializer,
        )

    def build(self, inputs_shape):
        check_sequence_shape("inputs", inputs_shape)
        hidden_dim = check_head_split("inputs", inputs_shape[-1], self.num_heads)
        self._self_attention = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=hidden_dim // self.num_heads,
            dropout=self.dropout,
            use_relative_position_bias=self.use_relative_position_bias,
            relative_position_buckets=self.relative_position_buckets,
            relative_position_max_distance=self.relative_position_max_distance,
            bidirectional=True,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self._self_attention.build(inputs_shape, inputs_shape)
        self._self_attention_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="self_attention_layer_norm",
        )
        self._self_attention_layer_norm.build(inputs_shape)
        self._self_attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="self_attention_dropout"
        )
        self._feedforward = FeedForward(
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="feedforward",
        )
        self._feedforward.build(inputs_shape)
        self._feedforward_layer_norm = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon,
            dtype=self.dtype_policy,
            name="feedforward_layer_norm",
        )
        self._feedforward_layer_norm.build(inputs_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        # Read before the attention layer, which clears the Keras masks of
        # its inputs.
        return_attention_scores = check_bool(
            "return_attention_scores", return_attention_scores
        )
        self_attention_mask = merge_padding_and_attention_mask(
            inputs, padding_mask, attention_mask, query=inputs
        )

        residual = inputs
        x = self._self_attention_layer_norm(inputs) if self.norm_first else inputs
        attention_output = self._self_attention(
            query=x,
            value=x,
            attention_mask=self_attention_mask,
            return_attention_scores=return_attention_scores,
            training=training,
            **explicit_mask_arguments(x, x, padding_mask, padding_mask),
        )
        if return_attention_scores:
            x, scores = attention_output
        else:
            x = attention_output
        x = self._self_attention_dropout(x, training=training) + residual
        if not self.norm_first:
            x = self._self_attention_layer_norm(x)

        residual = x
        if self.norm_first:
            x = self._feedforward_layer_norm(x)
        x = self._feedforward(x, training=training) + residual
        if not self.norm_first:
            x = self._feedforward_layer_norm(x)

        if return_attention_scores:
            return x, scores
        return x

    def compute_output_shape(self, inputs_shape):
        return inputs_shape

    def compute_output_spec(self, inputs, return_attention_scores=False, **kwargs):
        outputs = keras.KerasTensor(inputs.shape, dtype=self.compute_dtype)
        if not return_attention_scores:
            return outputs
        # (batch, heads, seq, seq)
        scores_shape = (inputs.shape[0], self.num_heads, inputs.shape[1])
        scores_shape += (inputs.shape[1],)
        return outputs, keras.KerasTensor(scores_shape, dtype=self.compute_dtype)

    def get_config(self):
        config = super().get_config()
        config.update(block_config(self))
        return config


def set_block_arguments(
    block,
    *,
    bidirectional,
    intermediate_dim,
    num_heads,
    dropout,
    activation,
    layer_norm_epsilon,
    norm_first,
    use_relative_position_bias,
    relative_position_buckets,
    relative_position_max_distance,
    kernel_initializer,
    bias_initializer,
):
    """Checks an encoder or decoder block's arguments and sets them on `block`.

    `bidirectional`: whether the relative position buckets look both ways
    (encoder blocks) or back only (decoder blocks).
    """
    block.intermediate_dim = check_int("intermediate_dim", intermediate_dim, 1)
    block.num_heads = check_int("num_heads", num_heads, 1)
    check_fraction("dropout", dropout)
    block.dropout = python_number(dropout)
    block.activation = keras.activations.get(activation)
    block.layer_norm_epsilon = check_positive_number(
        "layer_norm_epsilon", layer_norm_epsilon, allow_zero=True
    )
    # A truthy string such as "no" would silently pick the other variant.
    block.norm_first = check_bool("norm_first", norm_first)
    block.use_relative_position_bias = check_bool(
        "use_relative_position_bias", use_relative_position_bias
    )
    block.relative_position_buckets = python_number(relative_position_buckets)
    block.relative_position_max_distance = python_number(relative_position_max_distance)
    if use_relative_position_bias:
        _check_bucket_arguments(
            block.relative_position_buckets,
            block.relative_position_max_distance,
            bidirectional=bidirectional,
        )
    block.kernel_initializer = keras.initializers.get(kernel_initializer)
    block.bias_initializer = keras.initializers.get(bias_initializer)
    block.supports_masking = True


def check_head_split(name, hidden_dim, num_heads):
    """Returns `hidden_dim` if `num_heads` heads split it evenly."""
    if hidden_dim is None or hidden_dim % num_heads != 0:
        raise ValueError(
            f"The hidden size of the {name} must be divisible by num_heads. "
            f"Received: hidden size={hidden_dim}, num_heads={num_heads}"
        )
    return hidden_dim


def block_config(block):
    """The config entries `set_block_arguments` set, for `get_config`."""
    return {
        "intermediate_dim": block.intermediate_dim,
        "num_heads": block.num_heads,
        "dropout": block.dropout,
        "activation": keras.activations.serialize(block.activation),
        "layer_norm_epsilon": block.layer_norm_epsilon,
        "norm_first": block.norm_first,
        "use_relative_position_bias": block.use_relative_position_bias,
        "relative_position_buckets": block.relative_position_buckets,
        "relative_position_max_distance": block.relative_position_max_distance,
        "kernel_initializer": keras.initializers.serialize(block.kernel_initializer),
        "bias_initializer": keras.initializers.serialize(block.bias_initializer),
    }
