"""Classification metrics in pure NumPy: confusion matrix, ROC-AUC, report."""

import math

import numpy as np

from tftransformer._arguments import check_ids_below, check_int, check_whole_numbers
from tftransformer.evaluation.classification_report import ClassificationReport


def confusion_matrix(y_true, y_pred, num_classes):
    """Counts true/predicted class pairs.

    Args:
        y_true: 1-D array-like of integer class ids in `[0, num_classes)`.
        y_pred: 1-D array-like of predicted class ids, same length.
        num_classes: number of classes, an integer >= 1.

    Returns:
        An int64 array of shape `(num_classes, num_classes)` whose entry
        `[i, j]` counts examples of true class `i` predicted as class `j`.

    Example:
    ```python
    confusion_matrix([0, 0, 1, 2], [0, 1, 1, 2], num_classes=3)
    # array([[1, 1, 0],
    #        [0, 1, 0],
    #        [0, 0, 1]])
    ```
    """
    num_classes = check_int("num_classes", num_classes, 1)
    y_true = _as_class_ids("y_true", y_true, num_classes)
    y_pred = _as_class_ids("y_pred", y_pred, num_classes)
    _check_same_length(y_true=y_true, y_pred=y_pred)
    flat = np.bincount(y_true * num_classes + y_pred, minlength=num_classes**2)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def roc_auc(y_true, y_score):
    """Binary ROC-AUC via the Mann-Whitney U rank statistic.

    The ROC-AUC is the probability that a random positive example scores
    higher than a random negative one, a tied pair counting one half. Ties
    are handled by giving tied scores their average rank.

    Args:
        y_true: 1-D array-like of binary labels (0/1 or bool).
        y_score: 1-D array-like of real scores, higher meaning more positive
            (probabilities, logits, or any monotone score).

    Returns:
        A float in `[0, 1]`, or NaN when `y_true` has no positive or no
        negative example (the ROC curve is then undefined).

    Raises:
        ValueError: for labels other than 0/1, scores that are not 1-D or
            hold NaN, different lengths, or no example.

    Example:
    ```python
    roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])  # 0.75
    ```
    """
    y_true = _as_class_ids("y_true", y_true, 2)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_score.ndim != 1:
        raise ValueError(
            "y_score must be a 1-D array of scores. "
            f"Received: y_score.shape={y_score.shape}"
        )
    _check_same_length(y_true=y_true, y_score=y_score)
    if not len(y_true):
        raise ValueError("roc_auc needs at least one example. Received: 0")
    if np.isnan(y_score).any():
        raise ValueError(
            "y_score must not contain NaN. "
            f"Received NaN at indices {np.flatnonzero(np.isnan(y_score))[:10].tolist()}"
        )
    num_pos = int(y_true.sum())
    num_neg = len(y_true) - num_pos
    if num_pos == 0 or num_neg == 0:
        return math.nan
    ranks = _average_ranks(y_score)
    # U counts the (positive, negative) pairs won by the positive: the rank
    # sum of the positives minus the smallest sum it could have.
    u = ranks[y_true == 1].sum() - num_pos * (num_pos + 1) / 2
    return float(u / (num_pos * num_neg))


def classification_report(y_true, y_pred, y_score=None, label_names=None):
    """Builds a `ClassificationReport` from labels, predictions and scores.

    The number of classes is `len(label_names)` when given, else the number
    of score columns when `y_score` is 2-D, else `max(y_true, y_pred) + 1`
    (at least 2).

    See `ClassificationReport` for the zero-division (0.0) and undefined
    ROC-AUC (NaN) conventions.

    Args:
        y_true: 1-D array-like of integer class ids.
        y_pred: 1-D array-like of predicted class ids, same length.
        y_score: optional scores for ROC-AUC. Binary: the positive-class
            (class 1) scores of shape `(num_examples,)`, or probabilities of
            shape `(num_examples, 2)`. Multi-class: shape
            `(num_examples, num_classes)`, scored one-vs-rest per class.
        label_names: optional sequence of distinct class names.

    Returns:
        A `ClassificationReport`.

    Example:
    ```python
    probs = model.predict(x_test)
    report = classification_report(
        y_test, probs.argmax(-1), y_score=probs, label_names=["neg", "pos"]
    )
    print(report)
    report.to_json("runs/report.json")
    ```
    """
    if y_score is not None:
        y_score = np.asarray(y_score, dtype=np.float64)
        if y_score.ndim not in (1, 2):
            raise ValueError(
                "y_score must have shape (num_examples,) or (num_examples, "
                f"num_classes). Received: y_score.shape={y_score.shape}"
            )
    if label_names is not None:
        label_names = [str(name) for name in label_names]
        num_classes = len(label_names)
    elif y_score is not None and y_score.ndim == 2:
        num_classes = y_score.shape[1]
    else:
        num_classes = None

    if num_classes is None:
        # Infer from the labels; validate dtype first so the error is clear.
        y_true = _as_class_ids("y_true", y_true)
        y_pred = _as_class_ids("y_pred", y_pred)
        largest = max(y_true.max(initial=0), y_pred.max(initial=0))
        num_classes = max(2, int(largest) + 1)
    num_classes = check_int("num_classes", num_classes, 2)
    y_true = _as_class_ids("y_true", y_true, num_classes)
    y_pred = _as_class_ids("y_pred", y_pred, num_classes)
    _check_same_length(y_true=y_true, y_pred=y_pred)
    if len(y_true) == 0:
        raise ValueError(
            "classification_report needs at least one example. Received: 0"
        )

    matrix = confusion_matrix(y_true, y_pred, num_classes)
    per_class_auc = None
    if y_score is not None:
        per_class_auc = _one_vs_rest_auc(y_true, y_score, num_classes)
    return ClassificationReport(matrix, label_names, per_class_auc)


def _one_vs_rest_auc(y_true, y_score, num_classes):
    if len(y_score) != len(y_true):
        raise ValueError(
            "y_score must have one row per example. Received: "
            f"len(y_true)={len(y_true)}, y_score.shape={y_score.shape}"
        )
    if y_score.ndim == 1 or num_classes == 2:
        if y_score.ndim == 2 and y_score.shape[1] != 2:
            raise ValueError(
                "For 2 classes, y_score must have shape (num_examples,) or "
                f"(num_examples, 2). Received: y_score.shape={y_score.shape}"
            )
        if num_classes != 2:
            raise ValueError(
                "1-D y_score (positive-class scores) is only valid for 2 classes. "
                f"Received: num_classes={num_classes}, y_score.shape={y_score.shape}"
            )
        positive_score = y_score if y_score.ndim == 1 else y_score[:, 1]
        auc = roc_auc(y_true == 1, positive_score)
        # Class 0 against the rest is the same curve mirrored: equal AUC.
        return np.array([auc, auc])
    if y_score.shape[1] != num_classes:
        raise ValueError(
            f"y_score must have one column per class ({num_classes}). "
            f"Received: y_score.shape={y_score.shape}"
        )
    return np.array([roc_auc(y_true == c, y_score[:, c]) for c in range(num_classes)])


def _average_ranks(values):
    """1-based ranks, tied values sharing the mean of their positions."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    # Compare neighbours directly rather than with np.diff: inf - inf is NaN.
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], len(values)]
    # Positions start+1 .. end (1-based) average to (start + 1 + end) / 2.
    group_ranks = (starts + 1 + ends) / 2.0
    ranks = np.empty(len(values), dtype=np.float64)
    ranks[order] = np.repeat(group_ranks, ends - starts)
    return ranks


def _check_same_length(**arrays):
    lengths = {name: len(array) for name, array in arrays.items()}
    if len(set(lengths.values())) > 1:
        received = ", ".join(f"len({name})={n}" for name, n in lengths.items())
        raise ValueError(f"Inputs must have the same length. Received: {received}")


def _as_class_ids(name, values, num_classes=None):
    """Converts `values` to a 1-D int64 array, checking the id range."""
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of class ids. "
            f"Received: {name}.shape={array.shape}"
        )
    # Whole-number floats too (labels stored as float32).
    array = check_whole_numbers(name, array, "integer class ids")
    if num_classes is not None:
        check_ids_below(name, array, num_classes)
    return array
