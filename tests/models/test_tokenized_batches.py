"""In-memory raw texts are tokenized once, each batch cut to its longest row."""

import gc
import logging
import weakref

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_text_classifier import tiny_backbone, tiny_preprocessor
from tftransformer.models import TextClassifier, TextEmbedder, _task_base
from tftransformer.models._task_base import _in_order

# Two batches of two: the first's longest row is 5 tokens, the second's 8.
TEXTS = ["awful", "a fine film", "the movie was great", "a dull mess the movie was"]
PAIRS = ["the movie", "great", "a dull film", "was awful"]
LABELS = np.array([0, 1, 1, 0])


def classifier(**kwargs):
    keras.utils.set_random_seed(0)
    return TextClassifier(
        tiny_backbone(),
        num_classes=2,
        preprocessor=tiny_preprocessor(pad_to_multiple_of=None),
        **kwargs,
    )


def test_batches_carry_the_preprocessors_features_cut_to_each_batch():
    model = classifier()
    features, per_batch = model._in_memory_inputs(TEXTS)
    batches = list(_in_order(features, batch_size=2, per_batch=per_batch))
    assert [int(batch["token_ids"].shape[1]) for batch in batches] == [5, 8]
    for start, batch in zip((0, 2), batches):
        expected = model.preprocessor(TEXTS[start : start + 2])
        for key, value in expected.items():
            np.testing.assert_array_equal(batch[key], value, err_msg=key)


class ArrayLike:
    """A column of texts as a data frame library holds it (`__array__`)."""

    def __init__(self, texts):
        self.texts = texts

    def __array__(self, dtype=None, copy=None):
        return np.array(self.texts, dtype=object)


@pytest.mark.parametrize(
    "x",
    [TEXTS, np.array(TEXTS), tf.constant(TEXTS), ArrayLike(TEXTS), (TEXTS, PAIRS)],
    ids=["list", "array", "tensor", "array-like", "pairs"],
)
def test_predictions_equal_the_per_batch_pipeline(x, monkeypatch):
    model = classifier()
    assert _task_base._text_tensors(x) is not None
    once = model.predict(x, batch_size=2, verbose=0)
    monkeypatch.setattr(_task_base, "TOKENIZE_AT_ONCE", 0)
    assert model._in_memory_inputs(x) == (x, None)
    np.testing.assert_allclose(
        model.predict(x, batch_size=2, verbose=0), once, rtol=1e-6, atol=1e-6
    )


def _as_numpy(x):
    if isinstance(x, tuple):
        return tuple(_as_numpy(part) for part in x)
    return np.asarray(x).astype(object)


@pytest.mark.parametrize(
    "x, batch",
    [
        (tuple(TEXTS), TEXTS),
        (np.array(TEXTS)[:, None], TEXTS),
        (tf.constant(TEXTS)[:, None], [text.encode() for text in TEXTS]),
        (ArrayLike([[text] for text in TEXTS]), TEXTS),
        ((np.array(TEXTS)[:, None], np.array(PAIRS)[:, None]), (TEXTS, PAIRS)),
    ],
    ids=["tuple", "column", "tensor-column", "frame-column", "pair-columns"],
)
def test_a_tuple_or_a_column_of_texts_is_the_batch_it_holds(x, batch):
    # `zip(*rows)` gives a tuple of texts; `df[["text"]].to_numpy()` a
    # column of shape (texts, 1). Keras took neither.
    as_batch = classifier()._in_memory_x(x)
    assert _task_base._text_tensors(as_batch) is not None
    if isinstance(batch, tuple):
        for part, expected in zip(as_batch, batch, strict=True):
            np.testing.assert_array_equal(_as_numpy(part), _as_numpy(expected))
    else:
        np.testing.assert_array_equal(_as_numpy(as_batch), _as_numpy(batch))


def test_a_tuple_of_texts_predicts_trains_and_validates(monkeypatch):
    model = classifier()
    expected = model.predict(TEXTS, batch_size=2, verbose=0)
    scores = model.evaluate(TEXTS, LABELS, batch_size=2, verbose=0)
    np.testing.assert_allclose(
        model.predict(tuple(TEXTS), batch_size=2, verbose=0),
        expected,
        rtol=1e-6,
        atol=1e-6,
    )
    np.testing.assert_allclose(
        model.evaluate(tuple(TEXTS), LABELS, batch_size=2, verbose=0),
        scores,
        rtol=1e-6,
    )
    # A tuple of one empty text is one text, not a batch of none.
    assert model.predict(("",), verbose=0).shape == (1, 2)
    history = model.fit(
        tuple(TEXTS),
        LABELS,
        batch_size=2,
        validation_data=(tuple(TEXTS), LABELS),
        epochs=1,
        verbose=0,
    )
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    # keras-hub's pipeline, batch by batch, takes a tuple too.
    monkeypatch.setattr(_task_base, "TOKENIZE_AT_ONCE", 0)
    expected = model.predict(TEXTS, batch_size=2, verbose=0)
    np.testing.assert_allclose(
        model.predict(tuple(TEXTS), batch_size=2, verbose=0),
        expected,
        rtol=1e-6,
        atol=1e-6,
    )


def test_the_tokenizing_function_is_traced_once_per_model():
    model = classifier()
    for texts in (TEXTS, TEXTS[:3], TEXTS[:1], TEXTS * 2):
        model.predict(texts, verbose=0)
    model.evaluate(TEXTS, LABELS, verbose=0)
    function = _task_base._TOKENIZE_FUNCTIONS[model.preprocessor][1]
    assert function.experimental_get_tracing_count() == 1


def test_the_tokenizing_function_does_not_keep_its_preprocessor_alive():
    def tokenized_once():
        preprocessor = tiny_preprocessor()
        tokenize = _task_base._tokenize_function(preprocessor, 1)
        np.testing.assert_array_equal(
            tokenize(tf.constant(TEXTS))["token_ids"],
            preprocessor(TEXTS)["token_ids"],
        )
        return weakref.ref(preprocessor)

    # The function stays in `_TOKENIZE_FUNCTIONS` while its preprocessor
    # lives; the preprocessor, unreferenced, goes.
    reference = tokenized_once()
    gc.collect()
    assert reference() is None


@pytest.mark.parametrize("validation", ["data", "split"])
def test_fit_and_evaluate_equal_the_per_batch_pipeline(validation, monkeypatch):
    kwargs = {"validation_data": (TEXTS, LABELS)}
    if validation == "split":
        kwargs = {"validation_split": 0.5}

    def train():
        model = classifier()
        model.compile(optimizer=keras.optimizers.Adam(1e-2))
        history = model.fit(
            TEXTS, LABELS, batch_size=2, epochs=3, shuffle=False, verbose=0, **kwargs
        ).history
        evaluation = model.evaluate(
            TEXTS, LABELS, batch_size=2, sample_weight=np.ones(4), verbose=0
        )
        return history, evaluation, model.get_weights()

    once = train()
    monkeypatch.setattr(_task_base, "TOKENIZE_AT_ONCE", 0)
    per_batch = train()
    assert set(once[0]) == set(per_batch[0]) >= {"loss", "val_loss", "val_accuracy"}
    for key in once[0]:
        np.testing.assert_allclose(once[0][key], per_batch[0][key], rtol=1e-5)
    np.testing.assert_allclose(once[1], per_batch[1], rtol=1e-5)
    for a, b in zip(once[2], per_batch[2]):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_an_embedder_embeds_texts_as_its_batches_do():
    keras.utils.set_random_seed(0)
    embedder = TextEmbedder(tiny_backbone(), preprocessor=tiny_preprocessor())
    once = embedder.predict(TEXTS, batch_size=2, verbose=0)
    expected = np.concatenate(
        [
            embedder.predict_on_batch(embedder.preprocessor(TEXTS[i : i + 2]))
            for i in (0, 2)
        ]
    )
    np.testing.assert_allclose(once, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize(
    "x",
    [
        [],
        [["pre", "split"], ["words"]],
        ["a text", 3],
        np.array([1, 2]),
        np.array([["a", "b"]]),
        {"token_ids": np.ones((2, 3), "int32")},
        (TEXTS, PAIRS[:2]),
        (TEXTS, PAIRS, TEXTS),
    ],
    ids=[
        "empty",
        "words",
        "mixed",
        "numbers",
        "2-D",
        "features",
        "unequal-pairs",
        "triple",
    ],
)
def test_other_inputs_are_passed_on_as_given(x):
    assert _task_base._text_tensors(x) is None


def test_many_models_tokenize_without_a_retracing_warning(caplog, monkeypatch):
    # Each preprocessor's function is traced once; TensorFlow counts the
    # traces of all of them together and warned of "retracing" from the
    # fifth model's on.
    from tensorflow.python.eager.polymorphic_function import polymorphic_function

    monkeypatch.setattr(
        polymorphic_function,
        "_frequent_tracing_detector_manager",
        polymorphic_function._FrequentTracingDetectorManager(),
    )
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        preprocessors = [tiny_preprocessor() for _ in range(7)]
        for preprocessor in preprocessors:
            features = _task_base._tokenize_function(preprocessor, 1)(
                tf.constant(["a fine film"])
            )
            assert features["token_ids"].shape[0] == 1
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
