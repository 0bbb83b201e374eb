"""Decision thresholds and evaluation of multi-label classifiers."""

import numpy as np

from tftransformer._arguments import (
    check_binary_array,
    check_positive_number,
    check_real_array,
)
from tftransformer.evaluation._task_kinds import refuse_other_task
from tftransformer.evaluation.calibration import calibration_summary
from tftransformer.evaluation.multi_label_report import MultiLabelReport
from tftransformer.models.multi_label_classifier import MultiLabelClassifier

__all__ = [
    "evaluate_multi_label_classifier",
    "sigmoid_probabilities",
    "tune_thresholds",
]

# The candidate thresholds: 0.05, 0.06, ..., 0.95.
_GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)


def sigmoid_probabilities(logits, temperature=1.0):
    """`sigmoid(logits / temperature)` as float32, without overflow."""
    temperature = check_positive_number("temperature", temperature)
    logits = np.asarray(logits, dtype=np.float64) / temperature
    return (0.5 * (1.0 + np.tanh(0.5 * logits))).astype("float32")


def _f1_at(y_true, probabilities, thresholds):
    """F1 of each column at each threshold: `(len(thresholds), num_labels)`."""
    truth = y_true.astype(bool)[None]  # (1, examples, labels)
    predicted = probabilities[None] >= thresholds[:, None, None]
    true_positives = (truth & predicted).sum(axis=1)
    denominator = truth.sum(axis=1) + predicted.sum(axis=1)
    out = np.zeros(true_positives.shape)
    np.divide(2 * true_positives, denominator, out=out, where=denominator != 0)
    return out, true_positives, truth.sum(axis=1), predicted.sum(axis=1)


def tune_thresholds(y_true, probabilities, per_label=True):
    """Decision thresholds that maximize F1 on held-out data.

    The global threshold maximizes the micro F1 over all labels; with
    `per_label`, each label then gets the threshold maximizing its own F1,
    except a label without a positive example in the data, which keeps the
    global one (its F1 is 0 at every threshold). Candidates are 0.05 to
    0.95 in steps of 0.01; ties go to the threshold closest to 0.5.

    Args:
        y_true: 0/1 array `(num_examples, num_labels)`.
        probabilities: per-label probabilities of the same shape.
        per_label: whether each label gets its own threshold.

    Returns:
        A list of `num_labels` thresholds (all equal without `per_label`).

    Raises:
        ValueError: for labels other than 0/1, probabilities outside
            `[0, 1]` (or NaN), different shapes, or no example.

    Example:
    ```python
    thresholds = tune_thresholds(validation.labels, validation_probabilities)
    ```
    """
    y_true = check_binary_array("y_true", y_true)
    probabilities = check_real_array(
        "probabilities",
        probabilities,
        minimum=0,
        maximum=1,
        what=" (sigmoid outputs, not logits)",
    )
    if y_true.ndim != 2 or probabilities.shape != y_true.shape:
        raise ValueError(
            "y_true and probabilities must both have shape (num_examples, "
            f"num_labels). Received: {y_true.shape} and {probabilities.shape}"
        )
    if not len(y_true):
        raise ValueError(
            "tune_thresholds needs at least one example. Received: "
            f"y_true.shape={y_true.shape}"
        )
    f1, true_positives, support, predicted = _f1_at(y_true, probabilities, _GRID)
    # Ties: the candidate closest to 0.5 (a stable choice on small data).
    preference = -np.abs(_GRID - 0.5) * 1e-9
    micro_denominator = support.sum(axis=1) + predicted.sum(axis=1)
    micro = np.zeros(len(_GRID))
    np.divide(
        2 * true_positives.sum(axis=1),
        micro_denominator,
        out=micro,
        where=micro_denominator != 0,
    )
    best_global = float(_GRID[np.argmax(micro + preference)])
    thresholds = [best_global] * y_true.shape[1]
    if per_label:
        for j in range(y_true.shape[1]):
            if support[0, j]:
                thresholds[j] = float(_GRID[np.argmax(f1[:, j] + preference)])
    return thresholds


def _check_thresholds(thresholds, y_true):
    """One decision threshold per label of `y_true`, each in [0, 1]."""
    thresholds = check_real_array("thresholds", thresholds, minimum=0, maximum=1)
    num_labels = y_true.shape[1]
    if thresholds.shape != (num_labels,):
        raise ValueError(
            f"thresholds must hold one value per label ({num_labels}). "
            f"Received: thresholds={thresholds.tolist()}"
        )
    return thresholds


def evaluate_multi_label_classifier(
    model, inputs, y_true, label_names=None, thresholds=None, temperature=None
):
    """Predicts with a multi-label classifier and reports against the truth.

    Args:
        model: a Keras model returning one logit per label (a
            `MultiLabelClassifier`; the library's other task models are
            refused, naming their evaluation function).
        inputs: what `model.predict` takes, in the order of `y_true`.
        y_true: 0/1 array `(num_examples, num_labels)`.
        label_names: optional names; defaults to `model.label_names`.
        thresholds: optional thresholds, one in `[0, 1]` per label;
            defaults to the model's (`decision_thresholds()`), else 0.5.
        temperature: optional float > 0; defaults to `model.temperature`.

    Returns:
        `(MultiLabelReport, probabilities)`; the report's calibration
        compares the sigmoid at temperature 1 with the model's.

    Example:
    ```python
    report, probabilities = evaluate_multi_label_classifier(model, test_ds, test.labels)
    ```
    """
    refuse_other_task(model, "evaluate_multi_label_classifier", (MultiLabelClassifier,))
    y_true = check_binary_array("y_true", y_true)
    if y_true.ndim != 2:
        raise ValueError(
            "y_true must have shape (num_examples, num_labels). "
            f"Received: y_true.shape={y_true.shape}"
        )
    if thresholds is not None:
        thresholds = _check_thresholds(thresholds, y_true)
    logits = np.asarray(model.predict(inputs, verbose=0), dtype=np.float64)
    if logits.shape != y_true.shape:
        raise ValueError(
            "The model's outputs and y_true must have the same shape "
            f"(num_examples, num_labels). Received: {logits.shape} and {y_true.shape}"
        )
    if temperature is None:
        temperature = getattr(model, "temperature", 1.0)
    if thresholds is None:
        decision_thresholds = getattr(model, "decision_thresholds", None)
        thresholds = _check_thresholds(
            decision_thresholds() if decision_thresholds else [0.5] * logits.shape[1],
            y_true,
        )
    probabilities = sigmoid_probabilities(logits, temperature)
    report = MultiLabelReport(
        y_true,
        (probabilities >= thresholds).astype("int32"),
        y_score=probabilities,
        label_names=label_names or getattr(model, "label_names", None),
        thresholds=thresholds.tolist(),
        calibration=calibration_summary(
            logits, y_true, float(temperature), multi_label=True
        ),
    )
    return report, probabilities
