"""The settings of continued masked-language-model pretraining."""

import dataclasses

from tftransformer.training._settings import setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["PretrainingConfig"]


@dataclasses.dataclass
class PretrainingConfig(FinetuneConfig):
    """`FinetuneConfig` of continued masked-LM pretraining on unlabelled text.

    Early stopping watches the validation masked-LM loss. The run writes
    a preset directory that `ClassificationConfig(preset=...)` fine-tunes.

    Example:
    ```python
    config = PretrainingConfig(text_path="notes/", whole_word_masking=True)
    ```
    """

    takes_extra_blocks = False

    packs_sequences = True

    text_path: str | None = setting(
        None,
        "UTF-8 text file, or directory of them, one text per line; default: "
        "the embedded Rotten Tomatoes training snippets and plot summaries.",
    )
    mask_rate: float = setting(
        0.15,
        "Share of word pieces masked (80% [MASK], 10% random, 10% kept).",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
        exclusive_maximum=True,
    )
    whole_word_masking: bool = setting(
        False, "Mask all pieces of a chosen word, or none (WordPiece)."
    )
    pack_sequences: bool = setting(
        True,
        "Pack texts one after another into full --max_length rows (else one "
        "row per text).",
    )
    validation_fraction: float = setting(
        0.05,
        "Share of the texts held out to measure the masked-LM loss.",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
        exclusive_maximum=True,
    )
    max_train_texts: int | None = setting(
        None, "Train on a seeded subset of this size.", minimum=1
    )
    epochs: int = setting(1, "Training epochs.", minimum=1)
    learning_rate: float = setting(
        5e-5, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    model_dir: str = setting(
        "runs/pretrain_mlm", "Output directory of the run.", run_setting=False
    )
