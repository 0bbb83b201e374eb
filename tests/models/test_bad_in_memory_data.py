"""In-memory texts and targets a task cannot learn from are refused up front.

`fit`, `evaluate` and `predict` of the text tasks name the first bad entry
before anything is batched or traced (keras-hub's pipeline and Keras'
losses would fail inside a traced step, or, for out-of-range class ids,
train on them).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.models.test_text_classifier import VOCAB, tiny_backbone, tiny_preprocessor
from tftransformer.models import TextClassifier, TextRegressor
from tftransformer.testing import tiny_bert_backbone

TEXTS = ["a fine film", "a dull mess"]
# Two tokenized texts of four positions, for the tagger.
FEATURES = {
    "token_ids": np.full((2, 4), 5, "int32"),
    "padding_mask": np.ones((2, 4), bool),
    "segment_ids": np.zeros((2, 4), "int32"),
}


def fit(**kwargs):
    return lambda model: model.fit(verbose=0, **kwargs)


def evaluate(x, y):
    return lambda model: model.evaluate(x, y, verbose=0)


def predict(x):
    return lambda model: model.predict(x, verbose=0)


# On the shared `task_models`: each call is refused before anything is
# batched, and changes nothing.
@pytest.mark.parametrize(
    "kind, call, message",
    [
        (
            "classifier",
            predict(["a", 3]),
            r"`x` must be a list of strings. .*x\[1\]=3 \(int\)",
        ),
        ("classifier", predict(np.array([1, 2])), r"x\[0\]=1 \(int\)"),
        ("classifier", predict(tf.constant([1, 2])), r"string tensor.*dtype int32"),
        ("classifier", predict((TEXTS, ["c", None])), r"x\[1\]\[1\]=None"),
        ("embedder", predict([None]), r"x\[0\]=None \(NoneType\)"),
        # A dict of texts, as a data frame's columns: keras-hub's tokenizer
        # failed on it with a type error inside the traced step.
        ("classifier", predict({"text": TEXTS}), r"dict with keys \['text'\]$"),
        ("embedder", fit(x={"text": TEXTS}, y=[0, 1]), r"or a dict of tokenized"),
        ("classifier", fit(x=["a", 0.5], y=[0, 1]), r"x\[1\]=0.5 \(float\)"),
        ("classifier", fit(x=TEXTS, y=[0, 3]), r"integers in \[0, 3\).*y\[1\]=3$"),
        ("classifier", fit(x=TEXTS, y=np.array([[0], [5]])), r"y\[1, 0\]=5$"),
        ("classifier", evaluate(TEXTS, tf.constant([-1, 0])), r"y\[0\]=-1$"),
        (
            "classifier",
            fit(x=TEXTS, y=["neg", "pos"]),
            r"map label names to their ids \(label_names in id order: "
            r"\['neg', 'mid', 'pos'\]\). Received: y\[0\]='neg'",
        ),
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], validation_data=(["a"], [7])),
            r"validation_data's y must hold class ids.*validation_data's y\[0\]=7",
        ),
        ("multi_label", fit(x=TEXTS, y=[0, 1]), r"shape \(texts, 2\).*shape \(2,\)"),
        ("multi_label", fit(x=TEXTS, y=[[0, 2], [1, 0]]), r"\[0, 1\].*y\[0, 1\]=2$"),
        ("multi_label", evaluate(TEXTS, [["a", "b"]] * 2), r"dtype <U1"),
        # Keras weighed each example by its row's argmax (label 0 for none).
        (
            "multi_label",
            fit(x=TEXTS, y=[[1, 0], [0, 1]], class_weight={1: 5.0}),
            r"MultiLabelClassifier.fit takes no class_weight.*=\{1: 5\.0\}$",
        ),
        (
            "regressor",
            fit(x=TEXTS, y=[[1.0, 2.0], [0, 0]], class_weight={0: 5.0}),
            r"TextRegressor.fit takes no class_weight",
        ),
        ("tagger", fit(x=FEATURES, y=[[0, -100, 2, 3]] * 2), r"-100.*y\[0, 3\]=3$"),
        ("tagger", evaluate(FEATURES, [[0, 0.5, 0, 0]] * 2), r"y\[0, 1\]=0.5$"),
        ("tagger", fit(x=FEATURES, y=[list("OOOO")] * 2), r"one per token.*dtype <U1"),
        ("regressor", fit(x=TEXTS, y=[[1.0, np.nan], [0, 0]]), r"y\[0, 1\]=nan"),
        ("regressor", fit(x=TEXTS, y=[1.0, 2.0]), r"shape \(texts, 2\).*shape \(2,\)"),
        ("regressor", evaluate(TEXTS, [["1", "2"]] * 2), r"finite numbers.*dtype <U1"),
        # A label column with a missing value reads as floats (pandas).
        ("classifier", fit(x=TEXTS, y=np.array([0.0, np.nan])), r"y\[1\]=nan$"),
        ("classifier", evaluate(TEXTS, np.array([0.5, 1.0])), r"y\[0\]=0.5$"),
        ("classifier", fit(x=TEXTS, y=np.array([0.0, 3.0])), r"\[0, 3\).*y\[1\]=3"),
        # Keras failed on a name with a type error, on an id past the last
        # key inside the step.
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], class_weight={"neutral": 2.0}),
            r"keys must be class ids in \[0, 3\) or label names "
            r"\['neg', 'mid', 'pos'\]. Received: key 'neutral'$",
        ),
        ("classifier", fit(x=TEXTS, y=[0, 1], class_weight={3: 1.0}), r"key 3$"),
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], class_weight={"pos": -1}),
            r"finite number >= 0. Received: class_weight\['pos'\]=-1$",
        ),
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], class_weight={"pos": 2, 2: 1}),
            r"gives class 2 \(2\) twice",
        ),
        # A NaN weight made the loss NaN, and the step every weight.
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], sample_weight=np.array([1.0, np.nan])),
            r"sample_weight must hold finite numbers >= 0.*sample_weight\[1\]=nan$",
        ),
        (
            "regressor",
            lambda m: m.evaluate(TEXTS, [[0, 1]] * 2, sample_weight=[1, -2], verbose=0),
            r"sample_weight\[1\]=-2$",
        ),
        (
            "classifier",
            fit(x=TEXTS, y=[0, 1], validation_data=(TEXTS, [0, 1], ["a", "b"])),
            r"validation_data's sample_weight must hold .*dtype <U1",
        ),
        # Tags of sentences of words, checked before the step (out of range:
        # the loss failed inside it; too few: the preprocessor's assert).
        (
            "tagger",
            fit(x=[["Obama", "visits", "Paris"], ["rain"]], y=[[1, 2, 7], [0]]),
            r"tag ids in \[0, 3\) or -100 \(ignored\), one per word. "
            r"Received: y\[0\]\[2\]=7$",
        ),
        (
            "tagger",
            evaluate(["Obama visits Paris", "rain"], [[1, 2], [0]]),
            r"sentence 0 has 3 words and 2 tags. Received: y\[0\]=\[1, 2\]$",
        ),
        (
            "tagger",
            fit(x=["Obama visits", "rain"], y=[[1, 0]]),
            r"1 lists of tags for 2 sentences$",
        ),
        # A dataset not batched: Keras' "Invalid input shape" inside the step.
        (
            "classifier",
            fit(x=tf.data.Dataset.from_tensor_slices((TEXTS, [0, 1]))),
            r"dataset of batches: batch it, e.g. `dataset.batch\(32\)`",
        ),
        (
            "embedder",
            predict(tf.data.Dataset.from_tensor_slices(TEXTS)),
            r"dataset of single examples: element_spec=TensorSpec\(shape=\(\)",
        ),
        (
            "tagger",
            fit(x=tf.data.Dataset.from_tensor_slices((FEATURES, [[0] * 4] * 2))),
            r"dataset of batches",
        ),
        # No targets: Keras' "None values not supported".
        ("classifier", fit(x=TEXTS), r"^y is missing: .*Received: y=None$"),
        ("regressor", evaluate(TEXTS, None), r"^y is missing"),
        ("tagger", fit(x=FEATURES, y=None), r"^y is missing"),
        # No examples: tf.data's shuffle or the tokenizer failed.
        ("classifier", fit(x=[], y=[]), r"^fit needs at least one example. .*x=\[\]"),
        ("regressor", evaluate(np.array([], str), []), r"^evaluate needs at least one"),
        ("classifier", fit(x=TEXTS, y=[0, 1], batch_size=0), r"batch_size=0$"),
        ("classifier", evaluate(TEXTS, [0, 1.5]), r"y\[1\]=1.5$"),
        ("embedder", lambda m: m.predict(TEXTS, batch_size=2.5), r"batch_size=2.5$"),
        # Sentence pairs as rows: the preprocessor failed on a rank error.
        (
            "classifier",
            predict([("a cat sits", "a cat"), ("dogs bark", "a dog")]),
            r"pairs go as a tuple of two lists, x=\(texts, text_pairs\).*"
            r"x\[0\]=\('a cat sits', 'a cat'\) \(tuple\)",
        ),
        (
            "classifier",
            predict((TEXTS, TEXTS[:1])),
            r"same number of strings. Received: 2 texts and 1 text pairs$",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and " " not in value else "",
)
def test_bad_texts_and_targets_name_the_entry(task_models, kind, call, message):
    model = task_models[kind]
    weights = [np.array(w) for w in model.weights]
    with pytest.raises(ValueError, match=message):
        call(model)
    for before, after in zip(weights, model.weights, strict=True):
        np.testing.assert_array_equal(before, after)


def test_soft_labels_and_a_label_column_pass_the_check():
    # Wider targets are distributions for a loss of the user's choice.
    keras.utils.set_random_seed(0)
    classifier = TextClassifier(
        tiny_backbone(),
        num_classes=2,
        preprocessor=tiny_preprocessor(),
    )
    # The default accuracy follows a categorical loss (a sparse accuracy
    # failed on one-hot labels inside the step).
    classifier.compile(loss=keras.losses.CategoricalCrossentropy(from_logits=True))
    soft = np.array([[0.2, 0.8], [1.0, 0.0]], "float32")
    assert np.isfinite(classifier.evaluate(TEXTS, soft, verbose=0)).all()
    one_hot = classifier.evaluate(TEXTS, np.eye(2)[[1, 0]], verbose=0)
    classifier.compile()
    ids = classifier.evaluate(TEXTS, np.array([[1], [0]]), verbose=0)
    assert ids == pytest.approx(classifier.evaluate(TEXTS, [1, 0], verbose=0))
    assert one_hot == pytest.approx(ids, rel=1e-5)


def test_labels_and_weights_as_tuples_read_as_lists():
    # What `texts, labels = zip(*rows)` gives: Keras read a tuple of labels
    # as the targets of several outputs ("tuple index out of range").
    keras.utils.set_random_seed(0)
    classifier = TextClassifier(
        tiny_backbone(), num_classes=3, preprocessor=tiny_preprocessor()
    )
    classifier.compile(optimizer=keras.optimizers.SGD(0.0))  # moves nothing
    texts, labels = zip(*[("a fine film", 2), ("a dull mess", 0), ("fine", 1)])
    loss, accuracy = classifier.evaluate(list(texts), list(labels), verbose=0)
    assert classifier.evaluate(texts, labels, verbose=0) == [loss, accuracy]
    weighted = classifier.evaluate(texts, labels, sample_weight=(1, 1, 1), verbose=0)
    assert weighted == pytest.approx([loss, accuracy])
    # Floats holding class ids (a label column that had a missing value).
    as_floats = classifier.evaluate(texts, np.array(labels, float), verbose=0)
    assert as_floats == pytest.approx([loss, accuracy])
    history = classifier.fit(
        texts, labels, validation_data=(texts, labels), verbose=0
    ).history
    assert history["val_loss"][0] == pytest.approx(loss, rel=1e-5)


def test_class_weight_by_label_names_and_missing_classes_weighing_one():
    keras.utils.set_random_seed(0)
    classifier = TextClassifier(
        tiny_bert_backbone(vocabulary_size=len(VOCAB), dropout=0.0),
        num_classes=3,
        preprocessor=tiny_preprocessor(),
        label_names=["neg", "mid", "pos"],
        dropout=0.0,
    )
    classifier.compile(optimizer=keras.optimizers.SGD(0.0))  # moves nothing
    texts, labels = ["a fine film", "a dull mess", "fine"], [2, 0, 1]

    def loss(class_weight):
        history = classifier.fit(
            texts, labels, class_weight=class_weight, shuffle=False, verbose=0
        )
        return history.history["loss"][0]

    by_ids = loss({0: 1.0, 1: 1.0, 2: 3.0})
    assert by_ids != pytest.approx(loss(None))
    assert loss({"pos": 3.0}) == pytest.approx(by_ids, rel=1e-6)
    assert loss({2: 3}) == pytest.approx(by_ids, rel=1e-6)


def test_a_classifier_fits_labels_of_either_shape_in_turn():
    # (texts,) labels, then (texts, 1), as a NumPy array and a tensor: Keras
    # retraced the step for labels of unknown rank, which its loss could not
    # take ("Cannot take the length of shape with unknown rank").
    keras.utils.set_random_seed(0)
    classifier = TextClassifier(
        tiny_backbone(), num_classes=2, preprocessor=tiny_preprocessor()
    )
    classifier.compile(optimizer=keras.optimizers.SGD(0.1))
    for labels in ([1, 0], np.array([[1], [0]]), tf.constant([[1], [0]])):
        before = [np.array(w) for w in classifier.trainable_weights]
        history = classifier.fit(TEXTS, labels, verbose=0).history
        assert np.isfinite(history["loss"][0])
        assert any(
            not np.array_equal(w, b)
            for w, b in zip(classifier.trainable_weights, before, strict=True)
        )
        # Scored alike whichever shape the labels have.
        assert classifier.evaluate(TEXTS, labels, verbose=0) == pytest.approx(
            classifier.evaluate(TEXTS, [1, 0], verbose=0), rel=1e-6
        )


def test_a_regressor_fits_targets_of_either_shape_in_turn():
    # (texts,) targets, then (texts, 1): the model's step takes both as its
    # output's shape (a retrace for targets of unknown rank used to fail in
    # Keras' loss).
    keras.utils.set_random_seed(0)
    regressor = TextRegressor(
        tiny_backbone(),
        num_targets=1,
        preprocessor=tiny_preprocessor(),
    )
    regressor.compile(optimizer=keras.optimizers.SGD(0.1))
    losses = [
        regressor.fit(TEXTS, targets, verbose=0, shuffle=False).history["loss"][0]
        for targets in ([0.5, -0.5], [[0.5], [-0.5]], np.array([0.5, -0.5]))
    ]
    assert all(np.isfinite(losses)), losses
