import keras
import numpy as np
from keras import ops

from tftransformer._arguments import (
    check_choice,
    check_int,
    class_names,
    python_number,
)
from tftransformer.models._task_base import (
    refuse_bad_targets,
    refuse_non_numeric_targets,
    target_array,
)
from tftransformer.models.text_classifier import TextClassifier

LOSSES = ("mse", "huber")


def _check_statistics(name, values, num_targets, positive):
    if values is None:
        return None
    numbers = [python_number(value) for value in np.asarray(values).reshape(-1)]
    if len(numbers) != num_targets or not all(
        isinstance(v, (int, float))
        and not isinstance(v, bool)
        and np.isfinite(v)
        and (v > 0 or not positive)
        for v in numbers
    ):
        kind = "positive finite numbers" if positive else "finite numbers"
        raise ValueError(
            f"{name} must hold {num_targets} {kind}, one per target. "
            f"Received: {name}={values!r}"
        )
    return [float(v) for v in numbers]


@keras.saving.register_keras_serializable(package="tftransformer")
class TextRegressor(TextClassifier):
    """A pretrained encoder predicting one or more real numbers per text.

    The head is `TextClassifier`'s with one linear output per target. The
    model works in standardized units: `fit` and `evaluate` take targets in
    their own units (in memory or in a dataset) and standardize them,
    `(target - target_mean) / target_std`, before the loss and metrics
    (so the loss and `mae` are in standardized units), and the model's
    outputs (`predict`) are such values. The mean and standard deviation
    (of the training targets) are saved in the config, and
    `predict_targets`, evaluation and exports answer in the targets' own
    units. Standardizing gives every target the same weight in the loss
    and the head a well-scaled start.

    Args:
        backbone: the encoder (see `TextClassifier`).
        num_targets: int >= 1.
        preprocessor: optional preprocessor of raw strings.
        pooling, dropout, num_extra_blocks, extra_block_num_heads,
            extra_block_intermediate_dim, frozen_backbone_layers: as
            `TextClassifier`'s.
        target_names: optional list of `num_targets` names.
        target_mean: optional list of `num_targets` means (default 0).
        target_std: optional list of `num_targets` standard deviations > 0
            (default 1).
        loss: `"mse"` or `"huber"` (delta 1, in standardized units: less
            pull from outliers), the default of `compile`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: the backbone's input dict, each entry `(batch, seq)`.

    Returns:
        Standardized predictions of shape `(batch, num_targets)`.

    Example:
    ```python
    regressor = TextRegressor.from_preset(
        "embedded", num_targets=1, target_mean=[2.0], target_std=[0.5]
    )
    regressor.compile(optimizer=keras.optimizers.AdamW(3e-5))
    regressor.fit(["a fine film", "a dull film"], [2.5, 1.5])  # target units
    regressor.predict_targets(["a fine film"])  # (1, 1), in target units
    ```
    """

    min_outputs = 1
    takes_class_weight = False

    def __init__(
        self,
        backbone,
        num_targets,
        preprocessor=None,
        pooling="mean",
        dropout=0.1,
        num_extra_blocks=0,
        extra_block_num_heads=None,
        extra_block_intermediate_dim=None,
        target_names=None,
        target_mean=None,
        target_std=None,
        loss="mse",
        frozen_backbone_layers=None,
        **kwargs,
    ):
        num_targets = check_int("num_targets", num_targets, 1)
        if target_names is not None:
            target_names = class_names(
                "target_names", target_names, num_targets, "target"
            )
        check_choice("loss", loss, LOSSES)
        target_mean = _check_statistics("target_mean", target_mean, num_targets, False)
        target_std = _check_statistics("target_std", target_std, num_targets, True)
        super().__init__(
            backbone,
            num_classes=num_targets,
            preprocessor=preprocessor,
            pooling=pooling,
            dropout=dropout,
            num_extra_blocks=num_extra_blocks,
            extra_block_num_heads=extra_block_num_heads,
            extra_block_intermediate_dim=extra_block_intermediate_dim,
            label_names=target_names,
            frozen_backbone_layers=frozen_backbone_layers,
            **kwargs,
        )
        self.num_targets = num_targets
        self.target_names = self.label_names
        self.target_mean = target_mean
        self.target_std = target_std
        self.regression_loss = loss
        if loss != "mse":
            # keras-hub compiled with the defaults before the loss was set.
            self.compile()

    def standardization(self):
        """`(mean, std)` float32 arrays of shape `(num_targets,)`."""
        mean = self.target_mean or [0.0] * self.num_targets
        std = self.target_std or [1.0] * self.num_targets
        return np.asarray(mean, "float32"), np.asarray(std, "float32")

    def predict_targets(self, x, **kwargs):
        """`predict` in the targets' own units: `(batch, num_targets)`."""
        mean, std = self.standardization()
        kwargs.setdefault("verbose", 0)
        return self.predict(x, **kwargs) * std + mean

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Keras' loss of the standardized targets."""
        return super().compute_loss(
            x=x,
            y=self._standardized(y, y_pred),
            y_pred=y_pred,
            sample_weight=sample_weight,
            training=training,
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' metrics of the standardized targets."""
        return super().compute_metrics(
            x, self._standardized(y, y_pred), y_pred, sample_weight=sample_weight
        )

    def _standardized(self, y, y_pred):
        """Targets `y` in standardized units, in the shape of `y_pred`.

        Reshaped whatever their rank: a step traced for in-memory targets
        (`(texts, num_targets)`) and then a dataset's `(batch,)` ones is
        traced again for targets of unknown rank, which Keras' losses cannot
        take.
        """
        if y is None:
            return y
        y = ops.reshape(y, ops.shape(y_pred))
        if self.target_mean is None and self.target_std is None:
            return y
        mean, std = self.standardization()
        return (ops.cast(y, "float32") - mean) / std

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory targets must be finite numbers, one column per target.

        Returned as `(texts, num_targets)`, the model's output shape: a
        model fit on `(texts,)` targets and then on `(texts, 1)` ones would
        otherwise retrace its step for targets of unknown rank, which
        Keras' losses cannot take.
        """
        targets = target_array(x, y, name)
        if targets is None:
            return y
        columns = self.num_classes
        shapes = f"(texts, {columns})" + (" or (texts,)" if columns == 1 else "")
        if not (
            (targets.ndim == 2 and targets.shape[1] == columns)
            or (targets.ndim == 1 and columns == 1)
        ):
            raise ValueError(
                f"{name} must have shape {shapes}, one column per target. "
                f"Received: {name} of shape {targets.shape}"
            )
        refuse_non_numeric_targets(name, targets, "finite numbers")
        refuse_bad_targets(name, targets, ~np.isfinite(targets), "finite numbers")
        targets = targets.reshape(-1, columns)
        # Python numbers are read as 32-bit, as `fit` reads them.
        return targets if hasattr(y, "dtype") else targets.astype("float32")

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """keras-hub's `compile`, with the config's regression loss and the
        mean absolute error (in standardized units)."""
        if loss == "auto":
            loss = (
                keras.losses.Huber(delta=1.0)
                # keras-hub compiles once inside `__init__`, before it is set
                # (`__init__` compiles again then).
                if getattr(self, "regression_loss", "mse") == "huber"
                else keras.losses.MeanSquaredError()
            )
        if metrics == "auto":
            metrics = [keras.metrics.MeanAbsoluteError("mae")]
        # keras-hub's TextClassifier.compile, not the classifier's defaults.
        super(TextClassifier, self).compile(
            optimizer=optimizer, loss=loss, metrics=metrics, **kwargs
        )

    def get_config(self):
        config = super().get_config()
        for key in ("num_classes", "label_names", "temperature"):
            del config[key]
        config.update(
            {
                "num_targets": self.num_targets,
                "target_names": self.target_names,
                "target_mean": self.target_mean,
                "target_std": self.target_std,
                "loss": self.regression_loss,
            }
        )
        return config
