import keras
from keras import ops

from tftransformer._arguments import check_input_rank, check_int


@keras.saving.register_keras_serializable(package="tftransformer")
class PositionEmbedding(keras.layers.Layer):
    """Learned absolute position embedding.

    Holds a trainable table of shape `(sequence_length, dim)` and returns the
    rows for the input's positions, broadcast to the input's shape, to be
    added to the token embeddings (as in BERT).

    A sequence longer than the table raises `ValueError` when its length (and
    `start_index`) are known when the layer is called: always in eager mode
    and in functional models with a fixed sequence length. With a dynamic
    length (e.g. `keras.Input(shape=(None, dim))` inside a traced function)
    the check can only happen at run time, where slicing past the table
    fails with the backend's own error, except under XLA (`jit_compile`),
    whose gather clamps positions past the table to its last row without an
    error: a compiled decoding loop must keep its positions in the table
    itself (as `CausalLM.generate` does, checking `max_length`).

    Args:
        sequence_length: positive int, the number of positions in the table,
            i.e. the longest sequence the layer accepts.
        initializer: initializer of the table. Defaults to `"glorot_uniform"`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        inputs: tensor of shape `(batch, seq, dim)`; only its shape is used.
        start_index: int or scalar int tensor, the position of the first
            element of `inputs` (useful when decoding one step at a time).

    Returns:
        A float tensor of shape `(batch, seq, dim)`: rows `start_index` to
        `start_index + seq - 1` of the table.

    Example:
    ```python
    embeddings = np.random.rand(2, 10, 16).astype("float32")
    layer = tftransformer.layers.PositionEmbedding(sequence_length=32)
    outputs = embeddings + layer(embeddings)  # (2, 10, 16)
    ```
    """

    def __init__(self, sequence_length, initializer="glorot_uniform", **kwargs):
        super().__init__(**kwargs)
        sequence_length = check_int("sequence_length", sequence_length, 1)
        self.sequence_length = sequence_length
        self.initializer = keras.initializers.get(initializer)
        # An input mask passes through: the encodings are aligned with the
        # input positions.
        self.supports_masking = True

    def build(self, inputs_shape):
        check_input_rank(self, inputs_shape, ("batch", "seq", "dim"))
        dim = inputs_shape[-1]
        # (sequence_length, dim)
        self.position_embeddings = self.add_weight(
            name="embeddings",
            shape=(self.sequence_length, dim),
            initializer=self.initializer,
            trainable=True,
        )

    def _check_length(self, seq_length, start_index):
        if not isinstance(seq_length, int) or not isinstance(start_index, int):
            return
        if start_index < 0 or start_index + seq_length > self.sequence_length:
            raise ValueError(
                "The input sequence does not fit the position table: "
                f"positions {start_index} to {start_index + seq_length - 1} "
                f"(sequence length {seq_length}, start_index={start_index}) "
                f"were requested, but sequence_length={self.sequence_length}."
            )

    def call(self, inputs, start_index=0):
        shape = ops.shape(inputs)
        seq_length, dim = shape[-2], shape[-1]
        start_index = _known_int(start_index)
        self._check_length(seq_length, start_index)
        table = ops.convert_to_tensor(self.position_embeddings)
        if isinstance(start_index, int):
            # (seq, dim)
            embeddings = ops.slice(table, (start_index, 0), (seq_length, dim))
        else:
            # XLA takes a slice's start as a compile-time constant, so a
            # compiled decoding step would recompile for every position; a
            # gather takes it at run time.
            positions = ops.arange(seq_length, dtype="int32") + ops.cast(
                start_index, "int32"
            )
            embeddings = ops.take(table, positions, axis=0)
        return ops.broadcast_to(ops.cast(embeddings, self.compute_dtype), shape)

    def compute_output_shape(self, input_shape):
        self._check_length(input_shape[-2], 0)
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "sequence_length": self.sequence_length,
                "initializer": keras.initializers.serialize(self.initializer),
            }
        )
        return config


def _known_int(value):
    # Keras hands a NumPy integer argument to `call` as an eager tensor,
    # whose value can be checked; a symbolic one has none until it runs.
    if isinstance(value, int):
        return value
    try:
        return int(value)
    except (TypeError, ValueError):
        return value
