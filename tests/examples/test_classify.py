import csv
import json
import pathlib

import keras
import numpy as np
import pytest

from examples import classify
from tests.examples.interruptions import STALE_TEMPORARY_FILE
from tftransformer.data import load_rotten_tomatoes


def write_csv(path, data, start, count):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        for text, label in zip(
            data.texts[start : start + count], data.labels[start : start + count]
        ):
            writer.writerow([text, ["bad", "good"][label]])
    return str(path)


REPO_ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = dict(epochs=1, batch_size=8, max_length=32, verbose=0, learning_rate=1e-3)


def test_run_on_user_csv_files(tiny_preset, tmp_path):
    data = load_rotten_tomatoes("train")
    files = {
        name: write_csv(tmp_path / f"{name}.csv", data, start, 24)
        for name, start in [("train", 0), ("validation", 100), ("test", 200)]
    }
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    # Left by a run killed while saving model.keras.
    (model_dir / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    result = classify.run(
        preset=tiny_preset,
        train_file=files["train"],
        validation_file=files["validation"],
        test_file=files["test"],
        text_column="review",
        label_column="sentiment",
        model_dir=str(model_dir),
        **TINY,
    )
    report = result["report"]
    assert list(report.label_names) == ["bad", "good"]
    assert int(np.sum(report.support)) == 24
    for name in ["model.keras", "report.json", "history.json", "training_curves.png"]:
        assert (model_dir / name).stat().st_size > 0, name
    assert not list(model_dir.glob(".tmp-*"))
    with open(model_dir / "report.json") as f:
        assert json.load(f)["accuracy"] == pytest.approx(report.accuracy)

    # The saved model reloads without custom_objects and predicts the same.
    reloaded = keras.saving.load_model(result["model_path"])
    assert reloaded.label_names == ["bad", "good"]
    texts = ["a fine film", "a dull mess"]
    np.testing.assert_allclose(
        reloaded.predict(texts, verbose=0),
        result["model"].predict(texts, verbose=0),
        atol=1e-5,
    )


def test_cross_validation_folds(tiny_preset, tmp_path):
    result = classify.run(
        preset=tiny_preset,
        cv_folds=2,
        max_train_examples=32,
        max_eval_examples=8,
        model_dir=str(tmp_path),
        **TINY,
    )["cross_validation"]
    assert result.num_folds == 2
    assert 0.0 <= result.mean["accuracy"] <= 1.0
    assert (tmp_path / "cross_validation.json").exists()


def test_freeze_layers_above_layer_count_is_refused(tiny_preset, tmp_path):
    with pytest.raises(ValueError, match="3"):
        classify.run(
            preset=tiny_preset,
            freeze_layers=3,
            max_train_examples=8,
            max_eval_examples=8,
            model_dir=str(tmp_path),
            **TINY,
        )


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"epochs": -1}, "epochs=-1"),
        ({"learning_rate": 0.0}, "learning_rate=0.0"),
        ({"max_length": 0}, "max_length=0"),
        ({"cv_folds": 1}, "cv_folds=1"),
        ({"test_file": "x.csv"}, "need a train_source"),
        ({"seed": -1}, "seed=-1"),
        ({"unfreeze_every_steps": -3}, "unfreeze_every_steps=-3"),
        (
            {"gradual_unfreeze": True, "unfreeze_every_epochs": 0},
            "unfreeze_every_epochs=0",
        ),
    ],
)
def test_bad_arguments_fail_before_training(bad, message, tmp_path):
    with pytest.raises(ValueError, match=message):
        classify.run(**{**TINY, **bad, "model_dir": str(tmp_path)})


@pytest.mark.parametrize("under", ["", "sentiment"])
def test_export_dir_that_is_a_file_is_refused_before_training(tmp_path, under):
    existing = tmp_path / "serving"
    existing.write_text("")
    with pytest.raises(ValueError, match="export_dir must be a directory"):
        # Refused before the (missing) data loads, not after training.
        classify.run(
            train_file=str(tmp_path / "missing.csv"),
            export_dir=str(existing / under),
            model_dir=str(tmp_path / "run"),
            **TINY,
        )
    assert not (tmp_path / "run").exists()


def test_missing_train_file_is_named(tmp_path):
    missing = str(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        classify.run(train_file=missing, model_dir=str(tmp_path), **TINY)


def test_command_line_flags_reach_run(tmp_path):
    import pathlib
    import subprocess
    import sys

    root = pathlib.Path(__file__).resolve().parents[2]
    script = [sys.executable, str(root / "examples" / "classify.py")]
    bad_enum = subprocess.run(
        script + ["--pooling=sum"], capture_output=True, text=True, timeout=120
    )
    assert bad_enum.returncode != 0
    assert "--pooling=sum" in bad_enum.stderr
    bad_value = subprocess.run(
        script + ["--batch_size=0", f"--model_dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad_value.returncode != 0
    assert "batch_size=0" in bad_value.stderr


@pytest.mark.parametrize(
    "options, strategy_word, trainable_check",
    [
        (
            {"freeze_backbone": True},
            "linear probe",
            lambda s: s["trainable_parameters"] < 100,
        ),
        (
            {"freeze_layers": 1},
            "1",
            lambda s: "transformer_layer_0" in s["frozen_layers"],
        ),
        ({"lora_rank": 2}, "LoRA", lambda s: s["frozen_parameters"] > 0),
        ({"layer_decay": 0.5}, "decay", lambda s: len(s["learning_rate_groups"]) > 2),
        (
            {"gradual_unfreeze": True},
            "gradual",
            lambda s: s["trainable_parameters"] > 0,
        ),
        ({"head_warmup_steps": 2}, "warmup", lambda s: s["trainable_parameters"] > 0),
    ],
)
def test_each_strategy_flag_reaches_the_model(
    options, strategy_word, trainable_check, tiny_preset, tmp_path
):
    classify.run(
        preset=tiny_preset,
        max_train_examples=32,
        max_eval_examples=8,
        model_dir=str(tmp_path),
        **{**TINY, **options},
    )
    with open(tmp_path / "training_summary.json") as f:
        summary = json.load(f)
    assert strategy_word.lower() in summary["strategy"].lower(), summary["strategy"]
    assert trainable_check(summary), summary
    if options.get("lora_rank"):
        assert (tmp_path / "adapters.lora.h5").exists()


def test_export_and_bfloat16_training(tiny_preset, tmp_path):
    result = classify.run(
        preset=tiny_preset,
        max_train_examples=32,
        max_eval_examples=8,
        model_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "serving"),
        mixed_precision="bfloat16",
        **TINY,
    )
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()
    assert result["export_path"].endswith("1")
    assert np.isfinite(result["history"]["loss"]).all()


def test_senseless_strategy_combination_is_refused(tmp_path):
    with pytest.raises(ValueError, match="freeze_backbone"):
        classify.run(
            freeze_backbone=True, gradual_unfreeze=True, model_dir=str(tmp_path), **TINY
        )


@pytest.mark.parametrize("find_lr_steps", [6, 40])
def test_find_lr_writes_the_curve_and_trains_nothing(
    tiny_preset, tmp_path, capsys, find_lr_steps
):
    model_dir = tmp_path / "run"
    result = classify.run(
        preset=tiny_preset,
        find_lr=True,
        find_lr_steps=find_lr_steps,
        max_train_examples=48,
        model_dir=str(model_dir),
        **TINY | {"verbose": 1},
    )
    finder = result["lr_finder"]
    printed = capsys.readouterr().out
    # The tiny model's loss barely moves: the first steps may hold its
    # lowest point, and then there is no suggestion, which is said.
    if result["suggestion"] is None:
        assert "no suggestion" in printed and "--find_lr_steps" in printed
    else:
        assert result["suggestion"] in finder.learning_rates
        assert f"--learning_rate={result['suggestion']:.2e}" in printed
    with open(model_dir / "lr_finder.json") as f:
        written = json.load(f)
    assert written["batch_size"] == TINY["batch_size"]
    assert written["suggestion"] == result["suggestion"]
    assert len(written["learning_rates"]) == finder.num_steps <= find_lr_steps
    assert not (model_dir / "model.keras").exists()


def test_find_lr_measures_what_the_schedule_ends_up_training(tiny_preset, tmp_path):
    # Gradual unfreezing starts with the head alone, but the peak learning
    # rate must suit every layer: the test trains what full fine-tuning
    # trains, and says so. A fixed freeze trains fewer parameters.
    def measured(name, **flags):
        model_dir = tmp_path / name
        classify.run(
            preset=tiny_preset,
            find_lr=True,
            find_lr_steps=3,
            max_train_examples=16,
            model_dir=str(model_dir),
            **TINY | flags,
        )
        with open(model_dir / "lr_finder.json") as f:
            return json.load(f)

    full = measured("full")
    gradual = measured("gradual", gradual_unfreeze=True)
    frozen = measured("frozen", freeze_layers=1)
    assert gradual["trainable_parameters"] == full["trainable_parameters"]
    assert frozen["trainable_parameters"] < full["trainable_parameters"]
    assert gradual["measured_with"].startswith("every layer the run trains")
    assert full["measured_with"] == frozen["measured_with"] != gradual["measured_with"]


def test_find_lr_refuses_cross_validation(tmp_path):
    with pytest.raises(ValueError, match="cv_folds=5"):
        classify.run(find_lr=True, cv_folds=5, model_dir=str(tmp_path), verbose=0)


def test_config_file_sets_flags_and_command_line_flags_win(tiny_preset, tmp_path):
    import subprocess
    import sys

    config = tmp_path / "best.json"
    # As examples/tune.py writes it.
    config.write_text(json.dumps({"freeze_layers": 1, "batch_size": 4}))
    model_dir = tmp_path / "run"
    completed = subprocess.run(
        [
            sys.executable,
            "examples/classify.py",
            f"--config={config}",
            "--batch_size=8",
            "--find_lr",
            "--find_lr_steps=4",
            "--max_train_examples=32",
            "--max_length=32",
            f"--preset={tiny_preset}",
            f"--model_dir={model_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "command-line flags kept: ['batch_size']" in completed.stdout
    with open(model_dir / "lr_finder.json") as f:
        written = json.load(f)
    assert written["batch_size"] == 8
    assert written["strategy"] == "freeze 1 layer"


def test_config_file_with_an_unknown_flag_is_refused(tmp_path):
    import subprocess
    import sys

    config = tmp_path / "best.json"
    config.write_text(json.dumps({"learning_rte": 1e-4}))
    completed = subprocess.run(
        [sys.executable, "examples/classify.py", f"--config={config}"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert completed.returncode != 0
    assert "learning_rte" in completed.stderr


def test_augmentation_adds_copies_to_the_training_split(tiny_preset, tmp_path):
    result = classify.run(
        preset=tiny_preset,
        max_train_examples=16,
        max_eval_examples=16,
        augment_copies=2,
        synonym_source="roget",
        model_dir=str(tmp_path / "run"),
        **TINY,
    )
    assert result["num_train_examples"] == 16 * 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"augment_copies": -1}, "augment_copies=-1"),
        ({"augment_alpha": 1.5}, "augment_alpha=1.5"),
    ],
)
def test_bad_augmentation_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        classify.run(model_dir=str(tmp_path), verbose=0, **kwargs)
