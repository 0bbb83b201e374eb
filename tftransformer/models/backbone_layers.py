"""Finds a Transformer backbone's embedding layers and its ordered encoder layers.

Every fine-tuning strategy (freezing, gradual unfreezing, layer-wise learning
rates, ...) acts on the same two groups, so they are found here once, by layer
name: keras-hub backbones and `tftransformer.models.TransformerEncoder` both
name their blocks `transformer_layer_{i}` and their embedding-side layers with
`embedding` in the name (`token_embedding`, `embeddings_layer_norm`, ...).
"""

import collections
import re

import keras

__all__ = ["find_backbone", "encoder_layers", "embedding_layers"]

_ENCODER_LAYER_NAME = re.compile(r"^transformer_layer_(\d+)$")
_EMBEDDING_LAYER_NAME = re.compile(r"embedding", re.IGNORECASE)


def _direct_sublayers(layer):
    return list(layer._flatten_layers(include_self=False, recursive=False))


def find_backbone(model):
    """Returns the layer whose direct sublayers are the encoder layers.

    The search is breadth-first from `model` itself, so a backbone, a task
    model holding one (e.g. a keras-hub `TextClassifier`) or any model nesting
    one at some depth all work.

    Args:
        model: a `keras.Layer` or `keras.Model`.

    Returns:
        `model` itself or the nested layer that holds the layers named
        `transformer_layer_{i}`.

    Raises:
        ValueError: if no layer holds layers named `transformer_layer_{i}`.

    Example:
    ```python
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2)
    find_backbone(classifier) is backbone  # True
    ```
    """
    queue = collections.deque([model])
    seen = set()
    while queue:
        layer = queue.popleft()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        sublayers = _direct_sublayers(layer)
        if any(_ENCODER_LAYER_NAME.match(sub.name) for sub in sublayers):
            return layer
        queue.extend(sublayers)
    raise ValueError(
        "Expected a model with encoder layers named 'transformer_layer_{i}'. "
        f"Received: model={model.name!r}, which has none at any depth."
    )


def encoder_layers(model):
    """Returns a backbone's encoder layers, ordered from input to output.

    Args:
        model: a backbone, or a model containing one (see `find_backbone`).

    Returns:
        A list of the layers named `transformer_layer_0` ...
        `transformer_layer_{n-1}`, in that order.

    Raises:
        ValueError: if there are no such layers, or their indices are not
            exactly 0 to n-1.

    Example:
    ```python
    backbone = keras_hub.models.BertBackbone.from_preset(preset_dir)
    [layer.name for layer in encoder_layers(backbone)]
    # ["transformer_layer_0", ..., "transformer_layer_5"]
    ```
    """
    backbone = find_backbone(model)
    indexed = {}
    for layer in _direct_sublayers(backbone):
        match = _ENCODER_LAYER_NAME.match(layer.name)
        if match:
            indexed[int(match.group(1))] = layer
    # A gap would make "the first N layers" ambiguous for every strategy.
    if sorted(indexed) != list(range(len(indexed))):
        raise ValueError(
            "Expected encoder layers numbered 0 to n-1. Received: indices "
            f"{sorted(indexed)} in model {backbone.name!r}."
        )
    return [indexed[i] for i in range(len(indexed))]


def embedding_layers(model):
    """Returns a backbone's embedding-side layers, in the backbone's order.

    These are the backbone's direct sublayers with `embedding` in their name:
    for a keras-hub `BertBackbone` `token_embedding`, `position_embedding`,
    `segment_embedding`, `embeddings_add`, `embeddings_layer_norm` and
    `embeddings_dropout`; for `tftransformer.models.TransformerEncoder`
    `embeddings`, `embeddings_layer_norm` (post-norm) and
    `embeddings_dropout`.

    Args:
        model: a backbone, or a model containing one (see `find_backbone`).

    Returns:
        A list of layers, possibly empty.

    Example:
    ```python
    [layer.name for layer in embedding_layers(backbone)]
    # ["token_embedding", "position_embedding", ...]
    ```
    """
    backbone = find_backbone(model)
    return [
        layer
        for layer in _direct_sublayers(backbone)
        if _EMBEDDING_LAYER_NAME.search(layer.name)
        and not isinstance(layer, keras.layers.InputLayer)
    ]
