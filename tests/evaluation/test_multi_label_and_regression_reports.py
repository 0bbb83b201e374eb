"""Multi-label and regression metrics against values worked out by hand."""

import math

import numpy as np
import pytest

from tftransformer.evaluation import (
    MultiLabelReport,
    RegressionReport,
    evaluate_multi_label_classifier,
    plot_predicted_vs_true,
    spearman_correlation,
    tune_thresholds,
)
from tftransformer.testing import identity_logits_model

Y_TRUE = np.array([[1, 0, 1], [0, 1, 0], [1, 1, 0], [0, 0, 0]])
Y_PRED = np.array([[1, 0, 0], [0, 1, 1], [1, 0, 0], [0, 0, 0]])


def test_multi_label_metrics_by_hand():
    report = MultiLabelReport(Y_TRUE, Y_PRED, label_names=["a", "b", "c"])
    per_label = report.per_label
    # a: 2 of 2 right; b: tp 1, fn 1; c: tp 0, fp 1, fn 1.
    np.testing.assert_allclose(per_label["precision"], [1.0, 1.0, 0.0])
    np.testing.assert_allclose(per_label["recall"], [1.0, 0.5, 0.0])
    np.testing.assert_array_equal(per_label["support"], [2, 2, 1])
    averages = report.averages
    # Pooled: tp 3, predicted 4, true 5.
    assert averages["micro"]["precision"] == pytest.approx(3 / 4)
    assert averages["micro"]["recall"] == pytest.approx(3 / 5)
    assert averages["macro"]["f1"] == pytest.approx((1 + 2 / 3 + 0) / 3)
    # Per example F1: 2/3, 2/3, 2/3 and 1 (both sets empty).
    assert averages["samples"]["f1"] == pytest.approx((3 * 2 / 3 + 1) / 4)
    assert report.subset_accuracy == pytest.approx(1 / 4)
    assert report.hamming_loss == pytest.approx(3 / 12)


def test_roc_auc_per_label_is_nan_without_negatives():
    y_true = np.array([[1, 1], [0, 1], [1, 1]])
    scores = np.array([[0.9, 0.2], [0.1, 0.4], [0.8, 0.5]])
    report = MultiLabelReport(y_true, scores > 0.5, y_score=scores)
    assert report.roc_auc_per_label[0] == 1.0
    assert math.isnan(report.roc_auc_per_label[1])
    assert report.roc_auc_macro == 1.0
    assert report.to_dict()["roc_auc"]["per_label"]["1"] is None
    assert "subset accuracy" in report.format()


def test_thresholds_maximize_f1_per_label_and_globally():
    y_true = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    # Label 0 is separated at 0.3; label 1 at 0.7.
    probabilities = np.array([[0.35, 0.1], [0.4, 0.8], [0.2, 0.75], [0.25, 0.6]])
    thresholds = tune_thresholds(y_true, probabilities)
    assert 0.25 < thresholds[0] <= 0.35
    assert 0.6 < thresholds[1] <= 0.75
    (single,) = set(tune_thresholds(y_true, probabilities, per_label=False))
    assert thresholds != [single, single]
    # A label with no positive keeps the global threshold.
    y_true[:, 1] = 0
    assert (
        tune_thresholds(y_true, probabilities)[1]
        == tune_thresholds(y_true, probabilities, per_label=False)[1]
    )


def test_regression_metrics_by_hand(tmp_path):
    report = RegressionReport(
        [[1.0, 0.0], [2.0, 0.0], [3.0, 1.0]],
        [[1.0, 0.5], [3.0, 0.5], [2.0, 0.5]],
        ["x", "flat"],
    )
    np.testing.assert_allclose(report.rmse, [math.sqrt(2 / 3), 0.5])
    np.testing.assert_allclose(report.mae, [2 / 3, 0.5])
    assert report.pearson[0] == pytest.approx(0.5)
    assert report.spearman[0] == pytest.approx(0.5)
    # A constant prediction has no correlation: NaN, None in JSON.
    assert report.to_dict()["per_target"]["flat"]["pearson"] is None
    pytest.importorskip("matplotlib")
    path = plot_predicted_vs_true(report, tmp_path / "p.png")
    assert path.read_bytes()[:4] == b"\x89PNG"


def test_spearman_gives_ties_their_average_rank():
    # Ranks (0.5, 0.5, 2) against (0, 1, 2).
    assert spearman_correlation([1, 1, 5], [1, 2, 3]) == pytest.approx(0.8660254)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: MultiLabelReport([[1, 0]], [[1]]), r"y_pred must have shape \(1, 2\)"),
        (lambda: MultiLabelReport([[2, 0]], [[1, 0]]), "y_true must hold 0 or 1"),
        (lambda: RegressionReport([1.0, 2.0], [1.0]), "same shape"),
        (
            lambda: RegressionReport([1.0], [np.inf]),
            r"y_pred must be finite\. Received: y_pred\[0, 0\]=inf",
        ),
        (lambda: tune_thresholds([[1, 0]], [[0.5]]), "same shape|both have shape"),
        (
            lambda: tune_thresholds([[1, 0], [0, 1]], [[np.nan, 0.5], [0.5, 0.5]]),
            r"probabilities must be in \[0, 1\] \(sigmoid outputs, not logits\)\. "
            r"Received: probabilities\[0, 0\]=nan",
        ),
        (
            lambda: tune_thresholds([[1, 0], [0, 1]], [[0.5, 0.5], [3.0, 0.5]]),
            r"probabilities\[1, 0\]=3\.0",
        ),
        (
            lambda: tune_thresholds([[2, 0], [0, 1]], [[0.3, 0.5], [0.5, 0.5]]),
            r"y_true must hold 0 or 1\. Received: y_true\[0, 0\]=2",
        ),
        (
            lambda: tune_thresholds(np.zeros((0, 2)), np.zeros((0, 2))),
            r"at least one example\. Received: y_true\.shape=\(0, 2\)",
        ),
        (
            lambda: spearman_correlation([1, 2], [1, 2, 3]),
            r"same length.*x\.shape=\(2,\), y\.shape=\(3,\)",
        ),
        (
            lambda: spearman_correlation([[1, 2]], [[1, 2]]),
            r"1-D.*x\.shape=\(1, 2\)",
        ),
        (lambda: spearman_correlation([], []), "at least one value"),
        (
            lambda: spearman_correlation([1, np.nan, 3], [1, 2, 3]),
            r"x must be finite\. Received: x\[1\]=nan",
        ),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


@pytest.mark.parametrize(
    "thresholds, y_true, message",
    [
        # One threshold for two labels would be broadcast to both.
        ([0.5], [[1, 0]], r"one value per label \(2\)\. Received: thresholds=\[0\.5\]"),
        ([5.0, 0.5], [[1, 0]], r"thresholds must be in \[0, 1\]\. Received: "),
        ([0.5, np.nan], [[1, 0]], r"thresholds\[1\]=nan"),
        (None, [[1, 2]], r"y_true\[0, 1\]=2"),
        (None, [1, 0], r"y_true must have shape \(num_examples, num_labels\)"),
    ],
)
def test_evaluate_multi_label_classifier_refuses_bad_input(thresholds, y_true, message):
    with pytest.raises(ValueError, match=message):
        evaluate_multi_label_classifier(
            identity_logits_model(2),
            np.zeros((1, 2), "float32"),
            y_true,
            thresholds=thresholds,
        )


def test_evaluate_multi_label_classifier_applies_one_threshold_per_label():
    x = np.array([[0.5, 0.5], [-0.5, 2.0]], "float32")  # sigmoid 0.62, 0.38, 0.88
    # Row 0 is (1, 0) at (0.6, 0.9), right; row 1 misses label 1 at 0.9.
    report, _ = evaluate_multi_label_classifier(
        identity_logits_model(2), x, [[1, 0], [0, 1]], thresholds=[0.6, 0.9]
    )
    assert report.to_dict()["thresholds"] == {"0": 0.6, "1": 0.9}
    assert report.to_dict()["subset_accuracy"] == pytest.approx(0.5)
