"""Multi-task runs through the library: `MultiTaskConfig` and
`train_multi_task_model` (what `examples/multitask.py` calls)."""

import json
import os

import keras
import numpy as np
import pytest

import tftransformer as tft
from tests import fork_server
from tests.fast_exit import python_command
from tests.training.interruptions import STALE_TEMPORARY_FILE
from tftransformer.models import MultiTaskModel
from tftransformer.training import MultiTaskConfig


def run_multi_task(**settings):
    """`train_multi_task_model` on `MultiTaskConfig(**settings)`."""
    return tft.training.train_multi_task_model(MultiTaskConfig(**settings), verbose=0)


TINY = dict(
    max_sentiment_examples=24,
    max_ner_examples=24,
    max_validation_examples=8,
    max_test_examples=16,
    epochs=1,
    batch_size=8,
    max_length=32,
)


def test_run_writes_scores_for_both_setups(small_vocabulary_preset, tmp_path):
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    # Left by a run killed while saving model.keras.
    (model_dir / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    result = run_multi_task(
        preset=small_vocabulary_preset,
        model_dir=str(model_dir),
        rule="temperature",
        ner_loss_weight=2.0,
        **TINY,
    )
    scores = result.scores
    assert set(scores) == {"multi_task", "single_task"}
    for kind in scores:
        assert scores[kind]["sentiment"]["examples"] == 16
        assert scores[kind]["ner"]["sentences"] == 16
        for value in (
            *scores[kind]["sentiment"].values(),
            *scores[kind]["ner"].values(),
        ):
            assert 0 <= value <= 16
    for name in (
        "sentiment_accuracy",
        "ner_token_accuracy",
        "val_sentiment_loss",
        "val_ner_loss",
    ):
        assert name in result.training.history, name

    with open(model_dir / "report.json") as f:
        report = json.load(f)
    assert report["scores"]["multi_task"]["ner"]["entity_micro_f1"] == pytest.approx(
        scores["multi_task"]["ner"]["entity_micro_f1"]
    )
    # Both tasks have 24 examples: the temperature rule gives them 1/2 each.
    assert report["sampling_probabilities"] == {"sentiment": 0.5, "ner": 0.5}

    assert not list(model_dir.glob(".tmp-*"))
    reloaded = keras.saving.load_model(result.training.model_path)
    assert isinstance(reloaded, MultiTaskModel)
    # model.keras holds no training state (the Trainer's resume checkpoint
    # does): the loss weights are the trained model's.
    assert result.model._loss_weights == {"sentiment": 1.0, "ner": 2.0}
    x = reloaded.head_model("sentiment").preprocessor(["a fine film"])
    np.testing.assert_allclose(
        reloaded(x)["sentiment"], result.model(x)["sentiment"], atol=1e-5
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "random"}, "rule='random'"),
        ({"epochs": 0}, "epochs=0"),
        ({"ner_loss_weight": -1.0}, "ner_loss_weight=-1.0"),
        ({"max_sentiment_examples": 0}, "max_sentiment_examples=0"),
        ({"ner_loss_weight": float("nan")}, "ner_loss_weight=nan"),
        # Nothing would train.
        (
            {"sentiment_loss_weight": 0.0, "ner_loss_weight": 0},
            "sentiment_loss_weight=0.0, ner_loss_weight=0",
        ),
        ({"seed": -1}, "seed=-1"),
        ({"extra_blocks": 1}, "Received: extra_blocks=1"),
    ],
)
def test_bad_flags_are_refused_before_loading(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_multi_task(preset="no/such/preset", model_dir=str(tmp_path), **kwargs)
    assert not os.listdir(tmp_path)


def test_export_dir_that_is_a_file_is_refused_before_loading(tmp_path):
    # One real process: the script checks --export_dir before training.
    (tmp_path / "serving").write_text("")
    completed = fork_server.run(
        [
            *python_command(),
            "examples/multitask.py",
            "--preset=no/such/preset",
            f"--model_dir={tmp_path / 'run'}",
            f"--export_dir={tmp_path / 'serving'}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preload="tftransformer",
    )
    assert completed.returncode == 2, completed.stderr[-2000:]
    assert "export_dir must be a directory" in completed.stderr
    assert not (tmp_path / "run").exists()
