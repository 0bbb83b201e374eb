"""Structural shrinking of a backbone: fewer encoder layers, fewer heads.

`keep_layers` and `prune_heads` return a new, smaller keras-hub backbone
holding the kept part of the original's weights; it saves as a preset, loads
with `tftransformer.presets.load_backbone` and fine-tunes like any other.
`keep_layers` and `head_importance` work on every family the backbone
adapters know except ALBERT, whose layers share weights; `prune_heads` on
BERT (the families' adapters say what they refuse, and why).
keras-hub's `BertBackbone` has one head count for all layers, so pruning
removes the same number of heads from every layer (which heads may differ by
layer); the result is a `tftransformer.models.PrunedBertBackbone`, a
`BertBackbone` whose heads keep their original width.

Which heads to remove can be measured on data with `head_importance`, the
score of Michel et al. 2019 ("Are Sixteen Heads Really Better than One?"):
the magnitude of the loss's gradient with respect to a gate multiplying each
head's output.
"""

import numbers
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer._arguments import as_list, check_int
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.presets import load_backbone

__all__ = [
    "head_importance",
    "keep_layers",
    "least_important_heads",
    "prune_heads",
]

_ATTENTION = "self_attention_layer"
_HEAD_PROJECTIONS = ("query", "key", "value")
_OUTPUT_PROJECTION = "attention_output"


def keep_layers(backbone, layers):
    """Returns a copy of a backbone with only some of its encoder layers.

    The embeddings, the pooler and each kept layer's weights are copied
    unchanged, so keeping the first K layers computes exactly what the first
    K layers of the original compute.

    Args:
        backbone: a keras-hub text encoder backbone of any family but ALBERT
            (e.g. `classifier.backbone`), or a preset that
            `tftransformer.presets.load_backbone` reads (such as
            `"embedded"`).
        layers: an int K, to keep the first K layers, or a non-empty list of
            distinct layer indices, kept in the order given (`[0, 2, 4]`
            keeps every other layer of six).

    Returns:
        A new, trainable backbone of the same class and config, with
        `num_layers=len(kept layers)`.

    Raises:
        ValueError: if `layers` is not a count in `[1, num_layers]` or a
            list of distinct indices in `[0, num_layers)`.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    small = keep_layers(backbone, 3)  # 6 -> 3 layers
    classifier = tftransformer.models.TextClassifier(small, num_classes=2)
    ```
    """
    if isinstance(backbone, (str, os.PathLike)):
        # Only the backbone is kept: any valid preprocessor length will do.
        backbone, _ = load_backbone(backbone, sequence_length=2)
    backbone = _check_backbone(backbone, "keep_layers")
    indices = _check_layer_indices(layers, backbone.num_layers)
    # Freezing is a training choice, not part of the structure: a teacher
    # frozen for distillation still gives a trainable student.
    config = {**backbone.get_config(), "num_layers": len(indices), "trainable": True}
    shrunk = type(backbone).from_config(config)
    _copy_weights(backbone, shrunk, layer_indices=indices)
    return shrunk


def prune_heads(backbone, heads=None, num_heads_to_keep=None, importance=None):
    """Returns a copy of a BERT backbone without some attention heads.

    Each kept head's query, key and value kernels and biases (shaped
    `[hidden, heads, head_dim]` and `[heads, head_dim]`) and its rows of the
    output kernel (`[heads, head_dim, hidden]`) are copied; the heads keep
    their width, so the attention of a 384-wide layer pruned from 12 heads
    of 32 to 8 projects to 256 features. Removing a head whose rows of the
    output kernel are zero leaves the outputs unchanged.

    Args:
        backbone: a keras-hub `BertBackbone` (e.g. `classifier.backbone`).
        heads: a dict `{layer index: [head indices to remove]}`. Every layer
            must lose the same number of heads (layers left out lose none).
        num_heads_to_keep: instead of `heads`, an int: keep this many heads
            in every layer, the ones with the highest `importance`.
        importance: with `num_heads_to_keep`, an array
            `(num_layers, num_heads)` of head scores, e.g. from
            `head_importance`.

    Returns:
        A new, trainable backbone: a `tftransformer.models.PrunedBertBackbone` with
        `num_heads` the kept count and `head_dim` the original head width,
        or, when every head is kept, one of the original's class.

    Raises:
        ValueError: if both or neither of `heads` and `num_heads_to_keep` are
            given, a layer or head index is out of range or repeated, layers
            would lose different numbers of heads, or no head would be left.

    Example:
    ```python
    scores = head_importance(classifier, train_dataset, num_batches=8)
    pruned = prune_heads(classifier.backbone, num_heads_to_keep=8, importance=scores)
    ```
    """
    backbone = _check_backbone(backbone, "prune_heads")
    num_layers, num_heads = backbone.num_layers, backbone.num_heads
    if (heads is None) == (num_heads_to_keep is None):
        raise ValueError(
            "Pass exactly one of `heads` (a dict {layer: [heads to remove]}) "
            "and `num_heads_to_keep` (with `importance`). Received: "
            f"heads={heads!r}, num_heads_to_keep={num_heads_to_keep!r}"
        )
    if heads is None:
        if importance is None:
            raise ValueError(
                "`num_heads_to_keep` needs `importance`, an array (num_layers, "
                "num_heads) of head scores, e.g. from `head_importance(model, "
                "dataset)`."
            )
        shape = np.shape(importance)
        if shape != (num_layers, num_heads):
            raise ValueError(
                f"importance must have shape {(num_layers, num_heads)} (num_layers, "
                f"num_heads of the backbone). Received: shape {shape}"
            )
        heads = least_important_heads(importance, num_heads_to_keep)
    elif importance is not None:
        raise ValueError(
            "`importance` is only used with `num_heads_to_keep`; `heads` already "
            "names the heads to remove."
        )
    kept = _kept_heads(heads, num_layers, num_heads)

    head_dim = _head_dim(backbone)
    num_kept = len(kept[0])
    config = {**backbone.get_config(), "num_heads": num_kept, "trainable": True}
    if num_kept == num_heads:
        cls = type(backbone)
    else:
        cls = adapter_for(backbone).pruned_backbone_cls
        config["head_dim"] = head_dim
    pruned = cls.from_config(config)
    _copy_weights(
        backbone, pruned, layer_indices=list(range(num_layers)), kept_heads=kept
    )
    return pruned


def least_important_heads(importance, num_heads_to_keep):
    """Names the heads to remove so that each layer keeps its best ones.

    Args:
        importance: an array `(num_layers, num_heads)` of head scores, higher
            meaning more important (e.g. from `head_importance`).
        num_heads_to_keep: int in `[1, num_heads]`, heads kept per layer.

    Returns:
        A dict `{layer index: [head indices to remove]}` for `prune_heads`,
        the lowest-scoring heads of every layer (ties: the higher index goes).

    Example:
    ```python
    least_important_heads([[0.1, 0.9, 0.5], [0.7, 0.2, 0.3]], 2)
    # {0: [0], 1: [1]}
    ```
    """
    scores = np.asarray(importance, dtype="float64")
    if scores.ndim != 2 or not scores.size:
        raise ValueError(
            "`importance` must be an array of shape (num_layers, num_heads). "
            f"Received: an array of shape {scores.shape}"
        )
    if not np.all(np.isfinite(scores)):
        raise ValueError(
            f"`importance` must be finite. Received: {scores.tolist()}, with NaN or inf"
        )
    num_heads = scores.shape[1]
    num_heads_to_keep = check_int(
        "num_heads_to_keep",
        num_heads_to_keep,
        1,
        num_heads,
        what=f" (each layer has {num_heads} heads)",
    )
    order = np.argsort(-scores, axis=1, kind="stable")
    return {
        layer: sorted(int(h) for h in order[layer, num_heads_to_keep:])
        for layer in range(scores.shape[0])
    }


def head_importance(model, dataset, num_batches=None, loss=None):
    """Measures each attention head's importance on data (Michel et al. 2019).

    A gate `g_h` multiplying head `h`'s output before the output projection
    is the same as scaling the head's rows of the output kernel `W_o[h]`, so
    `d loss / d g_h = sum(W_o[h] * d loss / d W_o[h])`. The score of a head
    is `|d loss / d g_h|` at `g = 1`, averaged over the batches. The model
    runs in inference mode (no dropout); frozen layers are measured too.

    Args:
        model: a classifier returning logits whose encoder layers
            (`transformer_layer_{i}`) are keras-hub `TransformerEncoder`s, e.g.
            a `TextClassifier` on a `BertBackbone`.
        dataset: an iterable of `(features, labels)` or `(features, labels,
            sample_weight)` batches of tokenized features, as
            `tftransformer.data.make_classification_dataset` yields.
        num_batches: optional int, the number of batches to use; `None` uses
            the whole dataset.
        loss: the loss to differentiate, a `keras.losses.Loss`; defaults to
            sparse categorical cross-entropy on logits.

    Returns:
        A float64 NumPy array `(num_layers, num_heads)`.

    Example:
    ```python
    scores = head_importance(classifier, dataset, num_batches=8)
    scores.argmin(axis=1)  # each layer's least important head
    ```
    """
    _check_no_lora(model, "head_importance")
    adapter = adapter_for(model)
    adapter.check_recipe("head_importance")
    layers = adapter.encoder_layers()
    attentions = [adapter.attention(layer) for layer in layers]
    projections = [
        None if a is None else adapter.output_projection(a) for a in attentions
    ]
    if any(p is None for p in projections):
        raise ValueError(
            "head_importance needs encoder layers with a multi-head attention "
            "layer (keras-hub's TransformerEncoder or DeBERTa's disentangled "
            f"attention). Received: {[type(layer).__name__ for layer in layers]}"
        )
    num_heads = int(attentions[0].num_heads)
    if num_batches is not None:
        num_batches = check_int("num_batches", num_batches, 1, what=" or None")
    if loss is None:
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    # The TensorFlow variables behind the output kernels: a tape watches
    # those, and frozen ones are not watched by default.
    kernels = [projection.kernel.value for projection in projections]

    @tf.function(reduce_retracing=True)
    def gate_gradients(x, y, sample_weight):
        with tf.GradientTape() as tape:
            tape.watch(kernels)
            value = loss(y, model(x, training=False), sample_weight=sample_weight)
        grads = tape.gradient(value, kernels)
        # (heads, head_dim, hidden), or DeBERTa's (heads * head_dim, hidden)
        # -> one gate gradient per head.
        return tf.stack(
            [
                tf.reduce_sum(
                    tf.reshape(kernel * tf.cast(grad, kernel.dtype), (num_heads, -1)),
                    axis=1,
                )
                for kernel, grad in zip(kernels, grads)
            ]
        )

    total = np.zeros((len(layers), num_heads))
    count = 0
    for batch in dataset:
        if num_batches is not None and count == num_batches:
            break
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        if y is None:
            raise ValueError(
                "head_importance needs labelled batches (features, labels). "
                "Received a batch without labels."
            )
        total += np.abs(gate_gradients(x, y, sample_weight).numpy())
        count += 1
    if not count:
        raise ValueError("head_importance received an empty dataset.")
    return total / count


def _check_backbone(backbone, caller):
    if not isinstance(backbone, keras_hub.models.Backbone):
        raise ValueError(
            f"{caller} works on a keras-hub Backbone (for a classifier, pass "
            f"`classifier.backbone`). Received: {type(backbone).__name__}"
            + (f" {backbone.name!r}" if hasattr(backbone, "name") else "")
        )
    adapter_for(backbone).check_recipe(caller)
    _check_no_lora(backbone, caller)
    return backbone


def _check_no_lora(model, caller):
    if any(
        getattr(layer, "lora_enabled", False)
        for layer in model._flatten_layers(include_self=False)
    ):
        raise ValueError(
            f"{caller}: {model.name!r} has LoRA adapters; merge them first "
            "with `tftransformer.finetune.merge_lora(model)`."
        )


def _check_layer_indices(layers, num_layers):
    if isinstance(layers, numbers.Integral) and not isinstance(layers, bool):
        layers = check_int(
            "layers",
            layers,
            1,
            num_layers,
            what=f" (the backbone has {num_layers} layers)",
        )
        return list(range(layers))
    if isinstance(layers, (str, bytes)) or not hasattr(layers, "__iter__"):
        raise ValueError(
            "layers must be a count or a list of layer indices. "
            f"Received: layers={layers!r}"
        )
    indices = list(layers)
    if not indices:
        raise ValueError("layers must keep at least one layer. Received: an empty list")
    for index in indices:
        if (
            isinstance(index, bool)
            or not isinstance(index, numbers.Integral)
            or not 0 <= index < num_layers
        ):
            raise ValueError(
                f"Layer indices must be ints in [0, {num_layers}) (the backbone "
                f"has {num_layers} layers). Received: layers={indices!r}"
            )
    if len(set(indices)) != len(indices):
        raise ValueError(
            f"Layer indices must be distinct. Received: layers={indices!r}"
        )
    return [int(i) for i in indices]


def _kept_heads(heads, num_layers, num_heads):
    """`{layer: [heads to remove]}` -> the sorted kept heads of every layer."""
    if not isinstance(heads, dict):
        raise ValueError(
            "heads must be a dict {layer index: [head indices to remove]}. "
            f"Received: heads={heads!r}"
        )
    removed = {layer: set() for layer in range(num_layers)}
    for layer, indices in heads.items():
        if (
            isinstance(layer, bool)
            or not isinstance(layer, numbers.Integral)
            or not 0 <= layer < num_layers
        ):
            raise ValueError(
                f"heads keys must be layer indices in [0, {num_layers}). "
                f"Received: heads={heads!r}"
            )
        indices = as_list(indices)
        if not isinstance(indices, list):
            raise ValueError(
                f"heads must map each layer index to a list of head indices. "
                f"Received: heads[{layer}]={indices!r} in heads={heads!r}"
            )
        for head in indices:
            if (
                isinstance(head, bool)
                or not isinstance(head, numbers.Integral)
                or not 0 <= head < num_heads
            ):
                raise ValueError(
                    f"Head indices must be ints in [0, {num_heads}) (each layer "
                    f"has {num_heads} heads). Received: heads={heads!r}"
                )
        if len(set(indices)) != len(indices):
            raise ValueError(
                f"Layer {layer} lists a head twice. Received: heads={heads!r}"
            )
        removed[int(layer)] = {int(h) for h in indices}
    counts = {layer: len(r) for layer, r in removed.items()}
    if len(set(counts.values())) > 1:
        raise ValueError(
            "A BertBackbone has one head count for all layers, so every layer "
            "must lose the same number of heads. Received: heads removed per "
            f"layer {counts} from heads={heads!r}"
        )
    if counts[0] >= num_heads:
        raise ValueError(
            f"Every layer must keep at least one of its {num_heads} heads. "
            f"Received: heads={heads!r}"
        )
    return [
        sorted(set(range(num_heads)) - removed[layer]) for layer in range(num_layers)
    ]


def _head_dim(backbone):
    return adapter_for(backbone).head_dim


def _relative_paths(layer):
    """`{path inside the layer: variable}`, e.g. `"query/kernel"`."""
    prefix = f"{layer.name}/"
    paths = {}
    for variable in layer.weights:
        path = variable.path
        paths[path[path.find(prefix) + len(prefix) :]] = variable
    return paths


def _copy_weights(source, target, layer_indices, kept_heads=None):
    """Copies `source`'s weights into `target`, layer by layer.

    `target`'s encoder layer `i` gets `source`'s layer `layer_indices[i]`,
    with only the heads in `kept_heads[layer_indices[i]]` when given; the
    other layers are matched by name.
    """
    source_adapter, target_adapter = adapter_for(source), adapter_for(target)
    source_encoders = source_adapter.encoder_layers()
    pairs = [
        (source_encoders[old], layer, old)
        for layer, old in zip(target_adapter.encoder_layers(), layer_indices)
    ]
    encoder_ids = {id(layer) for _, layer, _ in pairs}
    source_layers = {layer.name: layer for layer in source_adapter.sublayers()}
    pairs += [
        (source_layers[layer.name], layer, None)
        for layer in target_adapter.sublayers()
        if id(layer) not in encoder_ids and layer.weights
    ]
    for source_layer, target_layer, old_index in pairs:
        source_vars = _relative_paths(source_layer)
        target_vars = _relative_paths(target_layer)
        if set(source_vars) != set(target_vars):
            raise ValueError(
                f"Cannot copy layer {source_layer.name!r}: its variables "
                f"{sorted(source_vars)} differ from {sorted(target_vars)}."
            )
        for path, variable in target_vars.items():
            value = keras.ops.convert_to_numpy(source_vars[path])
            if kept_heads is not None and old_index is not None:
                value = _slice_heads(value, path, kept_heads[old_index])
            variable.assign(value)


def _slice_heads(value, path, kept):
    parts = path.split("/")
    if len(parts) != 3 or parts[0] != _ATTENTION:
        return value
    projection, kind = parts[1], parts[2]
    if projection in _HEAD_PROJECTIONS:
        # kernel (hidden, heads, head_dim), bias (heads, head_dim)
        return value[:, kept, :] if kind == "kernel" else value[kept]
    if projection == _OUTPUT_PROJECTION and kind == "kernel":
        # (heads, head_dim, hidden); the bias is per output feature.
        return value[kept]
    return value
