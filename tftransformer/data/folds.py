"""K-fold splits of example indices: stratified or plain."""

import math
import numbers

import numpy as np

from tftransformer._arguments import check_int

__all__ = ["k_fold", "stratified_k_fold"]


def check_no_missing_labels(labels, name="labels"):
    """Refuses a NaN or `None` label in the 1-D array `labels`.

    A missing label is not a class: NaN never equals itself, so it would be
    a class of its own (one per NaN in `np.unique`), and `None` cannot be
    sorted with the others.

    Raises:
        ValueError: naming the first missing label's index.
    """
    if labels.dtype.kind == "f":
        missing = np.flatnonzero(np.isnan(labels))
    elif labels.dtype.kind == "O":
        missing = [
            i
            for i, label in enumerate(labels.tolist())
            if label is None or (isinstance(label, numbers.Real) and math.isnan(label))
        ]
    else:
        return
    if len(missing):
        index = int(missing[0])
        label = labels[index : index + 1].tolist()[0]  # a Python value
        raise ValueError(
            f"{name} must not hold missing labels (NaN or None): every example "
            f"needs a class label. Received: {name}[{index}]={label!r} "
            f"({len(missing)} missing in all)"
        )


def stratified_k_fold(labels, num_folds, seed=0):
    """Splits example indices into folds that keep the class proportions.

    Each class's indices are shuffled (by `seed`) and dealt round-robin to
    the folds, so every fold holds `floor` or `ceil` of `count / num_folds`
    examples of each class. The dealing continues from class to class, so
    the fold sizes also differ by at most one.

    Args:
        labels: 1-D array-like of class labels (any values `np.unique` sorts;
            not NaN or None).
        num_folds: number of folds, an integer between 2 and the size of the
            smallest class.
        seed: integer seed of the shuffle, or `None` for a fresh one.

    Returns:
        A list of `num_folds` pairs `(train_indices, val_indices)` of sorted
        int64 arrays. The validation folds are disjoint and cover every index
        once; each training set is the complement of its validation fold.

    Example:
    ```python
    folds = stratified_k_fold([0, 0, 0, 1, 1, 1], num_folds=3, seed=0)
    for train_indices, val_indices in folds:
        ...  # each val fold holds one example of each class
    ```
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise ValueError(
            f"labels must be a 1-D array. Received: labels.shape={labels.shape}"
        )
    num_folds = check_int("num_folds", num_folds, 2)
    if seed is not None:
        check_int("seed", seed, 0, what=" or None")
    if len(labels) == 0:
        raise ValueError("labels must not be empty. Received: labels=[]")
    check_no_missing_labels(labels)
    classes, class_ids, counts = np.unique(
        labels, return_inverse=True, return_counts=True
    )
    if num_folds > counts.min():
        smallest = classes[np.argmin(counts)].item()
        raise ValueError(
            "num_folds must not exceed the number of examples in the smallest "
            f"class ({counts.min()}, class {smallest!r}). "
            f"Received: num_folds={num_folds}"
        )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(len(labels), dtype=np.int64)
    offset = 0
    for class_id, count in enumerate(counts):
        members = rng.permutation(np.flatnonzero(class_ids == class_id))
        fold_of[members] = (offset + np.arange(count)) % num_folds
        offset = (offset + count) % num_folds
    return _folds_from_assignment(fold_of, num_folds)


def k_fold(num_examples, num_folds, seed=0):
    """Splits `range(num_examples)` into shuffled folds of near-equal size.

    Use it when there are no class labels to stratify on (e.g. regression).

    Args:
        num_examples: number of examples, an integer >= `num_folds`.
        num_folds: number of folds, an integer >= 2.
        seed: integer seed of the shuffle, or `None` for a fresh one.

    Returns:
        A list of `num_folds` pairs `(train_indices, val_indices)` of sorted
        int64 arrays, as in `stratified_k_fold`.

    Example:
    ```python
    folds = k_fold(10, num_folds=5, seed=0)  # five folds of 2 examples
    ```
    """
    num_folds = check_int("num_folds", num_folds, 2)
    if seed is not None:
        check_int("seed", seed, 0, what=" or None")
    num_examples = check_int(
        "num_examples", num_examples, num_folds, what=" (num_folds)"
    )
    rng = np.random.default_rng(seed)
    fold_of = np.empty(num_examples, dtype=np.int64)
    fold_of[rng.permutation(num_examples)] = np.arange(num_examples) % num_folds
    return _folds_from_assignment(fold_of, num_folds)


def _folds_from_assignment(fold_of, num_folds):
    folds = []
    for fold_index in range(num_folds):
        in_fold = fold_of == fold_index
        folds.append((np.flatnonzero(~in_fold), np.flatnonzero(in_fold)))
    return folds
