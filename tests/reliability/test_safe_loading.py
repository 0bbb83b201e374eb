"""Loading never runs code from a file, and writes never leave torn files."""

import json
import os
import pickle
import warnings
import zipfile

import keras
import numpy as np
import pytest

from tftransformer import saving
from tftransformer.training import (
    check_run_directory,
)
from tftransformer.training.checkpointing import (
    atomic_write,
    read_checkpoint,
    remove_temporary_files,
    save_model_file,
    save_weights_atomically,
    write_checkpoint,
)


def test_keras_file_with_a_lambda_layer_is_refused(tmp_path):
    inputs = keras.Input((2,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda x: x * 2)(inputs))
    path = str(tmp_path / "lambda.keras")
    model.save(path)
    with pytest.raises(ValueError) as info:
        saving.load_model(path)
    message = str(info.value)
    for part in [
        "lambda.keras",
        "Lambda",
        "arbitrary code execution",
        "keras.saving.load_model(path, safe_mode=False)",
    ]:
        assert part in message, f"{part!r} not in {message!r}"
    # No advice to pass an argument this loader does not take.
    assert "to the loading function" not in message
    # Keras' own loader refuses it too, by default.
    with pytest.raises(ValueError, match="safe_mode"):
        keras.saving.load_model(path)


def test_keras_file_whose_weights_do_not_fit_its_config_is_refused(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, name="head")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    # Same weights, config edited to 5 units.
    edited = tmp_path / "edited.keras"
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(edited, "w") as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "config.json":
                data = data.replace(b'"units": 3', b'"units": 5')
            target.writestr(item, data)
    with pytest.raises(ValueError) as info:
        saving.load_model(str(edited))
    message = str(info.value)
    for part in ["do not fit", "'head'", "(4, 5)", "(4, 3)"]:
        assert part in message, f"{part!r} not in {message!r}"


class _WritesAFileWhenUnpickled:
    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (open, (self.path, "w"))


def test_a_pickle_posing_as_a_checkpoint_is_refused_unread(tmp_path):
    marker = tmp_path / "unpickled"
    path = tmp_path / "checkpoint.safetensors"
    path.write_bytes(pickle.dumps(_WritesAFileWhenUnpickled(str(marker))))
    with pytest.raises(ValueError, match="not a readable checkpoint"):
        read_checkpoint(path)
    assert not marker.exists()


def test_truncated_checkpoint_names_the_file_and_the_remedy(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    write_checkpoint(path, {"w": np.ones((64, 64), "float32")}, {"epoch": 1})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError) as info:
        read_checkpoint(path)
    assert str(path) in str(info.value) and "delete it" in str(info.value)


def test_checkpoint_round_trip_keeps_shapes_dtypes_and_state(tmp_path):
    arrays = {
        "scalar": np.array(7, "int64"),
        "matrix": np.arange(6, dtype="float32").reshape(2, 3),
        "seed": np.array([1, 2], "uint32"),
        "flags": np.array([True, False]),
        # Stored as copies: a NumPy scalar, a transposed and a strided view.
        "numpy_scalar": np.float32(3),
        "transposed": np.arange(6, dtype="float32").reshape(2, 3).T,
        "strided": np.arange(8, dtype="float32").reshape(2, 4)[:, ::2],
    }
    state = {"epoch": 2, "best": 0.875, "history": {"loss": [0.5, 0.25]}}
    write_checkpoint(tmp_path / "c.safetensors", arrays, state)
    loaded, loaded_state = read_checkpoint(tmp_path / "c.safetensors")
    assert loaded_state == state
    for name, array in arrays.items():
        array = np.asarray(array)
        assert loaded[name].dtype == array.dtype and loaded[name].shape == array.shape
        np.testing.assert_array_equal(loaded[name], array)


def test_failed_atomic_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "report.json"
    path.write_text('{"old": true}')
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_write(path) as temporary:
            with open(temporary, "w") as f:
                f.write('{"new": ')
            raise RuntimeError("disk full")
    assert json.loads(path.read_text()) == {"old": True}
    assert os.listdir(tmp_path) == ["report.json"]


def test_stale_temporary_files_are_removed(tmp_path):
    (tmp_path / ".tmp-0123456789ab-checkpoint.safetensors").write_bytes(b"half")
    (tmp_path / "notes.txt").write_text("kept")
    removed = remove_temporary_files(tmp_path)
    assert [os.path.basename(p) for p in removed] == [
        ".tmp-0123456789ab-checkpoint.safetensors"
    ]
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_weights_written_atomically_load_back(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    path = save_weights_atomically(model, tmp_path / "epoch_001.weights.h5")
    other = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    other.load_weights(path)
    for a, b in zip(model.weights, other.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert os.listdir(tmp_path) == ["epoch_001.weights.h5"]
    with pytest.raises(ValueError, match="path='w.h5'"):
        save_weights_atomically(model, "w.h5")


@pytest.mark.parametrize(
    "preset, kind",
    [
        ("tiny_gpt2_preset", "causal_lm"),
        ("tiny_bart_preset", "seq2seq_lm"),
        ("tiny_t5_preset", "seq2seq_lm"),
    ],
)
def test_a_fine_tuned_generator_file_loads_without_optimizer_warnings(
    preset, kind, request, tmp_path
):
    # keras-hub's generators override compile() alone, so Keras cannot
    # replay a saved compile config; a trainer's schedule-driven AdamW
    # (one variable unbuilt) is not the Adam (two) a loaded task makes.
    from tftransformer.presets import load_generator

    model = load_generator(request.getfixturevalue(preset), kind, 8)
    schedule = keras.optimizers.schedules.PolynomialDecay(1e-3, 10)
    model.compile(
        optimizer=keras.optimizers.AdamW(schedule),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    path = save_model_file(model, tmp_path / "model.keras")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    # (keras-hub's T5 layers warn about masks they drop, on every load.)
    assert not [
        str(w.message)
        for w in caught
        if "optimizer" in str(w.message) or "compile()" in str(w.message)
    ]
    assert type(loaded) is type(model) and loaded.compiled
    # The saving model keeps its own optimizer.
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    for a, b in zip(model.weights, loaded.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_unreadable_model_file_in_the_output_directory_is_named(tmp_path):
    (tmp_path / "model.keras").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="model.keras is not a readable Keras model"):
        check_run_directory(tmp_path, {"epochs": 1}, ["a", "b"])
