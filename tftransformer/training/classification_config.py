"""The settings of a text classification run."""

import dataclasses

import keras

from tftransformer.models.sparse_f1_score import SparseF1Score
from tftransformer.training._classification_settings import ClassificationSettings
from tftransformer.training._settings import ConfigError, field_default, setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["CLASSIFICATION_MONITORS", "ClassificationConfig"]

# The settings of EDA augmentation, which `augment_copies` turns on.
EDA_SETTINGS = ("augment_alpha", "synonym_source")

# What a single-label classification run's early stopping can watch.
CLASSIFICATION_MONITORS = ("val_accuracy", "val_macro_f1", "val_loss")


def monitored_metrics(monitor, num_classes):
    """The metrics a classifier compiles so that `monitor` is logged: the
    accuracy, and the macro F1 when it is watched. Make them under the
    strategy's scope (the F1 makes its variables when made)."""
    metrics = [keras.metrics.SparseCategoricalAccuracy("accuracy")]
    if monitor == "val_macro_f1":
        metrics.append(SparseF1Score(num_classes, name="macro_f1"))
    return metrics


@dataclasses.dataclass
class ClassificationConfig(FinetuneConfig, ClassificationSettings):
    """`FinetuneConfig` plus the data, head and report of text classification.

    Early stopping watches validation accuracy, or `monitor`.

    Example:
    ```python
    config = ClassificationConfig(freeze_layers=2, epochs=1, pooling="cls")
    ```
    """

    packs_sequences = True

    pooling: str = setting(
        "mean", "Pooling of the sequence output.", choices=("cls", "mean", "max")
    )
    dropout: float = setting(
        0.1,
        "Dropout of the classification head.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    label_smoothing: float = setting(
        0.0,
        "Label smoothing of the loss.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    class_weighting: bool = setting(False, "Weight classes by inverse frequency.")
    augment_copies: int = setting(
        0, "EDA-augmented copies of each training text (0: off).", minimum=0
    )
    augment_alpha: float = setting(
        0.1, "EDA strength: share of words each operation edits.", minimum=0, maximum=1
    )
    synonym_source: str = setting(
        "roget+embedding",
        "Synonyms of EDA's synonym replacement and insertion.",
        choices=("roget+embedding", "roget", "embedding"),
    )
    model_dir: str = setting(
        "runs/classify", "Output directory of the run.", run_setting=False
    )
    export_dir: str | None = setting(
        None,
        "TF Serving base path: the script writes a SavedModel to "
        "<export_dir>/<version>/ after training (tft.export.export_for_serving).",
        run_setting=False,
    )

    monitor: str = setting(
        "val_accuracy",
        "Validation metric that early stopping and the best checkpoint watch "
        "(val_macro_f1 is then logged each epoch: for imbalanced classes).",
        choices=CLASSIFICATION_MONITORS,
    )

    @property
    def monitor_mode(self):
        """`"min"` for the loss, `"max"` for a score."""
        return "min" if self.monitor == "val_loss" else "max"

    def validate(self):
        """Checks every field; refuses EDA settings without `augment_copies`,
        which would be ignored."""
        super().validate()
        fields = {field.name: field for field in dataclasses.fields(self)}
        unused = {
            name: getattr(self, name)
            for name in EDA_SETTINGS
            if getattr(self, name) != field_default(fields[name])
        }
        if unused and not self.augment_copies:
            raise ConfigError(
                "augment_alpha and synonym_source tune EDA augmentation, which "
                "augment_copies > 0 turns on. Received: "
                + ", ".join(f"{k}={v!r}" for k, v in unused.items())
                + " with augment_copies=0"
            )
