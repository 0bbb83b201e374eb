"""The settings of a Transformer trained from random weights."""

import dataclasses

from tftransformer.training._settings import setting
from tftransformer.training.finetune_config import TrainingConfig

__all__ = ["FromScratchConfig"]


@dataclasses.dataclass
class FromScratchConfig(TrainingConfig):
    """`TrainingConfig` plus the shape of a Transformer built from this
    package's layers with random weights (no pretrained backbone).

    `FromScratchClassificationConfig`, `LanguageModelConfig` and
    `TranslationConfig` subclass it.

    Example:
    ```python
    config = FromScratchConfig(num_layers=1, hidden_dim=32, intermediate_dim=64)
    ```
    """

    num_layers: int = setting(
        2, "Transformer blocks (of the encoder and of the decoder).", minimum=1
    )
    num_heads: int = setting(4, "Attention heads per block.", minimum=1)
    hidden_dim: int = setting(128, "Hidden width.", minimum=1)
    intermediate_dim: int = setting(512, "Feed-forward width.", minimum=1)
    dropout: float = setting(
        0.1, "Dropout.", minimum=0, maximum=1, exclusive_maximum=True
    )
    position_kind: str = setting(
        "learned",
        "Position information: learned, sinusoidal, relative bias.",
        choices=("learned", "sine", "relative"),
    )
    max_length: int = setting(128, "Longest sequence in tokens.", minimum=2)
    tensorboard: bool = setting(
        False, "Write TensorBoard logs to model_dir/logs.", run_setting=False
    )
