"""Multi-label text classification runs from a `MultiLabelConfig`."""

import os

import keras

from tftransformer.data.target_loaders import load_multi_label_splits
from tftransformer.evaluation.calibration import fit_temperature
from tftransformer.evaluation.multi_label_predictions import (
    evaluate_multi_label_classifier,
    sigmoid_probabilities,
    tune_thresholds,
)
from tftransformer.evaluation.plots import write_classification_plots
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.training._subsets import sample_splits
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.trainer import Trainer

__all__ = [
    "build_multi_label_classifier",
    "fit_decision_rule",
    "load_multi_label_data",
    "train_multi_label_classifier",
]


def load_multi_label_data(config):
    """The train, validation and test `MultiLabelData` a config names.

    Reads `train_file`, `validation_file` and `test_file` (the embedded
    WNUT-16 entity types without them), then draws the seeded subsets of
    `max_train_examples` and `max_eval_examples`.
    """
    train, validation, test = load_multi_label_splits(
        config.train_file,
        config.validation_file,
        config.test_file,
        text_column=config.text_column,
        label_column=config.label_column,
        text_pair_column=config.text_pair_column,
        label_delimiter=config.label_delimiter,
        on_bad_rows=config.on_bad_rows,
        seed=config.seed,
    )
    return sample_splits(config, train, validation, test)


def build_multi_label_classifier(config, label_names):
    """The `MultiLabelClassifier` a config describes; build it in
    `trainer.scope()`."""
    return MultiLabelClassifier.from_preset(
        config.preset,
        num_labels=len(label_names),
        sequence_length=config.max_length,
        dtype=config.dtype,
        pooling=config.pooling,
        dropout=config.dropout,
        num_extra_blocks=config.extra_blocks,
        label_names=list(label_names),
    )


def fit_decision_rule(
    model, inputs, labels, calibrate=True, threshold_tuning="per_label"
):
    """Fits a multi-label model's temperature, then its decision thresholds.

    The temperature (with `calibrate`) minimizes the sigmoid NLL on
    `inputs`; the thresholds then maximize F1 on the calibrated
    probabilities (`tune_thresholds`): one per label, one for all
    (`"global"`), or 0.5 (`"none"`).

    Args:
        model: a `MultiLabelClassifier`.
        inputs: what `model.predict` takes, in the order of `labels`.
        labels: 0/1 array `(num_examples, num_labels)`.
        calibrate: bool.
        threshold_tuning: `"per_label"`, `"global"` or `"none"`.

    Returns:
        `(temperature, thresholds)`, also set on `model`.
    """
    if threshold_tuning not in ("per_label", "global", "none"):
        raise ValueError(
            "threshold_tuning must be 'per_label', 'global' or 'none'. "
            f"Received: threshold_tuning={threshold_tuning!r}"
        )
    logits = model.predict(inputs, verbose=0)
    if calibrate:
        model.temperature = fit_temperature(logits, labels, multi_label=True)
    if threshold_tuning == "none":
        model.thresholds = None
    else:
        model.thresholds = tune_thresholds(
            labels,
            sigmoid_probabilities(logits, model.temperature),
            per_label=threshold_tuning == "per_label",
        )
    return model.temperature, model.decision_thresholds()


def train_multi_label_classifier(config, verbose=1):
    """Fine-tunes, calibrates, evaluates and reports a multi-label classifier.

    A `Trainer` run in `config.model_dir` (resumable) with binary
    cross-entropy, then on the validation split a sigmoid temperature
    (`calibrate`) and decision thresholds (`threshold_tuning`), saved in
    `model.keras`; then the test split's `MultiLabelReport` in
    `report.json`, with `training_curves.png` and `reliability_diagram.png`.

    Args:
        config: a `MultiLabelConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `ClassificationRun` (its `report` a `MultiLabelReport`).

    Example:
    ```python
    run = train_multi_label_classifier(MultiLabelConfig(epochs=1))
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = load_multi_label_data(config)
    trainer.print_splits(
        train, validation, test, f"labels {list(train.label_vocabulary)}"
    )
    with trainer.scope():
        model = build_multi_label_classifier(config, train.label_vocabulary)
    training = trainer.fit(
        model,
        train,
        validation,
        loss=keras.losses.BinaryCrossentropy(
            from_logits=True, label_smoothing=config.label_smoothing
        ),
        metrics=[keras.metrics.BinaryAccuracy("binary_accuracy", threshold=0.0)],
    )
    fit_decision_rule(
        model,
        trainer.dataset(validation, model),
        validation.labels,
        calibrate=config.calibrate,
        threshold_tuning=config.threshold_tuning,
    )
    trainer.save(model)
    report, _ = evaluate_multi_label_classifier(
        model, trainer.dataset(test, model), test.labels
    )
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
        write_classification_plots(report, config.model_dir, history=training.history)
    return ClassificationRun(model, training, report, train, validation, test, trainer)
