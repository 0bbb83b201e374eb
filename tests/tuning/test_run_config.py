import json

import numpy as np
import pytest

from tftransformer.tuning import load_run_config, merge_run_config, save_run_config

ALLOWED = ["learning_rate", "batch_size", "pooling", "epochs", "class_weighting"]


def test_round_trip(tmp_path):
    config = {
        "learning_rate": np.float64(3e-5),
        "batch_size": np.int64(16),
        "pooling": "cls",
        "class_weighting": True,
    }
    path = save_run_config(config, tmp_path / "out" / "best.json")
    loaded = load_run_config(path, ALLOWED)
    assert loaded == {
        "learning_rate": 3e-5,
        "batch_size": 16,
        "pooling": "cls",
        "class_weighting": True,
    }
    assert type(loaded["batch_size"]) is int


def test_unknown_keys_are_refused(tmp_path):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"learning_rate": 1e-4, "lora_rank": 8}))
    with pytest.raises(ValueError, match=r"\['lora_rank'\]"):
        load_run_config(path, ALLOWED)


@pytest.mark.parametrize(
    "text, message",
    [
        ("[1]", "JSON object"),
        ('{"batch_size": [1, 2]}', "batch_size=\\[1, 2\\]"),
        ("{", "valid JSON"),
    ],
)
def test_bad_files_are_refused(tmp_path, text, message):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ValueError, match=message):
        load_run_config(path, ALLOWED)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        load_run_config(tmp_path / "nope.json", ALLOWED)


def test_explicit_values_win_over_the_file():
    values = {"learning_rate": 5e-5, "batch_size": 32, "epochs": 3}
    config = {"learning_rate": 1e-4, "batch_size": 16, "epochs": 1}
    assert merge_run_config(values, config, explicit=["epochs"]) == {
        "learning_rate": 1e-4,
        "batch_size": 16,
        "epochs": 3,
    }
    with pytest.raises(ValueError, match="seed"):
        merge_run_config(values, {"seed": 1})


@pytest.mark.parametrize(
    "value",
    [float("nan"), np.float32("nan"), np.float64("inf"), -np.float32("inf")],
)
def test_non_finite_values_are_refused_numpy_ones_included(tmp_path, value):
    # json would write NaN or Infinity, which load_run_config refuses.
    with pytest.raises(ValueError, match="learning_rate must be finite"):
        save_run_config({"learning_rate": value}, tmp_path / "best.json")
    assert not (tmp_path / "best.json").exists()
