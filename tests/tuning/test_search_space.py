import json

import keras_tuner
import pytest

from tftransformer.tuning import (
    DEFAULT_SEARCH_SPACE,
    SEARCHABLE_PARAMETERS,
    SearchSpace,
)


def test_declares_ranges_choices_and_fixed_values():
    space = SearchSpace(
        {
            "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
            "batch_size": [16, 32],
            "freeze_layers": {"min": 0, "max": 3},
            "dropout": 0.1,
            "pooling": ["cls", "mean"],
        }
    )
    hp = keras_tuner.HyperParameters()
    values = space.declare(hp)
    assert set(values) == set(space.names)
    kinds = {p.name: type(p).__name__ for p in hp.space}
    assert kinds == {
        "learning_rate": "Float",
        "batch_size": "Choice",
        "freeze_layers": "Int",
        "dropout": "Fixed",
        "pooling": "Choice",
    }
    learning_rate = hp.get("learning_rate")
    assert learning_rate == 1e-5  # The range's default is its minimum.
    assert [p for p in hp.space if p.name == "learning_rate"][0].sampling == "log"
    assert space.contains(values)
    assert not space.contains({"batch_size": 64})
    assert not space.contains({"learning_rate": 2e-3})
    assert not space.contains({"freeze_layers": 1.5})
    assert space.bounds("freeze_layers") == (0, 3)
    assert space.bounds("batch_size") == (16, 32)


def test_freeze_layers_only_applies_without_lora():
    space = SearchSpace({"lora_rank": [0, 8], "freeze_layers": {"min": 0, "max": 2}})
    hp = keras_tuner.HyperParameters()
    assert space.declare(hp) == {"lora_rank": 0, "freeze_layers": 0}
    hp.values.update({"lora_rank": 8, "freeze_layers": 2})
    assert space.declare(hp) == {"lora_rank": 8, "freeze_layers": 0}
    assert not hp.is_active("freeze_layers")
    hp.values["lora_rank"] = 0
    assert space.declare(hp) == {"lora_rank": 0, "freeze_layers": 2}
    with pytest.raises(ValueError, match="lora_rank that is never 0"):
        SearchSpace({"lora_rank": [4, 8], "freeze_layers": [0, 1]})
    # Fixed at 0, freeze_layers needs no condition.
    SearchSpace({"lora_rank": [4, 8], "freeze_layers": 0})


def test_to_dict_round_trips():
    space = SearchSpace(DEFAULT_SEARCH_SPACE)
    assert SearchSpace(space.to_dict()).to_dict() == space.to_dict()
    assert set(space.names) <= set(SEARCHABLE_PARAMETERS)


def test_from_strings():
    space = SearchSpace.from_strings(
        [
            "learning_rate=1e-5..1e-3:log",
            "batch_size=16,32",
            "freeze_layers=0..2",
            "dropout=0.1",
            "pooling=cls",
        ]
    )
    assert space.to_dict() == {
        "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
        "batch_size": {"values": [16, 32]},
        "freeze_layers": {"min": 0, "max": 2, "sampling": "linear"},
        "dropout": {"value": 0.1},
        "pooling": {"value": "cls"},
    }


def test_from_json_and_yaml_files(tmp_path):
    spec = {"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"}}
    (tmp_path / "space.json").write_text(json.dumps(spec))
    assert SearchSpace.from_file(tmp_path / "space.json").to_dict() == spec
    (tmp_path / "space.yaml").write_text(
        "learning_rate: {min: 1.0e-5, max: 1.0e-3, sampling: log}\n"
    )
    assert SearchSpace.from_file(tmp_path / "space.yaml").to_dict() == spec


@pytest.mark.parametrize(
    "spec, message",
    [
        (
            {"learning_rat": 1e-3},
            "Unknown hyperparameter 'learning_rat'.*learning_rate",
        ),
        ({"epochs": [1, 2]}, "Unknown hyperparameter 'epochs'"),
        ({"learning_rate": {"min": 1e-3, "max": 1e-5}}, "min < max"),
        ({"dropout": {"min": 0.2, "max": 0.2}}, "min < max"),
        ({"learning_rate": {"min": 0.0, "max": 1e-3}}, "learning_rate=0.0"),
        ({"dropout": {"min": 0.0, "max": 0.3, "sampling": "log"}}, "needs min > 0"),
        ({"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "exp"}}, "'exp'"),
        (
            {"dropout": {"min": 0.0, "max": 1.0}},
            r"dropout must be a number in \[0, 1\)",
        ),
        ({"batch_size": [16, 0]}, "batch_size=0"),
        ({"batch_size": [16, 16]}, "distinct"),
        ({"batch_size": []}, "non-empty"),
        ({"batch_size": [16.5]}, "batch_size=16.5"),
        ({"freeze_layers": {"min": 0, "max": 2, "step": 0.5}}, "step"),
        (
            {
                "learning_rate": {
                    "min": 1e-5,
                    "max": 1e-3,
                    "sampling": "log",
                    "step": 1e-5,
                }
            },
            "it must be > 1",
        ),
        # Only min could be drawn.
        (
            {"batch_size": {"min": 8, "max": 32, "step": 100}},
            "The step of batch_size goes past max from min",
        ),
        (
            {
                "learning_rate": {
                    "min": 1e-5,
                    "max": 1e-4,
                    "step": 20,
                    "sampling": "log",
                }
            },
            "The step of learning_rate goes past max",
        ),
        ({"pooling": {"min": "cls", "max": "max"}}, "not a range"),
        ({"pooling": "sum"}, "pooling=.sum."),
        (
            {"learning_rate_schedule": ["linear", "step"]},
            "learning_rate_schedule must be 'linear', 'cosine' or 'constant'.*'step'",
        ),
        ({"layer_decay": 1.5}, r"layer_decay must be a number in \(0, 1\]"),
        ({"learning_rate": {"low": 1e-5, "high": 1e-3}}, "Received: learning_rate="),
        ({"learning_rate": True}, "learning_rate=True"),
        ({}, "non-empty dict"),
    ],
)
def test_bad_spaces_are_refused(spec, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace(spec)


@pytest.mark.parametrize(
    "strings, message",
    [
        (["learning_rate"], "name=LOW..HIGH"),
        (["batch_size=16,big"], "'big'"),
        (["droput=0.1"], "Did you mean 'dropout'"),
        (["dropout=0.1", "dropout=0.2"], "twice"),
    ],
)
def test_bad_strings_are_refused(strings, message):
    with pytest.raises(ValueError, match=message):
        SearchSpace.from_strings(strings)


def test_bad_files_are_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.json"):
        SearchSpace.from_file(tmp_path / "nope.json")
    (tmp_path / "bad.json").write_text("{learning_rate: 1}")
    with pytest.raises(ValueError, match="not valid JSON"):
        SearchSpace.from_file(tmp_path / "bad.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="non-empty dict"):
        SearchSpace.from_file(tmp_path / "list.json")


def test_check_value_accepts_only_what_the_search_can_draw():
    space = SearchSpace(
        {
            "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log", "step": 10},
            "batch_size": [16, 32],
            "freeze_layers": {"min": 0, "max": 4, "step": 2},
            "lora_rank": [0, 8],
            "dropout": 0.1,
        }
    )
    assert space.check_value("batch_size", 16.0) == 16
    assert space.check_value("freeze_layers", 4) == 4
    assert space.check_value("learning_rate", 1e-4) == pytest.approx(1e-4)
    assert space.check_value("dropout", 0.1) == 0.1
    for name, value, message in [
        ("batch_size", 7, r"batch_size=7 .*one of \[16, 32\]"),
        ("freeze_layers", 3, r"freeze_layers=3 .*an int in \[0, 4\] .*k \* 2"),
        ("freeze_layers", 6, r"freeze_layers=6 .*an int in \[0, 4\]"),
        ("learning_rate", 3e-4, r"learning_rate=0.0003 .*1e-05 \* 10\*\*k"),
        ("dropout", 0.2, r"dropout=0.2 .*expected 0.1, its fixed value"),
        ("weight_decay", 0.0, "name must be one of"),
    ]:
        with pytest.raises(ValueError, match=message):
            space.check_value(name, value)
    assert space.condition("freeze_layers") == ("lora_rank", (0,))
    assert space.condition("lora_rank") is None
