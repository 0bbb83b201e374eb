"""In-batch negatives gathered across replicas: two replicas train as one."""

import json

from tests.distribute.processes import describe, run_scripts


def test_contrastive_losses_on_two_replicas_equal_one_replica(tmp_path):
    result_path = tmp_path / "contrastive.json"
    exit_codes, logs = run_scripts(
        [["contrastive_script.py", f"--result={result_path}"]], str(tmp_path)
    )
    assert exit_codes == [0], describe(exit_codes, logs)
    with open(result_path) as f:
        results = json.load(f)
    for name, result in results.items():
        assert result["replicas"] == 2, (name, result)
        # The steps moved the weights, and both runs moved them the same
        # way, up to the order of the replicas' sums. Without gathering the
        # negatives, a replica would rank among half the candidates.
        assert result["max_update"] > 1e-3, (name, result)
        assert result["max_difference"] < 1e-3 * result["max_update"], (name, result)
        single, mirrored = result["loss"]
        assert abs(single - mirrored) < 1e-4 * max(1.0, abs(single)), (name, result)
