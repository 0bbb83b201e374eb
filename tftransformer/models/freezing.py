"""Freezes a Transformer backbone's layers: the lower ones, or all of them.

Every function here freezes a backbone's direct sublayers the same way: the
layer and everything in it get `trainable = False`, and the layer is marked
frozen, which makes it run in inference mode. `frozen_layer_names` reads the
freeze back and `freeze_layers_by_name` re-applies it (e.g. when
`tftransformer.models.TextClassifier` is loaded). The mark tells a freeze
apart from `trainable = False` set for other reasons: keras-hub's
`enable_lora` sets it on every layer but the adapted projections, which
still train and keep their dropout.
"""

import functools

from keras.src.backend.common import global_state

from tftransformer._arguments import as_list, check_int
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.backbone_layers import (
    embedding_layers,
    encoder_layers,
    find_backbone,
)

__all__ = [
    "backbone_sublayers",
    "freeze_backbone",
    "freeze_layers",
    "freeze_layers_by_name",
    "frozen_layer_names",
    "is_frozen",
]

# Marks a `call` already wrapped by `_run_in_inference_mode_while_frozen`.
_INFERENCE_WHEN_FROZEN = "_tftransformer_inference_when_frozen"
# Marks a layer frozen by these functions.
_FROZEN = "_tftransformer_frozen"
# On a backbone held frozen for a while (`HeadWarmup`): the names of the
# layers its fine-tuning strategy freezes, which a saved config records.
_STRATEGY_FROZEN = "_tftransformer_strategy_frozen"


def is_frozen(layer):
    """Whether `layer` was frozen by these functions and is still not trainable.

    Args:
        layer: a `keras.Layer`.

    Returns:
        bool; False again once `layer.trainable` is set to True.

    Example:
    ```python
    freeze_layers(classifier, 1)
    is_frozen(encoder_layers(classifier)[0])  # True
    ```
    """
    return bool(getattr(layer, _FROZEN, False)) and not layer.trainable


def _frozen_mark(layer):
    return bool(getattr(layer, _FROZEN, False))


def _set_frozen_mark(layer, frozen):
    setattr(layer, _FROZEN, bool(frozen))


def _run_in_inference_mode_while_frozen(layer):
    """Makes `layer` ignore `training=True` while it is frozen (`is_frozen`).

    Keras 3 only does this for `BatchNormalization`; a frozen block would
    otherwise keep applying dropout. The check is made at call time, so
    setting `trainable = True` later turns dropout back on (after the model
    is recompiled, as any change of `trainable` needs). `training=False`
    goes to the layer's `call` when it takes the argument, and to Keras'
    call context for the call's length: a sublayer called without
    `training` reads it there. keras-hub's DeBERTa-v3 encoder layer takes
    no `training`, so its dropout layers read the context, which said True.
    """
    if getattr(layer.call, _INFERENCE_WHEN_FROZEN, False):
        return
    call = layer.call

    @functools.wraps(call)
    def inference_when_frozen_call(*args, **kwargs):
        if not is_frozen(layer):
            return call(*args, **kwargs)
        if "training" in kwargs:
            kwargs["training"] = False
        # The context of the Keras call this `call` runs in (none when it is
        # called directly, and then none is made).
        context = global_state.get_global_attribute("current_call_ctx")
        if context is None:
            return call(*args, **kwargs)
        outer = context.get_value("training")
        context.set_value("training", False)
        try:
            return call(*args, **kwargs)
        finally:
            context.set_value("training", outer)

    setattr(inference_when_frozen_call, _INFERENCE_WHEN_FROZEN, True)
    layer.call = inference_when_frozen_call


def _set_trainable(layer, trainable):
    """Sets `trainable` on `layer`, every sublayer and every variable.

    Keras' setter recurses through `setattr`, which on the TensorFlow backend
    skips a sublayer whose flag already has the value, and with it that
    sublayer's own subtree: after keras-hub's `enable_lora` an attention
    layer is frozen while its query projection is not, and freezing the
    block would leave the projection trainable. So each layer's setter is
    called directly.
    """
    for sublayer in layer._flatten_layers():
        type(sublayer).trainable.fset(sublayer, trainable)


def _freeze(layer):
    _set_trainable(layer, False)
    _set_frozen_mark(layer, True)
    _run_in_inference_mode_while_frozen(layer)


def backbone_sublayers(model):
    """Returns every direct sublayer of a backbone except its inputs.

    These are the layers the freezing functions act on: the embedding
    layers, the encoder layers and whatever sits on the encoder output (e.g.
    BERT's `pooled_dense`, a pre-norm encoder's `final_layer_norm`).

    Args:
        model: a backbone, or a model containing one (see
            `tftransformer.finetune.find_backbone`).

    Returns:
        A list of layers, in the backbone's order.

    Example:
    ```python
    [layer.name for layer in backbone_sublayers(classifier)]
    # ["token_embedding", ..., "transformer_layer_5", "pooled_dense"]
    ```
    """
    return adapter_for(model).sublayers()


def freeze_layers(model, num_layers):
    """Freezes the embeddings and the first `num_layers` encoder layers.

    Frozen layers get `trainable = False`, so the optimizer leaves their
    weights alone (weight decay included), and they run in inference mode:
    no dropout even under `fit`. Layers frozen earlier stay frozen; to
    unfreeze, set `layer.trainable = True`. Compile the model after calling
    this, as Keras reads `trainable` when it builds the train step.

    A `tftransformer.models.TextClassifier` saved to `.keras` reloads with
    the same layers frozen (its config lists them). Other models do not keep
    the freeze: keras-hub backbones and
    `tftransformer.models.TransformerEncoder` rebuild their layers from
    constructor arguments, a plain functional model gets the layers' flags
    back but Keras leaves the variables of their sublayers trainable, and the
    inference mode is not saved at all. Call `freeze_layers` again on such a
    loaded model: it is idempotent.

    Args:
        model: a backbone, or a model containing one (see
            `tftransformer.finetune.find_backbone`).
        num_layers: int between 0 and the number of encoder layers. 0 freezes
            nothing, not even the embeddings.

    Returns:
        The list of layers it froze: the embedding layers, then encoder
        layers 0 to `num_layers - 1`; empty when `num_layers` is 0.

    Raises:
        ValueError: if `num_layers` is not an int in that range.

    Example:
    ```python
    classifier = keras_hub.models.BertTextClassifier(backbone, num_classes=2)
    frozen = freeze_layers(classifier, num_layers=4)
    classifier.compile(optimizer=create_optimizer(2e-5, num_train_steps=1000))
    ```
    """
    encoders = encoder_layers(model)
    num_layers = check_int(
        "num_layers",
        num_layers,
        0,
        len(encoders),
        what=f" (the model has {len(encoders)} encoder layers)",
    )
    if num_layers == 0:
        return []
    frozen = embedding_layers(model) + encoders[: int(num_layers)]
    for layer in frozen:
        _freeze(layer)
    return frozen


def freeze_backbone(model):
    """Freezes the whole backbone: a linear probe, only the head trains.

    Every layer of the backbone (see `backbone_sublayers`) gets
    `trainable = False` and runs in inference mode, as with `freeze_layers`.
    The layers of the model outside the backbone (extra blocks, pooling,
    dense head) are left as they are. Compile the model after calling this.

    Args:
        model: a model containing a backbone (see
            `tftransformer.finetune.find_backbone`).

    Returns:
        The list of layers it froze, in the backbone's order.

    Example:
    ```python
    classifier = TextClassifier(backbone, num_classes=2, num_extra_blocks=1)
    freeze_backbone(classifier)
    classifier.compile(optimizer=create_optimizer(1e-3, num_train_steps=1000))
    ```
    """
    frozen = backbone_sublayers(model)
    for layer in frozen:
        _freeze(layer)
    return frozen


def frozen_layer_names(model, temporary=True):
    """Returns the names of the backbone's frozen layers.

    Only layers frozen by these functions (or by the strategies built on
    them) count, as `is_frozen` tells; a layer with `trainable = False` set
    by other code (keras-hub's `enable_lora`) does not.

    Args:
        model: a backbone, or a model containing one.
        temporary: whether layers frozen only for the moment count: while
            `tftransformer.finetune.HeadWarmup` holds the whole backbone
            frozen, True gives every layer and False the layers the
            fine-tuning strategy itself freezes. A saved model's config
            records the latter, so a `.keras` file written in the middle of
            a warmup (a `keras.callbacks.ModelCheckpoint`) reloads with the
            strategy's freeze.

    Returns:
        The names of the frozen layers of `backbone_sublayers(model)`, in
        the backbone's order.

    Example:
    ```python
    freeze_layers(classifier, 1)
    frozen_layer_names(classifier)
    # ["token_embedding", ..., "embeddings_dropout", "transformer_layer_0"]
    ```
    """
    if not temporary:
        held = getattr(find_backbone(model), _STRATEGY_FROZEN, None)
        if held is not None:
            return list(held)
    return [layer.name for layer in backbone_sublayers(model) if is_frozen(layer)]


def _hold_frozen(model):
    """Freezes the whole backbone for a while, remembering the strategy's freeze."""
    names = frozen_layer_names(model, temporary=False)
    setattr(find_backbone(model), _STRATEGY_FROZEN, names)
    for layer in backbone_sublayers(model):
        _freeze(layer)


def _release_hold(model):
    """Forgets `_hold_frozen`'s record; the caller restores the layers' flags."""
    backbone = find_backbone(model)
    if hasattr(backbone, _STRATEGY_FROZEN):
        delattr(backbone, _STRATEGY_FROZEN)


def freeze_layers_by_name(model, layer_names):
    """Freezes the backbone layers with the given names.

    The inverse of `frozen_layer_names`: freezing a model with the names it
    returned reproduces the freeze (trainable variables and inference mode).

    Args:
        model: a backbone, or a model containing one.
        layer_names: list of names of layers of `backbone_sublayers(model)`.

    Returns:
        The list of layers it froze, in the backbone's order.

    Raises:
        ValueError: if `layer_names` is not a list of strings, or names a
            layer the backbone does not have.

    Example:
    ```python
    names = frozen_layer_names(classifier)
    freeze_layers_by_name(reloaded_classifier, names)
    ```
    """
    # A list first: checking a generator would use it up.
    layer_names = as_list(layer_names)
    if not isinstance(layer_names, list) or not all(
        isinstance(name, str) for name in layer_names
    ):
        raise ValueError(
            "layer_names must be a list of layer names. "
            f"Received: layer_names={layer_names!r}"
        )
    layers = backbone_sublayers(model)
    available = [layer.name for layer in layers]
    unknown = [name for name in layer_names if name not in available]
    if unknown:
        raise ValueError(
            f"The backbone has no layers named {unknown}; its layers are "
            f"{available}. Received: layer_names={list(layer_names)!r}"
        )
    frozen = [layer for layer in layers if layer.name in set(layer_names)]
    for layer in frozen:
        _freeze(layer)
    return frozen
