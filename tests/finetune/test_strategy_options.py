import inspect

import pytest
from absl import flags

from tftransformer.finetune import (
    check_strategy_options,
)
from tftransformer.training import FinetuneConfig, define_flags


@pytest.mark.parametrize(
    "options, name",
    [
        ({}, "full fine-tuning"),
        ({"freeze_layers": 1}, "freeze 1 layer"),
        ({"freeze_layers": 6}, "freeze 6 layers"),
        # Without the layer count, only what needs no count is checked.
        ({"freeze_layers": 24, "num_layers": None}, "freeze 24 layers"),
        ({"freeze_backbone": True}, "linear probe"),
        ({"freeze_backbone": True, "extra_blocks": 2}, "linear probe, 2 extra blocks"),
        ({"gradual_unfreeze": True}, "gradual unfreezing"),
        (
            {"gradual_unfreeze": True, "unfreeze_every_steps": 100},
            "gradual unfreezing",
        ),
        (
            {"gradual_unfreeze": True, "freeze_layers": 2, "layer_decay": 0.8},
            "gradual unfreezing, 2 layers kept frozen, "
            "layer-wise learning-rate decay 0.8",
        ),
        (
            {"lora_rank": 8, "layer_decay": 0.9},
            "LoRA rank 8, layer-wise learning-rate decay 0.9",
        ),
        ({"lora_rank": 0}, "full fine-tuning"),
        (
            {"freeze_layers": 2, "head_warmup_steps": 100},
            "freeze 2 layers, head warmup 100 steps",
        ),
        ({"lora_rank": 4, "head_warmup_steps": 1}, "LoRA rank 4, head warmup 1 step"),
        (
            {"layer_decay": 1.0, "extra_blocks": 1},
            "full fine-tuning, layer-wise learning-rate decay 1, 1 extra block",
        ),
    ],
)
def test_sensible_combinations_are_named(options, name):
    assert check_strategy_options(**options) == name


@pytest.mark.parametrize(
    "options, message",
    [
        # Contradictions with a linear probe.
        (
            {"freeze_backbone": True, "gradual_unfreeze": True},
            "freeze_backbone.*gradual_unfreeze undoes it.*gradual_unfreeze=True",
        ),
        (
            {"freeze_backbone": True, "freeze_layers": 2},
            "freeze_layers repeats it.*freeze_layers=2",
        ),
        (
            {"freeze_backbone": True, "layer_decay": 0.8},
            "layer_decay has no training backbone layer.*layer_decay=0.8",
        ),
        (
            {"freeze_backbone": True, "lora_rank": 8},
            "lora_rank trains adapters.*lora_rank=8",
        ),
        (
            {"freeze_backbone": True, "head_warmup_steps": 50},
            "head_warmup_steps is what freeze_backbone does.*head_warmup_steps=50",
        ),
        # LoRA already decides what trains.
        ({"lora_rank": 8, "freeze_layers": 2}, "LoRA.*lora_rank=8, freeze_layers=2"),
        (
            {"lora_rank": 8, "gradual_unfreeze": True},
            "LoRA.*lora_rank=8, gradual_unfreeze=True",
        ),
        # Gradual unfreezing.
        (
            {"gradual_unfreeze": True, "head_warmup_steps": 10},
            "already trains the head alone.*head_warmup_steps=10",
        ),
        (
            {"gradual_unfreeze": True, "freeze_layers": 6},
            "nothing to unfreeze.*freeze_layers=6, num_layers=6",
        ),
        (
            {"unfreeze_every_epochs": 2},
            "interval is gradual_unfreeze's.*unfreeze_every_epochs=2",
        ),
        (
            {"unfreeze_every_steps": 100},
            "interval is gradual_unfreeze's.*unfreeze_every_steps=100",
        ),
        (
            {
                "gradual_unfreeze": True,
                "unfreeze_every_epochs": 2,
                "unfreeze_every_steps": 10,
            },
            "not both.*unfreeze_every_epochs=2, unfreeze_every_steps=10",
        ),
        (
            {"gradual_unfreeze": True, "unfreeze_every_epochs": 0},
            "unfreeze_every_epochs must be an integer >= 1.*=0",
        ),
        (
            {"gradual_unfreeze": True, "unfreeze_every_steps": -3},
            "unfreeze_every_steps must be an integer >= 0.*=-3",
        ),
        # Out of range.
        ({"freeze_layers": 7}, "at most the backbone's 6.*freeze_layers=7"),
        (
            {"freeze_layers": 4, "num_layers": 3},
            "at most the backbone's 3.*freeze_layers=4",
        ),
        ({"freeze_layers": -1}, "freeze_layers must be an integer >= 0.*=-1"),
        ({"freeze_layers": 1.5}, "freeze_layers=1.5"),
        ({"extra_blocks": -2}, "extra_blocks must be an integer >= 0.*=-2"),
        ({"head_warmup_steps": -5}, "head_warmup_steps=-5"),
        ({"lora_rank": -4}, "lora_rank must be an integer >= 0.*=-4"),
        ({"layer_decay": 0.0}, r"layer_decay must be None or a number in \(0, 1\]"),
        ({"layer_decay": 1.5}, "layer_decay=1.5"),
        ({"layer_decay": float("nan")}, "layer_decay=nan"),
        ({"num_layers": 0}, "num_layers must be an integer >= 1.*num_layers=0"),
        ({"freeze_backbone": "yes"}, "freeze_backbone must be a bool.*'yes'"),
        ({"gradual_unfreeze": 1}, "gradual_unfreeze must be a bool.*=1"),
    ],
)
def test_contradictions_and_bad_values_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        check_strategy_options(**options)


def test_the_finetune_config_flags_cover_every_strategy_option():
    # The strategy flags are FinetuneConfig's fields, defined once there.
    flag_values = flags.FlagValues()
    define_flags(FinetuneConfig, flag_values)
    flag_values(["train.py", "--freeze_layers=2", "--head_warmup_steps=100"])
    names = inspect.signature(check_strategy_options).parameters
    options = {name: flag_values[name].value for name in names if name in flag_values}
    assert set(names) - set(options) == {"num_layers"}
    assert check_strategy_options(**options) == "freeze 2 layers, head warmup 100 steps"
    assert flag_values.unfreeze_every_epochs == 1
    assert flag_values.unfreeze_every_steps == 0
    with pytest.raises(flags.IllegalFlagValueError, match="freeze_layers"):
        flag_values(["train.py", "--freeze_layers=two"])
