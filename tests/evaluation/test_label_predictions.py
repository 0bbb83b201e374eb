"""`predict_labels`: a classifier's labels for raw texts, as its export answers."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_text_classifier import tiny_backbone, tiny_preprocessor
from tftransformer.evaluation import predict_labels
from tftransformer.export.multi_label_serving_module import MultiLabelServingModule
from tftransformer.export.text_classifier_serving_module import (
    TextClassifierServingModule,
)
from tftransformer.models import MultiLabelClassifier, TextClassifier, TextRegressor

TEXTS = ["the movie was great", "awful", "a fine film", "a dull mess the movie was"]
PAIRS = ["the movie", "great", "a dull film", "was awful"]
NAMES = ["negative", "neutral", "positive"]


def softmax(logits):
    exp = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)


def decoded(values):
    return [value.decode() for value in np.asarray(values).ravel()]


def trained(model, y):
    """`model` fitted to `y` on `TEXTS`: a random tiny model gives every text
    nearly the same outputs, so every text would get the same labels."""
    keras.utils.set_random_seed(0)
    model.compile(optimizer=keras.optimizers.Adam(3e-2))
    model.fit(TEXTS, np.asarray(y), batch_size=4, epochs=15, verbose=0)
    return model


@pytest.fixture(scope="module")
def classifier():
    model = TextClassifier(
        tiny_backbone(),
        num_classes=3,
        preprocessor=tiny_preprocessor(),
        label_names=NAMES,
        temperature=2.0,
    )
    return trained(model, [2, 0, 1, 0])


@pytest.fixture(scope="module")
def multi_label():
    model = MultiLabelClassifier(
        tiny_backbone(),
        num_labels=3,
        preprocessor=tiny_preprocessor(),
        label_names=NAMES,
        temperature=0.5,
        thresholds=[0.3, 0.5, 0.7],
    )
    return trained(model, [[0, 1, 1], [1, 0, 0], [0, 1, 0], [1, 1, 0]])


@pytest.mark.parametrize("x", [TEXTS, (TEXTS, PAIRS)], ids=["texts", "pairs"])
def test_labels_and_probabilities_are_the_tempered_softmax(classifier, x):
    result = predict_labels(classifier, x, batch_size=3)
    logits = classifier.predict(x, verbose=0)
    if x is TEXTS:
        # Fitted: the texts do not all get the same label.
        assert len(set(result["label"])) > 1
    np.testing.assert_allclose(
        result["probabilities"], softmax(logits / 2.0), atol=1e-6
    )
    assert result["probabilities"].dtype == np.float32
    assert result["label_id"].dtype == np.int64
    np.testing.assert_array_equal(result["label_id"], logits.argmax(axis=-1))
    assert result["label"] == [NAMES[i] for i in logits.argmax(axis=-1)]


def test_single_label_answers_equal_the_serving_export(classifier):
    result = predict_labels(classifier, TEXTS)
    module = TextClassifierServingModule(classifier, classifier.preprocessor, NAMES)
    served = module.serve(tf.constant(TEXTS))
    assert result["label"] == decoded(served["label"])
    np.testing.assert_array_equal(result["label_id"], served["label_id"])
    np.testing.assert_allclose(
        result["probabilities"], served["probabilities"], atol=1e-6
    )


def test_multi_label_answers_equal_the_serving_export(multi_label):
    result = predict_labels(multi_label, TEXTS)
    logits = multi_label.predict(TEXTS, verbose=0)
    probabilities = 1 / (1 + np.exp(-logits / 0.5))
    np.testing.assert_allclose(result["probabilities"], probabilities, atol=1e-6)
    predicted = probabilities >= np.array([0.3, 0.5, 0.7])
    np.testing.assert_array_equal(result["predicted"], predicted)
    # The fitted label sets: different texts, different sets.
    assert len({tuple(labels) for labels in result["labels"]}) > 1
    assert result["labels"] == [
        [name for name, on in zip(NAMES, row) if on] for row in predicted
    ]
    module = MultiLabelServingModule(multi_label, multi_label.preprocessor, NAMES)
    served = module.serve(tf.constant(TEXTS))
    np.testing.assert_array_equal(result["predicted"], served["predicted"])
    assert result["labels"] == [
        [name.decode() for name in row if name] for row in served["labels"].numpy()
    ]


def test_label_ids_name_the_classes_of_a_model_without_names():
    model = TextClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    result = predict_labels(model, TEXTS)
    assert set(result["label"]) <= {"0", "1"}
    assert result["label"] == [str(i) for i in result["label_id"]]


def test_no_texts_give_empty_answers(classifier, multi_label):
    result = predict_labels(classifier, [])
    assert result["label"] == [] and result["probabilities"].shape == (0, 3)
    assert predict_labels(multi_label, [])["labels"] == []


@pytest.mark.parametrize(
    "build, kwargs, message",
    [
        (
            lambda: TextRegressor(tiny_backbone(), 1, preprocessor=tiny_preprocessor()),
            {},
            "predict_targets",
        ),
        (lambda: TextClassifier(tiny_backbone(), 2), {}, "preprocessor"),
        (
            lambda: TextClassifier(
                tiny_backbone(), 2, preprocessor=tiny_preprocessor()
            ),
            {"batch_size": 0},
            "batch_size=0",
        ),
    ],
    ids=["regressor", "no-preprocessor", "batch-size"],
)
def test_bad_models_and_arguments_are_refused(build, kwargs, message):
    with pytest.raises(ValueError, match=message):
        predict_labels(build(), TEXTS, **kwargs)
