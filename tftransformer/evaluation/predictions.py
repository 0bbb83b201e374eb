"""Evaluating a trained classifier on a data set."""

import numpy as np

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


def evaluate_classifier(model, inputs, y_true, label_names=None):
    """Predicts with `model` and reports against the true labels.

    Args:
        model: a Keras model returning logits.
        inputs: what `model.predict` takes (a `tf.data.Dataset` of features
            in the same order as `y_true`, or raw strings for a model with a
            preprocessor).
        y_true: 1-D int array of true label ids.
        label_names: optional label names in id order.

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
    probabilities = logits_to_probabilities(model.predict(inputs, verbose=0))
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
        y_score=probabilities,
        label_names=None if label_names is None else list(label_names),
    )
    return report, probabilities
