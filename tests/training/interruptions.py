"""Kills of an example's `run`, played in-process by raising `Interrupt`.

A raised exception stops `run` where a kill would; what it leaves on disk
(checkpoints, partial files) is then what a rerun finds.
"""

import os

import h5py
import keras
import numpy as np
import pytest

from tftransformer.training import (
    ResumableTraining,
)
from tftransformer.training.checkpointing import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    read_checkpoint_state,
)

# What a run killed inside `atomic_write` leaves next to model.keras.
STALE_TEMPORARY_FILE = ".tmp-0123456789ab-model.keras"


class Interrupt(Exception):
    pass


def interrupt_after_epoch(monkeypatch, epoch):
    """Raises once `epoch` (0-based) has ended, before the next one begins:
    every callback has written its files of `epoch` then."""
    on_epoch_begin = ResumableTraining.on_epoch_begin

    def interrupted(self, current, logs=None):
        if current == epoch + 1:
            raise Interrupt(f"after epoch {epoch}")
        on_epoch_begin(self, current, logs)

    monkeypatch.setattr(ResumableTraining, "on_epoch_begin", interrupted)


def interrupt_model_saves(monkeypatch):
    """`keras.Model.save` writes half a file, then raises."""

    def torn_save(self, filepath, *args, **kwargs):
        with open(filepath, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise Interrupt(f"while saving {filepath}")

    monkeypatch.setattr(keras.Model, "save", torn_save)


def final_checkpoint(model_dir):
    """The state of the checkpoint `fit` keeps when training ends."""
    path = os.path.join(model_dir, BACKUP_DIR, CHECKPOINT_FILE)
    assert os.path.isfile(path), f"no checkpoint kept after training: {path}"
    return read_checkpoint_state(path)


def file_times(directory):
    """Name to modification time of the files in `directory`."""
    return {
        entry.name: entry.stat().st_mtime_ns
        for entry in os.scandir(directory)
        if entry.is_file()
    }


def run_killed_then_rerun(
    run,
    model_dir,
    monkeypatch,
    kill_after_epoch=None,
    kill_while_saving=False,
    rerun=None,
    **kwargs,
):
    """Runs `run(model_dir=model_dir, **kwargs)` killed, reruns it to the
    end with `rerun`'s arguments changed, and returns the last result.

    The kills, in this order: once epoch `kill_after_epoch` (0-based) has
    ended (if given), and with `kill_while_saving` while saving model.keras,
    after training. That one must lose no training: the final
    checkpoint stays, no torn model.keras is left, and the last rerun trains
    no further (the epoch weight files are not written again) and removes
    the temporary file of a killed save.
    """
    model_dir = os.fspath(model_dir)
    if kill_after_epoch is not None:
        with monkeypatch.context() as patch:
            interrupt_after_epoch(patch, kill_after_epoch)
            with pytest.raises(Interrupt):
                run(model_dir=model_dir, **kwargs)
    epoch_files = os.path.join(model_dir, "checkpoints")
    stale = os.path.join(model_dir, STALE_TEMPORARY_FILE)
    if kill_while_saving:
        with monkeypatch.context() as patch:
            interrupt_model_saves(patch)
            with pytest.raises(Interrupt):
                run(model_dir=model_dir, **kwargs)
        assert not os.path.exists(os.path.join(model_dir, "model.keras")), "torn"
        assert final_checkpoint(model_dir)["finished"]
        times = file_times(epoch_files)
        assert times, "no epoch weight files"
        with open(stale, "wb") as f:
            f.write(b"PK\x03\x04")
    result = run(model_dir=model_dir, **{**kwargs, **(rerun or {})})
    if kill_while_saving:
        assert file_times(epoch_files) == times, "the rerun trained again"
        assert not os.path.exists(stale)
        keras.saving.load_model(result["model_path"])
    assert final_checkpoint(model_dir)["finished"]
    return result


def _h5_arrays(path):
    arrays = {}
    with h5py.File(path, "r") as f:
        f.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[()])
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    return arrays


def assert_same_training(got, want):
    """Two results of a script trained alike: the final weights, the weights
    after every epoch (early stopping may restore an early epoch's) and the
    history."""
    for a, b in zip(got["model"].get_weights(), want["model"].get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    got_dir, want_dir = (
        os.path.join(os.path.dirname(r["model_path"]), "checkpoints")
        for r in (got, want)
    )
    names = sorted(os.listdir(want_dir))
    assert sorted(os.listdir(got_dir)) == names, (os.listdir(got_dir), names)
    for name in names:
        want_arrays = _h5_arrays(os.path.join(want_dir, name))
        got_arrays = _h5_arrays(os.path.join(got_dir, name))
        assert got_arrays.keys() == want_arrays.keys(), name
        for key, array in want_arrays.items():
            np.testing.assert_allclose(
                got_arrays[key], array, rtol=0, atol=1e-6, err_msg=f"{name}: {key}"
            )
    history = {k: v for k, v in want["history"].items() if k != "val_perplexity"}
    for key, values in history.items():
        np.testing.assert_allclose(got["history"][key], values, atol=1e-6, err_msg=key)
