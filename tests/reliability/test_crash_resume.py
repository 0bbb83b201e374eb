"""Real `examples/classify.py` processes, SIGKILLed and run again, end as one
uninterrupted run with the same seed does."""

import io
import json
import os
import signal
import subprocess
import zipfile

import h5py
import numpy as np

from tests import fork_server
from tests.reliability.conftest import (
    classify_command,
    run_to_completion,
    subprocess_env,
    wait_for,
)
from tftransformer.training.checkpointing import (
    CHECKPOINT_FILE,
    WRITE_DELAY_ENV,
    read_checkpoint,
    read_checkpoint_state,
)

# 48 training examples in batches of 8 fall into 7 length-bucketed batches
# per epoch; a checkpoint every 2 steps and at each epoch's end. Two epochs
# give each kill point a place: the first epoch's step checkpoints, a
# checkpoint write, the test evaluation after the last epoch.
FLAGS = {"epochs": 2, "save_freq": 2, "patience": 3}


def _backup(model_dir):
    return os.path.join(model_dir, "backup")


def _state(model_dir):
    """The resume checkpoint's state, or None while there is none."""
    path = os.path.join(_backup(model_dir), CHECKPOINT_FILE)
    if not os.path.isfile(path):
        return None
    return read_checkpoint_state(path)


def _temporary_files(directory):
    if not os.path.isdir(directory):
        return []
    return [name for name in os.listdir(directory) if name.startswith(".tmp-")]


def _outputs(model_dir):
    """Every array of model.keras (weights and optimizer state), the test
    report and the training history."""
    arrays = {}
    with zipfile.ZipFile(os.path.join(model_dir, "model.keras")) as archive:
        data = archive.read("model.weights.h5")
    with h5py.File(io.BytesIO(data), "r") as weights:
        weights.visititems(
            lambda name, obj: (
                arrays.__setitem__(name, obj[()])
                if isinstance(obj, h5py.Dataset)
                else None
            )
        )
    with open(os.path.join(model_dir, "report.json")) as f:
        report = json.load(f)
    with open(os.path.join(model_dir, "history.json")) as f:
        history = json.load(f)["history"]
    return arrays, report, history


def _during_first_epoch(model_dir):
    # The first step checkpoint (after 2 of the epoch's 7 steps) is written.
    state = _state(model_dir)
    return state is not None and state["epoch"] == 0 and state["step"] > 0


def _while_writing_a_checkpoint(model_dir):
    # Each write pauses between its temporary file and the rename.
    return bool(_temporary_files(_backup(model_dir)))


def _during_evaluation(model_dir):
    # Training has ended: the test set is being evaluated.
    state = _state(model_dir)
    return state is not None and state["finished"]


# (kill point, extra environment of the run killed there)
KILL_POINTS = [
    (_during_first_epoch, {}),
    (_while_writing_a_checkpoint, {WRITE_DELAY_ENV: "5"}),
    (_during_evaluation, {}),
]


def _kill_when(command, condition, env, log):
    with open(log, "ab") as out:
        process = fork_server.popen(
            command,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=subprocess_env(**env),
            preload="tftransformer",
        )
        try:
            wait_for(condition, process, log)
            process.send_signal(signal.SIGKILL)
        finally:
            if process.poll() is None:
                process.kill()
            process.wait()
    assert process.returncode == -signal.SIGKILL


def test_killed_runs_resume_to_the_uninterrupted_result(
    small_vocabulary_preset, tiny_data, tmp_path
):
    # Five processes load the preset: the 3,000-entry vocabulary is cheaper.
    preset = small_vocabulary_preset
    reference_dir = str(tmp_path / "uninterrupted")
    run_to_completion(
        classify_command(preset, tiny_data, reference_dir, **FLAGS),
        tmp_path / "uninterrupted.log",
    )
    want_arrays, want_report, want_history = _outputs(reference_dir)
    assert len(want_history["loss"]) == FLAGS["epochs"]
    assert any(name.startswith("optimizer") for name in want_arrays)

    # One run killed three times, each time rerun with the same command.
    model_dir = str(tmp_path / "killed")
    log = tmp_path / "killed.log"
    command = classify_command(preset, tiny_data, model_dir, **FLAGS)
    for condition, env in KILL_POINTS:
        _kill_when(command, lambda: condition(model_dir), env, log)
        point = condition.__name__
        # Whatever the kill interrupted, the checkpoint there loads.
        read_checkpoint(os.path.join(_backup(model_dir), CHECKPOINT_FILE))
        if condition is _while_writing_a_checkpoint:
            assert _temporary_files(_backup(model_dir)), point
        assert not os.path.exists(os.path.join(model_dir, "report.json")), point
    run_to_completion(command, log)

    text = log.read_text(errors="replace")
    assert text.count("Resuming from") == 3, text[-3000:]
    assert "training had finished" in text
    assert not _temporary_files(_backup(model_dir))
    arrays, report, history = _outputs(model_dir)
    assert arrays.keys() == want_arrays.keys()
    for name, want in want_arrays.items():
        np.testing.assert_array_equal(arrays[name], want, err_msg=name)
    assert report["confusion_matrix"] == want_report["confusion_matrix"]
    assert report["accuracy"] == want_report["accuracy"]
    assert history.keys() == want_history.keys()
    for key in history:
        np.testing.assert_array_equal(history[key], want_history[key])
