"""The no-transfer baseline through the library (what
`examples/train_from_scratch.py` calls)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tests.training.interruptions import (
    STALE_TEMPORARY_FILE,
    assert_same_training,
    final_checkpoint,
    run_killed_then_rerun,
)
from tests.training.saved_files import write_csv
from tftransformer.training.checkpointing import (
    write_checkpoint,
)

TINY = dict(
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    batch_size=16,
    max_length=32,
    max_train_examples=128,
    max_eval_examples=32,
    learning_rate=3e-3,
)


def run(**settings):
    """`train_classifier_from_scratch` as the interruption helpers take it."""
    config = tft.training.FromScratchClassificationConfig(**settings)
    result = tft.training.train_classifier_from_scratch(config, verbose=0)
    return {
        "report": result.report,
        "history": result.training.history,
        "model_path": result.training.model_path,
        "model": result.model,
    }


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
def test_run_trains_reports_and_saves(position_kind, tmp_path):
    # Left by a run killed while saving model.keras.
    (tmp_path / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    # Every epoch runs: early stopping on 32 validation snippets is not
    # what this test measures.
    result = run(
        epochs=8,
        patience=8,
        position_kind=position_kind,
        model_dir=str(tmp_path),
        **TINY,
    )
    # The model must fit its 128 training snippets: it can only if it reads
    # the token ids (a model fed the wrong features stays near 0.55).
    accuracy = result["history"]["accuracy"]
    assert accuracy[-1] > 0.9, accuracy
    assert int(np.sum(result["report"].support)) == 32
    # It ends as a fine-tuning run does: calibrated, with its plots.
    with open(tmp_path / "report.json") as f:
        calibration = json.load(f)["calibration"]
    assert calibration["temperature"] == result["model"].temperature != 1.0
    for name in ("confusion_matrix.png", "training_curves.png"):
        assert (tmp_path / name).exists(), name
    assert not list(tmp_path.glob(".tmp-*"))
    # Kept, so that a run killed after training does not train again.
    assert final_checkpoint(tmp_path)["finished"]
    # The run directory answers raw strings, naming the labels, as a
    # fine-tuned run's does: the model carries its tokenizer.
    texts = ["a gripping and beautifully acted film", "a dull and lifeless mess"]
    want = tft.evaluation.predict_labels(result["model"], texts)
    source = tmp_path / "reviews.csv"
    source.write_text("review\n" + "\n".join(texts) + "\n")
    columns = tft.training.predict_to_file(
        tft.training.PredictionConfig(
            model_path=str(tmp_path), input_file=str(source), text_column="review"
        )
    )
    assert columns["predicted_label"] == want["label"]
    assert set(want["label"]) <= {"negative", "positive"}
    np.testing.assert_allclose(
        columns["probability_positive"], want["probabilities"][:, 1], atol=1e-5
    )
    if position_kind == "relative":
        # And its SavedModel answers the same on raw strings.
        reloaded = keras.saving.load_model(result["model_path"])
        version = tft.export.export_for_serving(reloaded, str(tmp_path / "export"))
        serve = tf.saved_model.load(version).signatures["serving_default"]
        served = serve(text=tf.constant(texts))
        assert [v.decode() for v in served["label"].numpy()] == want["label"]
        np.testing.assert_allclose(
            served["probabilities"].numpy(), want["probabilities"], atol=1e-5
        )


def test_a_run_reads_the_users_files_as_classify_does(tmp_path):
    # Three labels named in the file; the run learns them from its words.
    words = {
        "sport": ["goal", "match", "team"],
        "food": ["bread", "soup", "cake"],
        "art": ["paint", "song", "poem"],
    }
    rows = [
        {"review": f"{pieces[i % 3]} and {pieces[(i + 1) % 3]}", "topic": label}
        for i in range(48)
        for label, pieces in words.items()
    ]
    train = write_csv(tmp_path / "train.csv", rows)
    test = write_csv(tmp_path / "test.csv", rows[:9])
    settings = {**TINY, "max_train_examples": None, "max_eval_examples": None}
    result = run(
        train_file=train,
        test_file=test,
        text_column="review",
        label_column="topic",
        epochs=10,
        patience=10,
        model_dir=str(tmp_path / "run"),
        **settings,
    )
    model = result["model"]
    assert model.label_names == sorted(words)
    assert list(result["report"].label_names) == sorted(words)
    assert int(np.sum(result["report"].support)) == 9
    # Trained on its file's words, it tells the topics apart.
    assert result["report"].accuracy == 1.0, result["report"].format()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_train_examples": 0}, "=0"),
        ({"seed": -1}, "seed=-1"),
        ({"seed": 2**32}, "seed=4294967296"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(**{**TINY, **kwargs}, model_dir=str(tmp_path))


def test_refuses_to_resume_a_run_with_other_settings(tmp_path):
    write_checkpoint(
        tmp_path / "backup" / "checkpoint.safetensors",
        {"model/00000": np.zeros(2)},
        {"run_config": {"learning_rate": 1e-4}},
    )
    with pytest.raises(ValueError, match="learning_rate: 0.0001 then, 0.003 now"):
        run(**TINY, model_dir=str(tmp_path))


def test_a_killed_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    # Killed after epoch 1: the resumed epoch 2 shuffles as the
    # uninterrupted one did.
    tiny = {**TINY, "epochs": 2, "max_train_examples": 64, "max_eval_examples": 16}
    # Every epoch's weight file kept, for assert_same_training to compare.
    tiny["keep_checkpoints"] = None
    want = run(model_dir=str(tmp_path / "uninterrupted"), **tiny)
    got = run_killed_then_rerun(
        run,
        tmp_path / "killed",
        monkeypatch,
        kill_after_epoch=0,
        **tiny,
    )
    assert_same_training(got, want)
