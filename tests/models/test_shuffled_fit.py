"""`fit` of the keras-hub task models shuffles in-memory data every epoch."""

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tests.finetune.tiny_models import bert_inputs, tiny_bert_backbone
from tests.models.test_text_classifier import tiny_backbone, tiny_preprocessor
from tftransformer.models import TextClassifier, TokenClassifier
from tftransformer.models._task_base import _batches

SEQ_LEN = 6


class MixedBatches(keras.metrics.Metric):
    """Counts the batches of an epoch holding more than one label."""

    def __init__(self, name="mixed_batches", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(y_true, "float32")
        self.count.assign_add(ops.cast(ops.max(y_true) > ops.min(y_true), "float32"))

    def result(self):
        return self.count


def mean_label():
    return keras.metrics.MeanMetricWrapper(
        lambda y_true, y_pred: ops.cast(y_true, "float32"), name="mean_label"
    )


def text_classifier():
    return TextClassifier(tiny_bert_backbone(), num_classes=2)


def token_classifier():
    return TokenClassifier(tiny_bert_backbone(), num_tags=2)


def sorted_data(build, num_zeros, num_ones):
    """Inputs with labels sorted: every zero, then every one."""
    labels = np.array([0] * num_zeros + [1] * num_ones)
    x = bert_inputs(batch_size=len(labels), seq_len=SEQ_LEN)
    if build is token_classifier:
        # Every tag of a sentence is its label.
        labels = np.repeat(labels[:, None], SEQ_LEN, axis=1)
    return x, labels


def compile_with(model, *metrics, weighted_metrics=None):
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=list(metrics),
        weighted_metrics=weighted_metrics,
    )


@pytest.mark.parametrize("build", [text_classifier, token_classifier])
def test_in_memory_data_is_shuffled_unless_asked_not_to(build):
    # One model fits the sorted data with each `shuffle` choice in turn, then
    # as a dataset: the train step is traced once, and each `fit` counts its
    # own batches.
    keras.utils.set_random_seed(0)
    model = build()
    compile_with(model, MixedBatches())
    x, y = sorted_data(build, 8, 8)
    for shuffle in [None, True, False]:
        kwargs = {} if shuffle is None else {"shuffle": shuffle}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, **kwargs)
        assert not [w for w in caught if "shuffle" in str(w.message)], shuffle
        mixed = history.history["mixed_batches"]
        if shuffle is False:
            # Two pure batches: all zeros, then all ones.
            assert mixed == [0.0, 0.0]
        else:
            # A shuffled batch of 8 out of 8 + 8 is pure with odds of 1 in 6,435.
            assert mixed == [2.0, 2.0], shuffle
    # A dataset keeps its order, without a warning.
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        history = model.fit(dataset, epochs=2, verbose=0)
    assert not [w for w in caught if "shuffle" in str(w.message)]
    assert history.history["mixed_batches"] == [0.0, 0.0]


def test_every_example_once_per_epoch_in_a_new_order():
    labels = tf.range(10)
    dataset = _batches((labels,), batch_size=4, shuffle=True)
    tf.random.set_seed(0)
    epochs = [np.concatenate([batch[0].numpy() for batch in dataset]) for _ in range(3)]
    for order in epochs:
        assert sorted(order) == list(range(10))
    assert len({tuple(order) for order in epochs}) == 3
    # Batches of 4, the last one partial.
    assert [int(batch[0].shape[0]) for batch in dataset] == [4, 4, 2]


def test_validation_split_takes_the_last_examples_before_shuffling():
    model = text_classifier()
    compile_with(model, mean_label())
    # 12 zeros then 4 ones: the last quarter, all ones, validates.
    x, y = sorted_data(text_classifier, 12, 4)
    history = model.fit(x, y, batch_size=4, validation_split=0.25, verbose=0)
    assert history.history["mean_label"] == [0.0]
    assert history.history["val_mean_label"] == [1.0]


def test_raw_strings_with_sample_weights():
    # Strings go through the attached preprocessor; weights stay with their
    # examples wherever shuffling puts them: zero-weighted ones drop out.
    texts = ["the movie was great", "awful", "a fine film", "a dull mess"] * 2
    labels = np.array([1, 0, 1, 0] * 2)
    model = TextClassifier(tiny_backbone(), 2, preprocessor=tiny_preprocessor())
    compile_with(model, weighted_metrics=[mean_label()])
    weights = labels.astype("float32")
    history = model.fit(
        texts, labels, sample_weight=weights, batch_size=3, epochs=2, verbose=0
    )
    assert history.history["mean_label"] == [1.0, 1.0]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"shuffle": "batch"}, "shuffle must be True or False.*'batch'"),
        ({"validation_split": 1.5}, r"validation_split must be in \(0, 1\).*1.5"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    model = text_classifier()
    compile_with(model)
    x, y = sorted_data(text_classifier, 2, 2)
    with pytest.raises(ValueError, match=message):
        model.fit(x, y, verbose=0, **kwargs)


def test_mismatched_lengths_are_refused():
    model = text_classifier()
    compile_with(model)
    x, _ = sorted_data(text_classifier, 2, 2)
    with pytest.raises(ValueError, match=r"same number of examples.*\[3, 4\]"):
        model.fit(x, np.zeros(3, "int32"), verbose=0)
