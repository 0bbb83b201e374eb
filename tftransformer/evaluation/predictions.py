"""Evaluating a trained classifier on a data set."""

import numpy as np

from tftransformer._arguments import (
    as_list,
    check_ids_below,
    check_positive_number,
    check_real_array,
)
from tftransformer.evaluation._task_kinds import refuse_other_task
from tftransformer.evaluation.calibration import calibration_summary
from tftransformer.evaluation.metrics import _as_class_ids, classification_report
from tftransformer.models.text_classifier import TextClassifier


def logits_to_probabilities(logits):
    """Turns classifier logits into class probabilities.

    Args:
        logits: array of shape `(batch, num_classes)`, or `(batch,)` /
            `(batch, 1)` for a single binary logit.

    Returns:
        A float32 array of shape `(batch, num_classes)` (2 for a single
        logit) whose rows sum to 1; a row with a NaN logit is NaN (a
        diverged model shows as such rather than as a confident class).

    Raises:
        ValueError: for anything but real numbers (e.g. strings).
    """
    logits = check_real_array("logits", logits, finite=False)
    if logits.ndim == 1 or logits.shape[-1] == 1:
        positive = 1.0 / (1.0 + np.exp(-logits.reshape(-1)))
        return np.stack([1.0 - positive, positive], axis=-1).astype("float32")
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return (exp / exp.sum(axis=-1, keepdims=True)).astype("float32")


def _ranking_scores(logits):
    """Scores that order examples per class exactly as the probabilities do.

    The float32 probabilities of a confident model round to exactly 1.0
    from a logit margin of about 17 (float64 from about 37), and those false
    ties would pull ROC-AUC toward 0.5. These scores keep the order: the
    logit margin for two classes, the log-probability otherwise (with the
    normalizer's small terms kept by `log1p`).
    """
    logits = np.asarray(logits, dtype="float64")
    if logits.ndim == 1 or logits.shape[-1] == 1:
        return logits.reshape(-1)
    if logits.shape[-1] == 2:
        return logits[:, 1] - logits[:, 0]
    shifted = logits - logits.max(axis=-1, keepdims=True)  # (batch, classes)
    others = np.exp(shifted)
    # exp(0) = 1 of one largest logit, added back by log1p.
    np.put_along_axis(others, shifted.argmax(axis=-1)[:, None], 0.0, axis=-1)
    return shifted - np.log1p(others.sum(axis=-1, keepdims=True))


def evaluate_classifier(model, inputs, y_true, label_names=None, temperature=None):
    """Predicts with `model` and reports against the true labels.

    The probabilities are `softmax(logits / temperature)`. For a model with
    a `temperature` (a `TextClassifier`), or a `temperature` given, the
    report's `calibration` compares them with the unscaled softmax: the
    expected calibration error and NLL before and after.

    Args:
        model: a Keras model returning logits (a `TextClassifier`; the
            library's other task models are refused, naming their
            evaluation function).
        inputs: what `model.predict` takes (a `tf.data.Dataset` of features
            in the same order as `y_true`, or raw strings for a model with a
            preprocessor).
        y_true: 1-D int array of true label ids (a `(num_examples, 1)`
            column too; not one-hot rows), each below the model's number
            of classes.
        label_names: optional label names in id order, one per class the
            model outputs.
        temperature: optional float > 0; defaults to `model.temperature`
            when the model has one, else 1 (and no calibration entry).

    Returns:
        A `(ClassificationReport, probabilities)` tuple; probabilities are
        `(num_examples, num_classes)`.

    Example:
    ```python
    report, probabilities = evaluate_classifier(
        classifier, test_dataset, test.labels, test.label_vocabulary
    )
    print(report)
    ```
    """
    refuse_other_task(model, "evaluate_classifier", (TextClassifier,))
    y_true = np.asarray(y_true)
    if y_true.ndim == 2 and y_true.shape[1] == 1:
        y_true = y_true[:, 0]  # A column of class ids.
    # Refused before predicting: 1-D class ids (not one-hot rows).
    y_true = _as_class_ids("y_true", y_true)
    if label_names is not None:
        label_names = as_list(label_names)
        if not isinstance(label_names, list):
            raise ValueError(
                "label_names must be a list of names, one per class id. "
                f"Received: label_names={label_names!r}"
            )
    raw_logits = np.asarray(model.predict(inputs, verbose=0), dtype="float64")
    logits = raw_logits
    if temperature is None:
        temperature = getattr(model, "temperature", None)
    if temperature is not None:
        temperature = check_positive_number("temperature", temperature)
        logits = raw_logits / temperature
    probabilities = logits_to_probabilities(logits)
    if len(probabilities) != len(y_true):
        raise ValueError(
            "The model returned one prediction per example of `inputs`, but "
            f"their number differs from y_true's. Received: "
            f"{len(probabilities)} predictions, {len(y_true)} labels"
        )
    num_classes = probabilities.shape[-1]
    if label_names is not None and len(label_names) != num_classes:
        raise ValueError(
            f"label_names has {len(label_names)} names but the model outputs "
            f"{num_classes} classes. Received: label_names={label_names!r}"
        )
    check_ids_below(
        "y_true", y_true, num_classes, why=f": the model outputs {num_classes} classes"
    )
    report = classification_report(
        y_true,
        probabilities.argmax(axis=-1),
        y_score=_ranking_scores(logits),
        label_names=label_names,
    )
    if temperature is not None and raw_logits.ndim == 2 and raw_logits.shape[-1] > 1:
        report = type(report)(
            report.confusion_matrix,
            report.label_names,
            report.roc_auc_per_class,
            calibration=calibration_summary(raw_logits, y_true, temperature),
        )
    return report, probabilities
