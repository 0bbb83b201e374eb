import h5py
import keras_hub
import numpy as np
import pytest

from tftransformer.evaluation import predict_tags
from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    TextClassifier,
    TextClassifierPreprocessor,
    TextEmbedder,
    TextRegressor,
    TokenClassifier,
    TokenClassifierPreprocessor,
)


@pytest.mark.parametrize(
    "task, preprocessor_cls, kwargs",
    [
        (TextClassifier, TextClassifierPreprocessor, {"num_classes": 3}),
        (TokenClassifier, TokenClassifierPreprocessor, {"num_tags": 5}),
    ],
)
def test_from_preset_builds_the_task_with_its_preprocessor(
    tiny_preset, task, preprocessor_cls, kwargs
):
    model = task.from_preset(tiny_preset, sequence_length=24, dropout=0.0, **kwargs)
    assert isinstance(model, task)
    assert isinstance(model.preprocessor, preprocessor_cls)
    assert model.preprocessor.sequence_length == 24
    outputs = model.predict(["a fine film", "a dull mess"], verbose=0)
    assert outputs.shape[0] == 2
    assert outputs.shape[-1] == next(iter(kwargs.values()))
    assert np.all(np.isfinite(outputs))


def test_from_preset_takes_a_dtype_policy(tiny_preset):
    model = TextClassifier.from_preset(
        tiny_preset, num_classes=2, sequence_length=16, dtype="mixed_bfloat16"
    )
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    # The logits stay float32 for a stable loss.
    assert model.predict(["a fine film"], verbose=0).dtype == np.float32


def test_text_classifier_reports_accuracy_as_accuracy(tiny_preset):
    model = TextClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=16)
    model.compile()
    logs = model.evaluate(
        ["a fine film", "a dull mess"], [1, 0], verbose=0, return_dict=True
    )
    assert "accuracy" in logs


def test_from_preset_passes_the_preprocessors_arguments_to_it(tiny_preset):
    model = TextClassifier.from_preset(
        tiny_preset,
        num_classes=2,
        sequence_length=16,
        truncate="waterfall",
        pad_to_multiple_of=8,
        dropout=0.0,
    )
    assert model.preprocessor.truncate == "waterfall"
    assert model.preprocessor.pad_to_multiple_of == 8
    # Refused now, not at the first batch deep in tf.data.
    for name, value, message in (
        ("truncate", "bogus", "truncate must be one of 'round_robin', 'waterfall'"),
        ("dynamic_padding", "yes", "dynamic_padding must be True or False"),
    ):
        with pytest.raises(ValueError, match=message):
            TextClassifier.from_preset(tiny_preset, num_classes=2, **{name: value})
    tagger = TokenClassifier.from_preset(
        tiny_preset, num_tags=3, sequence_length=16, pad_to_multiple_of=4
    )
    assert tagger.preprocessor.pad_to_multiple_of == 4


# === a task saved with `save_to_preset` ===

TEXTS = ["a fine film", "a dull mess of a film"]


def _answers(model):
    answers = model.predict_answers(["who is here"], ["john is here today"])
    return np.array([[a["score"] for a in answers]])


# Each task, the arguments that build it and what it answers for raw texts.
SAVED_TASKS = {
    "classifier": (
        TextClassifier,
        {"num_classes": 3, "label_names": ["a", "b", "c"], "temperature": 1.5},
        lambda model: model.predict(TEXTS, verbose=0),
    ),
    "multi_label": (
        MultiLabelClassifier,
        {"num_labels": 2, "thresholds": [0.3, 0.6]},
        lambda model: model.predict(TEXTS, verbose=0),
    ),
    "regressor": (
        TextRegressor,
        {"num_targets": 2, "target_mean": [1.0, 2.0], "target_std": [0.5, 3.0]},
        lambda model: model.predict(TEXTS, verbose=0),
    ),
    "tagger": (
        TokenClassifier,
        {"num_tags": 3, "tag_names": ["O", "B-x", "I-x"]},
        lambda model: predict_tags(model, TEXTS)["logits"][1],
    ),
    "embedder": (TextEmbedder, {"pooling": "max"}, lambda model: model.embed(TEXTS)),
    "answerer": (QuestionAnswerer, {"doc_stride": 4}, _answers),
}


def _saved(name, preset, directory):
    """The task of `SAVED_TASKS[name]` with moved weights, saved to a
    preset in `directory`; returns it and its answers."""
    task, kwargs, answer = SAVED_TASKS[name]
    model = task.from_preset(preset, sequence_length=16, **kwargs)
    # Weights no initializer gives, the head's too.
    for variable in model.trainable_weights:
        variable.assign(variable + 0.01)
    model.save_to_preset(str(directory))
    return model, answer(model)


@pytest.mark.parametrize("name", list(SAVED_TASKS))
def test_a_task_saved_to_a_preset_loads_back_as_saved(
    small_vocabulary_preset, tmp_path, name
):
    task, _, answer = SAVED_TASKS[name]
    model, answers = _saved(name, small_vocabulary_preset, tmp_path)
    loaded = task.from_preset(str(tmp_path))
    assert type(loaded) is task
    config, loaded_config = model.get_config(), loaded.get_config()
    assert {k: v for k, v in loaded_config.items() if k != "backbone"} == {
        k: v for k, v in config.items() if k != "backbone"
    }
    assert len(loaded.weights) == len(model.weights)
    for expected, actual in zip(model.weights, loaded.weights):
        assert actual.path == expected.path
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    # The vocabulary came back with the preprocessor.
    np.testing.assert_array_equal(answer(loaded), answers)


def test_a_saved_tasks_settings_can_be_overridden(small_vocabulary_preset, tmp_path):
    model, _ = _saved("classifier", small_vocabulary_preset, tmp_path)
    loaded = TextClassifier.from_preset(
        tmp_path, sequence_length=8, dropout=0.3, dtype="mixed_bfloat16"
    )
    assert loaded.preprocessor.sequence_length == 8
    assert loaded.dropout == 0.3 and loaded.label_names == ["a", "b", "c"]
    assert loaded.backbone.dtype_policy.name == "mixed_bfloat16"
    np.testing.assert_array_equal(
        loaded.get_layer("logits").kernel.numpy(),
        model.get_layer("logits").kernel.numpy(),
    )
    # Without its head's weights the task is refused, not given a new head.
    (tmp_path / "task.weights.h5").unlink()
    with pytest.raises(FileNotFoundError, match="task.weights.h5"):
        TextClassifier.from_preset(tmp_path)


@pytest.mark.parametrize(
    "override, message",
    [
        # The saved block's weights were left unread, without a word.
        ({"num_extra_blocks": 0}, r"the config has no such variable"),
        ({"num_extra_blocks": 2}, r"the weights file has no such variable"),
        ({"extra_block_num_heads": 1}, r"the config expects shape \(16, 1, 16\)"),
    ],
)
def test_an_override_that_changes_the_saved_head_is_refused(
    small_vocabulary_preset, tmp_path, override, message
):
    TextClassifier.from_preset(
        small_vocabulary_preset, num_classes=2, sequence_length=16, num_extra_blocks=1
    ).save_to_preset(str(tmp_path))
    name, value = next(iter(override.items()))
    with pytest.raises(
        ValueError,
        match=rf"has a head that does not fit the one built with {name}={value}: "
        rf".*{message}",
    ):
        TextClassifier.from_preset(tmp_path, **override)


def test_the_heads_size_asks_for_a_new_head_on_the_saved_backbone(
    small_vocabulary_preset, tmp_path
):
    model, _ = _saved("classifier", small_vocabulary_preset, tmp_path)
    loaded = TextClassifier.from_preset(tmp_path, num_classes=4, sequence_length=16)
    assert loaded.num_classes == 4 and loaded.label_names is None
    for expected, actual in zip(model.backbone.weights, loaded.backbone.weights):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    # Another task takes the fine-tuned encoder the same way.
    embedder = TextEmbedder.from_preset(tmp_path, sequence_length=16)
    for expected, actual in zip(model.backbone.weights, embedder.backbone.weights):
        np.testing.assert_array_equal(actual.numpy(), expected.numpy())
    # A single-label head is no multi-label one: a new head needs its size.
    with pytest.raises(
        ValueError,
        match=r"holds a TextClassifier \(task.json\), not a MultiLabelClassifier: "
        r"load it with TextClassifier.from_preset, or pass num_labels",
    ):
        MultiLabelClassifier.from_preset(tmp_path, sequence_length=16)


def test_a_subclass_saved_loads_through_its_base_class(
    small_vocabulary_preset, tmp_path
):
    model, answers = _saved("multi_label", small_vocabulary_preset, tmp_path)
    loaded = TextClassifier.from_preset(tmp_path)
    assert type(loaded) is MultiLabelClassifier
    assert loaded.thresholds == model.thresholds
    np.testing.assert_array_equal(loaded.predict(TEXTS, verbose=0), answers)


def test_a_fitted_tasks_preset_holds_no_optimizer_state(
    small_vocabulary_preset, tmp_path, recwarn
):
    model = TextClassifier.from_preset(
        small_vocabulary_preset, num_classes=2, sequence_length=16
    )
    model.fit(TEXTS[:2], np.array([0, 1]), epochs=1, verbose=0)
    assert len(model.optimizer.variables) > 2  # its slots are built
    model.save_to_preset(str(tmp_path))
    weights = tmp_path / "task.weights.h5"
    with h5py.File(weights) as f:
        assert "optimizer" not in f
    # keras-hub's own file holds the optimizer's variables; they are not
    # loaded into the new task's optimizer, which Keras would warn about.
    keras_hub.models.Task.save_task_weights(model, str(weights))
    with h5py.File(weights) as f:
        assert "optimizer" in f
    loaded = TextClassifier.from_preset(tmp_path)
    assert not [w for w in recwarn if "optimizer" in str(w.message)]
    np.testing.assert_array_equal(
        loaded.get_layer("logits").kernel.numpy(),
        model.get_layer("logits").kernel.numpy(),
    )
