"""Changes what a model trains in the middle of `fit`, keeping training correct.

A strategy that freezes or unfreezes layers during training (gradual
unfreezing, a head warmup) has three things to get right in Keras 3:

- restore exactly the trainable set it started from, which layer flags alone
  do not describe (LoRA leaves an adapted projection trainable and its kernel
  frozen), so `capture_trainable_state` records every layer's and variable's
  flag;
- the optimizer needs slots for every variable it will ever update, and a
  built Keras optimizer cannot add any: `prepare_optimizer` builds it over
  all of them before the first step, so variables unfrozen later find their
  slots and the others keep their moments;
- the train step is traced with the trainable variables of the moment:
  `apply_trainable_change` makes a new one.
"""

import keras

from tftransformer.models.freezing import _frozen_mark, _set_frozen_mark

__all__ = [
    "apply_trainable_change",
    "capture_trainable_state",
    "claim_trainable_schedule",
    "prepare_optimizer",
    "restore_trainable_state",
]

# The model attribute naming the callback that changes its trainable set in
# the current `fit`, with that fit's callback parameters.
_SCHEDULE = "_tftransformer_trainable_schedule"


def claim_trainable_schedule(callback):
    """Refuses a second callback changing what `callback.model` trains in
    the same `fit`.

    Each of them restores the trainable set it recorded when `fit` began,
    so the later one would undo the other's (a `HeadWarmup` placed before a
    `GradualUnfreezing` ended its warmup by training the whole backbone).
    A `fit` is told by its callbacks' shared `params`: a claim left by an
    earlier `fit` is replaced.

    Raises:
        ValueError: naming both callbacks.
    """
    model = callback.model
    params = getattr(callback, "params", None)
    held = getattr(model, _SCHEDULE, None)
    if held is not None and held[1] is params and held[0] is not callback:
        raise ValueError(
            f"{type(held[0]).__name__} and {type(callback).__name__} both change "
            "which layers train during fit, and the later would undo the "
            "other's schedule: pass one of them (a ClassificationConfig refuses "
            "head_warmup_steps with gradual_unfreeze the same way)."
        )
    # Past Keras' attribute tracking: not state to save.
    object.__setattr__(model, _SCHEDULE, (callback, params))


def _optimizer_steps(model):
    """The optimizer's update count: restored with it when a run resumes."""
    return int(keras.ops.convert_to_numpy(model.optimizer.iterations))


def capture_trainable_state(model):
    """Records the `trainable` flag of every layer and variable of `model`.

    The record includes whether each layer is marked frozen (see
    `tftransformer.finetune.is_frozen`), which decides its inference mode.

    Args:
        model: a `keras.Model` or `keras.Layer`.

    Returns:
        An opaque object for `restore_trainable_state`.

    Example:
    ```python
    state = capture_trainable_state(classifier)
    freeze_backbone(classifier)
    restore_trainable_state(state)  # back to what it was
    ```
    """
    return {
        "layers": [
            (layer, layer.trainable, _frozen_mark(layer))
            for layer in model._flatten_layers()
        ],
        "variables": [(v, v.trainable) for v in model.weights],
    }


def restore_trainable_state(state, layers=None):
    """Gives layers back the trainable flags `capture_trainable_state` saw.

    Args:
        state: the result of `capture_trainable_state`.
        layers: optional list of layers; only they, their sublayers and their
            variables are restored. Defaults to everything captured.

    Example:
    ```python
    state = capture_trainable_state(classifier)
    freeze_backbone(classifier)
    restore_trainable_state(state, [encoder_layers(classifier)[-1]])
    ```
    """
    if layers is None:
        layer_ids = {id(layer) for layer, _, _ in state["layers"]}
        variable_ids = {id(v) for v, _ in state["variables"]}
    else:
        layer_ids = {id(sub) for layer in layers for sub in layer._flatten_layers()}
        variable_ids = {id(v) for layer in layers for v in layer.weights}
    # Layers are recorded parents first, and a layer's setter may change its
    # sublayers' flags: setting them in that order leaves each layer with its
    # own recorded flag.
    for layer, trainable, frozen in state["layers"]:
        if id(layer) in layer_ids:
            type(layer).trainable.fset(layer, trainable)
            if _frozen_mark(layer) != frozen:
                _set_frozen_mark(layer, frozen)
    for variable, trainable in state["variables"]:
        if id(variable) in variable_ids:
            variable.trainable = trainable


def _innermost(optimizer):
    # A LossScaleOptimizer keeps the slots in the optimizer it wraps.
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


def prepare_optimizer(model, variables):
    """Builds the model's optimizer over `variables`, or checks it has them.

    Keras builds the optimizer at the first train step over the variables
    trainable then, and refuses any other variable later. Building it before
    `fit` over every variable a strategy will unfreeze lets the strategy
    change the trainable set without a new optimizer: a variable gets
    updates (and moments) only while it is trainable.

    Args:
        model: a compiled `keras.Model`.
        variables: the variables the optimizer must be able to update; they
            are ordered as in `model.weights`, so that an optimizer built
            over all trainable variables matches one Keras would build.

    Raises:
        ValueError: if the model is not compiled, or its optimizer is
            already built without some of `variables`.

    Example:
    ```python
    classifier.compile(optimizer=create_optimizer(1e-4, num_train_steps=100))
    prepare_optimizer(classifier, classifier.trainable_variables)
    freeze_backbone(classifier)  # the optimizer keeps the backbone's slots
    ```
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is None:
        raise ValueError(
            f"Expected a compiled model with an optimizer. Received: model "
            f"{model.name!r} with optimizer={optimizer!r}; call compile() first."
        )
    wanted = {id(v) for v in variables}
    ordered = [v for v in model.weights if id(v) in wanted]
    seen = {id(v) for v in ordered}
    ordered += [v for v in variables if id(v) not in seen]
    if not optimizer.built:
        optimizer.build(ordered)
        return
    known = {id(v) for v in _innermost(optimizer)._trainable_variables}
    missing = [v.path for v in ordered if id(v) not in known]
    if missing:
        raise ValueError(
            f"The optimizer {optimizer.name!r} was built without variables "
            f"this strategy trains: {missing[:5]}"
            f"{' ...' if len(missing) > 5 else ''} ({len(missing)} in all). "
            "Compile with a new optimizer before fit(), or build it over "
            "every variable to train with "
            "`optimizer.build(model.trainable_variables)` before freezing."
        )


def apply_trainable_change(model):
    """Makes a compiled model train what its trainable flags now say.

    Call it after changing `trainable` flags during `fit` (in a callback) or
    between `fit` calls: it checks the optimizer can update every trainable
    variable and makes Keras trace a new train step, since the current one
    has the old list of trainable variables baked in. `fit` picks the new
    step up at its next batch.

    Args:
        model: a compiled `keras.Model`.

    Raises:
        ValueError: if the optimizer is built and lacks a now-trainable
            variable (see `prepare_optimizer`).

    Example:
    ```python
    class UnfreezeTop(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 1:
                encoder_layers(self.model)[-1].trainable = True
                apply_trainable_change(self.model)
    ```
    """
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and optimizer.built:
        prepare_optimizer(model, model.trainable_variables)
    model.make_train_function(force=True)
