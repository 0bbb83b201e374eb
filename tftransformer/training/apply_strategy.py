"""The transfer recipe of a config, applied to a model: one place for every caller."""

from tftransformer.finetune.fused_encoder import use_fused_encoder
from tftransformer.finetune.gradual_unfreezing import GradualUnfreezing
from tftransformer.finetune.head_warmup import HeadWarmup
from tftransformer.finetune.lora import apply_lora
from tftransformer.finetune.strategy_options import check_strategy_options
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.backbone_layers import encoder_layers
from tftransformer.models.freezing import freeze_backbone, freeze_layers
from tftransformer.training._settings import ConfigError

__all__ = ["apply_strategy", "strategy_callbacks"]


def apply_strategy(model, config):
    """Applies the config's transfer recipe to a built model.

    Checks the recipe against the backbone's encoder layers, then adds LoRA
    adapters (`lora_rank`) and freezes the backbone (`freeze_backbone`) or
    its lower layers (`freeze_layers`); with `fused_encoder` the encoder
    blocks train on the fused path (`finetune.use_fused_encoder`). Gradual
    unfreezing and a head warmup act during training:
    `strategy_callbacks(config)` returns their callbacks. `extra_blocks`
    and the head are the task model's arguments (a model whose
    `num_extra_blocks` differs from the config's is refused); `layer_decay` is the
    optimizer's (see `Trainer.compile`). Call it before `compile`, once.

    Args:
        model: a task model with a backbone (`TextClassifier`, ...).
        config: a `FinetuneConfig`, or a config whose `strategy_options()`
            gives the recipe (`LanguageModelConfig` with a `preset`).

    Returns:
        A short name of the strategy, e.g. `"freeze 2 layers"`.

    Raises:
        ConfigError: if the recipe does not fit the backbone (e.g. more
            frozen layers than it has).

    Example:
    ```python
    config = FinetuneConfig(freeze_layers=2)
    apply_strategy(classifier, config)  # "freeze 2 layers"
    ```
    """
    options = config.strategy_options()
    blocks = encoder_layers(model)
    try:
        name = check_strategy_options(**options, num_layers=len(blocks))
    except ValueError as error:
        message = str(error)
        try:
            adapter = adapter_for(model)
        except ValueError:
            adapter = None
        shared = getattr(adapter, "shares_layers", False)
        calls = len(adapter.encoder_calls()) if shared else 0
        if calls > len(blocks):
            # Its config's num_layers counts calls, not the blocks.
            message += (
                f". The {adapter.family} backbone runs {calls} encoder layers "
                f"with the shared weights of {len(blocks)} distinct block(s), "
                "which the recipes count (docs/families.md)"
            )
        raise ConfigError(message) from None
    extra_blocks = options.get("extra_blocks") or 0
    stacked = getattr(model, "num_extra_blocks", 0) or 0
    if extra_blocks != stacked:
        # The run's name and records would claim blocks the model does
        # not have (or leave out those it has).
        raise ConfigError(
            f"The config's extra_blocks={extra_blocks} but the model stacks "
            f"{stacked} extra encoder block(s): build it with "
            f"num_extra_blocks={extra_blocks} "
            "(tft.training.build_text_classifier(config, label_names) builds a "
            f"classifier from the config). Received: a {type(model).__name__} "
            f"with num_extra_blocks={stacked}"
        )
    if options.get("lora_rank"):
        apply_lora(model, options["lora_rank"])
    if options.get("freeze_backbone"):
        freeze_backbone(model)
    else:
        freeze_layers(model, options.get("freeze_layers", 0))
    if getattr(config, "fused_encoder", False):
        use_fused_encoder(model)
    return name


def strategy_callbacks(config, verbose=True):
    """The callbacks of the recipe's schedule: gradual unfreezing, head warmup.

    They go after `training_callbacks`' `ResumableTraining`, so that they
    read the restored step of a resumed run.
    """
    callbacks = []
    if config.gradual_unfreeze:
        callbacks.append(
            GradualUnfreezing(
                every_epochs=None
                if config.unfreeze_every_steps
                else config.unfreeze_every_epochs,
                every_steps=config.unfreeze_every_steps or None,
                verbose=bool(verbose),
            )
        )
    if config.head_warmup_steps:
        callbacks.append(HeadWarmup(config.head_warmup_steps, verbose=bool(verbose)))
    return callbacks
