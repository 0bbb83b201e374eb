"""`MirroredStrategy` over two logical CPUs, each check in a fresh process.

Logical devices must be configured before TensorFlow initializes its
devices, which the test process has long done.
"""

import json
import math

import pytest

from tests.distribute.processes import describe, run_scripts


def _run(mode, tmp_path, *args):
    result = tmp_path / f"{mode}.json"
    exit_codes, logs = run_scripts(
        [["mirrored_script.py", f"--mode={mode}", f"--result={result}", *args]],
        str(tmp_path),
    )
    assert exit_codes == [0], describe(exit_codes, logs)
    with open(result) as f:
        return json.load(f)


@pytest.mark.parametrize(
    "optimizer",
    ["sgd", "fused_adamw", "fused_adamw_clipnorm", "fused_adamw_global_clipnorm"],
)
def test_mirrored_steps_equal_single_device_steps(tmp_path, optimizer):
    result = _run("exact", tmp_path, f"--optimizer={optimizer}")
    assert result["replicas"] == 2
    # The steps moved the weights, and both runs moved them the same way
    # (up to the order of the replicas' sums).
    assert result["max_update"] > 1e-2, result
    assert result["max_difference"] < 1e-3 * result["max_update"], result


def test_two_mirrored_models_train_in_one_process(tmp_path):
    # A new MirroredStrategy for the second model collided with the first
    # one's collective ops ("Shape mismatch in the collective instance 100").
    results = _run("exact", tmp_path, "--optimizer=sgd,fused_adamw")
    for result in results:
        assert result["max_update"] > 1e-2, result
        assert result["max_difference"] < 1e-3 * result["max_update"], result


def test_embedded_checkpoint_fine_tunes_under_mirrored(tmp_path):
    result = _run("pretrained", tmp_path)
    assert result["replicas"] == 2
    assert result["loss"] and all(math.isfinite(loss) for loss in result["loss"])


def test_a_non_finite_loss_stops_a_mirrored_run_naming_the_step(tmp_path):
    result = _run("non_finite", tmp_path)
    assert result["error"] == "FloatingPointError", result
    assert "The loss is nan at step 1 (epoch 1, batch 1)" in result["message"]
