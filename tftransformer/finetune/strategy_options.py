"""Fine-tuning strategy options: checks that they combine into one meaningful
strategy (the flags are `tft.training.FinetuneConfig`'s fields)."""

import math
import numbers

from tftransformer._arguments import check_int

__all__ = ["check_strategy_options"]


def _refuse(reason, **options):
    received = ", ".join(f"{name}={value!r}" for name, value in options.items())
    raise ValueError(f"{reason} Received: {received}")


def check_strategy_options(
    freeze_layers=0,
    freeze_backbone=False,
    gradual_unfreeze=False,
    layer_decay=None,
    lora_rank=None,
    extra_blocks=0,
    head_warmup_steps=0,
    num_layers=6,
    unfreeze_every_epochs=1,
    unfreeze_every_steps=0,
):
    """Refuses fine-tuning options that contradict each other; names the rest.

    The options are those of `examples/classify.py`. Refused combinations:

    - `freeze_backbone` (a linear probe: only the head trains) with anything
      that trains the backbone or acts on it: `freeze_layers > 0`,
      `gradual_unfreeze`, `layer_decay`, `lora_rank`, and
      `head_warmup_steps` (the head already trains alone).
    - `lora_rank` with `freeze_layers` or `gradual_unfreeze`: LoRA already
      freezes the whole backbone but its adapters.
    - `gradual_unfreeze` with `head_warmup_steps`: gradual unfreezing starts
      by training the head alone.
    - `gradual_unfreeze` with `freeze_layers` equal to `num_layers`: nothing
      left to unfreeze.

    `gradual_unfreeze` with `0 < freeze_layers < num_layers` is allowed: the
    layers frozen by `freeze_layers` (and the embeddings) stay frozen, the
    others are unfrozen from the top. `layer_decay` combines with
    `freeze_layers`, `gradual_unfreeze` and `lora_rank`; `head_warmup_steps`
    with `freeze_layers`, `layer_decay` and `lora_rank`; `extra_blocks` with
    everything.

    Args:
        freeze_layers: int in [0, num_layers], embeddings and lower encoder
            layers frozen (see `tftransformer.finetune.freeze_layers`).
        freeze_backbone: bool, train the head alone (see
            `tftransformer.finetune.freeze_backbone`).
        gradual_unfreeze: bool, ULMFiT gradual unfreezing (see
            `tftransformer.finetune.GradualUnfreezing`).
        layer_decay: None (off) or float in (0, 1], layer-wise learning-rate
            decay.
        lora_rank: None or 0 (off), or int > 0, the LoRA adapters' rank.
        extra_blocks: int >= 0, encoder blocks added on top of the backbone.
        head_warmup_steps: int >= 0, steps training the head alone first (see
            `tftransformer.finetune.HeadWarmup`); 0 is off.
        num_layers: int >= 1, the backbone's encoder layers; None skips the
            checks that need it, e.g. to validate flags before loading the
            backbone.
        unfreeze_every_epochs: int >= 1, gradual unfreezing's interval in
            epochs; another value needs `gradual_unfreeze`.
        unfreeze_every_steps: int >= 0, its interval in optimizer steps
            instead (0: epochs); a value > 0 needs `gradual_unfreeze` and
            the default `unfreeze_every_epochs`.

    Returns:
        A short name of the strategy for logs and summaries, e.g.
        `"full fine-tuning"`, `"freeze 2 layers, head warmup 100 steps"`,
        `"linear probe, 1 extra block"`.

    Raises:
        ValueError: naming the offending options and their values.

    Example:
    ```python
    check_strategy_options(freeze_layers=2, head_warmup_steps=100)
    # "freeze 2 layers, head warmup 100 steps"
    check_strategy_options(freeze_backbone=True, gradual_unfreeze=True)
    # ValueError: freeze_backbone freezes the whole backbone; gradual_unfreeze ...
    ```
    """
    if num_layers is not None:
        check_int("num_layers", num_layers, 1)
    check_int("freeze_layers", freeze_layers, 0)
    check_int("extra_blocks", extra_blocks, 0)
    check_int("head_warmup_steps", head_warmup_steps, 0)
    check_int("unfreeze_every_epochs", unfreeze_every_epochs, 1)
    check_int("unfreeze_every_steps", unfreeze_every_steps, 0)
    for name, value in (
        ("freeze_backbone", freeze_backbone),
        ("gradual_unfreeze", gradual_unfreeze),
    ):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a bool. Received: {name}={value!r}")
    if lora_rank is not None:
        check_int("lora_rank", lora_rank, 0)
    if layer_decay is not None and (
        isinstance(layer_decay, bool)
        or not isinstance(layer_decay, numbers.Real)
        or not math.isfinite(layer_decay)
        or not 0 < layer_decay <= 1
    ):
        raise ValueError(
            "layer_decay must be None or a number in (0, 1]. "
            f"Received: layer_decay={layer_decay!r}"
        )
    if num_layers is not None and freeze_layers > num_layers:
        _refuse(
            f"freeze_layers can be at most the backbone's {num_layers} encoder layers.",
            freeze_layers=freeze_layers,
            num_layers=num_layers,
        )
    lora = bool(lora_rank)

    if freeze_backbone:
        conflicts = (
            ("freeze_layers", freeze_layers, freeze_layers > 0, "repeats it"),
            ("gradual_unfreeze", gradual_unfreeze, gradual_unfreeze, "undoes it"),
            (
                "layer_decay",
                layer_decay,
                layer_decay is not None,
                "has no training backbone layer to slow down",
            ),
            ("lora_rank", lora_rank, lora, "trains adapters inside the backbone"),
            (
                "head_warmup_steps",
                head_warmup_steps,
                head_warmup_steps > 0,
                "is what freeze_backbone does for the whole run",
            ),
        )
        for name, value, conflict, why in conflicts:
            if conflict:
                _refuse(
                    f"freeze_backbone freezes the whole backbone; {name} {why}.",
                    freeze_backbone=freeze_backbone,
                    **{name: value},
                )
    if lora and freeze_layers:
        _refuse(
            "LoRA freezes the whole backbone but its adapters; "
            "freeze_layers has nothing left to freeze.",
            lora_rank=lora_rank,
            freeze_layers=freeze_layers,
        )
    if lora and gradual_unfreeze:
        _refuse(
            "LoRA trains adapters in every layer from the start; "
            "gradual_unfreeze would unfreeze the frozen pretrained weights.",
            lora_rank=lora_rank,
            gradual_unfreeze=gradual_unfreeze,
        )
    if not gradual_unfreeze and (unfreeze_every_epochs != 1 or unfreeze_every_steps):
        # An interval without the schedule would be silently ignored.
        _refuse(
            "The unfreezing interval is gradual_unfreeze's; set gradual_unfreeze "
            "or leave the interval at its default.",
            gradual_unfreeze=gradual_unfreeze,
            unfreeze_every_epochs=unfreeze_every_epochs,
            unfreeze_every_steps=unfreeze_every_steps,
        )
    if unfreeze_every_steps and unfreeze_every_epochs != 1:
        _refuse(
            "Give the unfreezing interval in epochs or in steps, not both.",
            unfreeze_every_epochs=unfreeze_every_epochs,
            unfreeze_every_steps=unfreeze_every_steps,
        )
    if gradual_unfreeze and head_warmup_steps:
        _refuse(
            "gradual_unfreeze already trains the head alone first; set its "
            "unfreezing interval instead of head_warmup_steps.",
            gradual_unfreeze=gradual_unfreeze,
            head_warmup_steps=head_warmup_steps,
        )
    if gradual_unfreeze and num_layers is not None and freeze_layers == num_layers:
        _refuse(
            "gradual_unfreeze has nothing to unfreeze when freeze_layers "
            "freezes every encoder layer.",
            gradual_unfreeze=gradual_unfreeze,
            freeze_layers=freeze_layers,
            num_layers=num_layers,
        )

    if freeze_backbone:
        parts = ["linear probe"]
    elif lora:
        parts = [f"LoRA rank {lora_rank}"]
    elif gradual_unfreeze:
        parts = ["gradual unfreezing"]
        if freeze_layers:
            parts.append(f"{_count(freeze_layers, 'layer')} kept frozen")
    elif freeze_layers:
        parts = [f"freeze {_count(freeze_layers, 'layer')}"]
    else:
        parts = ["full fine-tuning"]
    if layer_decay is not None:
        parts.append(f"layer-wise learning-rate decay {float(layer_decay):g}")
    if head_warmup_steps:
        parts.append(f"head warmup {_count(head_warmup_steps, 'step')}")
    if extra_blocks:
        parts.append(f"{_count(extra_blocks, 'extra block')}")
    return ", ".join(parts)


def _count(number, noun):
    return f"{number} {noun}{'' if number == 1 else 's'}"
