"""`compare_augmentation` (what `examples/augment_compare.py` calls), and
what the runs of several models refuse alike."""

import dataclasses
import json

import pytest

import tftransformer as tft
from tftransformer.training import ClassificationConfig


@dataclasses.dataclass
class Config(ClassificationConfig):
    # As a script declares it: the comparison needs copies. The baselines'
    # runs (no copies) failed this constraint.
    augment_copies: int = tft.training.setting(1, "EDA copies.", minimum=1)


def test_tiny_comparison(small_vocabulary_preset, tmp_path):
    config = Config(
        max_train_examples=12,
        augment_copies=1,
        epochs=1,
        batch_size=8,
        max_length=16,  # one padded length: one trace of each step
        max_eval_examples=10,
        preset=small_vocabulary_preset,
        synonym_source="roget",
        model_dir=str(tmp_path),
        tensorboard=False,
        # No temperature to fit: the comparison reports no calibration.
        calibrate=False,
    )
    summary = tft.training.compare_augmentation(config, verbose=0)
    results = summary.results
    assert list(results) == ["baseline", "eda", "baseline_same_steps"]
    assert [r["train_examples"] for r in results.values()] == [12, 24, 12]
    assert [r["epochs"] for r in results.values()] == [1, 1, 2]
    # The schedule lasts exactly the steps run: every batch of the length
    # buckets counted, at least ceil(12 / 8) = 2 an epoch for the subset.
    for r in results.values():
        assert r["steps"] == r["schedule_steps"]
    baseline, eda, same_steps = results.values()
    assert baseline["schedule_steps"] >= 2 and eda["schedule_steps"] >= 3
    assert same_steps["schedule_steps"] == 2 * baseline["schedule_steps"]
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1
    # The epoch scored: a run's best, which may come before its last step
    # (the table claimed the steps of all its epochs).
    assert [r["best_epoch"] for r in results.values()][:2] == [1, 1]
    assert same_steps["best_epoch"] in (1, 2)
    assert f"| {same_steps['steps']} | {same_steps['best_epoch']} |" in (
        summary.format()
    )
    assert summary.test_examples == 10
    assert len(summary.examples) == 3  # (text, EDA copy) pairs to show
    with open(tmp_path / "augment_compare.json") as f:
        written = json.load(f)["results"]
    assert {k: r["accuracy"] for k, r in written.items()} == pytest.approx(
        {k: r["accuracy"] for k, r in results.items()}
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="max_train_examples=0"):
        tft.training.compare_augmentation(
            ClassificationConfig(max_train_examples=0, augment_copies=1), verbose=0
        )
    with pytest.raises(ValueError, match="augment_copies=0"):
        tft.training.compare_augmentation(
            ClassificationConfig(max_train_examples=4, augment_copies=0), verbose=0
        )
    with pytest.raises(ValueError, match=r"augment_alpha must be in \[0, 1\]"):
        tft.training.compare_augmentation(
            ClassificationConfig(max_train_examples=4, augment_alpha=2.0), verbose=0
        )
    with pytest.raises(ValueError, match="seed=-1"):
        tft.training.compare_augmentation(
            ClassificationConfig(max_train_examples=4, seed=-1), verbose=0
        )


@pytest.mark.parametrize(
    "function",
    [
        lambda config: tft.training.compare_augmentation(config, verbose=0),
        lambda config: tft.training.distill_classifier(config, 1, verbose=0),
        lambda config: tft.training.shrink_classifier(config, 1, 0, verbose=0),
        lambda config: tft.training.cross_validate_classifier(
            config, tft.datasets.load_rotten_tomatoes("validation"), 2, verbose=0
        ),
    ],
)
def test_runs_of_several_models_refuse_an_export_dir(function, tmp_path):
    # They export none of their models: a script's --export_dir was ignored.
    config = ClassificationConfig(
        augment_copies=1,
        model_dir=str(tmp_path / "run"),
        export_dir=str(tmp_path / "serving"),
    )
    with pytest.raises(ValueError, match=r"exports none of them.*export_dir='"):
        function(config)
    assert not (tmp_path / "run").exists() and not (tmp_path / "serving").exists()
