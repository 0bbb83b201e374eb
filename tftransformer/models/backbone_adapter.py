"""What the fine-tuning recipes need to know about each family of backbones.

A `BackboneAdapter` answers, for one backbone, the questions every recipe
asks: which layers are the embeddings, which are the encoder layers and in
what order, where each layer's attention projections are, how many heads it
has and how wide they are, and whether its layers are shared. Freezing,
layer-wise decay, gradual unfreezing, LoRA, head importance, pruning and
`keep_layers` ask the adapter and never name a family.

Adapters are registered by keras-hub backbone class; `adapter_for` takes the
closest registered class in the backbone's method resolution order (so
`XLMRobertaBackbone` could use RoBERTa's adapter and `PrunedBertBackbone`
uses BERT's), and falls back to the name-based adapter for other backbones
(e.g. `tftransformer.models.TransformerEncoder` or a functional model whose
blocks are named `transformer_layer_{i}`).

The family adapters are a few lines each, so they live in this one module.
"""

import collections
import re

import keras
import keras_hub

from tftransformer.layers.masking import block_diagonal_attention_mask

__all__ = [
    "BackboneAdapter",
    "EncoderDecoderAdapter",
    "adapter_for",
    "find_backbone",
    "pair_separators",
    "register_adapter",
    "sequence_output",
]

_ENCODER_LAYER_NAME = re.compile(r"^transformer_layer_(\d+)$")
_EMBEDDING_LAYER_NAME = re.compile(r"embedding", re.IGNORECASE)

# keras-hub backbone class -> adapter class.
_ADAPTERS = {}


def _direct_sublayers(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def register_adapter(adapter_cls):
    """Registers an adapter class for its `backbone_cls` (a class decorator).

    Args:
        adapter_cls: a `BackboneAdapter` subclass with `backbone_cls` set.

    Returns:
        `adapter_cls`.
    """
    _ADAPTERS[adapter_cls.backbone_cls] = adapter_cls
    return adapter_cls


def _registered_adapter_cls(layer):
    for cls in type(layer).__mro__:
        if cls in _ADAPTERS:
            return _ADAPTERS[cls]
    return None


def pair_separators(tokenizer):
    """End tokens between the two texts of a pair, for a tokenizer's family.

    keras-hub tokenizers name their backbone class (`backbone_cls`); the
    family's adapter says how its pairs are packed: `[CLS] a [SEP] b [SEP]`
    for BERT-like families, `<s> a </s></s> b </s>` for RoBERTa and
    XLM-RoBERTa, as their keras-hub preprocessors pack them. A tokenizer
    with no registered family (or `backbone_cls=None`) packs one.

    Args:
        tokenizer: a keras-hub tokenizer.

    Returns:
        int >= 1.

    Example:
    ```python
    pair_separators(keras_hub.models.RobertaTokenizer(vocabulary, merges))  # 2
    ```
    """
    backbone_cls = getattr(tokenizer, "backbone_cls", None)
    for cls in getattr(backbone_cls, "__mro__", ()):
        if cls in _ADAPTERS:
            return _ADAPTERS[cls].pair_separators
    return BackboneAdapter.pair_separators


def preprocessor_pair_separators(preprocessor):
    """End tokens between a pair's texts as `preprocessor` packs them: its
    own `pair_separators` (tftransformer's preprocessors), else its
    tokenizer's family's (`pair_separators`).

    Example:
    ```python
    make_classification_dataset(
        texts, labels, preprocessor.tokenizer, 32, text_pairs=pairs,
        pair_separators=preprocessor_pair_separators(preprocessor),
    )
    ```
    """
    return getattr(preprocessor, "pair_separators", None) or pair_separators(
        preprocessor.tokenizer
    )


def _has_named_encoder_layers(layer):
    return any(_ENCODER_LAYER_NAME.match(sub.name) for sub in _direct_sublayers(layer))


def find_backbone(model):
    """Returns the backbone inside `model` (or `model` itself).

    The search is breadth-first from `model`: the first layer that is a
    registered keras-hub backbone (BERT, DistilBERT, RoBERTa, XLM-RoBERTa,
    DeBERTa-v3, ALBERT, ELECTRA) or whose direct sublayers are named
    `transformer_layer_{i}`.

    Args:
        model: a `keras.Layer` or `keras.Model`.

    Returns:
        The backbone layer.

    Raises:
        ValueError: if there is none at any depth.

    Example:
    ```python
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2)
    find_backbone(classifier) is backbone  # True
    ```
    """
    if not isinstance(model, keras.layers.Layer):
        # Every recipe (freezing, LoRA, the fused path) starts here.
        raise ValueError(
            "Expected a Keras model or layer holding a text backbone. "
            f"Received: model={model!r:.100} (a {type(model).__name__})"
        )
    queue = collections.deque([model])
    seen = set()
    while queue:
        layer = queue.popleft()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        if _registered_adapter_cls(layer) is not None:
            return layer
        if _has_named_encoder_layers(layer):
            return layer
        queue.extend(_direct_sublayers(layer))
    raise ValueError(
        "Expected a model holding a keras-hub text backbone "
        f"({', '.join(sorted(a.family for a in set(_ADAPTERS.values())))}) or "
        "encoder layers named 'transformer_layer_{i}'. Received: "
        f"model={model.name!r}, which has none at any depth."
    )


def adapter_for(model):
    """Returns the `BackboneAdapter` of the backbone inside `model`.

    Args:
        model: a backbone, or a model containing one (see `find_backbone`).

    Returns:
        A `BackboneAdapter` bound to the backbone.

    Example:
    ```python
    adapter = adapter_for(classifier)
    adapter.family, adapter.num_heads  # ("bert", 12)
    ```
    """
    backbone = find_backbone(model)
    adapter_cls = _registered_adapter_cls(backbone) or BackboneAdapter
    return adapter_cls(backbone)


def sequence_output(outputs):
    """The `(batch, seq, hidden)` output of a backbone call.

    BERT, ALBERT and ELECTRA return a dict with `"sequence_output"`;
    DistilBERT, RoBERTa, XLM-RoBERTa and DeBERTa-v3 return the tensor itself.
    """
    if isinstance(outputs, dict):
        return outputs["sequence_output"]
    return outputs


# What `TextClassifierPreprocessor` (and the data pipelines) give every
# family; a backbone takes the ones it needs.
PREPROCESSOR_KEYS = ("token_ids", "padding_mask", "segment_ids")


def task_inputs(backbone):
    """A task model's inputs, and the part of them its backbone takes.

    The task model takes every key of the shared preprocessor's batches,
    whether or not the family reads it (DistilBERT, RoBERTa, XLM-RoBERTa and
    DeBERTa-v3 take no `segment_ids`): a functional model given a dict with
    extra keys matches its inputs by position, not by name, which would feed
    `segment_ids` in as `token_ids`.

    Args:
        backbone: a keras-hub backbone (a functional model with dict inputs).

    Returns:
        `(inputs, backbone_inputs)`: dicts of `keras.Input`s, the second the
        subset to call `backbone` with.
    """
    backbone_inputs = dict(backbone.input)
    inputs = dict(backbone_inputs)
    for name in PREPROCESSOR_KEYS:
        if name not in inputs:
            inputs[name] = keras.Input(shape=(None,), dtype="int32", name=name)
    return inputs, backbone_inputs


class BackboneAdapter:
    """A backbone's layers as the fine-tuning recipes see them.

    The base class finds layers by name: encoder layers named
    `transformer_layer_{i}` and embedding-side layers with `embedding` in
    their name. Family subclasses change what differs.

    Args:
        backbone: the backbone layer (see `find_backbone`).

    Example:
    ```python
    adapter = adapter_for(classifier)
    [layer.name for layer in adapter.encoder_layers()]
    ```
    """

    # The registry key; None for the name-based fallback.
    backbone_cls = None
    family = "generic"
    # Whether one block of weights runs as several encoder layers (ALBERT).
    shares_layers = False
    # The backbone class that `prune_heads` builds for this family, or None
    # when pruning is refused.
    pruned_backbone_cls = None
    # Name pattern of the encoder layers, with the layer index as group 1.
    encoder_layer_name = _ENCODER_LAYER_NAME
    # End tokens between the two texts of a pair (see `pair_separators`).
    pair_separators = 1
    # Whether `packed_sequence_output` can run this family on packed rows.
    packs_sequences = False
    # Whether a LiteRT export pads every row to the sequence length: the
    # converter then folds what the backbone computes from the length alone
    # into constants.
    litert_fixed_length = False

    def __init__(self, backbone):
        self.backbone = backbone

    def sublayers(self):
        """Every direct sublayer of the backbone except its inputs.

        A layer the backbone also keeps as an attribute of its own (RoBERTa
        and DistilBERT keep `token_embedding`, which lives inside
        `embeddings`) is left out: it is part of its parent.
        """
        layers = [
            layer
            for layer in _direct_sublayers(self.backbone)
            if not isinstance(layer, keras.layers.InputLayer)
        ]
        nested = {
            id(inner)
            for layer in layers
            for inner in layer._flatten_layers(include_self=False)
        }
        return [layer for layer in layers if id(layer) not in nested]

    def encoder_layers(self):
        """The encoder layers with distinct weights, from input to output."""
        indexed = {}
        for layer in _direct_sublayers(self.backbone):
            match = self.encoder_layer_name.match(layer.name)
            if match:
                indexed[int(match.group(1))] = layer
        # A gap would make "the first N layers" ambiguous for every recipe.
        if sorted(indexed) != list(range(len(indexed))):
            raise ValueError(
                "Expected encoder layers numbered 0 to n-1. Received: indices "
                f"{sorted(indexed)} in model {self.backbone.name!r}."
            )
        return [indexed[i] for i in range(len(indexed))]

    def embedding_layers(self):
        """The embedding-side layers, in the backbone's order."""
        return [
            layer
            for layer in self.sublayers()
            if _EMBEDDING_LAYER_NAME.search(layer.name)
        ]

    def attention(self, encoder_layer):
        """The self-attention layer of one encoder layer, or None."""
        return getattr(encoder_layer, "_self_attention_layer", None)

    def lora_layer_names(self):
        """The names of the layers LoRA adapts by default: the query and
        value projections (keras-hub's `default_lora_layer_names`)."""
        return self.backbone.default_lora_layer_names()

    def output_projection(self, attention):
        """The attention's output projection: kernel `(heads, head_dim, hidden)`."""
        return getattr(attention, "output_dense", None) or getattr(
            attention, "_output_dense", None
        )

    def head_projections(self, attention):
        """The query, key and value projections: kernels `(hidden, heads, head_dim)`."""
        if isinstance(attention, keras.layers.MultiHeadAttention):
            return [attention.query_dense, attention.key_dense, attention.value_dense]
        return [attention._query_dense, attention._key_dense, attention._value_dense]

    @property
    def num_heads(self):
        attention = self.attention(self.encoder_layers()[0])
        return int(getattr(attention, "num_heads", 0)) or None

    @property
    def head_dim(self):
        attention = self.attention(self.encoder_layers()[0])
        # keras' MultiHeadAttention calls it key_dim, DeBERTa attn_head_size.
        return int(getattr(attention, "key_dim", None) or attention.attn_head_size)

    def packed_sequence_output(self, inputs, training=None):
        """The backbone's sequence output on packed rows.

        Packed rows (`tftransformer.data.make_classification_dataset` with
        `pack=True`) hold several texts each; every text must be encoded as
        if alone: positions restart at each text (`inputs["position_ids"]`)
        and attention stays inside it (a block-diagonal mask from
        `inputs["text_ids"]`). The family's adapter calls the backbone's
        layers one by one to do so.

        Args:
            inputs: the packed features, each `(batch, seq)`: `token_ids`,
                `padding_mask`, `segment_ids`, `text_ids`, `position_ids`.
            training: whether dropout is on.

        Returns:
            `(batch, seq, hidden)`.
        """
        self.check_recipe("sequence packing")
        raise NotImplementedError(type(self).__name__)

    def check_recipe(self, recipe):
        """Raises if `recipe` cannot act on this family; see `refused_recipes`."""
        reason = self.refused_recipes().get(recipe)
        if reason:
            raise ValueError(
                f"{recipe} does not work on a {type(self.backbone).__name__} "
                f"({self.family}): {reason}"
            )

    def refused_recipes(self):
        """`{recipe name: why it is refused}` for this family."""
        refused = {}
        if self.pruned_backbone_cls is None:
            refused["prune_heads"] = (
                "pruning builds a backbone whose heads keep their width, which "
                "exists for BERT only (tftransformer.models.PrunedBertBackbone). "
                "Fine-tune a BERT checkpoint to prune heads."
            )
        if not self.packs_sequences:
            refused["sequence packing"] = (
                "packed rows need the family's position embedding called with "
                "positions restarting at each text and its encoder layers "
                "with a block-diagonal attention mask, which this family's "
                "adapter does not do (these families' adapters do: "
                f"{', '.join(_packing_families())}). Train without packing."
            )
        return refused


def _packing_families():
    return sorted({a.family for a in _ADAPTERS.values() if a.packs_sequences})


def _encode_packed(layers, x, inputs, training, **layer_kwargs):
    """Runs encoder layers, in order, on packed rows: attention kept inside
    each text by a block-diagonal mask; `layer_kwargs` go to every layer."""
    # (batch, seq, seq)
    attention_mask = block_diagonal_attention_mask(inputs["text_ids"])
    for layer in layers:
        x = layer(
            x,
            padding_mask=inputs["padding_mask"],
            attention_mask=attention_mask,
            training=training,
            **layer_kwargs,
        )
    return x


class _BertStylePacking:
    """Packed rows through a BERT-style backbone: token, position and segment
    embeddings added, normalized, dropped out (projected, for ELECTRA's
    narrower embeddings and always for ALBERT's), then keras-hub
    `TransformerEncoder` layers (ALBERT's shared blocks in call order)."""

    packs_sequences = True
    # Whether the backbone projects its embeddings whatever their width.
    always_projects = False

    def packed_sequence_output(self, inputs, training=None):
        backbone = self.backbone
        tokens = backbone.token_embedding(inputs["token_ids"])
        # (batch, seq, hidden): each text's positions, from 0.
        positions = backbone.position_embedding(
            tokens, positions=inputs["position_ids"]
        )
        segments = backbone.segment_embedding(inputs["segment_ids"])
        x = backbone.embeddings_add((tokens, positions, segments))
        x = backbone.embeddings_layer_norm(x)
        x = backbone.embeddings_dropout(x, training=training)
        projection = getattr(backbone, "embeddings_projection", None)
        if projection is not None and (
            self.always_projects or backbone.hidden_dim != backbone.embedding_dim
        ):
            x = projection(x)
        return _encode_packed(self.encoder_calls(), x, inputs, training)

    def encoder_calls(self):
        """The encoder layers in the order the backbone calls them."""
        return self.backbone.transformer_layers


class _TokenAndPositionPacking:
    """Packed rows through a backbone with one `TokenAndPositionEmbedding`
    layer (DistilBERT, RoBERTa, XLM-RoBERTa): embedded with each text's
    positions, normalized, dropped out, then keras-hub `TransformerEncoder`
    layers. These families take no segment ids."""

    packs_sequences = True

    def packed_sequence_output(self, inputs, training=None):
        backbone = self.backbone
        x = backbone.embeddings(inputs["token_ids"], positions=inputs["position_ids"])
        x = backbone.embeddings_layer_norm(x)
        x = backbone.embeddings_dropout(x, training=training)
        return _encode_packed(backbone.transformer_layers, x, inputs, training)


@register_adapter
class BertAdapter(_BertStylePacking, BackboneAdapter):
    """keras-hub `BertBackbone`, and `tftransformer.models.PrunedBertBackbone`."""

    backbone_cls = keras_hub.models.BertBackbone
    family = "bert"

    @property
    def pruned_backbone_cls(self):
        # Imported here: the pruned backbone's module imports this one.
        from tftransformer.models.pruned_bert_backbone import PrunedBertBackbone

        return PrunedBertBackbone


@register_adapter
class DistilBertAdapter(_TokenAndPositionPacking, BackboneAdapter):
    """keras-hub `DistilBertBackbone`: one token-and-position embedding layer."""

    backbone_cls = keras_hub.models.DistilBertBackbone
    family = "distil_bert"


@register_adapter
class RobertaAdapter(_TokenAndPositionPacking, BackboneAdapter):
    """keras-hub `RobertaBackbone`: pairs packed `<s> a </s></s> b </s>`."""

    backbone_cls = keras_hub.models.RobertaBackbone
    family = "roberta"
    pair_separators = 2


@register_adapter
class XLMRobertaAdapter(RobertaAdapter):
    """keras-hub `XLMRobertaBackbone`: RoBERTa's layers, a SentencePiece vocabulary."""

    backbone_cls = keras_hub.models.XLMRobertaBackbone
    family = "xlm_roberta"


@register_adapter
class ElectraAdapter(_BertStylePacking, BackboneAdapter):
    """keras-hub `ElectraBackbone` (the discriminator): BERT's layers, with an
    `embeddings_projection` when the embeddings are narrower."""

    backbone_cls = keras_hub.models.ElectraBackbone
    family = "electra"


@register_adapter
class DebertaV3Adapter(BackboneAdapter):
    """keras-hub `DebertaV3Backbone`: disentangled attention layers; the
    relative position embedding (`rel_embedding`), read by every layer,
    counts as an embedding layer."""

    backbone_cls = keras_hub.models.DebertaV3Backbone
    family = "deberta_v3"
    encoder_layer_name = re.compile(r"^disentangled_attention_encoder_layer_(\d+)$")
    # Its relative position buckets take `abs` and `sign` of int64
    # distances, which have no LiteRT kernel; at a fixed length they fold
    # into constants.
    litert_fixed_length = True
    packs_sequences = True

    def packed_sequence_output(self, inputs, training=None):
        # No absolute positions: attention reads relative distances, which
        # inside one text are those of the text alone.
        backbone = self.backbone
        x = backbone.token_embedding(inputs["token_ids"])
        x = backbone.embeddings_layer_norm(x)
        x = backbone.embeddings_dropout(x, training=training)
        return _encode_packed(
            backbone.transformer_layers,
            x,
            inputs,
            training,
            rel_embeddings=backbone.relative_embeddings(x),
        )


@register_adapter
class AlbertAdapter(_BertStylePacking, BackboneAdapter):
    """keras-hub `AlbertBackbone`: groups of blocks shared across layers.

    ALBERT runs `num_layers` encoder layers with the weights of
    `num_groups * num_inner_repetitions` blocks (one block for the released
    checkpoints). The encoder layers the recipes see are those distinct
    blocks, in call order: freezing "the first N layers" freezes the first N
    blocks (with one shared block, freezing it freezes every layer), layer
    decay gives each block one rate, and gradual unfreezing unfreezes block
    by block. Removing layers or heads from shared weights would change
    every layer that uses them, so `keep_layers`, `prune_heads` and
    `head_importance` are refused.
    """

    backbone_cls = keras_hub.models.AlbertBackbone
    family = "albert"
    shares_layers = True
    encoder_layer_name = None
    always_projects = True

    def encoder_layers(self):
        return [layer for group in self.backbone.transformer_layers for layer in group]

    def encoder_calls(self):
        # Each group's blocks, num_layers // num_groups times in a row.
        calls = self.backbone.num_layers // self.backbone.num_groups
        return [
            layer
            for group in self.backbone.transformer_layers
            for _ in range(calls)
            for layer in group
        ]

    def refused_recipes(self):
        shared = (
            "ALBERT shares one block of weights across its layers (num_groups="
            f"{self.backbone.num_groups}, num_layers={self.backbone.num_layers}), "
            "so no layer or head can be removed from one layer alone."
        )
        return {
            **super().refused_recipes(),
            "keep_layers": shared,
            "prune_heads": shared,
            "head_importance": shared,
        }


class EncoderDecoderAdapter(BackboneAdapter):
    """An encoder-decoder's layers as the recipes see them (BART, T5).

    Its layers, from input to output, are the encoder's blocks and then the
    decoder's: every decoder block reads the encoder's last output, so the
    decoder sits above the whole encoder. `freeze_layers=N` freezes the
    shared token embedding, the position embeddings and the first N blocks
    of that order (N = the encoder's depth freezes the whole encoder, a
    common recipe for a new target language or format); layer-wise decay
    gives the decoder's last block the full rate and the encoder's first
    block the lowest; LoRA adapts the query and value projections of every
    self- and cross-attention. The recipes that shrink a text encoder for
    classification (`keep_layers`, `prune_heads`, `head_importance`) and
    sequence packing are refused.
    """

    # Whether `decoder_step` runs the decoder a token at a time with one
    # cache per layer (what a LiteRT export of generation needs).
    steps_decoder = False

    def encoder_layers(self):
        return [
            *self.backbone.encoder_transformer_layers,
            *self.backbone.decoder_transformer_layers,
        ]

    def decoder_layers(self):
        """The decoder's blocks, input to output."""
        return list(self.backbone.decoder_transformer_layers)

    def decoder_cache_shape(self, length):
        """A layer's key and value cache over `length` positions, without
        the batch: `(2, length, num_heads, head_dim)`."""
        raise NotImplementedError(f"{self.family} has no per-layer decoder step")

    def decoder_step(
        self, token_ids, encoder_outputs, encoder_padding_mask, caches, index, first
    ):
        """The task's logits for `token_ids` at decoder position `index`.

        As keras-hub's `call_decoder_with_cache`, with one cache tensor per
        layer instead of one stacked over the layers (LiteRT slices at
        most 5-D tensors).

        Args:
            token_ids: int `(batch, 1)`, the token at `index`.
            encoder_outputs: float `(batch, source_length, hidden_dim)`.
            encoder_padding_mask: bool `(batch, source_length)`.
            caches: a list per layer of `(self_cache, cross_cache)`, each
                `(batch, *decoder_cache_shape(length))`, the cross caches
                over the source's length.
            index: int scalar, the decoder position.
            first: bool, whether this is the first step, which fills the
                cross caches (later steps read them).

        Returns:
            `(logits, caches)`: `(batch, 1, vocabulary)` and the updated
            caches.
        """
        raise NotImplementedError(f"{self.family} has no per-layer decoder step")

    def refused_recipes(self):
        reason = (
            "it shrinks a text encoder for classification; an encoder-decoder "
            "is fine-tuned whole, frozen in part (freeze_layers), with LoRA "
            "or with layer-wise decay."
        )
        return {
            **super().refused_recipes(),
            "keep_layers": reason,
            "head_importance": reason,
        }


@register_adapter
class BartAdapter(EncoderDecoderAdapter):
    """keras-hub `BartBackbone`: keras-hub `TransformerEncoder` and
    `TransformerDecoder` blocks with learned positions."""

    backbone_cls = keras_hub.models.BartBackbone
    family = "bart"


@register_adapter
class T5Adapter(EncoderDecoderAdapter):
    """keras-hub `T5Backbone`: relative position biases inside the first
    block's attention, projections named `query_projector` and
    `value_projector` (keras-hub's default LoRA names miss them), and two
    relative position biases with one variable path, so layer-wise decay
    is refused."""

    backbone_cls = keras_hub.models.T5Backbone
    family = "t5"
    steps_decoder = True

    def decoder_cache_shape(self, length):
        backbone = self.backbone
        head_dim = backbone.key_value_dim or backbone.hidden_dim // backbone.num_heads
        return (2, length, backbone.num_heads, head_dim)

    def decoder_step(
        self, token_ids, encoder_outputs, encoder_padding_mask, caches, index, first
    ):
        backbone = self.backbone
        x = backbone.token_embedding(token_ids)
        encoder_attention_mask = encoder_padding_mask[:, None, :]
        # The relative position bias comes from the first layer, passed on.
        position_bias = None
        updated = []
        for layer, (self_cache, cross_cache) in zip(
            backbone.decoder_transformer_layers, caches
        ):
            x, position_bias, self_cache, new_cross_cache = layer(
                x,
                position_bias=position_bias,
                encoder_hidden_states=encoder_outputs,
                encoder_attention_mask=encoder_attention_mask,
                use_causal_mask=True,
                self_attention_cache=self_cache,
                self_attention_cache_update_index=index,
                cross_attention_cache=cross_cache,
                cross_attention_cache_update_index=0 if first else None,
            )
            updated.append((self_cache, new_cross_cache if first else cross_cache))
        x = backbone.decoder_layer_norm(x)
        # keras-hub's `T5Seq2SeqLM._logits`: a tied head scales first.
        if backbone.tie_embedding_weights:
            x = x * keras.ops.cast(backbone.hidden_dim**-0.5, x.dtype)
        return backbone.token_embedding(x, reverse=True), updated

    def attention(self, encoder_layer):
        return getattr(encoder_layer, "self_attention", None)

    def lora_layer_names(self):
        return ["query_projector", "value_projector"]

    def refused_recipes(self):
        return {
            **super().refused_recipes(),
            # `LayerwiseAdamW` finds a variable's rate by its path.
            "layer_decay": (
                "the relative position biases of the encoder's and the "
                "decoder's first blocks share the variable path "
                "'self_attention/embeddings' in keras-hub's T5, and the "
                "optimizer finds each variable's rate by its path, so the two "
                "blocks cannot train at different rates. Use freeze_layers or "
                "lora_rank."
            ),
        }
