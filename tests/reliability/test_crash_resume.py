"""Real `examples/classify.py` processes, SIGKILLed and run again, end as one
uninterrupted run with the same seed does."""

import json
import os
import signal
import subprocess

import keras
import numpy as np
import pytest

from tests.reliability.conftest import (
    classify_command,
    run_to_completion,
    subprocess_env,
    wait_for,
)
from tftransformer.finetune import (
    CHECKPOINT_FILE,
    read_checkpoint,
    read_checkpoint_state,
)
from tftransformer.finetune.checkpointing import WRITE_DELAY_ENV


def _state(model_dir):
    """The resume checkpoint's state, or None while there is none."""
    path = os.path.join(model_dir, "backup", CHECKPOINT_FILE)
    if not os.path.isfile(path):
        return None
    return read_checkpoint_state(path)


def _temporary_files(directory):
    if not os.path.isdir(directory):
        return []
    return [name for name in os.listdir(directory) if name.startswith(".tmp-")]


def _outputs(model_dir):
    model = keras.saving.load_model(os.path.join(model_dir, "model.keras"))
    with open(os.path.join(model_dir, "report.json")) as f:
        report = json.load(f)
    with open(os.path.join(model_dir, "history.json")) as f:
        history = json.load(f)["history"]
    return [np.asarray(w) for w in model.get_weights()], report, history


def _first_epoch_checkpoint(model_dir):
    # The first step checkpoint (after 2 of the epoch's 6 steps) is written.
    state = _state(model_dir)
    return state is not None and state["epoch"] == 0 and state["step"] > 0


class _SecondCheckpointWrite:
    """Holds once a second checkpoint is being written (its temp file)."""

    def __init__(self, model_dir):
        self.directory = os.path.join(model_dir, "backup")
        self.seen = set()

    def __call__(self):
        self.seen.update(_temporary_files(self.directory))
        return len(self.seen) >= 2


def _training_finished(model_dir):
    state = _state(model_dir)
    return state is not None and state["finished"]


# (name, condition to kill at, environment of the killed run)
KILL_POINTS = [
    ("during_first_epoch", _first_epoch_checkpoint, {}),
    ("while_writing_a_checkpoint", _SecondCheckpointWrite, {WRITE_DELAY_ENV: "5"}),
    ("during_evaluation", _training_finished, {}),
]


def test_killed_runs_resume_to_the_uninterrupted_result(
    tiny_preset, tiny_data, tmp_path
):
    flags = {"save_freq": 2, "patience": 3}
    reference_dir = str(tmp_path / "uninterrupted")
    run_to_completion(
        classify_command(tiny_preset, tiny_data, reference_dir, **flags),
        tmp_path / "uninterrupted.log",
    )
    reference_weights, reference_report, reference_history = _outputs(reference_dir)
    assert len(reference_history["loss"]) == 3

    for name, condition, env in KILL_POINTS:
        model_dir = str(tmp_path / name)
        log = tmp_path / f"{name}.log"
        command = classify_command(tiny_preset, tiny_data, model_dir, **flags)
        if isinstance(condition, type):
            condition = condition(model_dir)
        else:
            condition = _bind(condition, model_dir)
        with open(log, "wb") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=subprocess_env(**env),
            )
            try:
                wait_for(condition, process, log)
                process.send_signal(signal.SIGKILL)
            finally:
                if process.poll() is None:
                    process.kill()
                process.wait()
        assert process.returncode == -signal.SIGKILL, name
        # Whatever the kill interrupted, the checkpoint there loads.
        read_checkpoint(os.path.join(model_dir, "backup", CHECKPOINT_FILE))
        if name == "while_writing_a_checkpoint":
            assert _temporary_files(os.path.join(model_dir, "backup")), name
        if name == "during_evaluation":
            assert not os.path.exists(os.path.join(model_dir, "report.json"))

        # The same command again, as a user would run it.
        run_to_completion(command, log)
        assert "Resuming from" in log.read_text(errors="replace"), name
        assert not _temporary_files(os.path.join(model_dir, "backup")), name
        weights, report, history = _outputs(model_dir)
        assert len(weights) == len(reference_weights)
        for got, want in zip(weights, reference_weights):
            np.testing.assert_allclose(got, want, rtol=0, atol=1e-6, err_msg=name)
        assert report["confusion_matrix"] == reference_report["confusion_matrix"]
        assert report["accuracy"] == pytest.approx(reference_report["accuracy"])
        assert history.keys() == reference_history.keys()
        for key in history:
            np.testing.assert_allclose(
                history[key], reference_history[key], atol=1e-6, err_msg=name
            )


def _bind(condition, model_dir):
    return lambda: condition(model_dir)
