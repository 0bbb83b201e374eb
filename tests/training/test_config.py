import dataclasses
import json

import pytest
from absl import flags

from tftransformer import training
from tftransformer.training import (
    ClassificationConfig,
    ConfigError,
    FinetuneConfig,
    TrainingConfig,
    setting,
)


def test_defaults_are_valid_and_run_settings_leave_out_where_it_writes():
    config = ClassificationConfig()
    settings = config.run_settings()
    assert settings["learning_rate"] == 5e-5
    for name in ("model_dir", "save_freq", "distribution", "export_dir"):
        assert name not in settings
    assert json.loads(json.dumps(config.to_dict()))["pooling"] == "mean"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"dropout": "0.1"},
            r"dropout must be a finite number\. Received: "
            r"dropout='0\.1' \(a string\)",
        ),
        ({"epochs": 0}, r"epochs must be >= 1\. Received: epochs=0"),
        ({"epochs": 2.0}, r"epochs must be an integer\. Received: epochs=2\.0"),
        ({"batch_size": True}, r"batch_size must be an integer"),
        ({"learning_rate": float("nan")}, r"learning_rate must be a finite number"),
        ({"learning_rate": 0}, r"learning_rate must be > 0"),
        ({"layer_decay": 1.5}, r"layer_decay must be in \(0, 1\]"),
        ({"pooling": "sum"}, r"pooling must be one of \['cls', 'mean', 'max'\]"),
        ({"mixed_precision": "fp8"}, r"mixed_precision must be one of"),
        (
            {"monitor": "val_f1"},
            r"monitor must be one of \['val_accuracy', 'val_macro_f1', "
            r"'val_loss'\]\. Received: monitor='val_f1'",
        ),
        (
            {"learning_rate_schedule": "step"},
            r"learning_rate_schedule must be one of \['linear', 'cosine', "
            r"'constant'\]\. Received: learning_rate_schedule='step'",
        ),
        ({"seed": -1}, r"seed must be in \[0, 4294967295\]"),
        ({"text_column": None}, r"text_column must be a string\. Received"),
        ({"save_freq": 0}, r"save_freq must be >= 1"),
        (
            {"freeze_backbone": True, "lora_rank": 4},
            r"freeze_backbone freezes the whole backbone; lora_rank",
        ),
    ],
)
def test_bad_values_are_refused_naming_field_and_value(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        ClassificationConfig(**kwargs)


@pytest.mark.parametrize(
    "config_cls, kwargs, monitor, mode",
    [
        (ClassificationConfig, {}, "val_accuracy", "max"),
        (ClassificationConfig, {"monitor": "val_macro_f1"}, "val_macro_f1", "max"),
        (ClassificationConfig, {"monitor": "val_loss"}, "val_loss", "min"),
        (training.RegressionConfig, {}, "val_loss", "min"),
        (training.MultiLabelConfig, {}, "val_loss", "min"),
        (TrainingConfig, {}, "val_loss", "min"),
    ],
)
def test_what_early_stopping_watches_and_which_way(config_cls, kwargs, monitor, mode):
    config = config_cls(**kwargs)
    assert (config.monitor, config.monitor_mode) == (monitor, mode)


@pytest.mark.parametrize(
    "config_cls",
    [training.RegressionConfig, training.MultiLabelConfig],
)
def test_a_task_without_class_ids_refuses_a_classification_monitor(config_cls):
    with pytest.raises(ConfigError, match="monitor must be one of \\['val_loss'\\]"):
        config_cls(monitor="val_macro_f1")


def test_numbers_are_converted_and_optional_fields_take_none():
    config = FinetuneConfig(learning_rate=1, layer_decay=None, max_train_minutes=2)
    assert isinstance(config.learning_rate, float)
    assert isinstance(config.max_train_minutes, float)
    assert config.dtype is None
    assert FinetuneConfig(mixed_precision="bfloat16").dtype == "mixed_bfloat16"


def test_a_user_config_adds_fields_that_become_flags():
    @dataclasses.dataclass
    class Config(TrainingConfig):
        hidden_dim: int = setting(64, "Width of the model.", minimum=1)
        kind: str = setting("a", "A choice.", choices=("a", "b"))

    with pytest.raises(ConfigError, match="hidden_dim must be >= 1"):
        Config(hidden_dim=0)
    flag_values = flags.FlagValues()
    training.define_flags(Config, flag_values)
    flag_values(["prog", "--hidden_dim=8", "--kind=b", "--epochs=2"])
    config = training.config_from_flags(Config, flag_values)
    assert (config.hidden_dim, config.kind, config.epochs) == (8, "b", 2)
    assert "Width of the model." in flag_values["hidden_dim"].help
    with pytest.raises(flags.IllegalFlagValueError):
        flag_values["kind"].parse("c")


def test_a_list_field_becomes_a_repeatable_flag():
    @dataclasses.dataclass
    class Config(TrainingConfig):
        hp: list[str] = setting([], "One value, repeatable.")
        names: list[str] | None = setting(None, "Optional names.")

    assert Config().hp == [] and Config().hp is not Config().hp
    assert Config(hp=("a=1",)).hp == ["a=1"]
    with pytest.raises(ConfigError, match=r"hp must be a list of strings\. "):
        Config(hp="a=1")
    with pytest.raises(ConfigError, match=r"Received: names=\[1\]"):
        Config(names=[1])
    flag_values = flags.FlagValues()
    training.define_flags(Config, flag_values)
    flag_values(["prog", "--hp=a=1", "--hp=b=2"])
    config = training.config_from_flags(Config, flag_values)
    assert (config.hp, config.names) == (["a=1", "b=2"], None)


def _parse(argv):
    flag_values = flags.FlagValues()
    training.define_flags(ClassificationConfig, flag_values)
    flag_values(["prog", *argv])
    return training.config_from_flags(ClassificationConfig, flag_values)


def test_a_config_file_sets_values_and_command_line_flags_win(tmp_path, capsys):
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"learning_rate": 3e-5, "batch_size": 16}))
    config = _parse([f"--config={path}", "--batch_size=8"])
    assert config.learning_rate == 3e-5
    assert config.batch_size == 8
    assert "command-line flags kept: ['batch_size']" in capsys.readouterr().out


@pytest.mark.parametrize("empty", ["None", ""])
def test_a_number_that_may_be_none_takes_none_on_the_command_line(
    tmp_path, empty, capsys
):
    # The help says "None: all"; the flag's int parser refused it, and a
    # best.json's max_train_examples could not be widened back.
    path = tmp_path / "best.json"
    path.write_text(json.dumps({"max_train_examples": 100}))
    config = _parse(
        [
            f"--config={path}",
            f"--max_train_examples={empty}",
            f"--keep_checkpoints={empty}",
            f"--layer_decay={empty}",
        ]
    )
    assert config.max_train_examples is None
    assert config.keep_checkpoints is None and config.layer_decay is None
    assert "kept: ['max_train_examples']" in capsys.readouterr().out
    assert _parse(["--keep_checkpoints=3"]).keep_checkpoints == 3
    with pytest.raises(flags.IllegalFlagValueError, match="keep_checkpoints=x"):
        _parse(["--keep_checkpoints=x"])


@pytest.mark.parametrize(
    "content, message",
    [
        (
            '{"learning_rat": 1e-5}',
            r"names fields ClassificationConfig does not "
            r"have: \['learning_rat'\]",
        ),
        ("[1, 2]", "must hold a JSON object"),
        ("{oops", "is not valid JSON"),
        ('{"dropout": "0.1"}', r"Received: dropout='0\.1' \(a string\)"),
    ],
)
def test_bad_config_files_are_refused(tmp_path, content, message):
    path = tmp_path / "config.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=message):
        _parse([f"--config={path}"])


def test_a_missing_config_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="Cannot read the config file"):
        _parse([f"--config={tmp_path / 'missing.json'}"])


FINETUNE_CONFIGS = sorted(
    (
        value
        for value in map(training.__dict__.get, training.__all__)
        if isinstance(value, type) and issubclass(value, FinetuneConfig)
    ),
    key=lambda config_class: config_class.__name__,
)
PACKING_CONFIGS = (
    "ClassificationConfig",
    "MultiLabelConfig",
    "RegressionConfig",
    "PretrainingConfig",
    "TokenClassificationConfig",
)


# The configs of the runs that apply each setting (FinetuneConfig: a
# script's own model may stack extra blocks).
EXTRA_BLOCK_CONFIGS = (
    "ClassificationConfig",
    "FinetuneConfig",
    "MultiLabelConfig",
    "RegressionConfig",
    "TokenClassificationConfig",
)
SETTINGS_OF_SOME_RUNS = {
    "pack_sequences": (True, PACKING_CONFIGS, "{name}'s examples are not packed"),
    "extra_blocks": (
        2,
        EXTRA_BLOCK_CONFIGS,
        "{name}'s model takes no extra encoder blocks.*extra_blocks=2",
    ),
}


# A run refuses a setting it does not apply instead of recording a recipe
# that never ran (training unpacked under --pack_sequences, no extra block
# under --extra_blocks).
@pytest.mark.parametrize("setting", sorted(SETTINGS_OF_SOME_RUNS))
@pytest.mark.parametrize("config_class", FINETUNE_CONFIGS, ids=lambda c: c.__name__)
def test_a_setting_is_refused_by_runs_that_do_not_apply_it(config_class, setting):
    value, applying, message = SETTINGS_OF_SOME_RUNS[setting]
    name = config_class.__name__
    if name in applying:
        assert getattr(config_class(**{setting: value}), setting) == value
    else:
        with pytest.raises(ConfigError, match=message.format(name=name)):
            config_class(**{setting: value})
