"""Text classification through the library: configs, Trainer, reports,
cross-validation, the learning-rate test and export (what
`examples/classify.py`, `cross_validate.py` and `find_lr.py` call)."""

import csv
import json
import logging
import warnings

import keras
import numpy as np
import pytest
from tensorflow.python.eager.polymorphic_function import polymorphic_function

import tftransformer as tft
from tests import fork_server
from tests.fast_exit import python_command
from tests.training.classification_run import run_classification
from tftransformer.datasets import load_rotten_tomatoes
from tftransformer.training import ClassificationConfig, ConfigError, Trainer

TINY = dict(epochs=1, batch_size=8, max_length=32, learning_rate=1e-3)
# What a run killed inside `atomic_write` leaves next to model.keras.
STALE_TEMPORARY_FILE = ".tmp-0123456789ab-model.keras"


def write_csv(path, data, start, count):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["review", "sentiment"])
        for text, label in zip(
            data.texts[start : start + count], data.labels[start : start + count]
        ):
            writer.writerow([text, ["bad", "good"][label]])
    return str(path)


def test_a_run_on_user_csv_files(small_vocabulary_preset, tmp_path):
    data = load_rotten_tomatoes("train")
    files = {
        name: write_csv(tmp_path / f"{name}.csv", data, start, 24)
        for name, start in [("train", 0), ("validation", 100), ("test", 200)]
    }
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    (model_dir / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    run = run_classification(
        preset=small_vocabulary_preset,
        train_file=files["train"],
        validation_file=files["validation"],
        test_file=files["test"],
        text_column="review",
        label_column="sentiment",
        model_dir=str(model_dir),
        monitor="val_macro_f1",
        **TINY,
    )
    classifier, result, report = run.model, run.training, run.report
    # The run logged the macro F1 it watched: the validation split's, as
    # the report of its predictions gives it.
    validation_report, _ = tft.evaluation.evaluate_classifier(
        classifier,
        run.trainer.dataset(run.validation, classifier),
        run.validation.labels,
        run.train.label_vocabulary,
    )
    np.testing.assert_allclose(
        result.history["val_macro_f1"],
        [validation_report.averages["macro"]["f1"]],
        rtol=1e-5,
    )
    assert list(report.label_names) == ["bad", "good"]
    assert int(np.sum(report.support)) == 24
    for name in [
        "model.keras",
        "report.json",
        "history.json",
        "training_summary.json",
        "training_curves.png",
        "confusion_matrix.png",
        "reliability_diagram.png",
    ]:
        assert (model_dir / name).stat().st_size > 0, name
    assert not list(model_dir.glob(".tmp-*"))
    # calibrate (on by default) fitted a temperature on the validation split.
    with open(model_dir / "report.json") as f:
        calibration = json.load(f)["calibration"]
    assert calibration["temperature"] == classifier.temperature != 1.0
    assert 0 <= calibration["after"]["ece"] <= 1
    assert sum(calibration["after"]["bins"]["count"]) == 24
    # The saved model reloads without custom_objects and predicts the same.
    reloaded = keras.saving.load_model(result.model_path)
    assert reloaded.label_names == ["bad", "good"]
    assert reloaded.temperature == classifier.temperature
    texts = ["a fine film", "a dull mess"]
    np.testing.assert_allclose(
        reloaded.predict(texts, verbose=0),
        classifier.predict(texts, verbose=0),
        atol=1e-5,
    )


def test_freeze_layers_above_the_layer_count_is_refused(
    small_vocabulary_preset, tmp_path
):
    config = ClassificationConfig(
        preset=small_vocabulary_preset, freeze_layers=3, model_dir=str(tmp_path), **TINY
    )
    trainer = Trainer(config, verbose=0)
    model = tft.training.build_text_classifier(config, ["a", "b"])
    with pytest.raises(ConfigError, match="at most the backbone's 2 encoder layers"):
        trainer.apply_strategy(model)


@pytest.mark.parametrize("config_blocks, model_blocks", [(1, 0), (0, 1)])
def test_a_model_without_the_configs_extra_blocks_is_refused(
    small_vocabulary_preset, tmp_path, config_blocks, model_blocks
):
    # A model from `from_preset` under a config with extra_blocks=1: the run
    # was named and recorded "1 extra block" and trained none.
    config = ClassificationConfig(
        preset=small_vocabulary_preset,
        extra_blocks=config_blocks,
        model_dir=str(tmp_path),
        **TINY,
    )
    model = tft.models.TextClassifier.from_preset(
        config.preset,
        num_classes=2,
        sequence_length=config.max_length,
        num_extra_blocks=model_blocks,
    )
    message = (
        rf"extra_blocks={config_blocks} but the model stacks {model_blocks} .*"
        rf"Received: a TextClassifier with num_extra_blocks={model_blocks}$"
    )
    with pytest.raises(ConfigError, match=message):
        Trainer(config, verbose=0).apply_strategy(model)


def test_a_test_file_without_a_train_file_and_a_missing_file_are_named(tmp_path):
    with pytest.raises(ValueError, match="need a train_source"):
        tft.training.load_classification_splits(ClassificationConfig(test_file="x.csv"))
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        tft.training.load_classification_splits(
            ClassificationConfig(train_file=str(tmp_path / "nope.csv"))
        )


# Head warmup with bfloat16 training: the warmup strategy test and the
# export test ask different things of one run.
WARMUP_IN_BFLOAT16 = {"head_warmup_steps": 2, "mixed_precision": "bfloat16"}


def strategy_run(preset, model_dir, **options):
    return run_classification(
        preset=preset,
        max_train_examples=32,
        max_eval_examples=8,
        model_dir=str(model_dir),
        **{**TINY, **options},
    )


@pytest.fixture(scope="module")
def warmup_in_bfloat16_run(small_vocabulary_preset, tmp_path_factory):
    """A `strategy_run` with `WARMUP_IN_BFLOAT16`, and its directory."""
    keras.utils.set_random_seed(1234)
    model_dir = tmp_path_factory.mktemp("warmup_in_bfloat16") / "run"
    run = strategy_run(small_vocabulary_preset, model_dir, **WARMUP_IN_BFLOAT16)
    return run, model_dir


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
        (WARMUP_IN_BFLOAT16, "warmup", lambda s: s["trainable_parameters"] > 0),
    ],
)
def test_each_strategy_setting_reaches_the_model(
    options, strategy_word, trainable_check, small_vocabulary_preset, request, tmp_path
):
    if options is WARMUP_IN_BFLOAT16:
        _, model_dir = request.getfixturevalue("warmup_in_bfloat16_run")
    else:
        model_dir = tmp_path
        strategy_run(small_vocabulary_preset, model_dir, **options)
    with open(model_dir / "training_summary.json") as f:
        summary = json.load(f)
    assert strategy_word.lower() in summary["strategy"].lower(), summary["strategy"]
    assert trainable_check(summary), summary
    # The counts are of the end of a schedule, which the summary names.
    schedules = {
        "gradual_unfreeze": "the head alone for the first 1 epoch(s), then one "
        "more encoder layer from the top every 1 epoch(s), the embeddings last",
        "head_warmup_steps": "the head alone for the first 2 steps",
    }
    schedule = next((v for k, v in schedules.items() if k in options), None)
    assert summary.get("schedule") == schedule, summary
    if options.get("lora_rank"):
        assert (model_dir / "adapters.lora.h5").exists()


def test_export_and_bfloat16_training(warmup_in_bfloat16_run, tmp_path):
    run, _ = warmup_in_bfloat16_run
    classifier, result = run.model, run.training
    assert classifier.backbone.dtype_policy.name == "mixed_bfloat16"
    assert np.isfinite(result.history["loss"]).all()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        path = tft.export.export_for_serving(
            classifier, str(tmp_path / "serving"), warmup_texts=["a fine film"]
        )
    # The trained model's optimizer state stays out of the export's copy.
    assert not [w for w in caught if "Skipping variable loading" in str(w.message)]
    assert (tmp_path / "serving" / "1" / "saved_model.pb").exists()
    assert path.endswith("1")


def test_augmentation_adds_copies_to_the_training_split(
    small_vocabulary_preset, tmp_path
):
    config = ClassificationConfig(
        preset=small_vocabulary_preset,
        max_train_examples=16,
        max_eval_examples=16,
        augment_copies=2,
        synonym_source="roget",
        model_dir=str(tmp_path / "run"),
        **TINY,
    )
    train, _, _ = tft.training.load_classification_splits(config)
    assert len(train) == 16 * 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"augment_copies": -1}, "augment_copies must be >= 0"),
        ({"augment_alpha": 1.5}, r"augment_alpha must be in \[0, 1\]"),
        # Accepted and ignored without copies.
        (
            {"augment_alpha": 0.3, "synonym_source": "roget"},
            r"augment_copies > 0 turns on. Received: augment_alpha=0.3, "
            r"synonym_source='roget' with augment_copies=0",
        ),
    ],
)
def test_bad_augmentation_settings(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ClassificationConfig(**kwargs)


def test_cross_validation_folds(small_vocabulary_preset, tmp_path, caplog, monkeypatch):
    # TensorFlow warns of retracing at most twice per function and process:
    # count afresh.
    monkeypatch.setattr(
        polymorphic_function,
        "_frequent_tracing_detector_manager",
        polymorphic_function._FrequentTracingDetectorManager(),
    )
    config = ClassificationConfig(
        preset=small_vocabulary_preset,
        max_train_examples=32,
        max_eval_examples=8,
        model_dir=str(tmp_path),
        **TINY,
    )
    pool = tft.training.load_classification_pool(config)
    train, validation, _ = tft.training.load_classification_splits(config)
    assert pool.texts == train.texts + validation.texts
    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        result = tft.training.cross_validate_classifier(config, pool, 3, verbose=0)
    # Each fold's model traces its own steps: no "retracing" false alarm.
    assert not [r for r in caplog.records if "retracing" in r.getMessage()]
    assert result.num_folds == 3
    assert 0.0 <= result.mean["accuracy"] <= 1.0
    assert (tmp_path / "cross_validation.json").exists()
    for fold in range(3):
        assert (tmp_path / f"fold_{fold}" / "model.keras").exists()
        # A fold trains without validation data: no epoch is picked on the
        # examples it is scored on.
        history = json.loads((tmp_path / f"fold_{fold}" / "history.json").read_text())
        assert history["history"]["loss"]
        assert not [name for name in history["history"] if name.startswith("val_")]
    with pytest.raises(ConfigError, match="num_folds=1"):
        tft.training.cross_validate_classifier(config, pool, num_folds=1)


def test_a_small_training_file_pools_whole(tmp_path):
    # Too few examples of a label to hold out a stratified 10%, which
    # cross-validation does not need.
    data = load_rotten_tomatoes("train")
    path = write_csv(tmp_path / "small.csv", data, 0, 16)
    config = ClassificationConfig(
        train_file=path, text_column="review", label_column="sentiment"
    )
    with pytest.raises(tft.data.DataError, match="stratified 10% .* label 'bad' has"):
        tft.training.load_classification_splits(config)
    pool = tft.training.load_classification_pool(config)
    assert pool.texts == data.texts[:16]
    assert pool.label_vocabulary == ("bad", "good")
    # A validation file joins the pool.
    other = write_csv(tmp_path / "other.csv", data, 100, 4)
    pool = tft.training.load_classification_pool(
        ClassificationConfig(
            train_file=path,
            validation_file=other,
            text_column="review",
            label_column="sentiment",
        )
    )
    assert pool.texts == data.texts[:16] + data.texts[100:104]


def _range_test(small_vocabulary_preset, model_dir, num_steps, **options):
    config = ClassificationConfig(
        preset=small_vocabulary_preset,
        max_train_examples=48,
        model_dir=str(model_dir),
        **{**TINY, **options},
    )
    trainer = Trainer(config, verbose=0)
    train, _, _ = tft.training.load_classification_splits(config)
    with trainer.scope():
        classifier = tft.training.build_text_classifier(config, train.label_vocabulary)
    before = [w.numpy().copy() for w in classifier.weights]
    result = tft.tuning.learning_rate_range_test(
        trainer, classifier, train, num_steps=num_steps
    )
    # The model is restored: the test trains nothing for good.
    for a, b in zip(before, classifier.weights):
        np.testing.assert_array_equal(a, b.numpy())
    with open(model_dir / "lr_finder.json") as f:
        return result, json.load(f)


def test_a_run_after_the_range_test_trains_as_without_it(
    small_vocabulary_preset, tmp_path
):
    # The test read the first epoch's dataset that `fit` then read again,
    # reshuffled: the run trained on other batches.
    def run(model_dir, range_test):
        config = ClassificationConfig(
            preset=small_vocabulary_preset,
            max_train_examples=48,
            model_dir=str(model_dir),
            tensorboard=False,
            calibrate=False,
            **TINY,
        )
        trainer = Trainer(config, verbose=0)
        train, validation, _ = tft.training.load_classification_splits(config)
        with trainer.scope():
            model = tft.training.build_text_classifier(config, train.label_vocabulary)
        trainer.compile(model, train)
        if range_test:
            tft.tuning.learning_rate_range_test(trainer, model, train, num_steps=3)
        trainer.fit(model, train, validation)
        return model.get_weights()

    for a, b in zip(run(tmp_path / "a", False), run(tmp_path / "b", True)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("num_steps", [6, 40])
def test_the_range_test_writes_the_curve(small_vocabulary_preset, tmp_path, num_steps):
    result, written = _range_test(small_vocabulary_preset, tmp_path / "run", num_steps)
    assert written["batch_size"] == TINY["batch_size"]
    assert written["suggestion"] == result.suggestion
    assert len(written["learning_rates"]) == result.num_steps <= num_steps
    if result.suggestion is not None:
        assert result.suggestion in result.learning_rates
    assert not (tmp_path / "run" / "model.keras").exists()


def test_the_range_test_measures_what_the_schedule_ends_up_training(
    small_vocabulary_preset, tmp_path
):
    # Gradual unfreezing starts with the head alone, but the peak learning
    # rate must suit every layer: the test trains what full fine-tuning
    # trains, and says so. A fixed freeze trains fewer parameters.
    _, full = _range_test(small_vocabulary_preset, tmp_path / "full", 3)
    _, gradual = _range_test(
        small_vocabulary_preset, tmp_path / "gradual", 3, gradual_unfreeze=True
    )
    _, frozen = _range_test(
        small_vocabulary_preset, tmp_path / "frozen", 3, freeze_layers=1
    )
    assert gradual["trainable_parameters"] == full["trainable_parameters"]
    assert frozen["trainable_parameters"] < full["trainable_parameters"]
    assert frozen["strategy"] == "freeze 1 layer"
    assert gradual["measured_with"].startswith("every layer the run trains")
    assert full["measured_with"] == frozen["measured_with"] != gradual["measured_with"]


def test_the_range_test_needs_three_steps(small_vocabulary_preset, tmp_path):
    with pytest.raises(ValueError, match="num_steps=2"):
        _range_test(small_vocabulary_preset, tmp_path, 2)


def test_the_example_scripts_take_their_settings_from_flags_and_files(
    small_vocabulary_preset, tmp_path
):
    # One real process: absl flags, --config and the exit status.
    config = tmp_path / "best.json"
    config.write_text(json.dumps({"freeze_layers": 1, "batch_size": 4}))
    model_dir = tmp_path / "run"
    completed = fork_server.run(
        [
            *python_command(),
            "examples/find_lr.py",
            f"--config={config}",
            "--batch_size=8",
            "--num_steps=4",
            "--max_train_examples=32",
            "--max_length=32",
            f"--preset={small_vocabulary_preset}",
            f"--model_dir={model_dir}",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        preload="tftransformer",
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    assert "command-line flags kept: ['batch_size']" in completed.stdout
    written = json.loads((model_dir / "lr_finder.json").read_text())
    assert written["batch_size"] == 8
    assert written["strategy"] == "freeze 1 layer"
