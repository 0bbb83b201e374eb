"""`shrink_classifier` and `distill_classifier` (what `examples/shrink.py`
and `examples/distill.py` call)."""

import json
import os

import keras
import numpy as np
import pytest

import tftransformer as tft
from tftransformer.training import ClassificationConfig

TINY = dict(
    epochs=1,
    batch_size=8,
    max_length=16,  # one padded length: one trace of each step
    max_train_examples=24,
    max_eval_examples=16,
    tensorboard=False,
)


def shrink(preset, model_dir, keep_layers=3, keep_heads=8, **kwargs):
    sizes = {
        name: kwargs.pop(name)
        for name in ("importance_batches", "timing_rounds")
        if name in kwargs
    }
    config = ClassificationConfig(preset=preset, model_dir=model_dir, **kwargs)
    return tft.training.shrink_classifier(
        config, keep_layers, keep_heads, timing_rounds=1, verbose=0, **sizes
    )


def distill(model_dir, student_layers=3, preset="embedded", teacher=None, **kwargs):
    options = {
        name: kwargs.pop(name)
        for name in ("temperature", "alpha", "compare_labels_only")
        if name in kwargs
    }
    config = ClassificationConfig(preset=preset, model_dir=model_dir, **kwargs)
    return tft.training.distill_classifier(
        config,
        student_layers,
        teacher=teacher,
        teacher_epochs=1,
        timing_rounds=1,
        verbose=0,
        **options,
    )


def test_shrink_fine_tunes_a_smaller_preset(small_vocabulary_preset, tmp_path):
    # A torn temporary of a killed run: cleared.
    (tmp_path / ".tmp-0123456789ab-full_model.keras").write_text("torn")
    # NumPy integers (e.g. from a NumPy sweep) are taken as ints.
    result = shrink(
        small_vocabulary_preset,
        str(tmp_path),
        keep_layers=np.int64(1),
        keep_heads=np.int64(1),
        importance_batches=np.int64(2),
        **TINY,
    )
    full, shrunk = result["models"]["full"], result["models"]["shrunk"]
    assert (result["full"]["num_layers"], result["full"]["num_heads"]) == (2, 2)
    assert (result["shrunk"]["num_layers"], result["shrunk"]["num_heads"]) == (1, 1)
    assert isinstance(shrunk.backbone, tft.models.PrunedBertBackbone)
    assert (
        result["shrunk"]["backbone_parameters"] < result["full"]["backbone_parameters"]
    )
    # One head of layer 0 goes: the lower-scoring one on the full model.
    removed = result["removed_heads"]
    assert list(removed) == ["0"] and len(removed["0"]) == 1
    # The report's accuracy is the returned model's on the test subset.
    test = tft.datasets.load_rotten_tomatoes("test").sample(16, 0)
    predicted = np.argmax(shrunk.predict(list(test.texts), verbose=0), axis=-1)
    assert result["shrunk"]["accuracy"] == pytest.approx(
        np.mean(predicted == test.labels)
    )
    assert result["speedup"] == pytest.approx(
        result["shrunk"]["examples_per_second"] / result["full"]["examples_per_second"]
    )
    with open(tmp_path / "shrink_report.json") as f:
        written = json.load(f)
    assert written["shrunk"]["accuracy"] == result["shrunk"]["accuracy"]
    assert written["settings"]["keep_heads"] == 1
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".tmp-")]
    # The written preset is the shrunk starting point; the full model reloads.
    loaded, _ = tft.presets.load_backbone(result["preset_dir"], sequence_length=16)
    assert type(loaded) is tft.models.PrunedBertBackbone and loaded.num_heads == 1
    reloaded = keras.saving.load_model(result["full_model_path"])
    np.testing.assert_allclose(
        reloaded.predict(list(test.texts[:4]), verbose=0),
        full.predict(list(test.texts[:4]), verbose=0),
        atol=1e-5,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"keep_layers": 3}, "2 layers of 2 heads.*keep_layers=3"),
        ({"keep_heads": 3}, "keep_heads=3"),
        ({"keep_layers": 0}, "keep_layers=0"),
        ({"epochs": 0}, "epochs=0"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_shrink_refuses_bad_sizes_before_training(
    small_vocabulary_preset, tmp_path, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        shrink(small_vocabulary_preset, str(tmp_path), **{**TINY, **kwargs})
    assert not os.listdir(tmp_path)


def test_distill_trains_a_student_from_a_saved_teacher(
    small_vocabulary_preset, tmp_path
):
    # A teacher saved as examples/shrink.py and examples/classify.py do.
    backbone, preprocessor = tft.presets.load_backbone(
        small_vocabulary_preset, sequence_length=16
    )
    teacher = tft.models.TextClassifier(
        backbone,
        num_classes=2,
        preprocessor=tft.models.TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=16
        ),
    )
    # A head whose bias splits the test subset between the two classes: a
    # score of shuffled predictions would differ.
    test = tft.datasets.load_rotten_tomatoes("test").sample(16, 0)
    logits = teacher.get_layer("logits")
    kernel, bias = logits.get_weights()
    rng = np.random.default_rng(0)
    logits.set_weights([rng.normal(0, 30.0, kernel.shape).astype("float32"), bias])
    margins = np.diff(teacher.predict(list(test.texts), verbose=0), axis=-1)
    logits.set_weights([logits.get_weights()[0], bias - [0, np.median(margins)]])
    teacher_path = str(tmp_path / "teacher.keras")
    teacher.save(teacher_path)
    result = distill(
        str(tmp_path / "distill"),
        student_layers=1,
        teacher=keras.saving.load_model(teacher_path),
        temperature=2.0,
        alpha=0.7,
        **TINY,
    )
    models = result["models"]
    assert set(models) == {"teacher", "student", "student_labels_only"}
    assert models["student"].backbone.num_layers == 1
    assert result["teacher"]["num_layers"] == 2
    assert result["teacher"]["train_seconds"] is None
    # The teacher did not move while the student trained.
    saved_teacher = keras.saving.load_model(teacher_path)
    for before, after in zip(
        saved_teacher.get_weights(), models["teacher"].get_weights()
    ):
        np.testing.assert_array_equal(after, before)
    # Both students' encoders trained (from the teacher's first layer), and
    # differently.
    teacher_layer = models["teacher"].backbone.get_layer("transformer_layer_0")
    layers = {
        name: models[name].backbone.get_layer("transformer_layer_0").get_weights()
        for name in ("student", "student_labels_only")
    }
    for weights in layers.values():
        assert any(
            not np.allclose(a, b) for a, b in zip(weights, teacher_layer.get_weights())
        )
    assert any(
        not np.allclose(a, b)
        for a, b in zip(layers["student"], layers["student_labels_only"])
    )
    student = keras.saving.load_model(result["student_path"])
    texts = ["a fine film", "a dull mess"]
    np.testing.assert_allclose(
        student.predict(texts, verbose=0),
        models["student"].predict(texts, verbose=0),
        atol=1e-5,
    )
    with open(tmp_path / "distill" / "distill_report.json") as f:
        report = json.load(f)
    assert report["student"]["accuracy"] == result["student"]["accuracy"]
    # Each model's scores are its own on the test subset (predictions made
    # on a shuffled split were scored against the labels in order).
    for name, model in models.items():
        predicted = np.argmax(model.predict(list(test.texts), verbose=0), axis=-1)
        if name == "teacher":
            assert len(set(predicted)) == 2, predicted
        assert result[name]["accuracy"] == pytest.approx(
            np.mean(predicted == test.labels)
        ), name
    assert report["settings"]["teacher_epochs"] is None  # none trained here
    # Run again into the same directory, a student resumed its finished run:
    # with another teacher file at the same path it reported the new
    # teacher beside the old student.
    logits.set_weights([kernel, bias])
    teacher.save(teacher_path)
    for changed, settings in [
        ({"teacher": keras.saving.load_model(teacher_path)}, r"teacher_sha256"),
        ({"teacher": saved_teacher, "temperature": 3.0}, r"temperature"),
    ]:
        with pytest.raises(ValueError, match=rf"run with other settings.*{settings}"):
            distill(
                str(tmp_path / "distill"),
                student_layers=1,
                **{"temperature": 2.0, "alpha": 0.7, **changed},
                **TINY,
            )


def test_distill_fine_tunes_its_own_teacher(small_vocabulary_preset, tmp_path):
    # A torn temporary of a killed run: cleared.
    (tmp_path / "student").mkdir()
    (tmp_path / "student" / ".tmp-0123456789ab-model.keras").write_text("torn")
    # NumPy values (e.g. from a NumPy sweep) are taken as an int and a bool.
    result = distill(
        str(tmp_path),
        student_layers=np.int64(1),
        preset=small_vocabulary_preset,
        compare_labels_only=np.bool_(False),
        # The config's recipe applies to the students too (it built the
        # teacher alone).
        extra_blocks=1,
        **TINY,
    )
    models = result["models"]
    assert set(models) == {"teacher", "student"}
    assert [m.num_extra_blocks for m in models.values()] == [1, 1]
    with open(tmp_path / "distill_report.json") as f:
        saved = json.load(f)["settings"]
    assert (saved["student_layers"], saved["compare_labels_only"]) == (1, False)
    assert result["teacher"]["train_seconds"] > 0
    # The teacher and the student are each a run directory of their own,
    # beside the report.
    assert sorted(os.listdir(tmp_path)) == ["distill_report.json", "student", "teacher"]
    assert os.path.isfile(tmp_path / "teacher" / "model.keras")
    assert result["student_path"] == str(tmp_path / "student" / "model.keras")
    assert not [p for p in os.listdir(tmp_path / "student") if p.startswith(".tmp-")]
    # The student's run validated each epoch, and its temperature was
    # fitted (`calibrate`) and saved with it.
    history = json.loads((tmp_path / "student" / "history.json").read_text())
    assert len(history["history"]["val_accuracy"]) == TINY["epochs"]
    student = keras.saving.load_model(result["student_path"])
    assert student.temperature == models["student"].temperature != 1.0


def test_distill_refuses_a_teacher_it_cannot_use(small_vocabulary_preset, tmp_path):
    backbone, _ = tft.presets.load_backbone(small_vocabulary_preset, sequence_length=16)
    teacher = tft.models.TextClassifier(
        backbone, num_classes=2, label_names=["spam", "ham"]
    )
    teacher_path = str(tmp_path / "teacher.keras")
    teacher.save(teacher_path)
    with pytest.raises(ValueError, match=r"\['spam', 'ham'\].*\['negative', "):
        distill(
            str(tmp_path / "distill"),
            student_layers=1,
            teacher=keras.saving.load_model(teacher_path),
            **TINY,
        )
    # Longer rows than its positions: refused before the student trains.
    teacher = tft.models.TextClassifier(
        backbone, num_classes=2, label_names=["negative", "positive"]
    )
    with pytest.raises(ValueError) as info:
        distill(
            str(tmp_path / "distill"),
            student_layers=1,
            teacher=teacher,
            **{**TINY, "max_length": 65},
        )
    assert str(info.value) == (
        "max_length must be at most 64, the longest sequence the teacher's "
        "backbone takes. Received: max_length=65"
    )
    assert not (tmp_path / "distill").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"student_layers": 2}, "fewer layers than the teacher's 2"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"seed": -1}, "seed=-1"),
    ],
)
def test_distill_refuses_bad_settings_before_training(
    small_vocabulary_preset, tmp_path, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        distill(str(tmp_path), preset=small_vocabulary_preset, **{**TINY, **kwargs})
    assert not os.listdir(tmp_path)
