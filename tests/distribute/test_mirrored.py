"""`MirroredStrategy` over two logical CPUs, the checks in a fresh process.

Logical devices must be configured before TensorFlow initializes its
devices, which the test process has long done. One process takes every
check in turn (each with a new strategy); each test reads its own.
"""

import json
import math

import pytest

from tests.distribute.contrastive_script import LOSSES
from tests.distribute.mirrored_script import MODES, OPTIMIZERS
from tests.distribute.processes import describe, run_scripts


@pytest.fixture(scope="module")
def results(tmp_path_factory, tiny_preset):
    directory = tmp_path_factory.mktemp("mirrored")
    result = directory / "results.json"
    exit_codes, logs = run_scripts(
        [
            [
                "mirrored_script.py",
                f"--mode={','.join(MODES)}",
                f"--optimizer={','.join(OPTIMIZERS)}",
                # The predictions' batching, not the weights, is the point.
                f"--preset={tiny_preset}",
                f"--result={result}",
            ]
        ],
        str(directory),
    )
    assert exit_codes == [0], describe(exit_codes, logs)
    with open(result) as f:
        return json.load(f)


def test_mirrored_steps_equal_single_device_steps_for_every_optimizer(results):
    # One process takes the check with each optimizer in turn, each with a
    # new model and a new MirroredStrategy: a new strategy once collided with
    # the one before's collective ops ("Shape mismatch in the collective
    # instance 100").
    results = results["exact"]
    assert [result["optimizer"] for result in results] == OPTIMIZERS
    for result in results:
        assert result["replicas"] == 2, result
        # The steps moved the weights, and both runs moved them the same way
        # (up to the order of the replicas' sums).
        assert result["max_update"] > 1e-2, result
        assert result["max_difference"] < 1e-3 * result["max_update"], result


def test_embedded_checkpoint_fine_tunes_under_mirrored(results):
    result = results["pretrained"]
    assert result["replicas"] == 2
    assert result["loss"] and all(math.isfinite(loss) for loss in result["loss"])


def test_a_non_finite_loss_stops_a_mirrored_run_naming_the_step(results):
    result = results["non_finite"]
    assert result["error"] == "FloatingPointError", result
    assert "The loss is nan at step 1 (epoch 1, batch 1)" in result["message"]


def test_packed_rows_train_under_mirrored_as_on_one_device(results):
    result = results["packed"]
    assert result["replicas"] == 2, result
    # The replicas' parts of each batch held different numbers of texts: a
    # mean over each replica's texts, averaged, would not be the one
    # device's mean over the batch's texts.
    assert result["replica_texts"] == [6, 7, 5, 2], result
    assert result["max_update"] > 1e-2, result
    assert result["max_difference"] < 1e-3 * result["max_update"], result
    assert result["mirrored_loss"] == pytest.approx(result["single_loss"], rel=1e-4)


def test_the_fused_encoder_path_trains_under_mirrored_as_keras_hubs_on_one_device(
    results,
):
    result = results["fused"]
    assert result["replicas"] == 2 and result["fused_blocks"] == 2, result
    # The fused path, mirrored over two replicas, moves the weights as
    # keras-hub's path does on one device (up to the order of the sums).
    assert result["max_update"] > 1e-2, result
    assert result["max_difference"] < 1e-3 * result["max_update"], result
    # With dropout, the fused path draws its masks under the strategy and
    # the run trains.
    assert all(math.isfinite(loss) for loss in result["dropout_loss"]), result
    assert result["dropout_update"] > 1e-2, result


def test_contrastive_losses_on_two_replicas_equal_one_replica(results):
    # In-batch negatives gathered across replicas: two replicas train as one.
    assert list(results["contrastive"]) == list(LOSSES)
    for name, result in results["contrastive"].items():
        assert result["replicas"] == 2, (name, result)
        # The steps moved the weights, and both runs moved them the same
        # way, up to the order of the replicas' sums. Without gathering the
        # negatives, a replica would rank among half the candidates.
        assert result["max_update"] > 1e-3, (name, result)
        assert result["max_difference"] < 1e-3 * result["max_update"], (name, result)
        single, mirrored = result["loss"]
        assert abs(single - mirrored) < 1e-4 * max(1.0, abs(single)), (name, result)


def test_batch_predictions_under_mirrored_equal_one_device(results):
    # Each row once, as on one device: predict_on_batch gave every replica
    # the whole batch (twice as many rows as texts).
    result = results["predict"]
    assert result["replicas"] == 2
    expected, actual = result["embed_shapes"]
    assert expected == actual == [9, result["hidden_dim"]], result
    assert result["embed_difference"] < 1e-5, result
    expected, actual = result["tags_shapes"]
    assert len(expected) == 9 and expected == actual, result
    assert result["tags_difference"] < 1e-4, result
    single, mirrored = result["temperatures"]
    assert math.isclose(single, mirrored, rel_tol=1e-3), result
