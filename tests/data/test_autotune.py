"""Every input pipeline turns tf.data's autotuning thread off.

TensorFlow 2.21's autotuning thread can keep a deleted iterator waiting for
up to 60 s (`tftransformer.data._autotune`); Keras deletes one per epoch.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    TextPairs,
    concatenate_tasks,
    interleave_tasks,
    make_classification_dataset,
    make_language_model_dataset,
    make_long_document_dataset,
    make_masked_lm_dataset,
    make_pair_dataset,
    make_tagging_dataset,
    make_teacher_forcing_dataset,
)
from tftransformer.data._autotune import without_autotuning
from tftransformer.distribute import get_strategy
from tftransformer.models import (
    CausalLM,
    Seq2SeqTransformer,
    TextClassifier,
    TextClassifierPreprocessor,
)
from tftransformer.models._task_base import _batches
from tftransformer.presets import embedded_tokenizer
from tftransformer.training import ResumableTraining

TEXTS = ["a good film", "a dull and long film", "fine"]


def _task(task_id):
    features = {"token_ids": np.full((4, 3), task_id, "int32")}
    return tf.data.Dataset.from_tensor_slices((features, np.zeros(4, "int32")))


PIPELINES = {
    "classification": lambda tok: make_classification_dataset(
        TEXTS, [0, 1, 0], tok, batch_size=2
    ),
    "classification_packed": lambda tok: make_classification_dataset(
        TEXTS, [0, 1, 0], tok, batch_size=2, max_length=16, pack=True
    ),
    "pairs": lambda tok: make_pair_dataset(
        TextPairs(TEXTS, TEXTS[::-1]),
        TextClassifierPreprocessor(tok, sequence_length=16),
        batch_size=2,
    ),
    "tagging": lambda tok: make_tagging_dataset(
        [text.split() for text in TEXTS],
        [np.zeros(len(text.split()), "int32") for text in TEXTS],
        tok,
        batch_size=2,
    ),
    "long_documents": lambda tok: make_long_document_dataset(
        TEXTS, [0, 1, 0], tok, batch_size=2, chunk_length=8, stride=4
    ),
    "masked_lm": lambda tok: make_masked_lm_dataset(
        [[101, 2204, 102], [101, 2143, 2146, 102]], tok, batch_size=2
    ),
    "language_model": lambda tok: make_language_model_dataset(
        [[1, 5, 6, 2], [1, 7, 2]], batch_size=2, max_length=8, shuffle=True, seed=0
    ),
    "teacher_forcing": lambda tok: make_teacher_forcing_dataset(
        [[5, 6], [7]], [[8], [9, 10]], 2, 8, True, 0, start_id=1, end_id=2
    ),
    "interleaved_tasks": lambda tok: interleave_tasks(
        {"a": _task(0).batch(2), "b": _task(1).batch(2)}, rule="equal", seed=0
    ),
    "concatenated_tasks": lambda tok: concatenate_tasks(
        {"a": _task(0).batch(2), "b": _task(1).batch(2)}
    ),
    # What a task model's `fit` makes of arrays.
    "in_memory_arrays": lambda tok: _batches(
        ({"token_ids": np.zeros((4, 3), "int32")}, np.zeros(4, "int32")), 2, True
    ),
}


def _record_iterators(monkeypatch):
    """`tf.data.Dataset.__iter__` patched to record each iterated dataset's
    autotuning setting, in order."""
    settings = []
    iterate = tf.data.Dataset.__iter__

    def record(self):
        settings.append(self.options().autotune.enabled)
        return iterate(self)

    monkeypatch.setattr(tf.data.Dataset, "__iter__", record)
    return settings


@pytest.mark.parametrize("name", sorted(PIPELINES))
def test_pipeline_runs_without_autotuning(name, monkeypatch):
    tokenizer = embedded_tokenizer()
    iterated = _record_iterators(monkeypatch)
    dataset = PIPELINES[name](tokenizer)
    assert dataset.options().autotune.enabled is False
    # So do the passes that building it makes (tokenizing, counting batches).
    assert all(setting is False for setting in iterated), iterated
    # Still a working pipeline: it yields its batches.
    assert len(list(dataset.take(1))) == 1


def test_the_resumable_epochs_keras_iterates_run_without_autotuning(tmp_path):
    resumable = ResumableTraining(str(tmp_path), verbose=0)
    epochs = resumable.epoch_dataset(lambda epoch: tf.data.Dataset.range(4).batch(2))
    assert epochs.options().autotune.enabled is False
    assert int(epochs.cardinality()) == 2


def test_without_autotuning_keeps_the_elements():
    dataset = tf.data.Dataset.range(5).map(lambda x: x * 2).prefetch(tf.data.AUTOTUNE)
    assert tf.data.Dataset.range(5).options().autotune.enabled is not False
    assert list(without_autotuning(dataset).as_numpy_iterator()) == [0, 2, 4, 6, 8]


def _autotuning(data):
    """A dataset's autotuning setting, or the type of what is not one."""
    if isinstance(data, tf.data.Dataset):
        return data.options().autotune.enabled
    return type(data).__name__


def _record_what_keras_receives(monkeypatch):
    """`keras.Model.fit/evaluate/predict` patched to record, per method,
    whether their dataset (and fit's validation dataset) autotunes."""
    received = {}

    def recording(name):
        method = getattr(keras.Model, name)

        def record(self, x=None, *args, **kwargs):
            received[name] = _autotuning(x)
            validation = kwargs.get("validation_data")
            if validation is not None:
                received["validation"] = _autotuning(validation)
            return method(self, x, *args, **kwargs)

        return record

    for name in ("fit", "evaluate", "predict"):
        monkeypatch.setattr(keras.Model, name, recording(name))
    return received


def test_a_task_models_in_memory_data_reaches_keras_without_autotuning(
    tiny_preset, monkeypatch
):
    # keras-hub batches raw strings into a pipeline with autotuning on.
    received = _record_what_keras_receives(monkeypatch)
    model = TextClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=8)
    texts, labels = TEXTS * 2, [0, 1, 0] * 2
    model.fit(texts, labels, validation_data=(texts, labels), shuffle=False, verbose=0)
    # (Keras' validation pass calls `evaluate` on the validation dataset.)
    assert received == {"fit": False, "validation": False, "evaluate": False}
    received.clear()
    # In the order given, as keras-hub's pipeline read them.
    np.testing.assert_allclose(
        model.predict(texts, batch_size=4, verbose=0),
        model.predict_on_batch(texts),
        atol=1e-6,
    )
    model.evaluate(texts, labels, batch_size=4, verbose=0)
    assert received == {"evaluate": False, "predict": False}


def _token_ids(rows, width, seed):
    return np.random.default_rng(seed).integers(1, 16, (rows, width)).astype("int32")


KERAS_TASK_MODELS = {
    "causal_lm": lambda: (
        CausalLM(
            vocabulary_size=16,
            num_layers=1,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=8,
        ),
        {"token_ids": _token_ids(6, 5, 0), "padding_mask": np.ones((6, 5), bool)},
        _token_ids(6, 5, 1),
    ),
    "seq2seq": lambda: (
        Seq2SeqTransformer(
            encoder_vocabulary_size=16,
            decoder_vocabulary_size=16,
            num_layers=1,
            num_heads=2,
            hidden_dim=8,
            intermediate_dim=16,
            max_sequence_length=8,
        ),
        {
            "encoder_token_ids": _token_ids(6, 5, 0),
            "encoder_padding_mask": np.ones((6, 5), bool),
            "decoder_token_ids": _token_ids(6, 4, 1),
            "decoder_padding_mask": np.ones((6, 4), bool),
        },
        _token_ids(6, 4, 2),
    ),
}


@pytest.mark.parametrize("name", KERAS_TASK_MODELS)
def test_a_keras_task_models_in_memory_data_reaches_keras_without_autotuning(
    name, monkeypatch
):
    # Keras batches arrays into a pipeline with autotuning on.
    received = _record_what_keras_receives(monkeypatch)
    model, x, y = KERAS_TASK_MODELS[name]()
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    model.fit(x, y, batch_size=4, validation_data=(x, y), verbose=0)
    assert received == {"fit": False, "validation": False, "evaluate": False}
    received.clear()
    # In the order given.
    np.testing.assert_allclose(
        model.predict(x, batch_size=4, verbose=0), model(x), atol=1e-5
    )
    model.evaluate(x, y, batch_size=4, verbose=0)
    assert received == {"evaluate": False, "predict": False}


@pytest.mark.parametrize("name", ["one_device", "mirrored"])
def test_a_strategys_per_device_datasets_run_without_autotuning(name, monkeypatch):
    # TensorFlow prefetches each device's share in a dataset of its own,
    # with autotuning on whatever the input says; Keras iterates one per
    # epoch under any strategy.
    strategy = get_strategy(name, devices=["/cpu:0"])
    iterated = _record_iterators(monkeypatch)
    dataset = without_autotuning(tf.data.Dataset.range(8).batch(4))
    batches = [
        strategy.experimental_local_results(batch)[0].numpy().tolist()
        for batch in strategy.experimental_distribute_dataset(dataset)
    ]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7]]
    assert iterated and all(setting is False for setting in iterated), iterated
