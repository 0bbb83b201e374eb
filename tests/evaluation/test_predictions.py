import numpy as np
import pytest

from tftransformer.evaluation import (
    evaluate_classifier,
    evaluate_multi_label_classifier,
    evaluate_regressor,
    logits_to_probabilities,
    predict_labels,
    roc_auc,
)
from tftransformer.testing import identity_logits_model


@pytest.mark.parametrize(
    "logits, expected",
    [
        # softmax([0, ln 3]) = [1/4, 3/4]
        (np.array([[0.0, np.log(3.0)]]), np.array([[0.25, 0.75]])),
        # sigmoid(0) = 1/2 for a single logit, either shape
        (np.array([0.0]), np.array([[0.5, 0.5]])),
        (np.array([[np.log(3.0)]]), np.array([[0.25, 0.75]])),
    ],
)
def test_logits_to_probabilities(logits, expected):
    np.testing.assert_allclose(logits_to_probabilities(logits), expected, atol=1e-6)


def test_logits_to_probabilities_refuses_strings_and_keeps_nan_visible():
    with pytest.raises(ValueError, match=r"logits must be an array of real numbers"):
        logits_to_probabilities(["a", "b"])
    # A diverged model's NaN row stays NaN rather than a confident class.
    probabilities = logits_to_probabilities([[np.nan, 0.0], [0.0, 0.0]])
    assert np.isnan(probabilities[0]).all()
    np.testing.assert_allclose(probabilities[1], [0.5, 0.5])


def test_evaluate_classifier_on_a_fixed_model():
    model = identity_logits_model(2)  # the logits are the inputs
    x = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], "float32")
    report, probabilities = evaluate_classifier(model, x, [0, 1, 1], ["neg", "pos"])
    # Predictions 0, 1, 0 against truth 0, 1, 1: two right out of three.
    assert report.accuracy == pytest.approx(2 / 3)
    assert probabilities.shape == (3, 2)
    with pytest.raises(ValueError, match="2 labels"):
        evaluate_classifier(model, x, [0, 1])


@pytest.mark.parametrize(
    "y_true, label_names, message",
    [
        (
            [0, 1],
            ["a", "b", "c"],
            r"label_names has 3 names but the model outputs 2 classes\. "
            r"Received: label_names=\['a', 'b', 'c'\]",
        ),
        ([0, 1], "ab", r"label_names must be a list of names.*label_names='ab'"),
        (
            [0, 2],
            None,
            r"class ids in \[0, 2\): the model outputs 2 classes\. "
            r"Received: y_true\[1\]=2$",
        ),
        # One-hot rows would be flattened into twice as many labels.
        ([[1, 0], [0, 1]], None, r"y_true must be a 1-D array.*shape=\(2, 2\)"),
    ],
)
def test_evaluate_classifier_refuses_bad_input(y_true, label_names, message):
    x = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")
    with pytest.raises(ValueError, match=message):
        evaluate_classifier(identity_logits_model(2), x, y_true, label_names)


def test_evaluate_classifier_takes_a_column_of_class_ids():
    x = np.array([[2.0, 0.0], [0.0, 2.0]], "float32")
    report, _ = evaluate_classifier(identity_logits_model(2), x, np.array([[0], [1]]))
    assert report.accuracy == 1.0


@pytest.mark.parametrize("num_classes", [2, 3])
def test_roc_auc_keeps_the_order_of_confident_predictions(num_classes):
    # Class 1 wins every example, by logit margins of 19 to 40: its float32
    # probabilities are all 1.0 (the float64 ones from about 37). The
    # examples of class 1 have the larger margins, so its AUC is 1.
    margins = np.array([19.0, 20.0, 21.0, 22.0, 38.0, 40.0])
    y_true = np.array([0, 0, 0, 1, 1, 1])
    x = np.zeros((6, num_classes), "float32")
    x[:, 1] = margins
    report, probabilities = evaluate_classifier(
        identity_logits_model(num_classes), x, y_true
    )
    assert np.all(probabilities[:, 1] == 1.0)
    assert report.roc_auc_per_class[1] == pytest.approx(1.0)


@pytest.mark.parametrize("num_classes", [1, 2, 4])
def test_roc_auc_equals_that_of_the_probabilities_without_ties(num_classes):
    rng = np.random.default_rng(0)
    x = rng.normal(scale=3.0, size=(200, num_classes)).astype("float32")
    y_true = rng.integers(0, max(num_classes, 2), size=200)
    report, _ = evaluate_classifier(identity_logits_model(num_classes), x, y_true)
    probabilities = np.asarray(x, "float64")
    if num_classes == 1:
        probabilities = np.concatenate([-probabilities, probabilities], axis=-1)
    probabilities = np.exp(probabilities) / np.exp(probabilities).sum(-1, keepdims=True)
    expected = [
        roc_auc(y_true == c, probabilities[:, c]) for c in range(probabilities.shape[1])
    ]
    np.testing.assert_allclose(report.roc_auc_per_class, expected, rtol=1e-12)


TEXTS = ["a fine film", "dull"]


@pytest.mark.parametrize(
    "kind, call, evaluator",
    [
        # An embedding's dimensions were read as class scores.
        ("embedder", lambda m: evaluate_classifier(m, TEXTS, [0, 1]), "retrieval"),
        ("embedder", lambda m: predict_labels(m, TEXTS), "retrieval"),
        # Sigmoid logits under a softmax, targets as class scores.
        (
            "multi_label",
            lambda m: evaluate_classifier(m, TEXTS, [0, 1]),
            "evaluate_multi_label_classifier",
        ),
        (
            "regressor",
            lambda m: evaluate_classifier(m, TEXTS, [0, 1]),
            "evaluate_regressor",
        ),
        ("regressor", lambda m: predict_labels(m, TEXTS), "evaluate_regressor"),
        # A 3-class classifier's logits as the sigmoid logits of 3 labels,
        # and as 3 targets.
        (
            "classifier",
            lambda m: evaluate_multi_label_classifier(m, TEXTS, [[0, 1, 0]] * 2),
            "evaluate_classifier",
        ),
        (
            "classifier",
            lambda m: evaluate_regressor(m, TEXTS, [[0.0, 1.0, 2.0]] * 2),
            "evaluate_classifier",
        ),
    ],
)
def test_the_other_task_models_are_refused_naming_their_evaluation(
    task_models, kind, call, evaluator
):
    model = task_models[kind]
    with pytest.raises(
        ValueError,
        match=rf"takes a .*; a {type(model).__name__} predicts .*{evaluator}.*"
        rf"Received: model '{model.name}'$",
    ):
        call(model)
