"""Long-document classification through the library: `LongDocumentConfig`
and `train_long_document_classifiers` (what `examples/long_documents.py`
calls)."""

import json
import os

import keras
import numpy as np
import pytest

import tftransformer as tft
from tftransformer.datasets import load_political_speeches
from tftransformer.models import LongDocumentClassifier
from tftransformer.training import LongDocumentConfig


def run_long_documents(**settings):
    """`train_long_document_classifiers` on `LongDocumentConfig(**settings)`."""
    config = LongDocumentConfig(**settings)
    return tft.training.train_long_document_classifiers(config, verbose=0)


TINY = dict(
    max_train_examples=8,
    max_eval_examples=6,
    epochs=1,
    batch_size=4,
    max_length=32,
    stride=16,
    max_chunks=3,
)


def test_run_compares_the_variants(small_vocabulary_preset, tmp_path):
    # A kill's torn temporary goes.
    (tmp_path / ".tmp-0123456789ab-report.json").write_text("torn")
    result = run_long_documents(
        preset=small_vocabulary_preset,
        model_dir=str(tmp_path),
        variants="attention,truncate",
        **TINY,
    )
    assert set(result.results) == {"attention", "truncate"}
    for variant, scores in result.results.items():
        assert 0 <= scores["accuracy"] <= 1 and 0 <= scores["macro_f1"] <= 1
        assert result.reports[variant].support.sum() == 6
        assert "val_accuracy" in scores["history"]
    # The majority baseline, recomputed from the same subsets.
    train = load_political_speeches("train").sample(8, 0)
    test = load_political_speeches("test").sample(6, 0)
    majority = np.bincount(train.labels).argmax()
    assert result.majority_accuracy == pytest.approx(np.mean(test.labels == majority))
    # Speeches are longer than 3 chunks of 30 pieces.
    assert result.chunk_stats["mean_chunks"] > 2
    assert 0 < result.chunk_stats["covered_fraction"] < 1

    with open(tmp_path / "report.json") as f:
        saved = json.load(f)["results"]
    assert saved["attention"]["accuracy"] == pytest.approx(
        result.results["attention"]["accuracy"]
    )
    assert sorted(os.listdir(tmp_path)) == ["attention", "report.json", "truncate"]
    # A rerun that fails leaves the directory as it was.
    report = (tmp_path / "report.json").read_text()
    with pytest.raises(FileNotFoundError):
        run_long_documents(
            preset=str(tmp_path / "no-such-preset"),
            model_dir=str(tmp_path),
            variants="truncate",
            **TINY,
        )
    assert sorted(os.listdir(tmp_path)) == ["attention", "report.json", "truncate"]
    assert (tmp_path / "report.json").read_text() == report
    truncate = keras.saving.load_model(tmp_path / "truncate" / "model.keras")
    attention = keras.saving.load_model(tmp_path / "attention" / "model.keras")
    assert isinstance(truncate, LongDocumentClassifier)
    assert (truncate.max_chunks, attention.max_chunks) == (1, 3)
    assert attention.pooling == "attention" and truncate.pooling == "mean"
    # Each variant's temperature, fitted on validation data, is saved with
    # it; the report judges it on the test split.
    for variant, model in (("truncate", truncate), ("attention", attention)):
        calibration = saved[variant]["calibration"]
        assert model.temperature != 1.0
        assert calibration["temperature"] == pytest.approx(model.temperature)
        assert sum(calibration["after"]["bins"]["count"]) == 6
        assert {"ece", "nll"} <= set(calibration["before"])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"variants": "attention,sum"}, "variants"),
        ({"epochs": 0}, "epochs=0"),
        ({"stride": -1}, "stride=-1"),
        (
            {"max_length": 32, "stride": 31},
            r"max_length - 2 = 30\]. Received: stride=31",
        ),
        ({"max_length": 2, "stride": 1}, "max_length=2"),
        ({"seed": -1}, "seed=-1"),
        ({"extra_blocks": 1}, "Received: extra_blocks=1"),
    ],
)
def test_bad_flags_are_refused_before_loading(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run_long_documents(preset="no/such/preset", model_dir=str(tmp_path), **kwargs)
    assert not os.listdir(tmp_path)
