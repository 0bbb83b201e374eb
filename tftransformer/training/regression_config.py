"""The settings of a text regression run."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.classification_config import ClassificationConfig

__all__ = ["RegressionConfig"]


@dataclasses.dataclass
class RegressionConfig(ClassificationConfig):
    """`ClassificationConfig` for real-valued targets.

    `target_columns` names one or more numeric columns; without files, the
    embedded Dictionary of Affect in Language (a word's pleasantness,
    activation and imagery). Targets are standardized with the training
    split's mean and deviation, saved with the model. Early stopping
    watches the validation loss. `label_column`, `calibrate`,
    `class_weighting`, `label_smoothing` and `augment_copies` are
    classification settings and are refused.

    Example:
    ```python
    config = RegressionConfig(train_file="scores.csv", target_columns="valence")
    ```
    """

    train_file: str | None = setting(
        None,
        "CSV/TSV/JSONL file (.gz/.bz2 too); default: the embedded Dictionary "
        "of Affect in Language (words with 3 scores).",
    )
    target_columns: str = setting(
        "label", "Numeric target column(s), comma-separated for several."
    )
    loss: str = setting(
        "mse", "Loss on the standardized targets.", choices=("mse", "huber")
    )
    calibrate: bool = setting(
        False, "Classification only (refused).", run_setting=False
    )
    model_dir: str = setting(
        "runs/regress", "Output directory of the run.", run_setting=False
    )

    monitor: str = setting(
        "val_loss", "Validation metric early stopping watches.", choices=("val_loss",)
    )

    def validate(self):
        super().validate()
        if not self.target_column_names():
            raise ConfigError(
                "target_columns must name at least one column. Received: "
                f"target_columns={self.target_columns!r}"
            )
        if self.label_column != "label":
            # Read by no regression run: the targets' columns would not be
            # the ones named.
            raise ConfigError(
                "A regression run reads its targets from target_columns "
                "(--target_columns); label_column is a classification setting. "
                f"Received: label_column={self.label_column!r}"
            )
        for name in ("calibrate", "class_weighting", "augment_copies"):
            if getattr(self, name):
                raise ConfigError(
                    f"{name} applies to classification only. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
        if self.label_smoothing:
            raise ConfigError(
                "label_smoothing applies to classification only. "
                f"Received: label_smoothing={self.label_smoothing!r}"
            )

    def target_column_names(self):
        """`target_columns` as a tuple of names."""
        return tuple(
            name.strip() for name in self.target_columns.split(",") if name.strip()
        )
