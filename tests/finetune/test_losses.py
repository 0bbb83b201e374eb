import math

import keras
import numpy as np
import pytest

from tftransformer.finetune import (
    SmoothedSparseCategoricalCrossentropy,
    class_weights,
    classification_loss,
)

# softmax([0, 0, ln 2]) = [1, 1, 2] / 4 = [0.25, 0.25, 0.5]
LOGITS = np.array([[0.0, 0.0, math.log(2.0)], [0.0, 0.0, math.log(2.0)]], "float32")
LABELS = np.array([2, 0])
LN2 = math.log(2.0)


@pytest.mark.parametrize(
    "label_smoothing, expected",
    [
        # No smoothing: (-ln 0.5 - ln 0.25) / 2 = (ln 2 + 2 ln 2) / 2.
        (0.0, 1.5 * LN2),
        # e = 0.3, K = 3: targets 0.7 + 0.1 = 0.8 for the label, 0.1 elsewhere.
        # Label 2: -(0.1 ln .25 + 0.1 ln .25 + 0.8 ln .5) = 0.4 ln2 + 0.8 ln2 = 1.2 ln2
        # Label 0: -(0.8 ln .25 + 0.1 ln .25 + 0.1 ln .5) = 1.8 ln2 + 0.1 ln2 = 1.9 ln2
        # Mean: 1.55 ln 2.
        (0.3, 1.55 * LN2),
    ],
)
@pytest.mark.parametrize("label_shape", [(2,), (2, 1)])
def test_classification_loss_values(label_smoothing, expected, label_shape):
    loss = classification_loss(label_smoothing)
    value = float(loss(LABELS.reshape(label_shape), LOGITS))
    np.testing.assert_allclose(value, expected, rtol=1e-5)


@pytest.mark.parametrize(
    "label_smoothing, expected_class",
    [
        (0.0, keras.losses.SparseCategoricalCrossentropy),
        (0.1, SmoothedSparseCategoricalCrossentropy),
    ],
)
def test_classification_loss_class(label_smoothing, expected_class):
    loss = classification_loss(label_smoothing)
    assert type(loss) is expected_class
    assert loss.get_config()["from_logits"] is True


def test_smoothed_loss_config_round_trip():
    loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.3, name="smooth")
    config = loss.get_config()
    assert config == {
        "label_smoothing": 0.3,
        "from_logits": True,
        "reduction": "sum_over_batch_size",
        "name": "smooth",
    }
    revived = keras.losses.deserialize(keras.losses.serialize(loss))
    assert isinstance(revived, SmoothedSparseCategoricalCrossentropy)
    assert revived.get_config() == config
    np.testing.assert_allclose(float(revived(LABELS, LOGITS)), 1.55 * LN2, rtol=1e-5)


@pytest.mark.parametrize("label_smoothing", [-0.1, 1.0, "0.1"])
def test_invalid_label_smoothing_is_rejected(label_smoothing):
    with pytest.raises(ValueError, match=f"label_smoothing={label_smoothing!r}"):
        classification_loss(label_smoothing)
    with pytest.raises(ValueError, match=f"label_smoothing={label_smoothing!r}"):
        SmoothedSparseCategoricalCrossentropy(label_smoothing)


def test_from_logits_must_be_a_bool():
    # A truthy string would read probabilities as logits.
    with pytest.raises(ValueError, match="from_logits='no'"):
        SmoothedSparseCategoricalCrossentropy(0.1, from_logits="no")


@pytest.mark.parametrize(
    "labels, num_classes, expected",
    [
        # n = 4: 4 / (2 * 3) and 4 / (2 * 1).
        ([0, 0, 0, 1], 2, {0: 2 / 3, 1: 2.0}),
        # Balanced: 4 / (2 * 2) = 1 for both.
        ([0, 1, 0, 1], 2, {0: 1.0, 1: 1.0}),
        # Class 2 has no example: weight 0. n = 4: 4 / (3 * 3), 4 / (3 * 1).
        ([0, 0, 0, 1], 3, {0: 4 / 9, 1: 4 / 3, 2: 0.0}),
        # Any shape, float labels holding ints: n = 6, 6 / (2 * 2), 6 / (2 * 4).
        (np.array([[1.0, 1.0, 0.0], [1.0, 0.0, 1.0]]), 2, {0: 1.5, 1: 0.75}),
    ],
)
def test_class_weights(labels, num_classes, expected):
    weights = class_weights(labels, num_classes)
    assert sorted(weights) == sorted(expected)
    for c, weight in expected.items():
        assert weights[c] == pytest.approx(weight, rel=1e-12)


@pytest.mark.parametrize(
    "labels, num_classes, message",
    [
        ([0, 1], 0, "num_classes=0"),
        ([], 2, "must not be empty"),
        ([0, 2], 2, r"labels must be in \[0, 2\)"),
        ([-1, 0], 2, r"labels must be in \[0, 2\)"),
        ([0.5, 1.0], 2, "integer class ids"),
        # An infinite label was cast to a garbage class id.
        ([np.inf, 1.0], 2, r"integer class ids\. Received: labels\[0\]=inf"),
    ],
)
def test_class_weights_rejects_bad_input(labels, num_classes, message):
    with pytest.raises(ValueError, match=message):
        class_weights(labels, num_classes)
