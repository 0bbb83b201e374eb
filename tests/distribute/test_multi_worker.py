"""Workers on 127.0.0.1 fine-tune together under `get_strategy("multi_worker")`.

Each test starts real worker processes (`multi_worker_script.py`) with their
own `TF_CONFIG`; they train a tiny `TransformerEncoder` +
`TransformerClassifier` through our data pipeline, callbacks and optimizer,
or take the steps of `mirrored_script.exact` next to a one-process run.
The two restart tests restart copies of one crashed run (`crashed_run`).
"""

import json
import os
import shutil

import keras
import numpy as np
import pytest

from tests.distribute.multi_worker_script import CRASH_EXIT_CODE
from tests.distribute.processes import describe, free_ports, run_scripts
from tftransformer import _distribute_compat
from tftransformer.training.checkpointing import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    read_checkpoint_state,
)

# The optimizers of the exact check (see `_assert_exact`).
EXACT = "--exact=sgd,fused_adamw"


def _run_workers(model_dir, log_dir, *args, num_workers=2):
    ports = ",".join(str(port) for port in free_ports(num_workers))
    commands = [
        [
            "multi_worker_script.py",
            f"--index={index}",
            f"--ports={ports}",
            f"--model_dir={model_dir}",
            f"--result={os.path.join(log_dir, f'worker_{index}')}",
            *args,
        ]
        for index in range(num_workers)
    ]
    os.makedirs(log_dir, exist_ok=True)
    return run_scripts(commands, log_dir)


def _result(log_dir, index):
    with open(os.path.join(log_dir, f"worker_{index}.json")) as f:
        return json.load(f)


def _results(log_dir, num_workers=2):
    results, weights = [], []
    for index in range(num_workers):
        prefix = os.path.join(log_dir, f"worker_{index}")
        results.append(_result(log_dir, index))
        with np.load(prefix + ".npz") as arrays:
            weights.append([arrays[name] for name in arrays.files])
    return results, weights


def _assert_exact(result, num_workers):
    """The workers' steps equal the same steps taken in one process.

    A wrong reduction across workers (gradients summed, not averaged: a
    learning rate times the worker count) moves the weights differently.
    """
    assert [step["optimizer"] for step in result["exact"]] == ["sgd", "fused_adamw"]
    for step in result["exact"]:
        assert step["replicas"] == num_workers, step
        assert step["max_update"] > 1e-2, step
        assert step["max_difference"] < 1e-3 * step["max_update"], step


@pytest.mark.xfail(
    _distribute_compat.is_needed(),
    strict=True,
    raises=AssertionError,
    reason=f"Keras {keras.__version__} fails multi-worker `fit` without "
    "tftransformer._distribute_compat (keras-team/keras#20585)",
)
def test_multi_worker_fit_without_the_keras_patches(tmp_path):
    # Passes, and so fails as strict, once Keras fixes the bug the patches
    # work around: then remove tftransformer/_distribute_compat.py.
    log_dir = str(tmp_path / "logs")
    exit_codes, logs = _run_workers(
        tmp_path / "run", log_dir, "--epochs=0", "--exact=sgd", "--unpatched"
    )
    if exit_codes != [0, 0]:
        pytest.fail(describe(exit_codes, logs))
    for index in range(2):
        result = _result(log_dir, index)
        error = result["error"]
        # Only the known failure is expected; any other fails the test.
        if error is not None and "PerReplica" not in error["message"]:
            pytest.fail(f"unexpected failure without the patches: {error}")
        assert error is None, error
        for step in result["exact"]:
            assert step["max_difference"] < 1e-3 * step["max_update"], step


def _assert_same_weights(weights):
    for worker_weights in weights[1:]:
        assert len(worker_weights) == len(weights[0])
        for chief_weight, worker_weight in zip(weights[0], worker_weights):
            np.testing.assert_array_equal(chief_weight, worker_weight)


def test_three_workers_train_in_sync_and_only_the_chief_keeps_files(tmp_path):
    # One cluster launch: the workers first take the exact steps next to a
    # one-process run, then fine-tune together.
    model_dir = tmp_path / "run"
    exit_codes, logs = _run_workers(
        model_dir,
        str(tmp_path / "logs"),
        "--epochs=2",
        EXACT,
        "--predict",
        num_workers=3,
    )
    assert exit_codes == [0, 0, 0], describe(exit_codes, logs)

    results, weights = _results(str(tmp_path / "logs"), num_workers=3)
    # Each worker's steps equal one process' steps over the global batch.
    for result in results:
        _assert_exact(result, 3)
    assert [r["replicas"] for r in results] == [3, 3, 3]
    assert [r["is_chief"] for r in results] == [True, False, False]
    _assert_same_weights(weights)
    for result in results:
        assert result["final_loss"] < result["initial_loss"]
        assert result["history"]["loss"][-1] < result["history"]["loss"][0]
        # Whole, ordered predictions on every worker.
        assert result["prediction_shape"] == [48, 2]
        assert result["prediction_error"] < 1e-5
    for result in results[1:]:
        assert result["history"] == results[0]["history"]
    assert [r["mid_epoch_saves_refused"] for r in results] == [True] * 3

    # Only the chief's files remain: each other worker wrote to its own
    # directory, which it removed, and the backup is deleted once `fit` ends.
    assert results[0]["write_dir"] == str(model_dir)
    for index in (1, 2):
        assert results[index]["write_dir"] == str(
            model_dir / f"workertemp_worker_{index}"
        )
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "model.keras"]
    assert sorted(os.listdir(model_dir / "checkpoints")) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
    ]


@pytest.fixture(scope="module")
def crashed_run(tmp_path_factory):
    """A two-epoch run whose workers both died as epoch 1 began.

    The chief had checkpointed epoch 0. Returns the run's directory and the
    workers' exit codes and logs; each test restarts its own copy.
    """
    directory = tmp_path_factory.mktemp("crashed")
    model_dir = directory / "run"
    exit_codes, logs = _run_workers(
        model_dir, str(directory / "logs"), "--epochs=2", "--crash_at_epoch=1"
    )
    return model_dir, exit_codes, logs


def _copy_of(crashed_run, tmp_path):
    source, exit_codes, logs = crashed_run
    assert exit_codes == [CRASH_EXIT_CODE] * 2, describe(exit_codes, logs)
    model_dir = tmp_path / "run"
    shutil.copytree(source, model_dir)
    return model_dir


def test_workers_resume_from_the_chief_checkpoint_after_a_restart(
    crashed_run, tmp_path
):
    # Both workers died as epoch 1 began, after the chief checkpointed epoch 0.
    model_dir = _copy_of(crashed_run, tmp_path)
    checkpoint = model_dir / BACKUP_DIR / CHECKPOINT_FILE
    assert read_checkpoint_state(checkpoint)["epoch"] == 1
    assert not (model_dir / "workertemp_worker_1" / BACKUP_DIR).exists()

    # The restarted cluster resumes from the chief's checkpoint, in sync.
    exit_codes, logs = _run_workers(model_dir, str(tmp_path / "resumed"), "--epochs=2")
    assert exit_codes == [0, 0], describe(exit_codes, logs)
    for log in logs:
        assert f"Resuming from {checkpoint}: epoch 2" in log, log[-3000:]
    results, weights = _results(str(tmp_path / "resumed"))
    for result in results:
        assert len(result["history"]["loss"]) == 2
        assert result["final_loss"] < result["initial_loss"]
    assert results[0]["history"] == results[1]["history"]
    _assert_same_weights(weights)
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "model.keras"]


def test_a_late_worker_resumes_a_finished_run_as_the_chief_does(crashed_run, tmp_path):
    # Restarted for one epoch, the run has its last epoch's checkpoint, as if
    # killed after writing it: a restart has nothing to train. The chief must
    # not delete the checkpoint before worker 1, late, has read it, or
    # worker 1 would train from scratch alone.
    model_dir = _copy_of(crashed_run, tmp_path)
    checkpoint = model_dir / BACKUP_DIR / CHECKPOINT_FILE
    assert read_checkpoint_state(checkpoint)["epoch"] == 1

    exit_codes, logs = _run_workers(
        model_dir, str(tmp_path / "resumed"), "--epochs=1", "--worker_1_delay_seconds=5"
    )
    assert exit_codes == [0, 0], describe(exit_codes, logs)
    for log in logs:
        assert f"Resuming from {checkpoint}" in log, log[-3000:]
    results, weights = _results(str(tmp_path / "resumed"))
    assert results[0]["history"] == results[1]["history"]
    _assert_same_weights(weights)


def test_workers_stop_together_when_one_clock_runs_out(tmp_path):
    # Worker 1's budget is spent after its first epoch, the chief's is not:
    # both must stop there (a worker stopping alone hangs the other).
    model_dir = tmp_path / "run"
    exit_codes, logs = _run_workers(
        model_dir,
        str(tmp_path / "logs"),
        "--epochs=3",
        "--max_train_minutes=30",
        "--clock_skew_minutes=60",
    )
    assert exit_codes == [0, 0], describe(exit_codes, logs)
    results, weights = _results(str(tmp_path / "logs"))
    for result in results:
        assert len(result["history"]["loss"]) == 1
    assert results[0]["history"] == results[1]["history"]
    _assert_same_weights(weights)
    assert sorted(os.listdir(model_dir / "checkpoints")) == ["epoch_001.weights.h5"]
