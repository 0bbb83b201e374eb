"""The settings of a generator trained from random weights or fine-tuned
from a pretrained keras-hub preset."""

import dataclasses

from tftransformer.finetune import check_strategy_options
from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.from_scratch_config import FromScratchConfig

__all__ = ["PretrainedGeneratorConfig"]


@dataclasses.dataclass
class PretrainedGeneratorConfig(FromScratchConfig):
    """`FromScratchConfig` plus a pretrained `preset` and its transfer recipe.

    `LanguageModelConfig` (GPT-2-like decoders) and `TranslationConfig`
    (BART, T5) subclass it. Without `preset` the model trains from random
    weights in the shape the `FromScratchConfig` fields give; with one, the
    pretrained model is fine-tuned, and `freeze_layers`, `lora_rank` and
    `layer_decay` may set a recipe, as for an encoder
    (`tftransformer.training.apply_strategy`). The layers they count are the
    family adapter's: a decoder's blocks, or an encoder-decoder's encoder
    blocks and then its decoder blocks
    (`tftransformer.models.backbone_adapter.EncoderDecoderAdapter`).

    Example:
    ```python
    config = LanguageModelConfig(preset="gpt2_base_en", layer_decay=0.8)
    config = TranslationConfig(preset="bart_base_en", freeze_layers=6)
    ```
    """

    preset: str | None = setting(
        None,
        "Fine-tune this pretrained keras-hub generator: a preset directory, or "
        "a keras-hub preset name (needs network). Default: random weights.",
    )
    freeze_layers: int = setting(
        0,
        "With --preset: freeze the embeddings and the first N blocks (an "
        "encoder-decoder's encoder blocks come first).",
        minimum=0,
    )
    lora_rank: int = setting(
        0,
        "With --preset: LoRA adapters of this rank on the attention "
        "query/value projections, the rest frozen (0: off).",
        minimum=0,
    )
    layer_decay: float | None = setting(
        None,
        "With --preset: layer-wise learning-rate decay in (0, 1]: block l of L "
        "trains at lr*decay**(L-l), embeddings at lr*decay**(L+1).",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
    )

    def strategy_options(self):
        """The transfer recipe of a `preset` run (see `apply_strategy`), or
        None when training from random weights."""
        if self.preset is None:
            return None
        return dict(
            freeze_layers=self.freeze_layers,
            lora_rank=self.lora_rank or None,
            layer_decay=self.layer_decay,
        )

    def validate(self):
        """Checks every field, and that a recipe comes with a preset."""
        super().validate()
        recipe = dict(
            freeze_layers=self.freeze_layers,
            lora_rank=self.lora_rank,
            layer_decay=self.layer_decay,
        )
        if self.preset is None and (
            self.freeze_layers or self.lora_rank or self.layer_decay is not None
        ):
            received = ", ".join(f"{name}={value!r}" for name, value in recipe.items())
            raise ConfigError(
                "freeze_layers, lora_rank and layer_decay act on a pretrained "
                f"model: set preset too. Received: preset=None, {received}"
            )
        try:
            check_strategy_options(**recipe, num_layers=None)
        except ValueError as error:
            raise ConfigError(str(error)) from None
