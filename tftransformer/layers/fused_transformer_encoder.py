import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras_hub.src.layers.modeling.transformer_layer_utils import (
    merge_padding_and_attention_mask,
)
from keras_hub.src.utils.keras_utils import gelu_approximate

from tftransformer._arguments import (
    check_bool,
    check_fraction,
    check_int,
    check_positive_number,
)
from tftransformer.layers.masking import (
    check_attention_mask,
    check_mask_matches,
    check_sequence_shape,
)
from tftransformer.layers.transformer_encoder_block import check_head_split

# The elementwise work between the GEMMs of a training step (GELU, the
# attention softmax, the dropout masks' application, the residual sums and
# the layer normalizations after them) is
# memory-bound: as TensorFlow ops each op reads and writes its tensors once,
# and autodiff of GELU's formula adds a dozen more. Here each piece is one
# XLA-compiled function forward and one backward (a closed-form gradient),
# while the GEMMs stay TensorFlow ops (oneDNN). The dropout masks are drawn
# with TensorFlow's Philox generator, 16 bits per element (XLA's CPU random
# numbers are slow), so a rate is applied to within 1/65,536.
_SQRT_2_OVER_PI = float(np.sqrt(2.0 / np.pi))
_INV_SQRT_2 = float(1.0 / np.sqrt(2.0))
_INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))
_BITS = 16


def _large_negative(dtype):
    # Keras' `Softmax` masks with -1e9, -3e4 in float16.
    return -3e4 if dtype == tf.float16 else -1e9


# GELU computes in float32 whatever its input's dtype, rounding once at the
# end: with its math in bfloat16 the fused bfloat16 step was 1.12x slower on
# an AVX512_BF16 CPU (docs/benchmarks.md).
@tf.function(jit_compile=True, autograph=False)
def _gelu_forward(h, approximate):
    dtype, h = h.dtype, tf.cast(h, tf.float32)
    if approximate:
        inner = _SQRT_2_OVER_PI * (h + 0.044715 * h * h * h)
        y = 0.5 * h * (1.0 + tf.tanh(inner))
    else:
        y = 0.5 * h * (1.0 + tf.math.erf(h * _INV_SQRT_2))
    return tf.cast(y, dtype)


@tf.function(jit_compile=True, autograph=False)
def _gelu_backward(h, dy, approximate):
    dtype, h = dy.dtype, tf.cast(h, tf.float32)
    if approximate:
        t = tf.tanh(_SQRT_2_OVER_PI * (h + 0.044715 * h * h * h))
        slope = 0.5 * (1.0 + t) + 0.5 * h * (1.0 - t * t) * _SQRT_2_OVER_PI * (
            1.0 + 3.0 * 0.044715 * h * h
        )
    else:
        cdf = 0.5 * (1.0 + tf.math.erf(h * _INV_SQRT_2))
        slope = cdf + h * _INV_SQRT_2PI * tf.exp(-0.5 * h * h)
    return tf.cast(tf.cast(dy, tf.float32) * slope, dtype)


def fused_gelu(h, approximate):
    """GELU (tanh approximation or exact) with a closed-form gradient, both
    computed in float32 and returned in `h`'s dtype."""

    @tf.custom_gradient
    def gelu(h):
        def grad(dy):
            return _gelu_backward(h, dy, approximate)

        return _gelu_forward(h, approximate), grad

    return gelu(h)


def _dropout(x, keep, scale):
    if keep is None:
        return x
    return tf.where(keep, x * tf.cast(scale, x.dtype), 0.0)


# Softmax computes in float32 whatever its input's dtype, rounding once at
# the end (XLA on a CPU computes 16-bit floats op by op in float32 anyway).
@tf.function(jit_compile=True, autograph=False)
def _softmax_forward(scores, mask, keep, scale):
    # scores: (batch, heads, query, key); mask: (batch, 1, query, key) bool
    # or None; keep: like scores, bool, or None without dropout.
    dtype, scores = scores.dtype, tf.cast(scores, tf.float32)
    if mask is not None:
        scores = tf.where(mask, scores, _large_negative(dtype))
    probs = tf.nn.softmax(scores)
    return tf.cast(probs, dtype), tf.cast(_dropout(probs, keep, scale), dtype)


@tf.function(jit_compile=True, autograph=False)
def _softmax_backward(probs, keep, scale, dy):
    dtype = dy.dtype
    probs, dy = tf.cast(probs, tf.float32), tf.cast(dy, tf.float32)
    dy = _dropout(dy, keep, scale)
    d_scores = (dy - tf.reduce_sum(dy * probs, axis=-1, keepdims=True)) * probs
    return tf.cast(d_scores, dtype)


def fused_softmax_dropout(scores, mask, keep, scale):
    """Masked softmax over the last axis, then dropout with a given mask."""

    @tf.custom_gradient
    def softmax(scores):
        probs, dropped = _softmax_forward(scores, mask, keep, scale)

        def grad(dy):
            return _softmax_backward(probs, keep, scale, dy)

        return dropped, grad

    return softmax(scores)


def _normalized(total, epsilon):
    # Keras' `layer_normalization`: moments over the last axis, in float32.
    total = tf.cast(total, tf.float32)
    mean, variance = tf.nn.moments(total, axes=[-1], keepdims=True)
    inverse = tf.math.rsqrt(variance + epsilon)
    return (total - mean) * inverse, inverse


@tf.function(jit_compile=True, autograph=False)
def _dropout_add_norm_forward(x, residual, keep, scale, gamma, beta, epsilon):
    total = _dropout(x, keep, scale) + residual
    normalized, _ = _normalized(total, epsilon)
    return total, tf.cast(normalized * gamma + beta, x.dtype)


@tf.function(jit_compile=True, autograph=False)
def _dropout_add_norm_backward(total, keep, scale, gamma, epsilon, dy):
    normalized, inverse = _normalized(total, epsilon)
    dy = tf.cast(dy, tf.float32)
    rows = tf.range(tf.rank(dy) - 1)
    d_gamma = tf.reduce_sum(dy * normalized, axis=rows)
    d_beta = tf.reduce_sum(dy, axis=rows)
    g = dy * gamma
    d_total = inverse * (
        g
        - tf.reduce_mean(g, axis=-1, keepdims=True)
        - normalized * tf.reduce_mean(g * normalized, axis=-1, keepdims=True)
    )
    d_total = tf.cast(d_total, total.dtype)
    return _dropout(d_total, keep, scale), d_total, d_gamma, d_beta


def fused_dropout_add_norm(x, residual, keep, scale, gamma, beta, epsilon):
    """`layer_norm(dropout(x) + residual)` with a given keep mask.

    The layer normalization is Keras' (over the last axis, in float32,
    `gamma` and `beta` float32), its output in `x`'s dtype.
    """

    @tf.custom_gradient
    def dropout_add_norm(x, residual, gamma, beta):
        total, y = _dropout_add_norm_forward(
            x, residual, keep, scale, gamma, beta, epsilon
        )

        def grad(dy):
            return _dropout_add_norm_backward(total, keep, scale, gamma, epsilon, dy)

        return y, grad

    return dropout_add_norm(x, residual, gamma, beta)


@tf.function(jit_compile=True, autograph=False)
def _dropout_add_forward(x, residual, keep, scale):
    return _dropout(x, keep, scale) + residual


@tf.function(jit_compile=True, autograph=False)
def _dropout_backward(keep, scale, dy):
    return _dropout(dy, keep, scale)


def fused_dropout_add(x, residual, keep, scale):
    """`dropout(x) + residual` with a given keep mask, in one pass."""
    if keep is None:
        return x + residual

    @tf.custom_gradient
    def dropout_add(x, residual):
        def grad(dy):
            return _dropout_backward(keep, scale, dy), dy

        return _dropout_add_forward(x, residual, keep, scale), grad

    return dropout_add(x, residual)


def keep_mask(shape, rate, seed_generator):
    """A bool mask, each element kept with probability `1 - rate`.

    Draws 32-bit Philox numbers for two elements each and compares each
    16-bit half with `round(rate * 65536)`.

    Returns:
        `(keep, scale)`, or `(None, 1.0)` when `rate` is 0.
    """
    # Below 1/131,072 nothing is dropped; within 1/131,072 of 1 one
    # 16-bit value in 65,536 is kept.
    threshold = min(int(round(rate * 2**_BITS)), 2**_BITS - 1)
    if threshold == 0:
        return None, 1.0
    # int32, as Keras' own dropout casts its seed (what XLA takes).
    seed = tf.cast(seed_generator.next(), tf.int64)
    seed = tf.cast(tf.math.floormod(seed, tf.int32.max - 1), tf.int32)
    size = tf.reduce_prod(shape)
    bits = tf.random.stateless_uniform(
        [(size + 1) // 2], seed=seed, minval=None, maxval=None, dtype=tf.uint32
    )
    halves = tf.reshape(tf.bitcast(bits, tf.uint16), [-1])[:size]
    keep = tf.reshape(halves >= tf.constant(threshold, tf.uint16), shape)
    return keep, 1.0 / (1.0 - threshold / 2**_BITS)


def _dense_parts(dense, rows):
    """A Dense/EinsumDense's kernel as a `(in, out)` matrix and its bias."""
    kernel = tf.reshape(dense.kernel, [rows, -1])
    bias = tf.reshape(dense.bias, [-1]) if dense.bias is not None else None
    return kernel, bias


def _matmul(x, kernel, bias):
    y = tf.matmul(x, kernel)
    return y if bias is None else tf.nn.bias_add(y, bias)


_GELU = {gelu_approximate: True, keras.activations.gelu: False}
_KERAS_HUB_CALL = keras_hub.layers.TransformerEncoder.call


def _fusable(block):
    """Whether the fused path can stand for keras-hub's in training."""
    attention = block._self_attention_layer
    denses = [
        attention._query_dense,
        attention._key_dense,
        attention._value_dense,
        attention._output_dense,
        block._feedforward_intermediate_dense,
        block._feedforward_output_dense,
    ]
    return (
        tuple(attention._attention_axes) == (1,)
        and attention._key_dim == attention._value_dim
        and all(
            getattr(dense.dtype_policy, "quantization_mode", None) is None
            for dense in denses
        )
        and block._feedforward_output_dense.activation is keras.activations.linear
    )


def _keep_mask(dropout, shape):
    """A Keras `Dropout` layer's keep mask for `shape`, or `(None, 1.0)`."""
    if dropout.rate <= 0:
        return None, 1.0
    return keep_mask(shape, dropout.rate, dropout.seed_generator)


def _plain_layer_norm(norm):
    # What `fused_dropout_add_norm` computes: keras-hub's default.
    return (
        norm.center
        and norm.scale
        and not norm.rms_scaling
        and tuple(np.ravel(norm.axis)) in ((-1,), (2,))
    )


def _dropout_add(dropout, x, residual, norm=None):
    """`dropout(x) + residual`, then `norm` if given (post-norm blocks)."""
    keep, scale = _keep_mask(dropout, tf.shape(x))
    if norm is None:
        return fused_dropout_add(x, residual, keep, scale)
    if not _plain_layer_norm(norm):
        return norm(fused_dropout_add(x, residual, keep, scale))
    gamma, beta = (tf.cast(v, tf.float32) for v in (norm.gamma, norm.beta))
    return fused_dropout_add_norm(x, residual, keep, scale, gamma, beta, norm.epsilon)


@keras.saving.register_keras_serializable(package="tftransformer")
class FusedTransformerEncoder(keras_hub.layers.TransformerEncoder):
    """keras-hub's `TransformerEncoder`, trained with fewer, fused ops.

    The same layer (arguments, sublayers, weights and their names, config)
    whose training-mode forward pass computes the self-attention's query,
    key and value with one GEMM on the concatenated kernels, every
    projection as a 2-D GEMM on `(batch * seq, hidden)` rows, and the
    elementwise work between the GEMMs (masked softmax with attention
    dropout, GELU, dropout, residual sums and the layer normalizations that
    follow them) in XLA-compiled functions with closed-form gradients; the
    GEMMs are TensorFlow's, and a pre-norm block's layer normalizations the
    sublayers' own. Dropout masks are drawn with
    TensorFlow's Philox generator, 16 bits per element, so a rate applies
    to within 1/65,536 (0.1 keeps 58,982 of 65,536).

    Inference (`training=False`), `return_attention_scores=True`, quantized
    sublayers and a `training` given as a tensor use keras-hub's own `call`
    unchanged, so evaluation, prediction and every export compute as the
    library does. `tftransformer.finetune.use_fused_encoder` puts this
    `call` on the keras-hub blocks of a backbone and takes it off again:
    their class, weights, weight files and saved models stay keras-hub's.

    Args: those of `keras_hub.layers.TransformerEncoder`.

    Call arguments: those of `keras_hub.layers.TransformerEncoder.call`.

    Returns:
        A tensor of the inputs' shape `(batch, seq, hidden)`.

    Example:
    ```python
    block = tftransformer.layers.FusedTransformerEncoder(
        intermediate_dim=64, num_heads=4, dropout=0.1
    )
    x = np.random.rand(2, 10, 32).astype("float32")
    padding_mask = np.arange(10) < np.array([[10], [6]])
    outputs = block(x, padding_mask=padding_mask, training=True)  # (2, 10, 32)
    ```
    """

    def __init__(
        self,
        intermediate_dim,
        num_heads,
        dropout=0,
        layer_norm_epsilon=1e-05,
        normalize_first=False,
        **kwargs,
    ):
        # keras-hub's layer checks none of these: a step would fail later
        # (num_heads=0) or train on a bad value (NaN from a negative epsilon).
        check_int("intermediate_dim", intermediate_dim, 1)
        check_int("num_heads", num_heads, 1)
        check_fraction("dropout", dropout)
        check_positive_number("layer_norm_epsilon", layer_norm_epsilon, allow_zero=True)
        check_bool("normalize_first", normalize_first)
        super().__init__(
            intermediate_dim,
            num_heads,
            dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon,
            normalize_first=normalize_first,
            **kwargs,
        )

    def build(self, inputs_shape):
        # keras-hub would give each head hidden // num_heads features and
        # drop the rest of the hidden size from the attention.
        check_sequence_shape("inputs", inputs_shape)
        check_head_split("inputs", inputs_shape[-1], self.num_heads)
        super().build(inputs_shape)

    def call(
        self,
        inputs,
        padding_mask=None,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
    ):
        return_attention_scores = check_bool(
            "return_attention_scores", return_attention_scores
        )
        # keras-hub's call leaves the masks' shapes to the softmax, which
        # fails deep inside the step; checked here for both paths.
        if padding_mask is not None:
            check_mask_matches("padding_mask", padding_mask, inputs)
        batch_size, length = inputs.shape[:2]
        check_attention_mask(
            "attention_mask", attention_mask, batch_size, length, length
        )
        if training is not True or return_attention_scores or not _fusable(self):
            return _KERAS_HUB_CALL(
                self,
                inputs,
                padding_mask=padding_mask,
                attention_mask=attention_mask,
                training=training,
                return_attention_scores=return_attention_scores,
            )
        attention = self._self_attention_layer
        shape = tf.shape(inputs)
        batch, length, hidden = shape[0], shape[1], inputs.shape[-1]
        mask = merge_padding_and_attention_mask(inputs, padding_mask, attention_mask)
        if mask is not None:
            # (batch, 1, query, key), as Keras' `Softmax` reads it.
            if mask.dtype != tf.bool:
                mask = tf.greater(tf.cast(mask, tf.float32), 0.5)
            mask = mask[:, None, :, :]

        # Self-attention: one GEMM for query, key and value.
        residual = inputs
        x = inputs
        if self.normalize_first:
            x = self._self_attention_layer_norm(x)
        rows = tf.reshape(x, [-1, hidden])
        parts = [
            _dense_parts(dense, hidden)
            for dense in (
                attention._query_dense,
                attention._key_dense,
                attention._value_dense,
            )
        ]
        kernel = tf.concat([kernel for kernel, _ in parts], axis=-1)
        bias = None
        if parts[0][1] is not None:
            bias = tf.concat([bias for _, bias in parts], axis=-1)
        heads, head_size = attention._num_heads, attention._key_dim
        qkv = tf.reshape(
            _matmul(rows, kernel, bias), [batch, length, 3, heads, head_size]
        )
        # (3, batch, heads, seq, head_size)
        query, key, value = tf.unstack(tf.transpose(qkv, [2, 0, 3, 1, 4]))
        query = query * tf.cast(attention._inverse_sqrt_key_dim, query.dtype)
        scores = tf.matmul(query, key, transpose_b=True)
        keep, scale = _keep_mask(attention._dropout_layer, tf.shape(scores))
        probs = fused_softmax_dropout(scores, mask, keep, scale)
        context = tf.reshape(
            tf.transpose(tf.matmul(probs, value), [0, 2, 1, 3]), [-1, heads * head_size]
        )
        out_kernel, out_bias = _dense_parts(attention._output_dense, heads * head_size)
        x = tf.reshape(_matmul(context, out_kernel, out_bias), [batch, length, hidden])
        post_norm = None if self.normalize_first else self._self_attention_layer_norm
        x = _dropout_add(self._self_attention_dropout, x, residual, post_norm)

        # Feed-forward network.
        residual = x
        if self.normalize_first:
            x = self._feedforward_layer_norm(x)
        dense = self._feedforward_intermediate_dense
        h = _matmul(tf.reshape(x, [-1, hidden]), *_dense_parts(dense, hidden))
        approximate = _GELU.get(dense.activation)
        h = dense.activation(h) if approximate is None else fused_gelu(h, approximate)
        dense = self._feedforward_output_dense
        x = tf.reshape(
            _matmul(h, *_dense_parts(dense, h.shape[-1])), [batch, length, hidden]
        )
        post_norm = None if self.normalize_first else self._feedforward_layer_norm
        return _dropout_add(self._feedforward_dropout, x, residual, post_norm)
