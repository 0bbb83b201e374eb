import keras
from keras import ops

from tftransformer.layers.feed_forward import FeedForward
from tftransformer.layers.initializers import clone_initializer
from tftransformer.layers.masking import (
    check_sequence_shape,
    compute_causal_mask,
    explicit_mask_arguments,
    merge_padding_and_attention_mask,
)
from tftransformer.layers.multi_head_attention import MultiHeadAttention
from tftransformer.layers.transformer_encoder_block import (
    block_config,
    check_head_split,
    set_block_arguments,
)

# The names the errors give each mask: the call's own arguments.
_DECODER_MASKS = ("decoder_padding_mask", "decoder_attention_mask")
_ENCODER_MASKS = ("encoder_padding_mask", "encoder_attention_mask")


@keras.saving.register_keras_serializable(package="tftransformer")
class TransformerDecoderBlock(keras.layers.Layer):
    """Transformer decoder block: causal self-, optional cross-attention, FFN.

    The block runs causal self-attention, cross-attention over an encoder
    sequence when there is one, and a feed-forward network.

    Each sublayer is wrapped in a residual connection and a layer
    normalization (post-LN, or pre-LN with `norm_first=True`). The
    cross-attention sublayers exist only when the block is first called (built)
    with an `encoder_sequence`; a block built without one is decoder-only (as
    in GPT-2) and must always be called without one. The self-attention can
    add a causal T5-style relative position bias; the cross-attention never
    does.

    Args:
        intermediate_dim: int, the hidden width of the feed-forward network.
        num_heads: int, the number of attention heads; must divide the
            hidden width of the decoder sequence.
        dropout: float in `[0, 1)`, the dropout rate of the attention
            probabilities, of the residual branches and inside the
            feed-forward network. Defaults to `0.0`.
        activation: string or callable, the feed-forward activation.
            Defaults to `"gelu"`.
        layer_norm_epsilon: float, the epsilon of the layer normalizations.
            Defaults to `1e-5`.
        norm_first: bool, whether to normalize the sublayer inputs (pre-LN)
            instead of the residual sums (post-LN). Defaults to `False`.
        use_relative_position_bias: bool, whether the self-attention adds a
            learned causal relative position bias. Defaults to `False`.
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
        decoder_sequence: tensor of shape `(batch, dec_seq, hidden)`.
        encoder_sequence: optional tensor of shape
            `(batch, enc_seq, enc_hidden)`, attended by the cross-attention.
        decoder_padding_mask: optional bool tensor `(batch, dec_seq)`, true
            for real decoder tokens; defaults to the Keras mask of
            `decoder_sequence`.
        decoder_attention_mask: optional bool tensor
            `(batch, dec_seq, dec_seq)`, combined (logical AND) with the
            padding mask and the causal mask.
        encoder_padding_mask: optional bool tensor `(batch, enc_seq)`, true
            for real encoder tokens; defaults to the Keras mask of
            `encoder_sequence`.
        encoder_attention_mask: optional bool tensor
            `(batch, dec_seq, enc_seq)`, combined (logical AND) with the
            encoder padding mask.
        training: bool, whether dropout is active.
        self_attention_cache: optional tensor
            `(batch, 2, cache_len, num_heads, head_dim)`, the self-attention
            keys and values of earlier positions, for decoding a few
            positions at a time (see `MultiHeadAttention`). The
            `decoder_sequence` is then the new positions only, and the masks
            cover the cache: `decoder_padding_mask` `(batch, cache_len)`,
            `decoder_attention_mask` `(batch, dec_seq, cache_len)`; the causal
            mask places the new positions at
            `self_attention_cache_update_index`.
        self_attention_cache_update_index: int or scalar int tensor, the
            position of the first new decoder position; needed with
            `self_attention_cache`.
        cross_attention_cache: optional tensor
            `(batch, 2, enc_seq, num_heads, head_dim)`, the cross-attention
            keys and values of the encoder sequence. Used as it is (and
            `encoder_sequence` may be `None`) unless
            `cross_attention_cache_update_index` is given, which fills it
            from `encoder_sequence`. Only with `self_attention_cache`.
        cross_attention_cache_update_index: optional int or scalar int
            tensor, where the encoder keys and values go in
            `cross_attention_cache` (usually `0`, once per source).

    Returns:
        A tensor of shape `(batch, dec_seq, hidden)`. With a
        `self_attention_cache`, a tuple of it and the updated cache, and
        for a block with cross-attention also the cross-attention cache.

    Example:
    ```python
    block = tftransformer.layers.TransformerDecoderBlock(
        intermediate_dim=64, num_heads=4
    )
    decoder_sequence = np.random.rand(2, 6, 32).astype("float32")
    encoder_sequence = np.random.rand(2, 10, 32).astype("float32")
    outputs = block(decoder_sequence, encoder_sequence)  # (2, 6, 32)

    # Cached decoding: one new position at a time.
    block = tftransformer.layers.TransformerDecoderBlock(
        intermediate_dim=64, num_heads=4
    )
    cache = np.zeros((2, 2, 6, 4, 8), "float32")  # (batch, 2, len, heads, dim)
    for index in range(6):
        step, cache = block(
            decoder_sequence[:, index : index + 1],
            self_attention_cache=cache,
            self_attention_cache_update_index=index,
        )  # step: (2, 1, 32)
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
            bidirectional=False,
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
        self._cross_attention = None

    def build(self, decoder_sequence_shape, encoder_sequence_shape=None):
        check_sequence_shape("decoder_sequence", decoder_sequence_shape)
        if encoder_sequence_shape is not None:
            check_sequence_shape("encoder_sequence", encoder_sequence_shape)
        hidden_dim = check_head_split(
            "decoder sequence", decoder_sequence_shape[-1], self.num_heads
        )
        head_dim = hidden_dim // self.num_heads

        self._self_attention = MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=head_dim,
            dropout=self.dropout,
            use_relative_position_bias=self.use_relative_position_bias,
            relative_position_buckets=self.relative_position_buckets,
            relative_position_max_distance=self.relative_position_max_distance,
            # Keys after the query are masked, so they need no buckets.
            bidirectional=False,
            kernel_initializer=clone_initializer(self.kernel_initializer),
            bias_initializer=clone_initializer(self.bias_initializer),
            dtype=self.dtype_policy,
            name="self_attention",
        )
        self._self_attention.build(decoder_sequence_shape, decoder_sequence_shape)
        self._self_attention_layer_norm = self._layer_norm(
            "self_attention_layer_norm", decoder_sequence_shape
        )
        self._self_attention_dropout = keras.layers.Dropout(
            self.dropout, dtype=self.dtype_policy, name="self_attention_dropout"
        )

        if encoder_sequence_shape is not None:
            self._cross_attention = MultiHeadAttention(
                num_heads=self.num_heads,
                key_dim=head_dim,
                dropout=self.dropout,
                kernel_initializer=clone_initializer(self.kernel_initializer),
                bias_initializer=clone_initializer(self.bias_initializer),
                dtype=self.dtype_policy,
                name="cross_attention",
            )
            self._cross_attention.build(decoder_sequence_shape, encoder_sequence_shape)
            self._cross_attention_layer_norm = self._layer_norm(
                "cross_attention_layer_norm", decoder_sequence_shape
            )
            self._cross_attention_dropout = keras.layers.Dropout(
                self.dropout, dtype=self.dtype_policy, name="cross_attention_dropout"
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
        self._feedforward.build(decoder_sequence_shape)
        self._feedforward_layer_norm = self._layer_norm(
            "feedforward_layer_norm", decoder_sequence_shape
        )

    def _layer_norm(self, name, shape):
        layer = keras.layers.LayerNormalization(
            epsilon=self.layer_norm_epsilon, dtype=self.dtype_policy, name=name
        )
        layer.build(shape)
        return layer

    def call(
        self,
        decoder_sequence,
        encoder_sequence=None,
        decoder_padding_mask=None,
        decoder_attention_mask=None,
        encoder_padding_mask=None,
        encoder_attention_mask=None,
        training=None,
        self_attention_cache=None,
        self_attention_cache_update_index=None,
        cross_attention_cache=None,
        cross_attention_cache_update_index=None,
    ):
        if self_attention_cache is not None or cross_attention_cache is not None:
            return self._call_with_cache(
                decoder_sequence,
                encoder_sequence,
                decoder_padding_mask,
                decoder_attention_mask,
                encoder_padding_mask,
                encoder_attention_mask,
                training,
                self_attention_cache,
                self_attention_cache_update_index,
                cross_attention_cache,
                cross_attention_cache_update_index,
            )
        has_cross_attention = self._cross_attention is not None
        if has_cross_attention != (encoder_sequence is not None):
            raise ValueError(
                "A TransformerDecoderBlock must always be called the way it "
                "was built: with an encoder_sequence if built with one, "
                "without one otherwise. This block was built "
                f"{'with' if has_cross_attention else 'without'} cross-attention. "
                f"Received: encoder_sequence={encoder_sequence}"
            )

        # Masks are read before the attention layers, which clear the Keras
        # masks of their inputs.
        self_attention_mask = merge_padding_and_attention_mask(
            decoder_sequence,
            decoder_padding_mask,
            decoder_attention_mask,
            query=decoder_sequence,
            names=_DECODER_MASKS,
        )
        shape = ops.shape(decoder_sequence)
        causal_mask = compute_causal_mask(shape[0], shape[1], shape[1])
        self_attention_mask = (
            causal_mask
            if self_attention_mask is None
            else ops.logical_and(self_attention_mask, causal_mask)
        )
        cross_attention_mask = None
        if has_cross_attention:
            cross_attention_mask = merge_padding_and_attention_mask(
                encoder_sequence,
                encoder_padding_mask,
                encoder_attention_mask,
                query=decoder_sequence,
                names=_ENCODER_MASKS,
            )

        cross_attention = None
        if has_cross_attention:

            def cross_attention(y):
                return self._cross_attention(
                    query=y,
                    value=encoder_sequence,
                    attention_mask=cross_attention_mask,
                    training=training,
                    **explicit_mask_arguments(
                        y, encoder_sequence, None, encoder_padding_mask
                    ),
                )

        return self._sublayers(
            decoder_sequence,
            lambda y: self._self_attention(
                query=y,
                value=y,
                attention_mask=self_attention_mask,
                training=training,
                **explicit_mask_arguments(
                    y, y, decoder_padding_mask, decoder_padding_mask
                ),
            ),
            cross_attention,
            training,
        )

    def _call_with_cache(
        self,
        decoder_sequence,
        encoder_sequence,
        decoder_padding_mask,
        decoder_attention_mask,
        encoder_padding_mask,
        encoder_attention_mask,
        training,
        self_attention_cache,
        self_attention_cache_update_index,
        cross_attention_cache,
        cross_attention_cache_update_index,
    ):
        has_cross_attention = self._cross_attention is not None
        if self_attention_cache is None or self_attention_cache_update_index is None:
            raise ValueError(
                "Cached decoding needs both self_attention_cache and "
                "self_attention_cache_update_index. Received: "
                f"self_attention_cache={self_attention_cache}, "
                "self_attention_cache_update_index="
                f"{self_attention_cache_update_index}"
            )
        reads_encoder = cross_attention_cache is None or (
            cross_attention_cache_update_index is not None
        )
        if has_cross_attention and reads_encoder and encoder_sequence is None:
            raise ValueError(
                "This block has cross-attention: pass an encoder_sequence, or "
                "a filled cross_attention_cache without "
                "cross_attention_cache_update_index."
            )
        if not has_cross_attention and (
            encoder_sequence is not None or cross_attention_cache is not None
        ):
            raise ValueError(
                "This block was built without cross-attention: call it without "
                "encoder_sequence and cross_attention_cache."
            )

        # The new positions attend to the cache up to themselves.
        shape = ops.shape(decoder_sequence)
        cache_length = ops.shape(self_attention_cache)[2]
        self_attention_mask = compute_causal_mask(
            shape[0], shape[1], cache_length, self_attention_cache_update_index
        )
        # The masks cover the cache; no Keras mask is read.
        cache_mask = merge_padding_and_attention_mask(
            None,
            decoder_padding_mask,
            decoder_attention_mask,
            query=decoder_sequence,
            names=_DECODER_MASKS,
        )
        if cache_mask is not None:
            self_attention_mask = ops.logical_and(self_attention_mask, cache_mask)
        caches = {}

        def self_attention(y):
            y, caches["self"] = self._self_attention(
                query=y,
                value=y,
                attention_mask=self_attention_mask,
                training=training,
                cache=self_attention_cache,
                cache_update_index=self_attention_cache_update_index,
            )
            return y

        cross_attention = None
        if has_cross_attention:
            # Without an encoder_sequence there is no Keras mask to read.
            cross_attention_mask = merge_padding_and_attention_mask(
                encoder_sequence,
                encoder_padding_mask,
                encoder_attention_mask,
                query=decoder_sequence,
                names=_ENCODER_MASKS,
            )

            def cross_attention(y):
                if cross_attention_cache is None:
                    return self._cross_attention(
                        query=y,
                        value=encoder_sequence,
                        attention_mask=cross_attention_mask,
                        training=training,
                    )
                y, caches["cross"] = self._cross_attention(
                    query=y,
                    value=encoder_sequence,
                    attention_mask=cross_attention_mask,
                    training=training,
                    cache=cross_attention_cache,
                    cache_update_index=cross_attention_cache_update_index,
                )
                return y

        x = self._sublayers(decoder_sequence, self_attention, cross_attention, training)
        if has_cross_attention:
            return x, caches["self"], caches.get("cross")
        return x, caches["self"]

    def _sublayers(self, x, self_attention, cross_attention, training):
        """Self-attention, cross-attention (unless `None`) and feed-forward,
        each in its residual block."""
        x = self._residual_block(
            x,
            self_attention,
            self._self_attention_layer_norm,
            self._self_attention_dropout,
            training,
        )
        if cross_attention is not None:
            x = self._residual_block(
                x,
                cross_attention,
                self._cross_attention_layer_norm,
                self._cross_attention_dropout,
                training,
            )
        return self._residual_block(
            x,
            lambda y: self._feedforward(y, training=training),
            self._feedforward_layer_norm,
            None,
            training,
        )

    def _residual_block(self, x, sublayer, layer_norm, dropout, training):
        residual = x
        if self.norm_first:
            x = layer_norm(x)
        x = sublayer(x)
        if dropout is not None:
            x = dropout(x, training=training)
        x = x + residual
        if not self.norm_first:
            x = layer_norm(x)
        return x

    def compute_output_shape(self, decoder_sequence_shape, encoder_sequence_shape=None):
        return decoder_sequence_shape

    def compute_output_spec(
        self,
        decoder_sequence,
        encoder_sequence=None,
        self_attention_cache=None,
        cross_attention_cache=None,
        **kwargs,
    ):
        # What `call` returns: the caches beside the output when given one.
        output = keras.KerasTensor(decoder_sequence.shape, dtype=self.compute_dtype)
        if self_attention_cache is None and cross_attention_cache is None:
            return output
        caches = [self_attention_cache]
        if self._cross_attention is not None:
            caches.append(cross_attention_cache)
        return (
            output,
            *(
                None
                if cache is None
                else keras.KerasTensor(cache.shape, dtype=cache.dtype)
                for cache in caches
            ),
        )

    def get_config(self):
        config = super().get_config()
        config.update(block_config(self))
        return config
