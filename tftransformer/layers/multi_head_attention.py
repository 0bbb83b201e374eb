import keras
from keras import ops
from keras.src.backend import get_keras_mask, set_keras_mask

from tftransformer._arguments import check_bool, check_fraction, python_number
from tftransformer.layers.masking import (
    check_attention_mask,
    check_sequence_shape,
    compute_causal_mask,
)
from tftransformer.layers.relative_position_bias import RelativePositionBias


@keras.saving.register_keras_serializable(package="tftransformer")
class MultiHeadAttention(keras.layers.MultiHeadAttention):
    """Multi-head attention with an optional T5-style relative position bias.

    This is `keras.layers.MultiHeadAttention` (same projections, masking and
    call arguments) with one addition: when `use_relative_position_bias=True`
    it owns a `RelativePositionBias` sublayer whose `(heads, query_len,
    key_len)` bias is added to the scaled attention logits before the softmax.
    That softmax runs in float32, so the layer is safe under mixed precision.

    Args:
        num_heads: int, the number of attention heads.
        key_dim: int, the size of each head for query and key.
        use_relative_position_bias: bool, whether to add a learned relative
            position bias to the logits. Requires inputs of shape
            `(batch, seq, features)`. Defaults to `False`.
        relative_position_buckets: int, the number of relative position
            buckets. Defaults to `32`.
        relative_position_max_distance: int, the distance from which all
            positions share the last bucket. Defaults to `128`.
        bidirectional: bool, whether keys after the query get their own
            buckets; use `False` with causal attention. Defaults to `True`.
        **kwargs: the other arguments of `keras.layers.MultiHeadAttention`
            (`value_dim`, `dropout`, `use_bias`, `output_shape`,
            `kernel_initializer`, ...) and of `keras.layers.Layer` (`name`,
            `dtype`, ...).

    Call arguments:
        query: tensor of shape `(batch, query_len, query_dim)`.
        value: tensor of shape `(batch, key_len, value_dim)`.
        key: optional tensor of shape `(batch, key_len, key_dim)`; defaults
            to `value`.
        attention_mask: optional bool tensor of shape
            `(batch, query_len, key_len)`, true where attention is allowed.
            Keras masks on `query`, `value` and `key` are combined with it.
        return_attention_scores: bool, whether to also return the attention
            probabilities.
        training: bool, whether dropout is active.
        use_causal_mask: bool, whether to hide keys after each query.
        cache: optional tensor of shape
            `(batch, 2, cache_len, num_heads, key_dim)`, the projected keys
            (index 0) and values (index 1) of earlier positions, for decoding
            one step at a time. With `cache_update_index` the projections of
            `key`/`value` are written into it at that position and the
            queries attend to the whole updated cache; without it the cache
            is used as it is (cross-attention over an encoder sequence
            projected once) and `key`/`value` are ignored. Queries sit at
            positions `cache_update_index, ...` (for the causal mask and the
            relative position bias). Keras masks are not read in this mode:
            pass `attention_mask` of shape `(batch, query_len, cache_len)`.
        cache_update_index: optional int or scalar int tensor, where the new
            keys and values go in `cache`. Positions past the cache's end
            are refused when the index is known (a Python int, or eager);
            under XLA a tensor index is not checked, and the update is
            clamped onto the cache's last slots.

    Returns:
        `attention_output` of shape `(batch, query_len, query_dim)` (or
        `output_shape`), and with `return_attention_scores=True` also the
        attention probabilities of shape `(batch, num_heads, query_len,
        key_len)`. With a `cache`, the updated cache comes last:
        `(attention_output, cache)` or `(attention_output, scores, cache)`.

    Example:
    ```python
    layer = tftransformer.layers.MultiHeadAttention(
        num_heads=4, key_dim=8, use_relative_position_bias=True
    )
    x = np.random.rand(2, 10, 32).astype("float32")
    outputs, scores = layer(x, x, return_attention_scores=True)
    # outputs: (2, 10, 32), scores: (2, 4, 10, 10)
    ```
    """

    def __init__(
        self,
        num_heads,
        key_dim,
        use_relative_position_bias=False,
        relative_position_buckets=32,
        relative_position_max_distance=128,
        bidirectional=True,
        **kwargs,
    ):
        num_heads = python_number(num_heads)
        key_dim = python_number(key_dim)
        relative_position_buckets = python_number(relative_position_buckets)
        relative_position_max_distance = python_number(relative_position_max_distance)
        for name in ("value_dim", "dropout"):
            if name in kwargs:
                kwargs[name] = python_number(kwargs[name])
        check_fraction("dropout", kwargs.get("dropout", 0.0))
        # The parent validates num_heads, key_dim and value_dim.
        super().__init__(num_heads=num_heads, key_dim=key_dim, **kwargs)
        # A truthy string such as "no" would silently pick the other variant.
        self.use_relative_position_bias = check_bool(
            "use_relative_position_bias", use_relative_position_bias
        )
        self.relative_position_buckets = relative_position_buckets
        self.relative_position_max_distance = relative_position_max_distance
        self.bidirectional = check_bool("bidirectional", bidirectional)
        # (query, value, key) feature sizes, set by build() and checked on
        # every call.
        self._input_feature_dims = (None, None, None)
        self._relative_position_bias = None
        if use_relative_position_bias:
            # Created here so bad bucket arguments fail at construction.
            self._relative_position_bias = RelativePositionBias(
                num_buckets=relative_position_buckets,
                max_distance=relative_position_max_distance,
                num_heads=num_heads,
                bidirectional=bidirectional,
                dtype=self.dtype_policy,
                name="relative_position_bias",
            )

    @property
    def relative_position_bias(self):
        """The `RelativePositionBias` sublayer, or `None` when disabled."""
        return self._relative_position_bias

    def build(self, query_shape, value_shape, key_shape=None):
        key_shape = value_shape if key_shape is None else key_shape
        check_sequence_shape("query", query_shape, more_axes=True)
        check_sequence_shape("value", value_shape, more_axes=True)
        if self.use_relative_position_bias and (
            len(query_shape) != 3 or len(key_shape) != 3
        ):
            raise ValueError(
                "use_relative_position_bias=True needs inputs of shape "
                "(batch, seq, features). Received: "
                f"query_shape={query_shape}, key_shape={key_shape}"
            )
        super().build(query_shape, value_shape, key_shape)
        self._input_feature_dims = (
            query_shape[-1],
            value_shape[-1],
            key_shape[-1],
        )
        if self._relative_position_bias is not None:
            self._relative_position_bias.build(query_shape, key_shape)

    def call(
        self,
        query,
        value,
        key=None,
        query_mask=None,
        value_mask=None,
        key_mask=None,
        attention_mask=None,
        return_attention_scores=False,
        training=None,
        use_causal_mask=False,
        cache=None,
        cache_update_index=None,
    ):
        self._check_feature_dims(query, value, key)
        return_attention_scores = check_bool(
            "return_attention_scores", return_attention_scores
        )
        use_causal_mask = check_bool("use_causal_mask", use_causal_mask)
        keys = value if key is None else key
        if cache is not None:
            # The keys are the cache's (its shape is checked with it).
            key_length = cache.shape[2] if len(cache.shape) == 5 else None
        else:
            key_length = keys.shape[1] if len(keys.shape) == 3 else None
        if len(query.shape) == 3 and (keys is None or len(keys.shape) == 3):
            check_attention_mask(
                "attention_mask",
                attention_mask,
                query.shape[0],
                query.shape[1],
                key_length,
            )
        if cache is not None:
            return self._call_with_cache(
                query,
                value,
                key,
                cache,
                cache_update_index,
                attention_mask,
                return_attention_scores,
                training,
                use_causal_mask,
            )
        if cache_update_index is not None:
            raise ValueError(
                "cache_update_index needs a cache. Received: "
                f"cache=None, cache_update_index={cache_update_index}"
            )
        # Keras' call deletes the Keras masks of its input tensors (so its
        # projections do not warn about dropping them); put them back, or a
        # tensor used again after this layer (one encoder output feeding
        # several decoder blocks, a residual branch) is no longer masked.
        inputs = [t for t in (query, value, key) if t is not None]
        masks = [get_keras_mask(t) for t in inputs]
        if query_mask is not None:
            # Keras reads the query's mask off the tensor and ignores this
            # argument: set it there, so that a mask passed explicitly (not
            # filled in from the Keras mask) is the one applied.
            set_keras_mask(query, ops.cast(query_mask, "bool"))
        try:
            return super().call(
                query,
                value,
                key=key,
                query_mask=query_mask,
                value_mask=value_mask,
                key_mask=key_mask,
                attention_mask=attention_mask,
                return_attention_scores=return_attention_scores,
                training=training,
                use_causal_mask=use_causal_mask,
            )
        finally:
            for tensor, mask in zip(inputs, masks):
                set_keras_mask(tensor, mask)

    def _call_with_cache(
        self,
        query,
        value,
        key,
        cache,
        cache_update_index,
        attention_mask,
        return_attention_scores,
        training,
        use_causal_mask,
    ):
        if self._sliding_window is not None:
            raise ValueError(
                "A cache cannot be used with sliding_window attention. "
                f"Received: sliding_window={self._sliding_window}"
            )
        if len(cache.shape) != 5 or cache.shape[1] != 2:
            raise ValueError(
                "cache must have shape (batch, 2, cache_length, num_heads, "
                f"head_dim). Received: cache.shape={tuple(cache.shape)}"
            )
        key = value if key is None else key
        gate = self._gate_dense(query) if self._use_gate else None
        # (batch, query_len, heads, key_dim)
        projected_query = self._query_dense(query)
        if cache_update_index is None:
            keys, values = cache[:, 0, ...], cache[:, 1, ...]
            query_start_index = 0
        else:
            _check_cache_room(cache_update_index, key.shape[1], cache.shape[2])
            start = [0, cache_update_index, 0, 0]
            # (batch, cache_len, heads, dim) each.
            keys = ops.slice_update(
                cache[:, 0, ...], start, ops.cast(self._key_dense(key), cache.dtype)
            )
            values = ops.slice_update(
                cache[:, 1, ...],
                start,
                ops.cast(self._value_dense(value), cache.dtype),
            )
            cache = ops.stack((keys, values), axis=1)
            query_start_index = cache_update_index
        keys = ops.cast(keys, projected_query.dtype)
        values = ops.cast(values, projected_query.dtype)
        if use_causal_mask:
            shape = ops.shape(projected_query)
            causal_mask = compute_causal_mask(
                shape[0], shape[1], ops.shape(keys)[1], query_start_index
            )
            attention_mask = (
                causal_mask
                if attention_mask is None
                else ops.logical_and(ops.cast(attention_mask, "bool"), causal_mask)
            )
        attention_output, scores = self._compute_attention(
            projected_query,
            keys,
            values,
            attention_mask=attention_mask,
            training=training,
            return_attention_scores=return_attention_scores,
            query_start_index=query_start_index,
        )
        if gate is not None:
            attention_output = ops.multiply(attention_output, gate)
        attention_output = self._output_dense(attention_output)
        if return_attention_scores:
            return attention_output, scores, cache
        return attention_output, cache

    def _check_feature_dims(self, query, value, key):
        # The projections are fixed at build time; a different feature width
        # would otherwise fail deep inside an einsum.
        tensors = {"query": query, "value": value, "key": key}
        for (name, tensor), expected in zip(tensors.items(), self._input_feature_dims):
            received = None if tensor is None else tensor.shape[-1]
            if None not in (expected, received) and expected != received:
                raise ValueError(
                    f"The {name} feature size does not match the one the layer "
                    f"was built with ({expected}). Received: "
                    f"{name}.shape={tuple(tensor.shape)}"
                )

    def _compute_attention(
        self,
        query,
        key,
        value,
        attention_mask=None,
        training=None,
        return_attention_scores=False,
        use_causal_mask=False,
        query_start_index=0,
    ):
        if self._relative_position_bias is None:
            return super()._compute_attention(
                query,
                key,
                value,
                attention_mask=attention_mask,
                training=training,
                return_attention_scores=return_attention_scores,
                use_causal_mask=use_causal_mask,
            )
        # query: (batch, query_len, heads, key_dim)
        # key: (batch, key_len, heads, key_dim)
        query = ops.multiply(query, ops.cast(self._inverse_sqrt_key_dim, query.dtype))
        # (batch, heads, query_len, key_len)
        logits = ops.einsum(self._dot_product_equation, key, query)
        # (1, heads, query_len, key_len)
        bias = self._relative_position_bias(
            query, key, query_start_index=query_start_index
        )
        logits = ops.cast(logits, "float32") + ops.cast(bias, "float32")
        if use_causal_mask:
            causal_mask = self._compute_causal_mask(query, key)
            attention_mask = (
                causal_mask
                if attention_mask is None
                else ops.logical_and(ops.cast(attention_mask, "bool"), causal_mask)
            )
        if attention_mask is not None:
            # (batch, 1, query_len, key_len): the same mask for every head.
            attention_mask = ops.cast(attention_mask, "bool")
            while len(attention_mask.shape) < 4:
                attention_mask = ops.expand_dims(attention_mask, axis=-3)
            logits = ops.where(attention_mask, logits, -1e9)
        # Over one key the softmax is 1; `ops.softmax` would warn about it.
        if logits.shape[-1] == 1:
            scores = ops.ones_like(logits)
        else:
            scores = ops.softmax(logits, axis=-1)
        if attention_mask is not None:
            # A query with every key masked attends to nothing.
            scores = ops.where(attention_mask, scores, 0.0)
        scores = ops.cast(scores, self.compute_dtype)
        if self._dropout > 0.0:
            dropped_scores = self._dropout_layer(scores, training=training)
        else:
            dropped_scores = scores
        # (batch, query_len, heads, value_dim)
        attention_output = ops.einsum(self._combine_equation, dropped_scores, value)
        return attention_output, scores

    def compute_output_spec(
        self,
        query,
        value,
        key=None,
        return_attention_scores=False,
        cache=None,
        cache_update_index=None,
        **kwargs,
    ):
        self._check_feature_dims(query, value, key)
        output_spec = super().compute_output_spec(query, value, key=key, **kwargs)
        outputs = [output_spec]
        if return_attention_scores:
            # Keys come from the cache when there is one.
            key_length = (value if cache is None else cache[:, 0]).shape[1]
            if len(query.shape) == 3:
                # (batch, heads, query_len, key_len)
                scores_shape = (query.shape[0], self.num_heads, query.shape[1])
                scores_shape += (key_length,)
            else:
                _, scores_spec = super().compute_output_spec(
                    query, value, key=key, return_attention_scores=True, **kwargs
                )
                scores_shape = scores_spec.shape
            outputs.append(keras.KerasTensor(scores_shape, dtype=self.compute_dtype))
        if cache is not None:
            outputs.append(keras.KerasTensor(cache.shape, dtype=cache.dtype))
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "use_relative_position_bias": self.use_relative_position_bias,
                "relative_position_buckets": self.relative_position_buckets,
                "relative_position_max_distance": (self.relative_position_max_distance),
                "bidirectional": self.bidirectional,
            }
        )
        return config


def _check_cache_room(index, new_length, cache_length):
    """Refuses new positions past the cache's end, where known: the update
    would be clamped onto the cache's last slots and the attention read
    wrong keys without an error. A tensor index is checked when eager."""
    try:
        index = int(index)
    except (TypeError, ValueError, NotImplementedError):
        return  # A symbolic index (a traced decoding loop).
    if (
        index < 0
        or None not in (new_length, cache_length)
        and (index + new_length > cache_length)
    ):
        raise ValueError(
            "cache_update_index and the new positions must fit in the cache: "
            f"positions [{index}, {index + (new_length or 0)}) of a cache of "
            f"{cache_length}. Received: cache_update_index={index}, "
            f"{new_length} new positions (build a longer cache)"
        )
