import keras
import keras_hub

from tftransformer.models.transformer_encoder import check_positive_int


@keras.saving.register_keras_serializable(package="tftransformer")
class PrunedBertBackbone(keras_hub.models.BertBackbone):
    """A keras-hub BERT encoder whose attention heads keep their own width.

    keras-hub's `BertBackbone` derives each head's width from
    `hidden_dim // num_heads`, so a BERT with 12 heads of 32 pruned to 8 heads
    would get heads of 48 and no longer fit its weights. This subclass takes
    the head width as `head_dim`: its attention projects the hidden states to
    `num_heads * head_dim` features (256 for 8 heads of 32 in a 384-wide
    model) and back. Everything else, the layer and variable names and the
    weight layout included, is `BertBackbone`'s, so it is a `BertBackbone` to
    keras-hub (`isinstance`, `save_to_preset`, `Backbone.from_preset`, tasks)
    and to `tftransformer` (`load_backbone`, `TextClassifier`, fine-tuning
    strategies). `tftransformer.finetune.prune_heads` builds one.

    Args:
        vocabulary_size: int, the number of token ids.
        num_layers: int, the number of transformer layers.
        num_heads: int, attention heads in every layer.
        hidden_dim: int, the width of the hidden states.
        intermediate_dim: int, the feed-forward width of every layer.
        head_dim: int, the width of each attention head; `None` gives
            `hidden_dim // num_heads`, i.e. exactly `BertBackbone`.
        dropout: float, dropout of the embeddings and the layers.
        max_sequence_length: int, the length of the position table.
        num_segments: int, the number of segment ids.
        dtype: dtype or dtype policy of the variables and computations.
        **kwargs: passed to `keras_hub.models.Backbone`, e.g. `name`.

    Call arguments:
        inputs: dict of `(batch, seq)` int tensors `token_ids`,
            `segment_ids` and `padding_mask`.

    Returns:
        A dict with `sequence_output` `(batch, seq, hidden_dim)` and
        `pooled_output` `(batch, hidden_dim)`, as `BertBackbone`.

    Example:
    ```python
    backbone = tftransformer.models.PrunedBertBackbone(
        vocabulary_size=30522,
        num_layers=6,
        num_heads=8,
        hidden_dim=384,
        intermediate_dim=1536,
        head_dim=32,
    )
    backbone.save_to_preset("runs/pruned_preset")
    ```
    """

    def __init__(
        self,
        vocabulary_size,
        num_layers,
        num_heads,
        hidden_dim,
        intermediate_dim,
        head_dim=None,
        dropout=0.1,
        max_sequence_length=512,
        num_segments=2,
        dtype=None,
        **kwargs,
    ):
        vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim = (
            check_positive_int(
                vocabulary_size=vocabulary_size,
                num_layers=num_layers,
                num_heads=num_heads,
                hidden_dim=hidden_dim,
                intermediate_dim=intermediate_dim,
            )
        )
        if head_dim is None:
            head_dim = hidden_dim // num_heads
        (head_dim,) = check_positive_int(head_dim=head_dim)

        # === Layers === (BertBackbone's, with head-width-aware encoders)
        initializer = keras.initializers.TruncatedNormal(stddev=0.02)
        self.token_embedding = keras.layers.ReversibleEmbedding(
            input_dim=vocabulary_size,
            output_dim=hidden_dim,
            embeddings_initializer=initializer,
            dtype=dtype,
            name="token_embedding",
        )
        self.position_embedding = keras_hub.layers.PositionEmbedding(
            initializer=initializer,
            sequence_length=max_sequence_length,
            dtype=dtype,
            name="position_embedding",
        )
        self.segment_embedding = keras.layers.Embedding(
            input_dim=num_segments,
            output_dim=hidden_dim,
            embeddings_initializer=initializer,
            dtype=dtype,
            name="segment_embedding",
        )
        self.embeddings_add = keras.layers.Add(dtype=dtype, name="embeddings_add")
        self.embeddings_layer_norm = keras.layers.LayerNormalization(
            axis=-1, epsilon=1e-12, dtype=dtype, name="embeddings_layer_norm"
        )
        self.embeddings_dropout = keras.layers.Dropout(
            dropout, dtype=dtype, name="embeddings_dropout"
        )
        self.transformer_layers = [
            _HeadDimTransformerEncoder(
                num_heads=num_heads,
                head_dim=head_dim,
                intermediate_dim=intermediate_dim,
                activation=_gelu_approximate,
                dropout=dropout,
                layer_norm_epsilon=1e-12,
                kernel_initializer=initializer,
                dtype=dtype,
                name=f"transformer_layer_{i}",
            )
            for i in range(num_layers)
        ]
        self.pooled_dense = keras.layers.Dense(
            hidden_dim,
            kernel_initializer=initializer,
            activation="tanh",
            dtype=dtype,
            name="pooled_dense",
        )

        # === Functional model ===
        token_id_input = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_id_input = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask_input = keras.Input(
            shape=(None,), dtype="int32", name="padding_mask"
        )
        tokens = self.token_embedding(token_id_input)
        positions = self.position_embedding(tokens)
        segments = self.segment_embedding(segment_id_input)
        x = self.embeddings_add((tokens, positions, segments))
        x = self.embeddings_layer_norm(x)
        x = self.embeddings_dropout(x)
        for transformer_layer in self.transformer_layers:
            x = transformer_layer(x, padding_mask=padding_mask_input)
        pooled_output = self.pooled_dense(x[:, 0, :])
        # BertBackbone.__init__ would build keras-hub's own encoders, so the
        # graph above replaces it and Backbone's constructor finishes the job.
        keras_hub.models.Backbone.__init__(
            self,
            inputs={
                "token_ids": token_id_input,
                "segment_ids": segment_id_input,
                "padding_mask": padding_mask_input,
            },
            outputs={"sequence_output": x, "pooled_output": pooled_output},
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.head_dim = head_dim
        self.dropout = dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.cls_token_index = 0

    def get_config(self):
        config = super().get_config()
        config["head_dim"] = self.head_dim
        return config


class _HeadDimTransformerEncoder(keras_hub.layers.TransformerEncoder):
    """keras-hub's `TransformerEncoder` with an explicit attention head width.

    Never serialized on its own: `PrunedBertBackbone` rebuilds its layers from
    its constructor arguments.

    Args:
        intermediate_dim: int, the feed-forward width.
        num_heads: int, the number of attention heads.
        head_dim: int, the width of each head's query, key and value.
        **kwargs: passed to `keras_hub.layers.TransformerEncoder`.
    """

    def __init__(self, intermediate_dim, num_heads, head_dim, **kwargs):
        super().__init__(
            intermediate_dim=intermediate_dim, num_heads=num_heads, **kwargs
        )
        (self.head_dim,) = check_positive_int(head_dim=head_dim)

    def build(self, inputs_shape):
        super().build(inputs_shape)
        if self._self_attention_layer.key_dim == self.head_dim:
            return
        # keras-hub sized the heads as hidden_dim // num_heads: swap in an
        # attention layer of the right width, with the same name and settings.
        self._tracker.untrack(self._self_attention_layer)
        self._self_attention_layer = keras.layers.MultiHeadAttention(
            num_heads=self.num_heads,
            key_dim=self.head_dim,
            dropout=self.dropout,
            kernel_initializer=_clone(self.kernel_initializer),
            bias_initializer=_clone(self.bias_initializer),
            dtype=self.dtype_policy,
            name="self_attention_layer",
        )
        self._self_attention_layer.build(
            query_shape=inputs_shape, value_shape=inputs_shape
        )

    def get_config(self):
        config = super().get_config()
        config["head_dim"] = self.head_dim
        return config


def _gelu_approximate(x):
    # BertBackbone's activation: GELU with the tanh approximation.
    return keras.activations.gelu(x, approximate=True)


def _clone(initializer):
    return initializer.__class__.from_config(initializer.get_config())
