"""The settings of a multi-label text classification run."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.classification_config import ClassificationConfig

__all__ = ["MultiLabelConfig"]


@dataclasses.dataclass
class MultiLabelConfig(ClassificationConfig):
    """`ClassificationConfig` for texts with any number of labels each.

    Files hold each example's labels in one column, as a JSON list or as
    names joined by `label_delimiter`; without files, the embedded WNUT-16
    tweets labelled with the entity types they mention. Early stopping
    watches the validation loss. Decision thresholds are tuned on the
    validation data (`threshold_tuning`); `calibrate` fits a sigmoid
    temperature first. `class_weighting` and `augment_copies` are
    single-label settings and are refused.

    Example:
    ```python
    config = MultiLabelConfig(train_file="tags.csv", label_delimiter=";")
    ```
    """

    train_file: str | None = setting(
        None,
        "CSV/TSV/JSONL file (.gz/.bz2 too); default: the embedded WNUT-16 "
        "tweets, labelled with the entity types they mention.",
    )
    label_column: str = setting(
        "labels", "Column of each example's labels (JSON list or delimited)."
    )
    label_delimiter: str = setting("|", "What separates labels in a label cell.")
    threshold_tuning: str = setting(
        "per_label",
        "Decision thresholds tuned for F1 on the validation data: one per "
        "label, one for all, or 0.5.",
        choices=("per_label", "global", "none"),
        run_setting=False,
    )
    model_dir: str = setting(
        "runs/multi_label", "Output directory of the run.", run_setting=False
    )

    monitor: str = setting(
        "val_loss", "Validation metric early stopping watches.", choices=("val_loss",)
    )

    def validate(self):
        super().validate()
        if not self.label_delimiter:
            raise ConfigError(
                "label_delimiter must be a non-empty string. Received: "
                f"label_delimiter={self.label_delimiter!r}"
            )
        for name in ("class_weighting", "augment_copies"):
            if getattr(self, name):
                raise ConfigError(
                    f"{name} applies to single-label classification only. "
                    f"Received: {name}={getattr(self, name)!r}"
                )
