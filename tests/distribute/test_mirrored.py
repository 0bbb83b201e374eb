"""`MirroredStrategy` over two logical CPUs, each check in a fresh process.

Logical devices must be configured before TensorFlow initializes its
devices, which the test process has long done.
"""

import json
import math

from tests.distribute.mirrored_script import OPTIMIZERS
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


def test_mirrored_steps_equal_single_device_steps_for_every_optimizer(tmp_path):
    # One process takes the check with each optimizer in turn, each with a
    # new model and a new MirroredStrategy: a new strategy once collided with
    # the one before's collective ops ("Shape mismatch in the collective
    # instance 100").
    results = _run("exact", tmp_path, f"--optimizer={','.join(OPTIMIZERS)}")
    assert [result["optimizer"] for result in results] == OPTIMIZERS
    for result in results:
        assert result["replicas"] == 2, result
        # The steps moved the weights, and both runs moved them the same way
        # (up to the order of the replicas' sums).
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
