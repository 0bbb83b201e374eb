import math
import numbers
import warnings

import keras
from keras import ops

from tftransformer.finetune.fused_adamw import FusedAdamW


@keras.saving.register_keras_serializable(package="tftransformer")
class LayerwiseAdamW(FusedAdamW):
    """AdamW whose learning rate is scaled per variable.

    Each variable's step runs at `learning_rate * multiplier`, the multiplier
    looked up by the variable's `path` in `learning_rate_multipliers` (1.0
    for paths not listed). The scaled rate is what Adam's update uses, so the
    update itself shrinks: scaling gradients instead would do nothing, as
    Adam divides them by their own running magnitude.

    Decoupled weight decay is scaled the same way: a variable moves by
    `-variable * weight_decay * learning_rate * multiplier` before its Adam
    update, as Keras' `AdamW` does with the unscaled rate. The decay is
    applied inside `update_step`, next to the update, since Keras'
    `_apply_weight_decay` only sees the shared rate; variables excluded with
    `exclude_from_weight_decay` are still skipped.

    Under mixed precision Keras wraps this optimizer in a
    `LossScaleOptimizer`; the multipliers are then on its `inner_optimizer`.

    Args:
        learning_rate: float, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable, the base rate.
        weight_decay: float >= 0, the decoupled weight decay rate.
        learning_rate_multipliers: optional dict mapping variable paths (e.g.
            `"transformer_layer_0/self_attention_layer/query/kernel"`) to
            floats >= 0. See `tftransformer.finetune.layer_decay_multipliers`.
        **kwargs: the other arguments of `FusedAdamW` (Keras' `AdamW` with
            a fused update): `beta_1`, `beta_2`, `epsilon`, `clipnorm`, ...

    Example:
    ```python
    optimizer = LayerwiseAdamW(
        learning_rate=1e-4,
        weight_decay=0.01,
        learning_rate_multipliers=layer_decay_multipliers(classifier, 0.9),
    )
    classifier.compile(optimizer=optimizer, loss=classification_loss())
    ```
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        learning_rate_multipliers=None,
        **kwargs,
    ):
        learning_rate_multipliers = _check_multipliers(learning_rate_multipliers)
        super().__init__(
            learning_rate=learning_rate, weight_decay=weight_decay, **kwargs
        )
        # A tuple of pairs: the TensorFlow backend would wrap a dict attribute
        # for checkpoint tracking.
        self._multiplier_items = tuple(learning_rate_multipliers.items())

    @property
    def learning_rate_multipliers(self):
        """A new dict, variable path -> learning-rate multiplier."""
        return dict(self._multiplier_items)

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        multipliers = dict(self._multiplier_items)
        paths = {variable.path for variable in var_list}
        if multipliers and not paths.intersection(multipliers):
            # Keys for frozen variables are fine (layer-wise decay lists every
            # layer); none matching is a mistake (layer names, a typo).
            warnings.warn(
                "None of learning_rate_multipliers' keys is the path of a "
                "variable this optimizer updates, so every variable trains at "
                f"the base rate. Received keys: {sorted(multipliers)[:5]!r:.200}; "
                f"variable paths look like: {sorted(paths)[:3]!r:.200}",
                stacklevel=2,
            )
        # Looked up by index in `update_step`: on the TensorFlow backend it
        # receives the backend variable, whose name is not the Keras path.
        self._variable_multipliers = tuple(
            multipliers.get(variable.path, 1.0) for variable in var_list
        )

    def _apply_weight_decay(self, variables):
        # Applied per variable, with its own rate, in `update_step`.
        return

    def update_step(self, gradient, variable, learning_rate):
        multiplier = self._variable_multipliers[self._get_variable_index(variable)]
        learning_rate = ops.cast(learning_rate, variable.dtype)
        if multiplier != 1.0:
            learning_rate = ops.multiply(learning_rate, multiplier)
        if self.weight_decay and self._use_weight_decay(variable):
            weight_decay = ops.cast(self.weight_decay, variable.dtype)
            self.assign_sub(variable, variable * weight_decay * learning_rate)
        super().update_step(gradient, variable, learning_rate)

    def get_config(self):
        config = super().get_config()
        config["learning_rate_multipliers"] = self.learning_rate_multipliers
        return config


def _check_multipliers(multipliers):
    if multipliers is None:
        return {}
    if not isinstance(multipliers, dict):
        raise ValueError(
            "learning_rate_multipliers must be None or a dict mapping variable "
            f"paths to floats. Received: learning_rate_multipliers={multipliers!r}"
        )
    checked = {}
    for path, multiplier in multipliers.items():
        if not isinstance(path, str):
            raise ValueError(
                "learning_rate_multipliers keys must be variable paths "
                f"(strings). Received key {path!r}."
            )
        if (
            isinstance(multiplier, bool)
            or not isinstance(multiplier, numbers.Real)
            or not math.isfinite(multiplier)
            or multiplier < 0
        ):
            raise ValueError(
                "learning_rate_multipliers values must be finite numbers >= 0. "
                f"Received: {path!r}: {multiplier!r}"
            )
        checked[path] = float(multiplier)
    return checked
