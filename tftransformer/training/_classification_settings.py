"""The data and report settings of a text classification run, declared
once for the fine-tuning and the from-scratch configs."""

import dataclasses

from tftransformer.training._settings import setting

__all__ = ["ClassificationSettings", "test_file_setting", "validation_file_setting"]


def validation_file_setting():
    """The `validation_file` setting of a run whose data is embedded or
    read from `train_file`."""
    return setting(
        None,
        "Validation data; default: the embedded split, or 10% of --train_file "
        "held out.",
    )


def test_file_setting():
    """The `test_file` setting beside `validation_file_setting`'s."""
    return setting(
        None, "Test data; default: the embedded split, or the validation data."
    )


@dataclasses.dataclass
class ClassificationSettings:
    """Where a text classification run's data comes from (files, a TFDS
    dataset, or the embedded sentiment data; `load_classification_splits`
    reads them), how much of it is used, and whether the run calibrates its
    probabilities."""

    train_file: str | None = setting(
        None,
        "CSV/TSV/JSONL file (.gz/.bz2 too) or tfds:NAME[:SPLIT]; default: the "
        "embedded sentiment data.",
    )
    validation_file: str | None = validation_file_setting()
    test_file: str | None = test_file_setting()
    text_column: str = setting("text", "Text column (or TFDS feature).")
    text_pair_column: str | None = setting(
        None, "Second text column, for sentence-pair tasks."
    )
    label_column: str = setting("label", "Label column (or TFDS feature).")
    tfds_data_dir: str | None = setting(None, "TensorFlow Datasets data_dir.")
    on_bad_rows: str = setting(
        "error",
        "Rows with empty text or no label: refuse, or skip and count.",
        choices=("error", "skip"),
    )
    max_train_examples: int | None = setting(
        None, "Train on a seeded subset of this size.", minimum=1
    )
    max_eval_examples: int | None = setting(
        None, "Evaluate on a seeded subset of this size.", minimum=1
    )
    calibrate: bool = setting(
        True,
        "Fit a softmax temperature on the validation data after training "
        "(saved with the model, applied in exports); the report gives the "
        "expected calibration error before and after.",
        run_setting=False,
    )
