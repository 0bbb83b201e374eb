"""A cross-validation driver over k-fold splits."""

import math

import numpy as np

from tftransformer._warnings import warn
from tftransformer.data.folds import k_fold, stratified_k_fold
from tftransformer.evaluation.cross_validation_result import (
    CrossValidationResult,
    _check_fold_metrics,
)


def cross_validate(
    train_and_evaluate_fn, labels=None, num_folds=5, seed=0, num_examples=None
):
    """Runs one train-and-evaluate call per fold and gathers the metrics.

    Pass `labels` for stratified folds (`stratified_k_fold`), or
    `num_examples` for plain shuffled folds (`k_fold`). The function must
    build a fresh model for every fold (e.g. from the pretrained weights), so
    that no fold sees weights trained on its validation examples.

    Args:
        train_and_evaluate_fn: callable
            `(fold_index, train_indices, val_indices) -> dict` returning the
            same metric names (strings -> real numbers) for every fold.
        labels: 1-D array-like of class labels, one per example.
        num_folds: number of folds, an integer >= 2.
        seed: integer seed of the fold shuffle, or `None` for a fresh one.
        num_examples: number of examples, when `labels` is not given.

    Returns:
        A `CrossValidationResult` with the per-fold metrics, their mean and
        their sample standard deviation. A fold's NaN or infinite metric
        (an undefined ROC-AUC, a diverged loss) is kept, with a
        `RuntimeWarning` naming the fold and the metric.

    Example:
    ```python
    def train_and_evaluate(fold_index, train_indices, val_indices):
        model = build_classifier_from_pretrained()
        model.fit(x[train_indices], y[train_indices], epochs=2)
        return model.evaluate(x[val_indices], y[val_indices], return_dict=True)

    result = cross_validate(train_and_evaluate, labels=y, num_folds=5)
    print(result)
    result.to_json("runs/cv.json")
    ```
    """
    if not callable(train_and_evaluate_fn):
        raise TypeError(
            "train_and_evaluate_fn must be callable. "
            f"Received: train_and_evaluate_fn={train_and_evaluate_fn!r}"
        )
    if (labels is None) == (num_examples is None):
        raise ValueError(
            "Pass exactly one of labels (stratified folds) or num_examples "
            f"(plain folds). Received: labels={_short(labels)}, "
            f"num_examples={num_examples}"
        )
    if labels is not None:
        folds = stratified_k_fold(labels, num_folds, seed=seed)
    else:
        folds = k_fold(num_examples, num_folds, seed=seed)

    fold_metrics = []
    names = None
    for fold_index, (train_indices, val_indices) in enumerate(folds):
        metrics = train_and_evaluate_fn(fold_index, train_indices, val_indices)
        # Check each fold as it finishes: a bad return value should not cost
        # the remaining folds' training time.
        metrics = _check_fold_metrics(metrics, fold_index, names)
        _warn_if_not_finite(metrics, fold_index)
        names = tuple(metrics)
        fold_metrics.append(metrics)
    return CrossValidationResult(fold_metrics)


def _warn_if_not_finite(metrics, fold_index):
    """Warns, as the fold ends, of a NaN or infinite metric.

    Not an error: an undefined metric (a ROC-AUC on a fold without both
    classes) or a diverged fold's infinite loss is a result, kept (as
    `null` in JSON) by `CrossValidationResult`; refusing it would throw
    away every fold's training.
    """
    bad = {name: value for name, value in metrics.items() if not math.isfinite(value)}
    if bad:
        received = ", ".join(f"{name}={value}" for name, value in bad.items())
        warn(
            f"Fold {fold_index} returned a metric that is not finite: {received}. "
            "Its mean and standard deviation over the folds will not be "
            "finite either.",
            RuntimeWarning,
        )


def _short(values):
    if values is None:
        return None
    array = np.asarray(values)
    return f"<array of shape {array.shape}>"
