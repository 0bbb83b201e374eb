import keras
import numpy as np
import pytest

from tftransformer.evaluation import SparseF1Score, classification_report

# 4 classes, class 3 never true and never predicted: its F1 is 0 in the
# macro average, as in the report.
RNG = np.random.default_rng(0)
LABELS = RNG.integers(0, 3, size=40)
LOGITS = RNG.normal(size=(40, 4)).astype("float32")
LOGITS[:, 3] -= 10.0


def _report(labels, logits):
    names = "abcd"[: logits.shape[-1]]
    return classification_report(labels, logits.argmax(-1), label_names=names)


@pytest.mark.parametrize("average", ["macro", "weighted", "micro", None])
def test_the_f1_is_the_reports(average):
    metric = SparseF1Score(4, average=average)
    # Two batches, labels of shape (texts,) then (texts, 1).
    metric.update_state(LABELS[:25], LOGITS[:25])
    metric.update_state(LABELS[25:, None], LOGITS[25:])
    report = _report(LABELS, LOGITS)
    expected = report.f1 if average is None else report.averages[average]["f1"]
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)
    metric.reset_state()
    metric.update_state(LABELS[:5], LOGITS[:5])
    expected = _report(LABELS[:5], LOGITS[:5])
    expected = expected.f1 if average is None else expected.averages[average]["f1"]
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)


def test_weights_and_packed_rows_count_only_their_texts():
    # Packed rows: labels (rows, slots), scores (rows, slots, classes), and
    # Keras' mask of the empty slots as the sample weight.
    mask = np.ones(40, "float32")
    mask[::3] = 0.0
    metric = SparseF1Score(4)
    metric.update_state(
        LABELS.reshape(8, 5), LOGITS.reshape(8, 5, 4), mask.reshape(8, 5)
    )
    kept = mask == 1
    expected = _report(LABELS[kept], LOGITS[kept]).averages["macro"]["f1"]
    np.testing.assert_allclose(metric.result(), expected, rtol=1e-5, atol=1e-6)


def test_a_model_logs_it_and_it_round_trips():
    metric = SparseF1Score(3, name="macro_f1")
    config = metric.get_config()
    assert config == {
        "name": "macro_f1",
        "dtype": "float32",
        "average": "macro",
        "num_classes": 3,
    }
    revived = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(revived) is SparseF1Score and revived.get_config() == config
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[metric],
    )
    x = RNG.normal(size=(12, 2)).astype("float32")
    y = RNG.integers(0, 3, size=12)
    logs = model.evaluate(x, y, batch_size=5, return_dict=True, verbose=0)
    expected = _report(y, model.predict(x, verbose=0)).averages["macro"]["f1"]
    np.testing.assert_allclose(logs["macro_f1"], expected, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"num_classes": 2.0}, "num_classes=2.0"),
        ({"num_classes": 2, "average": "binary"}, "average='binary'"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SparseF1Score(**kwargs)
