"""`search_text_classifier` (what `examples/tune.py` calls)."""

import csv
import dataclasses
import json
import random

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.evaluation import evaluate_classifier
from tftransformer.training import ClassificationConfig, load_classification_splits
from tftransformer.tuning import (
    SearchConfig,
    format_trial_table,
    load_run_config,
    search_text_classifier,
)

# The settings of a classification run among them.
TINY_RUN = dict(max_length=32, max_train_examples=24, max_eval_examples=16)
TINY = dict(**TINY_RUN, run_eagerly=True)


def search(**kwargs):
    return search_text_classifier(SearchConfig(**kwargs), verbose=0)


def test_search_writes_best_config_for_classify(small_vocabulary_preset, tmp_path):
    space = tmp_path / "space.json"
    space.write_text(
        json.dumps(
            {
                "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
                "batch_size": [8, 16],
                "dropout": 0.0,
            }
        )
    )
    result = search(
        preset=small_vocabulary_preset,
        space_file=str(space),
        max_trials=2,
        directory=str(tmp_path),
        compare_default=True,
        distribution="mirrored",
        **TINY,
    )
    # Every trial builds and trains its model in the chosen strategy.
    assert isinstance(
        result["tuner"].distribution_strategy, tf.distribute.MirroredStrategy
    )
    assert [r["status"] for r in result["trials"]] == ["COMPLETED"] * 2
    best = result["best_config"]
    assert 1e-4 <= best["learning_rate"] <= 1e-2 and best["batch_size"] in (8, 16)
    # best.json trains the best trial again: the best values, and the
    # search's settings that are not a classification run's defaults.
    assert best == {
        "preset": small_vocabulary_preset,
        "epochs": 1,
        **TINY_RUN,
        "learning_rate": best["learning_rate"],
        "batch_size": best["batch_size"],
        "dropout": 0.0,
    }
    assert result["objective"] == "val_accuracy"
    assert result["best_val_accuracy"] == max(r["score"] for r in result["trials"])
    for prefix in ("best_test", "default_test", "default_val"):
        for key in (f"{prefix}_accuracy", f"{prefix}_macro_f1"):
            if key != "default_val_macro_f1":
                assert 0.0 <= result[key] <= 1.0, key

    # best.json is what classify.py --config reads.
    names = [f.name for f in dataclasses.fields(ClassificationConfig)]
    assert load_run_config(result["best_config_path"], names) == best
    with open(tmp_path / "search" / "search_report.json") as f:
        assert json.load(f)["best_config"] == best

    # The same search resumes with nothing left to run; another one is
    # refused before any trial, naming what changed.
    again = dict(
        preset=small_vocabulary_preset,
        space_file=str(space),
        directory=str(tmp_path),
        evaluate_test=False,
        **TINY,
    )
    assert search(max_trials=2, **again)["trials"] == result["trials"]
    with pytest.raises(ValueError, match="other settings: .*search_space: "):
        search(**{**again, "space_file": None, "hp": ["learning_rate=1e-3"]})
    with pytest.raises(ValueError, match="data_sha256"):
        search(**{**again, "max_train_examples": 20})
    with pytest.raises(ValueError, match="epochs: 1 then, 2 now"):
        search(**{**again, "epochs": 2})


def one_trial(preset, directory, **settings):
    """A search of one trial, without the test split or the default run."""
    return search(
        preset=preset,
        max_trials=1,
        directory=str(directory),
        evaluate_test=False,
        compare_default=False,
        **TINY,
        **settings,
    )


def test_best_config_of_a_lora_trial_trains_without_the_fixed_freezing(
    small_vocabulary_preset, tmp_path
):
    # freeze_layers is searched only in trials without LoRA: the best trial,
    # with LoRA, left it out, and best.json took the search's fixed
    # --freeze_layers=1, a config that classify.py refuses (and not the
    # trial, which froze nothing).
    # The one trial this seed draws has LoRA (asserted below).
    result = one_trial(
        small_vocabulary_preset,
        tmp_path,
        hp=["lora_rank=0,4", "freeze_layers=0..1"],
        freeze_layers=1,
    )
    best = result["best_config"]
    assert best["lora_rank"] == 4 and best["freeze_layers"] == 0, best
    names = [f.name for f in dataclasses.fields(ClassificationConfig)]
    config = ClassificationConfig(**load_run_config(result["best_config_path"], names))
    assert (config.lora_rank, config.freeze_layers) == (4, 0)


def test_a_search_whose_every_trial_fails_names_the_first_failure(
    small_vocabulary_preset, tmp_path
):
    with pytest.raises(
        ValueError,
        match=r"No trial of the search in .* completed \(1 failed, recorded in "
        r".*failed_trials.json'\); the first: FailedTrialError: Non-finite "
        r"training loss",
    ):
        one_trial(
            small_vocabulary_preset,
            tmp_path,
            hp=["learning_rate=1e36..1e37:log"],
            warmup_fraction=0.0,
        )


def write_word_csv(path, rows, positive_every):
    """Two words of the row's class and one of the other, shuffled: a tiny
    model learns it in two epochs, not perfectly."""
    rng = random.Random(rows)
    words = ["awful dull bad poor sad".split(), "great fun good fine nice".split()]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        for row in range(rows):
            label = int(row % positive_every == 0)
            text = [rng.choice(words[label]) for _ in range(2)]
            text.append(rng.choice(words[1 - label]))
            rng.shuffle(text)
            writer.writerow([" ".join(text), ["negative", "positive"][label]])
    return str(path)


@pytest.mark.parametrize("monitor", ["val_macro_f1", "val_loss"])
def test_trials_are_ranked_by_the_monitored_metric(
    small_vocabulary_preset, tmp_path, monitor
):
    config = SearchConfig(
        preset=small_vocabulary_preset,
        train_file=write_word_csv(tmp_path / "train.csv", 32, 2),
        # Imbalanced, so that macro F1 and accuracy differ.
        validation_file=write_word_csv(tmp_path / "validation.csv", 16, 4),
        test_file=write_word_csv(tmp_path / "test.csv", 8, 2),
        hp=["learning_rate=3e-3,1e-2"],
        max_trials=2,
        epochs=2,
        directory=str(tmp_path),
        evaluate_test=False,
        monitor=monitor,
        max_length=32,
        run_eagerly=True,
    )
    result = search_text_classifier(config, verbose=0)
    trials = result["trials"]
    scores = [trial["score"] for trial in trials]
    assert [t["status"] for t in trials] == ["COMPLETED"] * 2 and len(set(scores)) == 2
    best = max(scores) if monitor == "val_macro_f1" else min(scores)
    assert result["objective"] == monitor and result[f"best_{monitor}"] == best
    best_trial = trials[scores.index(best)]
    # A run of best.json keeps the checkpoint the trials were ranked by.
    assert result["best_config"] == {
        "preset": small_vocabulary_preset,
        "train_file": config.train_file,
        "validation_file": config.validation_file,
        "test_file": config.test_file,
        "epochs": 2,
        "max_length": 32,
        "monitor": monitor,
        **best_trial["values"],
    }
    names = [f.name for f in dataclasses.fields(ClassificationConfig)]
    assert load_run_config(result["best_config_path"], names) == result["best_config"]
    # The table lists the best first, whichever end of the scores that is.
    table = format_trial_table(trials, monitor).splitlines()
    assert monitor in table[0] and f"| {best_trial['trial_id']} |" in table[2]

    # The best score is the metric of the best trial's model (its best
    # epoch's weights) on the validation split, not its accuracy.
    _, validation, _ = load_classification_splits(config)
    model = result["tuner"].get_best_models(1)[0]
    report, probabilities = evaluate_classifier(
        model, list(validation.texts), validation.labels
    )
    assert report.accuracy != pytest.approx(best, abs=1e-3)
    if monitor == "val_macro_f1":
        assert report.averages["macro"]["f1"] == pytest.approx(best, abs=1e-5)
    else:
        rows = np.arange(len(validation.labels))
        loss = -np.log(probabilities[rows, validation.labels]).mean()
        assert loss == pytest.approx(best, rel=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"hp": ["droput=0.1"]}, "Did you mean 'dropout'"),
        ({"hp": ["learning_rate=1e-3..1e-5:log"]}, "min < max"),
        ({"hp": ["freeze_layers=0..3"]}, "2 encoder layers"),
        ({"hp": ["dropout=0.1"], "space_file": "space.json"}, "not both"),
        ({"epochs": 0}, "epochs=0"),
        ({"seed": -1}, "seed=-1"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows="),
        ({"monitor": "val_f1"}, r"monitor must be one of .*'val_macro_f1'"),
        # A classification run's outputs, which a search would not write.
        ({"model_dir": "runs/x"}, r"--config=best.json .*model_dir='runs/x'"),
        ({"export_dir": "serving/x"}, r"Received: export_dir='serving/x'"),
        # Recipe and run settings the trials do not apply: accepted, they
        # went into best.json, which then trained a model never scored.
        (
            {"extra_blocks": 1, "freeze_backbone": True},
            r"would not apply to its trials.*freeze_backbone=True, extra_blocks=1",
        ),
        ({"mixed_precision": "bfloat16"}, r"mixed_precision='bfloat16'"),
        ({"patience": 0}, r"Received: patience=0"),
        # Only a Bayesian search draws initial points.
        (
            {"num_initial_points": 5},
            r"num_initial_points=5, algorithm='random'",
        ),
    ],
)
def test_bad_spaces_fail_before_any_trial(
    small_vocabulary_preset, tmp_path, kwargs, message
):
    with pytest.raises(ValueError, match=message):
        search(
            preset=small_vocabulary_preset,
            directory=str(tmp_path),
            **{**TINY, **kwargs},
        )
    assert not (tmp_path / "search").exists()
