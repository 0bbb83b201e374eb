import keras
import numpy as np
import pytest

from tftransformer.evaluation import evaluate_classifier, logits_to_probabilities


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


def test_evaluate_classifier_on_a_fixed_model():
    # Dense with identity kernel: the logits are the inputs themselves.
    inputs = keras.Input((2,))
    model = keras.Model(
        inputs, keras.layers.Dense(2, kernel_initializer="identity")(inputs)
    )
    x = np.array([[2.0, 0.0], [0.0, 2.0], [2.0, 0.0]], "float32")
    report, probabilities = evaluate_classifier(model, x, [0, 1, 1], ["neg", "pos"])
    # Predictions 0, 1, 0 against truth 0, 1, 1: two right out of three.
    assert report.accuracy == pytest.approx(2 / 3)
    assert probabilities.shape == (3, 2)
    with pytest.raises(ValueError, match="2 labels"):
        evaluate_classifier(model, x, [0, 1])
