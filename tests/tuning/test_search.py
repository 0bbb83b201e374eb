"""`search_text_classifier` (what `examples/tune.py` calls)."""

import dataclasses
import json

import pytest
import tensorflow as tf

from tftransformer.training import ClassificationConfig
from tftransformer.tuning import SearchConfig, load_run_config, search_text_classifier

TINY = dict(
    max_length=32,
    max_train_examples=24,
    max_eval_examples=16,
    run_eagerly=True,
)


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
    assert set(best) == {"learning_rate", "batch_size", "dropout"}
    assert 1e-4 <= best["learning_rate"] <= 1e-2 and best["batch_size"] in (8, 16)
    assert best["dropout"] == 0.0
    assert result["best_val_accuracy"] == max(r["score"] for r in result["trials"])
    for key in ("best_test_accuracy", "default_test_accuracy", "default_val_accuracy"):
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
        # Trials are ranked by validation accuracy.
        ({"monitor": "val_macro_f1"}, r"monitor must be one of \['val_accuracy'\]"),
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
