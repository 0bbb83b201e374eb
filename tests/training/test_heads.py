"""Multi-label classification, regression and sentence pairs through the
library: runs, reports, saved models, exports, recipes and bad settings."""

import csv
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tests import fork_server
from tests.fast_exit import python_command
from tftransformer.datasets import load_word_affect
from tftransformer.training import (
    ClassificationConfig,
    ConfigError,
    MultiLabelConfig,
    RegressionConfig,
    Trainer,
)

TINY = dict(
    epochs=1,
    batch_size=8,
    max_length=32,
    learning_rate=1e-3,
    max_train_examples=24,
    max_eval_examples=16,
)


# A client process with TensorFlow and TF Text only: keras-hub and this
# package are made unimportable before anything loads.
CLIENT = """
import json, os, sys
for name in ("keras_hub", "tftransformer"):
    sys.modules[name] = None
import tensorflow as tf
import tensorflow_text  # noqa: F401
serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
inputs = json.loads(sys.stdin.read())
outputs = serve(**{k: tf.constant(v, dtype=tf.string) for k, v in inputs.items()})
def plain(value):
    if value.dtype == tf.string:
        return [plain_bytes(v) for v in value.numpy().tolist()]
    return value.numpy().tolist()
def plain_bytes(v):
    return [plain_bytes(x) for x in v] if isinstance(v, list) else v.decode()
print(json.dumps({k: plain(v) for k, v in outputs.items()}), flush=True)
os._exit(0)  # TensorFlow's teardown at exit checks nothing read here.
"""


def serve(version_dir, **inputs):
    """The export's outputs for `inputs`, served in a clean process."""
    process = fork_server.run(
        [*python_command(), "-c", CLIENT, str(version_dir)],
        input=json.dumps(inputs),
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    outputs = json.loads(process.stdout.strip().splitlines()[-1])
    # Strings stay nested lists of `str`; numbers become arrays.
    return {
        key: value if np.asarray(value).dtype.kind == "U" else np.array(value)
        for key, value in outputs.items()
    }


def write_pairs(path, data, target):
    """Word pairs of the embedded affect data with a target column."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["first", "second", "score", "label"])
        for i in range(0, 80, 2):
            a, b = data.texts[i], data.texts[i + 1]
            score = (data.targets[i, 0] + data.targets[i + 1, 0]) / 2
            writer.writerow([a, b, f"{score:.3f}", target(score)])
    return str(path)


def test_a_multi_label_run_calibrates_tunes_reports_and_exports(
    small_vocabulary_preset, tmp_path
):
    config = MultiLabelConfig(
        preset=small_vocabulary_preset, model_dir=str(tmp_path), **TINY
    )
    run = tft.training.train_multi_label_classifier(config, verbose=0)
    model = run.model
    with open(tmp_path / "report.json") as f:
        report = json.load(f)
    assert report["label_names"] == list(tft.datasets.WNUT16_ENTITY_TYPES)
    assert set(report["averages"]) == {"micro", "macro", "samples"}
    for key in ("subset_accuracy", "hamming_loss", "roc_auc", "thresholds"):
        assert key in report, key
    assert report["calibration"]["temperature"] == model.temperature != 1.0
    assert list(report["thresholds"].values()) == model.decision_thresholds()
    for name in ("reliability_diagram.png", "training_curves.png"):
        assert (tmp_path / name).stat().st_size > 0
    # The fitted temperature and thresholds are saved with the model.
    reloaded = keras.saving.load_model(run.training.model_path)
    assert isinstance(reloaded, tft.models.MultiLabelClassifier)
    assert reloaded.thresholds == model.thresholds
    assert reloaded.temperature == model.temperature
    # The export answers the calibrated probabilities and the label sets.
    texts = list(run.test.texts[:5])
    outputs = serve(tft.export.export_for_serving(model, tmp_path / "srv"), text=texts)
    logits = model.predict(texts, verbose=0)
    expected = tft.evaluation.sigmoid_probabilities(logits, model.temperature)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=1e-5)
    predicted = expected >= np.array(model.decision_thresholds())
    names = model.label_names
    for row, mask in zip(outputs["labels"], predicted):
        assert [n for n in row if n] == [n for n, m in zip(names, mask) if m]
    # Rerun in the same directory: resumed from the finished checkpoint, the
    # same weights give the same temperature and thresholds.
    again = tft.training.train_multi_label_classifier(config, verbose=0)
    assert again.training.history == run.training.history
    assert again.model.temperature == pytest.approx(model.temperature)
    assert again.model.thresholds == model.thresholds
    # Another task's run in that directory is refused before any training.
    with pytest.raises(ValueError, match=str(tmp_path)):
        tft.training.train_text_regressor(
            RegressionConfig(
                preset=small_vocabulary_preset, model_dir=str(tmp_path), **TINY
            ),
            verbose=0,
        )


def test_a_regression_run_on_sentence_pairs_reports_and_exports(
    small_vocabulary_preset, tmp_path
):
    path = write_pairs(tmp_path / "pairs.csv", load_word_affect("train"), str)
    config = RegressionConfig(
        preset=small_vocabulary_preset,
        train_file=path,
        text_column="first",
        text_pair_column="second",
        target_columns="score",
        loss="huber",
        model_dir=str(tmp_path / "run"),
        **TINY,
    )
    run = tft.training.train_text_regressor(config, verbose=0)
    model = run.model
    with open(tmp_path / "run" / "report.json") as f:
        per_target = json.load(f)["per_target"]["score"]
    assert set(per_target) == {"rmse", "mae", "pearson", "spearman"}
    assert (tmp_path / "run" / "predicted_vs_true.png").stat().st_size > 0
    mean, std = model.standardization()
    assert mean[0] == pytest.approx(run.train.targets.mean(), abs=1e-5)
    assert std[0] == pytest.approx(run.train.targets.std(), abs=1e-5)
    reloaded = keras.saving.load_model(run.training.model_path)
    assert reloaded.target_mean == model.target_mean
    assert reloaded.regression_loss == "huber"
    firsts, seconds = ["happy", "dark"], ["bright", "sad"]
    expected = model.predict_targets((tf.constant(firsts), tf.constant(seconds)))
    version = tft.export.export_for_serving(model, tmp_path / "srv", text_pair=True)
    outputs = serve(version, text=firsts, text_pair=seconds)
    np.testing.assert_allclose(outputs["score"], expected, atol=1e-4)


def test_pair_classification_trains_and_exports_two_inputs(
    small_vocabulary_preset, tmp_path
):
    path = write_pairs(
        tmp_path / "pairs.csv",
        load_word_affect("train"),
        lambda score: "pleasant" if score > 1.9 else "not",
    )
    config = ClassificationConfig(
        preset=small_vocabulary_preset,
        train_file=path,
        text_column="first",
        text_pair_column="second",
        model_dir=str(tmp_path / "run"),
        **TINY,
    )
    run = tft.training.train_text_classifier(config, verbose=0)
    assert run.test.text_pairs is not None
    assert run.report.calibration is not None
    version = tft.export.export_for_serving(run.model, tmp_path / "srv", text_pair=True)
    outputs = serve(version, text=["happy"], text_pair=["sad"])
    assert outputs["label"][0] in ("not", "pleasant")


RECIPES = [
    {"freeze_backbone": True},
    {"freeze_layers": 1},
    {"lora_rank": 2},
    {"layer_decay": 0.5},
    {"gradual_unfreeze": True},
    {"head_warmup_steps": 2},
]


@pytest.mark.parametrize("task", ["multi_label", "regression"])
@pytest.mark.parametrize("recipe", RECIPES, ids=lambda r: next(iter(r)))
def test_every_recipe_applies_to_the_new_heads(
    task, recipe, small_vocabulary_preset, tmp_path
):
    common = dict(
        preset=small_vocabulary_preset, model_dir=str(tmp_path), max_length=16
    )
    if task == "multi_label":
        config = MultiLabelConfig(**common, **recipe)
        model = tft.training.build_multi_label_classifier(config, ["a", "b", "c"])
    else:
        config = RegressionConfig(**common, **recipe)
        train = tft.data.RegressionData(["x", "y"], [[1.0], [2.0]], ("t",))
        model = tft.training.build_text_regressor(config, train)
    trainable = len(model.trainable_weights)
    name = Trainer(config, verbose=0).apply_strategy(model)
    if (
        "freeze_backbone" in recipe
        or "freeze_layers" in recipe
        or "lora_rank" in recipe
    ):
        assert len(model.trainable_weights) != trainable, name
    assert name != "full fine-tuning"


@pytest.mark.parametrize(
    "config_class, settings, message",
    [
        (MultiLabelConfig, {"class_weighting": True}, "single-label"),
        (MultiLabelConfig, {"augment_copies": 1}, "single-label"),
        (MultiLabelConfig, {"threshold_tuning": "best"}, "threshold_tuning must be"),
        (MultiLabelConfig, {"label_delimiter": ""}, "label_delimiter="),
        (RegressionConfig, {"calibrate": True}, "classification only"),
        (RegressionConfig, {"label_smoothing": 0.1}, "classification only"),
        (
            RegressionConfig,
            {"label_column": "score"},
            r"from target_columns .*Received: label_column='score'",
        ),
        (RegressionConfig, {"target_columns": " , "}, "at least one column"),
        (RegressionConfig, {"loss": "l1"}, "loss must be one of"),
    ],
)
def test_bad_settings_are_refused(config_class, settings, message):
    with pytest.raises(ConfigError, match=message):
        config_class(**settings)


def test_models_refuse_bad_arguments(small_vocabulary_preset):
    with pytest.raises(ValueError, match="num_labels=1"):
        tft.models.MultiLabelClassifier.from_preset(
            small_vocabulary_preset, 16, num_labels=1
        )
    with pytest.raises(ValueError, match=r"thresholds must hold 2 numbers in \(0, 1\)"):
        tft.models.MultiLabelClassifier.from_preset(
            small_vocabulary_preset, 16, num_labels=2, thresholds=[0.5, 1.5]
        )
    with pytest.raises(ValueError, match="target_std must hold 1 positive"):
        tft.models.TextRegressor.from_preset(
            small_vocabulary_preset, 16, num_targets=1, target_std=[0]
        )
