import math

import keras
from keras import ops

from tftransformer._arguments import check_bool, check_int, python_number


@keras.saving.register_keras_serializable(package="tftransformer")
class RelativePositionBias(keras.layers.Layer):
    """T5-style learned relative position bias for attention logits.

    Each (query, key) pair is assigned a bucket from its relative position
    `key_position - query_position`: small distances get one bucket each,
    larger ones share logarithmically wider buckets, and every distance at or
    beyond `max_distance` shares the last bucket. Each bucket holds one
    learned scalar per head, which is added to the attention logits before the
    softmax (Raffel et al., 2020).

    Args:
        num_buckets: int, the number of buckets. With `bidirectional=True`
            half of them are for keys before the query (and the query itself)
            and half for keys after it; at least 4 then, at least 2 otherwise.
            Defaults to `32`.
        max_distance: int, the distance from which all positions share the
            last bucket. Must exceed the number of exact buckets (a quarter of
            `num_buckets` when bidirectional, half of it otherwise). Defaults
            to `128`.
        num_heads: int, the number of attention heads (one bias per head).
        bidirectional: bool. If `False` (causal attention), keys after the
            query all fall in bucket 0, since a causal mask hides them anyway.
            Defaults to `True`.
        embeddings_initializer: initializer of the `(num_buckets, num_heads)`
            bias table. Defaults to `RandomNormal(stddev=0.02)`.
        **kwargs: other keyword arguments passed to `keras.layers.Layer`,
            including `name` and `dtype`.

    Call arguments:
        query_sequence: tensor of shape `(batch, query_len, ...)`; only its
            length is used.
        key_sequence: optional tensor of shape `(batch, key_len, ...)`; only
            its length is used. Defaults to `query_sequence`.
        query_start_index: int or scalar int tensor, the position of the
            first query (keys start at position 0). Cached decoding passes
            the cache index, where one new query attends to all the keys
            before it. Defaults to `0`.

    Returns:
        A float tensor of shape `(1, num_heads, query_len, key_len)`, which
        broadcasts over the batch of attention logits.

    Example:
    ```python
    bias_layer = tftransformer.layers.RelativePositionBias(num_heads=4)
    x = np.random.rand(2, 10, 16).astype("float32")
    bias = bias_layer(x)  # (1, 4, 10, 10)
    ```
    """

    def __init__(
        self,
        num_buckets=32,
        max_distance=128,
        num_heads=None,
        bidirectional=True,
        embeddings_initializer=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        num_buckets = python_number(num_buckets)
        max_distance = python_number(max_distance)
        num_heads = check_int("num_heads", num_heads, 1)
        bidirectional = check_bool("bidirectional", bidirectional)
        _check_bucket_arguments(num_buckets, max_distance, bidirectional)
        if embeddings_initializer is None:
            embeddings_initializer = keras.initializers.RandomNormal(stddev=0.02)
        self.num_buckets = num_buckets
        self.max_distance = max_distance
        self.num_heads = num_heads
        self.bidirectional = bidirectional
        self.embeddings_initializer = keras.initializers.get(embeddings_initializer)

    def build(self, query_sequence_shape, key_sequence_shape=None):
        # (num_buckets, num_heads)
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.num_buckets, self.num_heads),
            initializer=self.embeddings_initializer,
            trainable=True,
        )

    @staticmethod
    def relative_position_bucket(
        relative_position, bidirectional=True, num_buckets=32, max_distance=128
    ):
        """Maps relative positions to bucket indices with the T5 rule.

        Args:
            relative_position: int tensor, `key_position - query_position`.
            bidirectional: bool, whether keys after the query get their own
                buckets.
            num_buckets: int, the number of buckets.
            max_distance: int, the distance from which all positions share
                the last bucket.

        Returns:
            An int32 tensor of the shape of `relative_position`, with values
            in `[0, num_buckets)`.
        """
        # T5 measures the distance from the key back to the query.
        n = ops.negative(ops.cast(relative_position, "int32"))
        bucket = ops.zeros_like(n)
        if bidirectional:
            num_buckets //= 2
            # Keys after the query use the upper half of the buckets.
            bucket = bucket + ops.cast(ops.less(n, 0), "int32") * num_buckets
            n = ops.abs(n)
        else:
            n = ops.maximum(n, 0)
        max_exact = num_buckets // 2
        is_small = ops.less(n, max_exact)
        # Clamping below at max_exact keeps log() finite; those distances take
        # the exact branch anyway.
        n_float = ops.maximum(ops.cast(n, "float32"), float(max_exact))
        log_ratio = ops.log(n_float / max_exact) / math.log(max_distance / max_exact)
        val_if_large = max_exact + ops.cast(
            log_ratio * (num_buckets - max_exact), "int32"
        )
        val_if_large = ops.minimum(val_if_large, num_buckets - 1)
        return bucket + ops.where(is_small, n, val_if_large)

    def call(self, query_sequence, key_sequence=None, query_start_index=0):
        if key_sequence is None:
            key_sequence = query_sequence
        query_length = ops.shape(query_sequence)[1]
        key_length = ops.shape(key_sequence)[1]
        query_positions = ops.arange(query_length, dtype="int32") + ops.cast(
            query_start_index, "int32"
        )
        # (query_len, key_len): key position minus query position.
        relative_position = ops.expand_dims(
            ops.arange(key_length, dtype="int32"), 0
        ) - ops.expand_dims(query_positions, 1)
        buckets = self.relative_position_bucket(
            relative_position,
            bidirectional=self.bidirectional,
            num_buckets=self.num_buckets,
            max_distance=self.max_distance,
        )
        # (query_len, key_len, num_heads)
        values = ops.take(ops.convert_to_tensor(self.embeddings), buckets, axis=0)
        # (1, num_heads, query_len, key_len)
        values = ops.expand_dims(ops.transpose(values, (2, 0, 1)), 0)
        return ops.cast(values, self.compute_dtype)

    def compute_output_shape(self, query_sequence_shape, key_sequence_shape=None):
        if key_sequence_shape is None:
            key_sequence_shape = query_sequence_shape
        return (1, self.num_heads, query_sequence_shape[1], key_sequence_shape[1])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_buckets": self.num_buckets,
                "max_distance": self.max_distance,
                "num_heads": self.num_heads,
                "bidirectional": self.bidirectional,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config


def _check_bucket_arguments(num_buckets, max_distance, bidirectional):
    """Raises `ValueError` unless the T5 bucketing arguments are usable."""
    min_buckets = 4 if bidirectional else 2
    check_int(
        "num_buckets",
        num_buckets,
        min_buckets,
        what=f" when bidirectional={bidirectional}",
    )
    # log(max_distance / max_exact) must be positive.
    max_exact = (num_buckets // 2 if bidirectional else num_buckets) // 2
    check_int(
        "max_distance",
        max_distance,
        max_exact + 1,
        what=f", more than the {max_exact} exact buckets of num_buckets={num_buckets}",
    )
