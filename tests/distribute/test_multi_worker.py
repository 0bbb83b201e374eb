"""Two workers on 127.0.0.1 fine-tune together under `get_strategy("multi_worker")`.

Each test starts two real worker processes (`multi_worker_script.py`) with
their own `TF_CONFIG`; they train a tiny `TransformerEncoder` +
`TransformerClassifier` through our data pipeline, callbacks and optimizer.
"""

import json
import os

import numpy as np

from tests.distribute.multi_worker_script import CRASH_EXIT_CODE
from tests.distribute.processes import describe, free_ports, run_scripts
from tftransformer.training.checkpointing import (
    BACKUP_DIR,
    CHECKPOINT_FILE,
    read_checkpoint_state,
)


def _run_workers(model_dir, log_dir, *args):
    ports = ",".join(str(port) for port in free_ports(2))
    commands = [
        [
            "multi_worker_script.py",
            f"--index={index}",
            f"--ports={ports}",
            f"--model_dir={model_dir}",
            f"--result={os.path.join(log_dir, f'worker_{index}')}",
            *args,
        ]
        for index in range(2)
    ]
    os.makedirs(log_dir, exist_ok=True)
    return run_scripts(commands, log_dir)


def _results(log_dir):
    results, weights = [], []
    for index in range(2):
        prefix = os.path.join(log_dir, f"worker_{index}")
        with open(prefix + ".json") as f:
            results.append(json.load(f))
        with np.load(prefix + ".npz") as arrays:
            weights.append([arrays[name] for name in arrays.files])
    return results, weights


def _assert_same_weights(weights):
    assert len(weights[0]) == len(weights[1])
    for chief_weight, worker_weight in zip(*weights):
        np.testing.assert_array_equal(chief_weight, worker_weight)


def test_two_workers_train_in_sync_and_only_the_chief_keeps_files(tmp_path):
    model_dir = tmp_path / "run"
    exit_codes, logs = _run_workers(model_dir, str(tmp_path / "logs"), "--epochs=2")
    assert exit_codes == [0, 0], describe(exit_codes, logs)

    results, weights = _results(str(tmp_path / "logs"))
    assert [r["replicas"] for r in results] == [2, 2]
    assert [r["is_chief"] for r in results] == [True, False]
    _assert_same_weights(weights)
    for result in results:
        assert result["final_loss"] < result["initial_loss"]
        assert result["history"]["loss"][-1] < result["history"]["loss"][0]
        # Whole, ordered predictions on every worker.
        assert result["prediction_shape"] == [48, 2]
        assert result["prediction_error"] < 1e-5
    assert results[0]["history"] == results[1]["history"]
    assert [r["mid_epoch_saves_refused"] for r in results] == [True, True]

    # Only the chief's files remain: worker 1 wrote to its own directory,
    # which it removed, and the backup is deleted once `fit` ends.
    assert results[0]["write_dir"] == str(model_dir)
    assert results[1]["write_dir"] == str(model_dir / "workertemp_worker_1")
    assert sorted(os.listdir(model_dir)) == ["checkpoints", "model.keras"]
    assert sorted(os.listdir(model_dir / "checkpoints")) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
    ]


def test_workers_resume_from_the_chief_checkpoint_after_a_restart(tmp_path):
    model_dir = tmp_path / "run"
    checkpoint = model_dir / BACKUP_DIR / CHECKPOINT_FILE
    # Both workers die as epoch 1 begins, after the chief checkpointed epoch 0.
    exit_codes, logs = _run_workers(
        model_dir, str(tmp_path / "crashed"), "--epochs=2", "--crash_at_epoch=1"
    )
    assert exit_codes == [CRASH_EXIT_CODE] * 2, describe(exit_codes, logs)
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


def test_a_late_worker_resumes_a_finished_run_as_the_chief_does(tmp_path):
    # Killed after the last epoch's checkpoint: a restart has nothing to
    # train. The chief must not delete the checkpoint before worker 1, late,
    # has read it, or worker 1 would train from scratch alone.
    model_dir = tmp_path / "run"
    checkpoint = model_dir / BACKUP_DIR / CHECKPOINT_FILE
    exit_codes, logs = _run_workers(
        model_dir, str(tmp_path / "crashed"), "--epochs=1", "--crash_after_training"
    )
    assert exit_codes == [CRASH_EXIT_CODE] * 2, describe(exit_codes, logs)
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
