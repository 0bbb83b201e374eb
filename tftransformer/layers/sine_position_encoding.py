import keras
from keras import ops

from tftransformer._arguments import (
    check_input_rank,
    check_positive_number,
    python_number,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class SinePositionEncoding(keras.layers.Layer):
    """Fixed sinusoidal position encoding of "Attention Is All You Need".

    For position `pos` and feature index `j = 2i` or `j = 2i + 1` of a
    `dim`-wide encoding:

        PE[pos, 2i]     = sin(pos / max_wavelength ** (2i / dim))
        PE[pos, 2i + 1] = cos(pos / max_wavelength ** (2i / dim))

    so sines and cosines are interleaved along the feature axis, as in the
    paper. The layer has no weights; its output has the shape of its input
    and is meant to be added to the token embeddings.

    Args:
        max_wavelength: positive number, the longest wavelength of the
            sinusoids (`10000` in the paper).
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, seq, dim)`; only its shape is used.
        start_index: int or scalar int tensor, the position of the first
            element of `inputs` (useful when decoding one step at a time).

    Returns:
        A float tensor of shape `(batch, seq, dim)` holding the encodings of
        positions `start_index, ..., start_index + seq - 1`.

    Example:
    ```python
    embeddings = np.random.rand(2, 10, 16).astype("float32")
    positions = tftransformer.layers.SinePositionEncoding()(embeddings)
    # (2, 10, 16)
    outputs = embeddings + positions
    ```
    """

    def __init__(self, max_wavelength=10000, **kwargs):
        super().__init__(**kwargs)
        max_wavelength = python_number(max_wavelength)
        check_positive_number("max_wavelength", max_wavelength)
        self.max_wavelength = max_wavelength
        # An input mask passes through: the encodings are aligned with the
        # input positions.
        self.supports_masking = True

    def build(self, inputs_shape):
        check_input_rank(self, inputs_shape, ("batch", "seq", "dim"))
        super().build(inputs_shape)

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        seq_length, dim = shape[-2], shape[-1]
        # Computed in float32 and cast at the end: positions and angles lose
        # too much precision in bfloat16.
        positions = ops.cast(ops.arange(seq_length), "float32")
        positions = positions + ops.cast(start_index, "float32")
        # Feature j uses the frequency of its pair (2i, 2i + 1), i = j // 2.
        pair_index = ops.cast(2 * (ops.arange(dim) // 2), "float32")
        inverse_frequencies = ops.power(
            ops.cast(self.max_wavelength, "float32"),
            -pair_index / ops.cast(dim, "float32"),
        )
        # (seq, dim)
        angles = ops.expand_dims(positions, -1) * ops.expand_dims(
            inverse_frequencies, 0
        )
        is_even = ops.equal(ops.arange(dim) % 2, 0)
        encodings = ops.where(is_even, ops.sin(angles), ops.cos(angles))
        encodings = ops.cast(encodings, self.compute_dtype)
        return ops.broadcast_to(encodings, shape)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"max_wavelength": self.max_wavelength})
        return config
