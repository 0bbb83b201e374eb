"""The classification loss and class weights for imbalanced labels."""

import keras
import numpy as np

from tftransformer._arguments import check_fraction, check_int, check_whole_numbers
from tftransformer.finetune.smoothed_sparse_categorical_crossentropy import (
    SmoothedSparseCategoricalCrossentropy,
)

__all__ = ["classification_loss", "class_weights"]


def classification_loss(label_smoothing=0.0):
    """Returns the cross-entropy loss for integer labels and logits.

    Args:
        label_smoothing: float in [0, 1). 0 gives Keras'
            `SparseCategoricalCrossentropy(from_logits=True)`; above 0, a
            `SmoothedSparseCategoricalCrossentropy`.

    Returns:
        A `keras.losses.Loss` taking int labels and `(batch, K)` logits.

    Raises:
        ValueError: if `label_smoothing` is outside [0, 1).

    Example:
    ```python
    classifier.compile(
        optimizer=create_optimizer(2e-5, num_train_steps=1000),
        loss=classification_loss(label_smoothing=0.1),
        metrics=["accuracy"],
    )
    ```
    """
    check_fraction("label_smoothing", label_smoothing)
    if label_smoothing == 0:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return SmoothedSparseCategoricalCrossentropy(
        label_smoothing=label_smoothing, from_logits=True
    )


def class_weights(labels, num_classes):
    """Returns balanced class weights, `n / (num_classes * count_c)`.

    Each class then carries the same total weight, `n / num_classes`. A class
    with no examples gets weight 0.0: no example is weighted by it, and
    `keras.Model.fit` needs every class id in the dict.

    Args:
        labels: array-like of int class ids in [0, num_classes), any shape.
        num_classes: int > 0.

    Returns:
        A dict `{class_id: weight}` with a float for every class id, ready
        for `fit(class_weight=...)`.

    Raises:
        ValueError: if `labels` is empty, not integral, or out of range.

    Example:
    ```python
    class_weights([0, 0, 0, 1], num_classes=2)  # {0: 0.667, 1: 2.0}
    ```
    """
    num_classes = check_int("num_classes", num_classes, 1)
    labels = np.asarray(labels).reshape(-1)
    if labels.size == 0:
        raise ValueError("labels must not be empty. Received: labels=[]")
    labels = check_whole_numbers("labels", labels, "integer class ids")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"labels must be in [0, {num_classes}). Received: labels from "
            f"{labels.min()} to {labels.max()} with num_classes={num_classes}"
        )
    counts = np.bincount(labels, minlength=num_classes)
    n = labels.size
    return {
        c: float(n / (num_classes * count)) if count else 0.0
        for c, count in enumerate(counts.tolist())
    }
