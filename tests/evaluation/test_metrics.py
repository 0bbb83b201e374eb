import math
import warnings

import numpy as np
import pytest

from tftransformer.evaluation import (
    ClassificationReport,
    classification_report,
    confusion_matrix,
    roc_auc,
)

# Binary case: 4 cats, 2 dogs.
#   true 0: predicted 0, 0, 1, 1 -> [2, 2];  true 1: predicted 1, 0 -> [1, 1]
BINARY_TRUE = [0, 0, 0, 0, 1, 1]
BINARY_PRED = [0, 0, 1, 1, 1, 0]
# Positive-class scores; thresholding at 0.5 gives BINARY_PRED.
BINARY_SCORE = [0.1, 0.3, 0.6, 0.7, 0.8, 0.2]

# 3-class case, confusion matrix [[2, 1, 0], [0, 1, 1], [2, 0, 2]].
THREE_TRUE = [0, 0, 0, 1, 1, 2, 2, 2, 2]
THREE_PRED = [0, 1, 0, 1, 2, 2, 2, 0, 0]


@pytest.mark.parametrize(
    "y_true, y_pred, num_classes, expected",
    [
        ([0, 0, 1, 2], [0, 1, 1, 2], 3, [[1, 1, 0], [0, 1, 0], [0, 0, 1]]),
        (BINARY_TRUE, BINARY_PRED, 2, [[2, 2], [1, 1]]),
        (THREE_TRUE, THREE_PRED, 3, [[2, 1, 0], [0, 1, 1], [2, 0, 2]]),
        # An absent class keeps its empty row and column.
        ([0, 1], [1, 0], 3, [[0, 1, 0], [1, 0, 0], [0, 0, 0]]),
        ([], [], 2, [[0, 0], [0, 0]]),
    ],
)
def test_confusion_matrix(y_true, y_pred, num_classes, expected):
    np.testing.assert_array_equal(
        confusion_matrix(y_true, y_pred, num_classes), expected
    )


@pytest.mark.parametrize(
    "y_true, y_score, expected",
    [
        # Positives 0.35 (beats 0.1, loses to 0.4) and 0.8 (beats both): 3/4.
        ([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
        ([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], 1.0),
        ([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1], 0.0),
        # Each positive 0.6 beats 0.2 (1) and ties 0.6 (1/2): 2 * 1.5 / 4.
        ([0, 0, 1, 1], [0.2, 0.6, 0.6, 0.6], 0.75),
        # 0.5 ties 0.5 (1/2), beats 0.2 (1); 0.9 beats both (2): 3.5 / 4.
        ([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9], 0.875),
        # Every pair tied: each contributes 1/2.
        ([0, 1, 0, 1], [0.3, 0.3, 0.3, 0.3], 0.5),
        ([False, True], [0.5, 0.5], 0.5),
        # Positives 0.8 (beats 4) and 0.2 (beats 0.1 only): 5 / 8.
        (BINARY_TRUE, BINARY_SCORE, 0.625),
        # Infinite scores rank like any other: inf beats -inf and 0.
        ([0, 0, 1], [-np.inf, 0.0, np.inf], 1.0),
        ([0, 1, 1], [np.inf, np.inf, 0.0], 0.25),
    ],
)
def test_roc_auc_hand_computed(y_true, y_score, expected):
    assert roc_auc(y_true, y_score) == pytest.approx(expected)


@pytest.mark.parametrize("y_true", [[0, 0, 0], [1, 1]])
def test_roc_auc_undefined_without_both_classes_is_nan(y_true):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(roc_auc(y_true, np.linspace(0, 1, len(y_true))))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_roc_auc_matches_pairwise_definition(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, size=60)
    # Few distinct values, so many ties within and across classes.
    y_score = rng.integers(0, 5, size=60) / 4.0
    pos, neg = y_score[y_true == 1], y_score[y_true == 0]
    wins = (pos[:, None] > neg[None, :]).sum() + 0.5 * (
        pos[:, None] == neg[None, :]
    ).sum()
    assert roc_auc(y_true, y_score) == pytest.approx(wins / (len(pos) * len(neg)))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y_true": [0, 1], "y_score": [0.1]}, r"len\(y_true\)=2, len\(y_score\)=1"),
        (
            {"y_true": [0, 2], "y_score": [0.1, 0.2]},
            r"\[0, 2\)\. Received: y_true\[1\]=2$",
        ),
        ({"y_true": [0, 1], "y_score": [[0.1], [0.2]]}, r"y_score.shape=\(2, 1\)"),
        ({"y_true": [0, 1], "y_score": [0.1, np.nan]}, "NaN at indices \\[1\\]"),
        ({"y_true": [0, 0.5], "y_score": [0.1, 0.2]}, r"y_true\[1\]=0.5"),
        ({"y_true": [], "y_score": []}, "at least one example"),
    ],
)
def test_roc_auc_rejects_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        roc_auc(**kwargs)


@pytest.mark.parametrize(
    "y_true, y_pred, num_classes, match",
    [
        ([0, 1, 1], [0, 1], 2, r"len\(y_true\)=3, len\(y_pred\)=2"),
        ([0, 3], [0, 1], 3, r"ids in \[0, 3\)\. Received: y_true\[1\]=3$"),
        ([0, -1], [0, 1], 3, r"Received: y_true\[1\]=-1$"),
        ([[0, 1]], [[0, 1]], 2, r"y_true.shape=\(1, 2\)"),
        (["a", "b"], [0, 1], 2, "dtype"),
        ([0, 1], [0, 1], 0, "num_classes=0"),
        ([0, 1], [0, 1], 2.0, "num_classes=2.0"),
    ],
)
def test_confusion_matrix_rejects_bad_inputs(y_true, y_pred, num_classes, match):
    with pytest.raises(ValueError, match=match):
        confusion_matrix(y_true, y_pred, num_classes)


def _assert_report(report, precision, recall, f1, support, accuracy, macro, weighted):
    np.testing.assert_allclose(report.precision, precision)
    np.testing.assert_allclose(report.recall, recall)
    np.testing.assert_allclose(report.f1, f1)
    np.testing.assert_array_equal(report.support, support)
    assert report.accuracy == pytest.approx(accuracy)
    averages = report.averages
    for kind, expected in (("macro", macro), ("weighted", weighted)):
        got = [averages[kind][k] for k in ("precision", "recall", "f1")]
        np.testing.assert_allclose(got, expected, err_msg=kind)
        assert averages[kind]["support"] == sum(support)


def test_binary_report():
    report = classification_report(BINARY_TRUE, BINARY_PRED)
    np.testing.assert_array_equal(report.confusion_matrix, [[2, 2], [1, 1]])
    _assert_report(
        report,
        # cat: 2 of 3 predicted cats right, 2 of 4 cats found; dog: 1/3, 1/2.
        precision=[2 / 3, 1 / 3],
        recall=[1 / 2, 1 / 2],
        # F1 = 2PR / (P + R): (2/3) / (7/6) = 4/7 and (1/3) / (5/6) = 2/5.
        f1=[4 / 7, 2 / 5],
        support=[4, 2],
        accuracy=3 / 6,
        # Macro: plain means; F1 (4/7 + 2/5) / 2 = 17/35.
        macro=[1 / 2, 1 / 2, 17 / 35],
        # Weighted by support 4 and 2: P (8/3 + 2/3) / 6 = 5/9,
        # F1 (16/7 + 4/5) / 6 = 18/35.
        weighted=[5 / 9, 1 / 2, 18 / 35],
    )
    assert report.roc_auc_per_class is None
    assert report.roc_auc_macro is None


def test_three_class_report():
    report = classification_report(THREE_TRUE, THREE_PRED)
    _assert_report(
        report,
        # Column sums 4, 2, 3; row sums 3, 2, 4; diagonal 2, 1, 2.
        precision=[2 / 4, 1 / 2, 2 / 3],
        recall=[2 / 3, 1 / 2, 2 / 4],
        # (2 * 1/2 * 2/3) / (1/2 + 2/3) = 4/7, twice; class 1: 1/2.
        f1=[4 / 7, 1 / 2, 4 / 7],
        support=[3, 2, 4],
        accuracy=5 / 9,
        # Macro P (1/2 + 1/2 + 2/3) / 3 = 5/9, R the same,
        # F1 (4/7 + 1/2 + 4/7) / 3 = 23/42.
        macro=[5 / 9, 5 / 9, 23 / 42],
        # Weighted P (3/2 + 1 + 8/3) / 9 = 31/54, R = accuracy,
        # F1 (12/7 + 1 + 16/7) / 9 = 5/9.
        weighted=[31 / 54, 5 / 9, 5 / 9],
    )


def test_never_predicted_and_absent_classes_give_zero_without_warnings():
    # Class 1 is present but never predicted; class 3 is neither.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = classification_report(
            [0, 1, 2, 2], [0, 0, 2, 2], label_names=["a", "b", "c", "d"]
        )
        text = str(report)
    _assert_report(
        report,
        precision=[1 / 2, 0.0, 1.0, 0.0],
        recall=[1.0, 0.0, 1.0, 0.0],
        # a: (2 * 1/2 * 1) / (3/2) = 2/3.
        f1=[2 / 3, 0.0, 1.0, 0.0],
        support=[1, 1, 2, 0],
        accuracy=3 / 4,
        # Macro over all four classes: P 1.5/4, R 2/4, F1 (5/3)/4 = 5/12.
        macro=[3 / 8, 1 / 2, 5 / 12],
        # Weighted (1, 1, 2, 0): P (1/2 + 2) / 4, R 3/4, F1 (2/3 + 2) / 4.
        weighted=[5 / 8, 3 / 4, 2 / 3],
    )
    assert "d" in text


@pytest.mark.parametrize(
    "y_true, y_pred",
    [(BINARY_TRUE, BINARY_PRED), (THREE_TRUE, THREE_PRED), ([0, 1, 2, 2], [0] * 4)],
)
def test_micro_average_equals_accuracy(y_true, y_pred):
    report = classification_report(y_true, y_pred)
    # Accuracy = correct / total, worked out independently of the report.
    accuracy = np.mean(np.asarray(y_true) == np.asarray(y_pred))
    for key in ("precision", "recall", "f1"):
        assert report.averages["micro"][key] == pytest.approx(accuracy)


@pytest.mark.parametrize(
    "y_score",
    [
        BINARY_SCORE,
        # (n, 2) probabilities: the positive class is column 1.
        np.stack([1 - np.array(BINARY_SCORE), BINARY_SCORE], axis=1),
    ],
)
def test_binary_report_roc_auc(y_score):
    report = classification_report(BINARY_TRUE, BINARY_PRED, y_score=y_score)
    # 5 of 8 (positive, negative) pairs ordered correctly, see BINARY_SCORE.
    np.testing.assert_allclose(report.roc_auc_per_class, [0.625, 0.625])
    assert report.roc_auc_macro == pytest.approx(0.625)
    assert report.roc_auc_weighted == pytest.approx(0.625)


def test_multiclass_one_vs_rest_roc_auc():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_score = [
        [0.7, 0.2, 0.1],
        [0.3, 0.4, 0.3],
        [0.2, 0.5, 0.3],
        [0.5, 0.2, 0.3],
        [0.1, 0.1, 0.8],
        [0.3, 0.3, 0.4],
        [0.2, 0.2, 0.6],
    ]
    report = classification_report(y_true, np.argmax(y_score, axis=1), y_score)
    # Class 0: positives 0.7, 0.3 vs negatives 0.2, 0.5, 0.1, 0.3, 0.2.
    #   0.7 beats 5; 0.3 beats 3, ties 1 (1/2): 8.5 / 10.
    # Class 1: positives 0.5, 0.2 vs negatives 0.2, 0.4, 0.1, 0.3, 0.2.
    #   0.5 beats 5; 0.2 beats 1, ties 2 (1): 7 / 10.
    # Class 2: positives 0.8, 0.4, 0.6 all beat 0.1, 0.3, 0.3, 0.3: 1.
    np.testing.assert_allclose(report.roc_auc_per_class, [0.85, 0.7, 1.0])
    # Macro (0.85 + 0.7 + 1) / 3; weighted by support (2, 2, 3) / 7.
    assert report.roc_auc_macro == pytest.approx(2.55 / 3)
    assert report.roc_auc_weighted == pytest.approx((1.7 + 1.4 + 3.0) / 7)


def test_roc_auc_of_absent_class_is_nan_and_skipped_in_averages():
    # Class 2 has no positives; classes 0 and 1 are perfectly separated.
    y_score = [[0.9, 0.1, 0.0], [0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        report = classification_report([0, 0, 1, 1], [0, 0, 1, 1], y_score)
    auc = report.roc_auc_per_class
    np.testing.assert_allclose(auc[:2], [1.0, 1.0])
    assert math.isnan(auc[2])
    assert report.roc_auc_macro == 1.0
    assert report.roc_auc_weighted == 1.0
    assert report.to_dict()["roc_auc"]["per_class"]["2"] is None


def test_num_classes_inference():
    assert classification_report([0, 0], [0, 0]).num_classes == 2
    assert classification_report([0, 1], [0, 4]).num_classes == 5
    assert classification_report([0, 1], [0, 1], np.ones((2, 4))).num_classes == 4
    report = classification_report([0, 1], [0, 1], label_names=["x", "y", "z"])
    assert report.label_names == ("x", "y", "z")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"y_true": [0, 1, 1], "y_pred": [0, 1]}, r"len\(y_true\)=3"),
        ({"y_true": [0, 5], "y_pred": [0, 1], "label_names": "ab"}, r"y_true\[1\]=5$"),
        ({"y_true": [], "y_pred": []}, "at least one example"),
        ({"y_true": [0, 1], "y_pred": [0, 1], "label_names": ["a"]}, "num_classes=1"),
        (
            {"y_true": [0, 1], "y_pred": [0, 1], "label_names": ["a", "a"]},
            r"distinct.*\['a', 'a'\]",
        ),
        (
            {"y_true": [0, 1], "y_pred": [0, 1], "y_score": [0.1, 0.2, 0.3]},
            r"len\(y_true\)=2, y_score.shape=\(3,\)",
        ),
        (
            {"y_true": [0, 2], "y_pred": [0, 1], "y_score": [0.1, 0.2]},
            r"num_classes=3, y_score.shape=\(2,\)",
        ),
        (
            {
                "y_true": [0, 1],
                "y_pred": [0, 1],
                "y_score": np.ones((2, 3)),
                "label_names": ["a", "b"],
            },
            r"y_score.shape=\(2, 3\)",
        ),
        (
            {
                "y_true": [0, 2],
                "y_pred": [0, 1],
                "y_score": np.ones((2, 4)),
                "label_names": "abc",
            },
            r"y_score.shape=\(2, 4\)",
        ),
        (
            {"y_true": [0, 1], "y_pred": [0, 1], "y_score": np.ones((2, 2, 1))},
            r"y_score.shape=\(2, 2, 1\)",
        ),
    ],
)
def test_classification_report_rejects_bad_inputs(kwargs, match):
    with pytest.raises(ValueError, match=match):
        classification_report(**kwargs)


def test_report_function_returns_report_class():
    assert isinstance(classification_report([0, 1], [0, 1]), ClassificationReport)
