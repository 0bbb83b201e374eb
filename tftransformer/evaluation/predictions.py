"""Evaluating a trained classifier on a data set."""

import numpy as np

from tftransformer._arguments import check_positive_number
from tftransformer.evaluation.calibration import calibration_summary
from tftransformer.evaluation.metrics import classification_report


def logits_to_probabilities(logits):
    """Turns classifier logits into class probabilities.

    Args:
        logits: array of shape `(batch, num_classes)`, or `(batch,)` /
            `(batch, 1)` for a single binary logit.

    Returns:
        A float32 array of shape `(batch, num_classes)` (2 for a single
        logit) whose rows sum to 1.
    """
    logits = np.asarray(logits, dtype="float64")
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
        model: a Keras model returning logits.
        inputs: what `model.predict` takes (a `tf.data.Dataset` of features
            in the same order as `y_true`, or raw strings for a model with a
            preprocessor).
        y_true: 1-D int array of true label ids.
        label_names: optional label names in id order.
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
    raw_logits = np.asarray(model.predict(inputs, verbose=0), dtype="float64")
    logits = raw_logits
    if temperature is None:
        temperature = getattr(model, "temperature", None)
    if temperature is not None:
        temperature = check_positive_number("temperature", temperature)
        logits = raw_logits / temperature
    probabilities = logits_to_probabilities(logits)
    y_true = np.asarray(y_true).reshape(-1)
    if len(probabilities) != len(y_true):
        raise ValueError(
            "The model returned one prediction per example of `inputs`, but "
            f"their number differs from y_true's. Received: "
            f"{len(probabilities)} predictions, {len(y_true)} labels"
        )
    report = classification_report(
        y_true,
        probabilities.argmax(axis=-1),
        y_score=_ranking_scores(logits),
        label_names=None if label_names is None else list(label_names),
    )
    if temperature is not None and raw_logits.ndim == 2 and raw_logits.shape[-1] > 1:
        report = type(report)(
            report.confusion_matrix,
            report.label_names,
            report.roc_auc_per_class,
            calibration=calibration_summary(raw_logits, y_true, temperature),
        )
    return report, probabilities
