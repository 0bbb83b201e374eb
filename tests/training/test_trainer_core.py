"""The Trainer as a user's own short script calls it."""

import json
import os
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tftransformer.training import ClassificationConfig, ConfigError, Trainer
from tftransformer.training.checkpointing import CHECKPOINT_FILE, read_checkpoint

TEXTS = ["a fine film", "a dull mess", "great fun", "boring and long"] * 4
LABELS = [1, 0, 1, 0] * 4


def _data():
    return tft.data.TextClassificationData(
        TEXTS, LABELS, ("negative", "positive"), source="test"
    )


def test_a_short_user_script_gets_a_resumable_run(tiny_preset, tmp_path, monkeypatch):
    config = ClassificationConfig(
        preset=tiny_preset,
        epochs=2,
        batch_size=4,
        max_length=16,
        learning_rate=1e-3,
        freeze_layers=1,
        fused_encoder=True,
        model_dir=str(tmp_path / "run"),
    )
    trainer = Trainer(config, verbose=0)
    with trainer.scope():
        model = tft.models.TextClassifier.from_preset(
            config.preset, num_classes=2, sequence_length=config.max_length
        )
    result = trainer.fit(model, _data(), _data())
    assert result.strategy == "freeze 1 layer"
    assert len(result.history["val_accuracy"]) == 2
    run_dir = tmp_path / "run"
    for name in ("model.keras", "history.json", "training_summary.json"):
        assert (run_dir / name).is_file(), name
    saved = json.loads((run_dir / "history.json").read_text())
    assert saved["history"]["loss"] == result.history["loss"]
    # Every setting, as a `--config` file gives it back.
    values = tft.training.load_config_file(
        str(run_dir / "run_config.json"), ClassificationConfig
    )
    assert ClassificationConfig(**values) == config
    # The model file is its weights and config (the optimizer's state is
    # in backup/), and loads without a warning.
    weight_bytes = sum(int(np.prod(w.shape)) * 4 for w in model.weights)
    assert os.path.getsize(run_dir / "model.keras") < 1.25 * weight_bytes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loaded = keras.saving.load_model(run_dir / "model.keras")
    np.testing.assert_allclose(
        loaded.predict(TEXTS[:2], verbose=0),
        model.predict(TEXTS[:2], verbose=0),
        atol=1e-5,
    )
    # The finished run's backup holds the final weights, not the
    # optimizer's slots (a rerun trains no further).
    _, state = read_checkpoint(run_dir / "backup" / CHECKPOINT_FILE)
    assert state["finished"] and "optimizer_variables" not in state
    # The best epoch's weights and the last stay (keep_checkpoints=1).
    assert len(list((run_dir / "checkpoints").glob("*.weights.h5"))) in (1, 2)
    # The model ends with the weights of the epoch the run names.
    assert saved["best_epoch"] == result.best_epoch in (1, 2)
    best = keras.saving.load_model(run_dir / "model.keras")
    best.load_weights(
        run_dir / "checkpoints" / f"epoch_{result.best_epoch:03d}.weights.h5"
    )
    for kept, saved_weights in zip(model.get_weights(), best.get_weights()):
        np.testing.assert_array_equal(kept, saved_weights)
    # The embeddings and the first layer are frozen; the blocks trained on
    # the fused path, and the saved model is keras-hub's.
    assert not model.backbone.get_layer("transformer_layer_0").trainable
    assert model.backbone.get_layer("transformer_layer_1").trainable
    assert "call" in vars(model.backbone.get_layer("transformer_layer_1"))
    assert "call" not in vars(loaded.backbone.get_layer("transformer_layer_1"))

    # Run again: the final checkpoint is kept, so nothing trains again and
    # the history is the first run's.
    trainer = Trainer(config, verbose=0)
    with trainer.scope():
        again = tft.models.TextClassifier.from_preset(
            config.preset, num_classes=2, sequence_length=config.max_length
        )
    rerun = trainer.fit(again, _data(), _data())
    assert rerun.history == result.history
    assert rerun.best_epoch == result.best_epoch
    np.testing.assert_array_equal(
        again.get_layer("logits").kernel.numpy(),
        model.get_layer("logits").kernel.numpy(),
    )

    # Other settings in the same directory are refused before any work.
    changed = ClassificationConfig(**{**config.to_dict(), "learning_rate": 1e-4})
    with pytest.raises(ValueError, match="learning_rate"):
        Trainer(changed, verbose=0).fit(again, _data(), _data())

    # So is another global batch: a checkpoint's step counts batches of
    # batch_size times the replicas, and a resume on another number of
    # replicas skipped other examples (a run killed on one machine and
    # resumed on one with more devices).
    assert state["run_config"]["global_batch_size"] == 4
    on_two_replicas = Trainer(config, verbose=0)
    monkeypatch.setattr(Trainer, "global_batch_size", property(lambda self: 8))
    message = r"global_batch_size: 4 then, 8 now \(batch_size times the replicas"
    with pytest.raises(ValueError, match=message):
        on_two_replicas.fit(again, _data(), _data())


def test_packed_training_runs_through_the_trainer(tiny_preset, tmp_path):
    config = ClassificationConfig(
        preset=tiny_preset,
        epochs=1,
        batch_size=2,
        max_length=16,
        pack_sequences=True,
        # Class weights reach packed rows' slots (fit maps them there).
        class_weighting=True,
        model_dir=str(tmp_path / "run"),
    )
    trainer = Trainer(config, verbose=0)
    with trainer.scope():
        model = tft.models.TextClassifier.from_preset(
            config.preset, num_classes=2, sequence_length=config.max_length
        )
    train = trainer.dataset(_data(), model, training=True)
    features, labels = next(iter(train))
    # Rows of several texts; a label per row slot.
    assert features["token_ids"].shape == (2, 16)
    assert labels.shape == features["text_mask"].shape
    assert features["text_mask"].numpy().sum() > 2
    result = trainer.fit(model, _data(), _data())
    assert np.isfinite(result.history["loss"][0])
    # Validation reads unpacked batches, one text a row.
    assert 0 <= result.history["val_accuracy"][0] <= 1
    # The summary says how many texts a batch of rows holds.
    with open(tmp_path / "run" / "training_summary.json") as f:
        packing = json.load(f)["packing"]
    masks = [features["padding_mask"].numpy() for features, _ in train]
    unpacked = [
        features["padding_mask"].numpy().sum(axis=1)
        for features, _ in trainer.dataset(_data(), model)
    ]
    assert packing == {
        "texts": len(_data().texts),
        "rows": sum(len(mask) for mask in masks),
        "batch_rows": 2,
        "row_length": 16,
        "longest_text": int(np.concatenate(unpacked).max()),
        "padded_token_share": pytest.approx(1 - np.mean(np.concatenate(masks))),
    }
    assert packing["rows"] < packing["texts"]


def test_a_training_config_trains_any_model_on_datasets(tmp_path):
    config = tft.training.TrainingConfig(
        epochs=2, learning_rate=1e-2, model_dir=str(tmp_path / "run"), patience=5
    )
    trainer = Trainer(config, verbose=0)
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    # The model used afterwards, trained inside another one.
    inner = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model = keras.Sequential([keras.Input((3,)), inner])
    trainer.compile(model, num_train_steps=8, loss="mse")
    data = tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
    result = trainer.fit(model, lambda epoch: data, data, final_model=inner)
    assert result.strategy == "training every layer"
    assert result.history["val_loss"][1] < result.history["val_loss"][0]
    # model.keras holds the final model alone, as trained.
    saved = keras.saving.load_model(result.model_path)
    assert [layer.name for layer in saved.layers] == [inner.layers[0].name]
    for a, b in zip(saved.get_weights(), inner.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(
    "schedule, schedule_cls, end",
    [
        ("linear", tft.finetune.WarmupLinearDecay, 0.0),
        ("cosine", tft.finetune.WarmupCosineDecay, 0.0),
        ("constant", tft.finetune.WarmupLinearDecay, 1e-2),
    ],
)
def test_the_config_chooses_the_learning_rate_schedule(
    schedule, schedule_cls, end, tmp_path
):
    config = tft.training.TrainingConfig(
        learning_rate=1e-2,
        warmup_fraction=0.2,
        learning_rate_schedule=schedule,
        model_dir=str(tmp_path / "run"),
    )
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    Trainer(config, verbose=0).compile(model, num_train_steps=10, loss="mse")
    rate = model.optimizer._learning_rate
    assert type(rate) is schedule_cls
    assert (rate.peak_learning_rate, rate.warmup_steps, rate.end_learning_rate) == (
        1e-2,
        2,
        end,
    )


def test_a_model_reading_texts_at_another_length_is_refused(tiny_preset, tmp_path):
    # The quick start's from_preset without sequence_length: the preset's
    # own length (64) against the config's max_length (128, past the tiny
    # preset's 64 positions) failed deep in the graph; at 32 it trained at
    # 32 tokens and predicted at 64.
    for max_length in (128, 32):
        config = ClassificationConfig(
            preset=tiny_preset, max_length=max_length, model_dir=str(tmp_path / "run")
        )
        trainer = Trainer(config, verbose=0)
        with trainer.scope():
            model = tft.models.TextClassifier.from_preset(tiny_preset, num_classes=2)
        assert model.preprocessor.sequence_length == 64
        message = f"sequence_length=64, max_length={max_length}"
        with pytest.raises(ValueError, match=message):
            trainer.fit(model, _data(), _data())
    assert not (tmp_path / "run").exists()


def test_a_final_model_that_is_not_a_model_is_refused(tmp_path):
    trainer = Trainer(tft.training.TrainingConfig(model_dir=str(tmp_path / "run")))
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    data = tf.data.Dataset.from_tensor_slices(([[1.0]], [[1.0]])).batch(1)
    with pytest.raises(ValueError, match="final_model='embedder'"):
        trainer.fit(model, data, final_model="embedder")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("model_dir", ["/proc/tftransformer-run", "/dev/null/run"])
def test_a_model_dir_that_cannot_be_made_is_refused_clearly(model_dir):
    trainer = Trainer(tft.training.TrainingConfig(model_dir=model_dir), verbose=0)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    data = tf.data.Dataset.from_tensor_slices(([[1.0]], [[1.0]])).batch(1)
    with pytest.raises(ConfigError, match="model_dir cannot be created"):
        trainer.fit(model, data)
    assert not os.path.exists(model_dir)


def test_gradient_accumulation_is_refused_on_several_replicas():
    class TwoReplicas:
        num_replicas_in_sync = 2

        def scope(self):
            raise AssertionError("not reached")

    config = tft.training.TrainingConfig(gradient_accumulation_steps=2)
    with pytest.raises(ConfigError, match="runs on one replica only"):
        Trainer(config, strategy=TwoReplicas())


def test_the_trainer_takes_only_configs():
    with pytest.raises(ConfigError, match="TrainingConfig"):
        Trainer({"epochs": 1})


@pytest.mark.parametrize("verbose", [0, 1])
def test_the_run_prints_its_splits_when_verbose(verbose, tmp_path, capsys):
    trainer = Trainer(ClassificationConfig(model_dir=str(tmp_path)), verbose=verbose)
    trainer.print_splits(_data(), TEXTS[:3], TEXTS[:2], "labels ['a', 'b']")
    trainer.print_splits(TEXTS, [], TEXTS[:1], unit="sentences")
    # Without a test file the loaders test on the validation examples.
    validation = _data().take([0, 1])
    trainer.print_splits(_data(), validation, validation.take([0, 1]))
    expected = (
        "Data: 16 train (test), 3 validation, 2 test; labels ['a', 'b']\n"
        "Data: 16 train, 0 validation, 1 test sentences\n"
        "Data: 16 train (test), 2 validation, 2 test (the validation examples: "
        "give a test file for an unbiased score)\n"
    )
    assert capsys.readouterr().out == (expected if verbose else "")


@pytest.mark.parametrize(
    "values, mode",
    [
        ([0.5, 0.5], "max"),  # a tie keeps the first
        ([0.4, 0.6, 0.6, 0.5], "max"),
        ([float("nan"), 0.3, 0.2], "min"),
        ([0.7, 0.8], "min"),
        ([0.3, float("nan"), 0.2], "min"),
        ([float("nan"), float("nan")], "max"),
    ],
)
def test_the_best_epoch_is_the_one_early_stopping_restores(values, mode):
    from tftransformer.training.trainer import _best_epoch

    stopping = keras.callbacks.EarlyStopping(
        monitor="score", mode=mode, patience=100, restore_best_weights=True
    )
    stopping.set_model(keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)]))
    stopping.on_train_begin()
    for epoch, value in enumerate(values):
        stopping.on_epoch_end(epoch, {"score": value})
    assert _best_epoch(values, mode) == stopping.best_epoch + 1
