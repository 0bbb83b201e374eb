"""`MirroredStrategy` over two logical CPUs, each check in a fresh process.

Logical devices must be configured before TensorFlow initializes its
devices, which the test process has long done.
"""

import json
import math

from tests.distribute.processes import describe, run_scripts


def _run(mode, tmp_path):
    result = tmp_path / f"{mode}.json"
    exit_codes, logs = run_scripts(
        [["mirrored_script.py", f"--mode={mode}", f"--result={result}"]],
        str(tmp_path),
    )
    assert exit_codes == [0], describe(exit_codes, logs)
    with open(result) as f:
        return json.load(f)


def test_one_mirrored_step_equals_one_single_device_step(tmp_path):
    result = _run("exact", tmp_path)
    assert result["replicas"] == 2
    # The step moved the weights, and both runs moved them the same way.
    assert result["max_update"] > 1e-3
    assert result["max_difference"] < 1e-5


def test_embedded_checkpoint_fine_tunes_under_mirrored(tmp_path):
    result = _run("pretrained", tmp_path)
    assert result["replicas"] == 2
    assert result["loss"] and all(math.isfinite(loss) for loss in result["loss"])
