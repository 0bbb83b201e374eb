import json
import math
import warnings

import numpy as np
import pytest

from tftransformer.evaluation import (
    CrossValidationResult,
    cross_validate,
    k_fold,
    stratified_k_fold,
)

# Class sizes 7, 5 and 3, interleaved.
LABELS = np.array([0, 1, 2, 0, 1, 0, 2, 0, 1, 0, 2, 1, 0, 1, 0])


def _check_partition(folds, num_examples, num_folds):
    assert len(folds) == num_folds
    all_val = np.concatenate([val for _, val in folds])
    # Every index in exactly one validation fold.
    np.testing.assert_array_equal(np.sort(all_val), np.arange(num_examples))
    for train, val in folds:
        assert train.dtype == np.int64 and val.dtype == np.int64
        np.testing.assert_array_equal(
            np.sort(np.concatenate([train, val])), np.arange(num_examples)
        )
        assert np.intersect1d(train, val).size == 0
    sizes = [len(val) for _, val in folds]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.parametrize(
    "labels, num_folds",
    [
        (LABELS, 2),
        (LABELS, 3),
        (np.repeat([0, 1], [10, 4]), 4),
        (np.array(["neg", "pos", "pos", "neg", "pos", "neg"]), 3),
    ],
)
def test_stratified_k_fold_properties(labels, num_folds):
    folds = stratified_k_fold(labels, num_folds, seed=0)
    _check_partition(folds, len(labels), num_folds)
    for cls in np.unique(labels):
        ideal = np.sum(labels == cls) / num_folds
        for _, val in folds:
            count = np.sum(labels[val] == cls)
            assert abs(count - ideal) < 1, (cls, count, ideal)


def test_stratified_k_fold_counts_for_known_sizes():
    folds = stratified_k_fold(LABELS, 3, seed=0)
    for cls, size in ((0, 7), (1, 5), (2, 3)):
        counts = sorted(int(np.sum(LABELS[val] == cls)) for _, val in folds)
        # 7 -> 2, 2, 3;  5 -> 1, 2, 2;  3 -> 1, 1, 1.
        expected = {7: [2, 2, 3], 5: [1, 2, 2], 3: [1, 1, 1]}[size]
        assert counts == expected


def test_stratified_k_fold_seed():
    def val_sets(seed):
        return [val.tolist() for _, val in stratified_k_fold(LABELS, 3, seed=seed)]

    assert val_sets(0) == val_sets(0)
    assert val_sets(0) != val_sets(1)


@pytest.mark.parametrize(
    "labels, num_folds, seed, match",
    [
        (LABELS, 1, 0, "num_folds must be an integer >= 2. Received: num_folds=1"),
        (LABELS, 2.0, 0, "num_folds=2.0"),
        (LABELS, True, 0, "num_folds=True"),
        # The smallest class (2) has 3 examples.
        (LABELS, 4, 0, r"smallest class \(3, class 2\).*num_folds=4"),
        (LABELS, 2, -1, "seed=-1"),
        (LABELS.reshape(3, 5), 2, 0, r"labels.shape=\(3, 5\)"),
        ([], 2, 0, "must not be empty"),
        # A missing label is no class: each NaN would be a class of its own.
        ([0, 1, math.nan, 1, 0, math.nan], 2, 0, r"labels\[2\]=nan \(2 missing"),
        (["a", "b", None, "a", "b", "a"], 2, 0, r"missing labels.*labels\[2\]=None"),
    ],
)
def test_stratified_k_fold_rejects_bad_inputs(labels, num_folds, seed, match):
    with pytest.raises(ValueError, match=match):
        stratified_k_fold(labels, num_folds, seed=seed)


@pytest.mark.parametrize("num_examples, num_folds", [(10, 5), (11, 3), (2, 2)])
def test_k_fold_properties(num_examples, num_folds):
    _check_partition(k_fold(num_examples, num_folds, seed=3), num_examples, num_folds)


@pytest.mark.parametrize(
    "num_examples, num_folds, match",
    [(3, 4, "num_examples=3"), (10, 1, "num_folds=1"), (10.0, 2, "num_examples=10.0")],
)
def test_k_fold_rejects_bad_inputs(num_examples, num_folds, match):
    with pytest.raises(ValueError, match=match):
        k_fold(num_examples, num_folds)


# Known per-fold metrics for a fake train-and-evaluate function.
FOLD_ACCURACY = [0.8, 0.9, 0.7]
FOLD_LOSS = [1.0, 2.0, 4.0]


def test_cross_validate_calls_each_fold_and_aggregates():
    calls = []

    def train_and_evaluate(fold_index, train_indices, val_indices):
        calls.append((fold_index, train_indices, val_indices))
        return {
            "accuracy": FOLD_ACCURACY[fold_index],
            "loss": np.float32(FOLD_LOSS[fold_index]),
        }

    result = cross_validate(train_and_evaluate, LABELS, num_folds=3, seed=7)
    expected_folds = stratified_k_fold(LABELS, 3, seed=7)
    assert [c[0] for c in calls] == [0, 1, 2]
    for (_, train, val), (exp_train, exp_val) in zip(calls, expected_folds):
        np.testing.assert_array_equal(train, exp_train)
        np.testing.assert_array_equal(val, exp_val)

    assert result.num_folds == 3
    assert result.metric_names == ("accuracy", "loss")
    # accuracy: mean 2.4 / 3 = 0.8; deviations 0, 0.1, -0.1 ->
    #   sample variance 0.02 / 2 = 0.01, std 0.1.
    # loss: mean 7/3; deviations -4/3, -1/3, 5/3 -> squares sum 42/9,
    #   sample variance 21/9 = 7/3, std sqrt(7/3).
    assert result.mean["accuracy"] == pytest.approx(0.8)
    assert result.std["accuracy"] == pytest.approx(0.1)
    assert result.mean["loss"] == pytest.approx(7 / 3)
    assert result.std["loss"] == pytest.approx(math.sqrt(7 / 3))
    assert result.fold_metrics[2] == pytest.approx({"accuracy": 0.7, "loss": 4.0})


def test_cross_validate_with_num_examples():
    seen = []

    def train_and_evaluate(fold_index, train_indices, val_indices):
        seen.append(val_indices)
        return {"score": float(len(val_indices))}

    result = cross_validate(train_and_evaluate, num_examples=10, num_folds=4)
    # 10 examples over 4 folds: sizes 3, 3, 2, 2 -> mean 2.5.
    assert sorted(len(v) for v in seen) == [2, 2, 3, 3]
    assert result.mean["score"] == pytest.approx(2.5)


@pytest.mark.parametrize(
    "returned, error, match",
    [
        ([{"acc": 1.0}, [0.5]], TypeError, r"fold 1: \[0.5\]"),
        ([{"acc": 1.0}, {"loss": 0.5}], ValueError, r"fold 1 returned \['loss'\]"),
        ([{"acc": "high"}], TypeError, "acc='high'"),
        ([{"acc": [0.1, 0.2]}], TypeError, r"acc=\[0.1, 0.2\]"),
        ([{}], TypeError, r"fold 0: \{\}"),
    ],
)
def test_cross_validate_rejects_bad_metrics(returned, error, match):
    calls = []

    def train_and_evaluate(fold_index, train_indices, val_indices):
        calls.append(fold_index)
        return returned[fold_index]

    with pytest.raises(error, match=match):
        cross_validate(train_and_evaluate, LABELS, num_folds=3)
    # A bad fold stops the run before the next fold trains.
    assert len(calls) == len(returned)


@pytest.mark.parametrize("missing", [math.nan, math.inf])
def test_cross_validate_warns_of_a_non_finite_metric_naming_the_fold(missing):
    def train_and_evaluate(fold_index, train_indices, val_indices):
        return {"accuracy": 0.8, "auc": missing if fold_index == 1 else 0.5}

    with pytest.warns(RuntimeWarning, match=f"Fold 1 .*: auc={missing}") as caught:
        result = cross_validate(train_and_evaluate, LABELS, num_folds=3)
    assert len(caught) == 1
    # Kept, as CrossValidationResult keeps it: the other folds still count.
    assert result.mean["accuracy"] == pytest.approx(0.8)
    assert not math.isfinite(result.mean["auc"])


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"labels": LABELS, "num_examples": 15}, ValueError, "exactly one"),
        ({}, ValueError, "labels=None, num_examples=None"),
        ({"labels": LABELS, "num_folds": 1}, ValueError, "num_folds=1"),
    ],
)
def test_cross_validate_rejects_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        cross_validate(lambda *args: {"x": 1.0}, **kwargs)


def test_cross_validate_rejects_non_callable():
    with pytest.raises(TypeError, match="train_and_evaluate_fn=3"):
        cross_validate(3, LABELS)


def _result():
    return CrossValidationResult(
        [{"accuracy": a, "loss": loss} for a, loss in zip(FOLD_ACCURACY, FOLD_LOSS)]
    )


def test_result_json_round_trip(tmp_path):
    result = _result()
    path = tmp_path / "cv" / "result.json"
    result.to_json(path)
    loaded = json.loads(path.read_text())
    assert loaded == result.to_dict()
    assert loaded["std_ddof"] == 1
    assert loaded["folds"][1] == {
        "fold_index": 1,
        "metrics": {"accuracy": 0.9, "loss": 2.0},
    }
    restored = CrossValidationResult.from_json(path)
    assert restored.to_dict() == result.to_dict()


# A fold that diverged: an infinite loss, which strict JSON cannot hold either.
@pytest.mark.parametrize("missing", [math.nan, math.inf])
def test_result_with_non_finite_metric_writes_null(tmp_path, missing):
    result = CrossValidationResult([{"auc": 0.5}, {"auc": missing}])
    assert not math.isfinite(result.mean["auc"])
    path = tmp_path / "result.json"
    with warnings.catch_warnings():
        # No NumPy warning on the way (an infinity's spread).
        warnings.simplefilter("error")
        result.to_json(path)
    assert json.loads(path.read_text())["mean"] == {"auc": None}
    assert json.loads(path.read_text())["std"] == {"auc": None}
    assert math.isnan(CrossValidationResult.from_json(path).fold_metrics[1]["auc"])


def test_single_fold_std_is_nan():
    result = CrossValidationResult([{"accuracy": 0.5}])
    assert result.mean["accuracy"] == 0.5
    assert math.isnan(result.std["accuracy"])


def test_result_summary_text():
    text = str(_result())
    lines = text.splitlines()
    assert "3 folds" in lines[0] and "sample" in lines[0]
    assert lines[1].split() == ["metric", "mean", "std", "fold", "0", "fold", "1"] + [
        "fold",
        "2",
    ]
    # mean, std, then the folds; std of loss sqrt(7/3) = 1.5275.
    assert lines[2].split() == [
        "accuracy",
        "0.8000",
        "0.1000",
        "0.8000",
        "0.9000",
        "0.7000",
    ]
    assert lines[3].split() == [
        "loss",
        "2.3333",
        "1.5275",
        "1.0000",
        "2.0000",
        "4.0000",
    ]


def test_result_rejects_empty():
    with pytest.raises(ValueError, match=r"fold_metrics=\[\]"):
        CrossValidationResult([])
