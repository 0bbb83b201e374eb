"""The settings of a token classification (NER) run."""

import dataclasses

from tftransformer.training._classification_settings import (
    test_file_setting,
    validation_file_setting,
)
from tftransformer.training._settings import setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["TokenClassificationConfig"]


@dataclasses.dataclass
class TokenClassificationConfig(FinetuneConfig):
    """`FinetuneConfig` plus the data and head of token classification (NER).

    Early stopping watches the validation entity micro-F1 (`val_entity_f1`).

    Example:
    ```python
    config = TokenClassificationConfig(freeze_layers=2, epochs=1)
    ```
    """

    # Training sentences are packed into rows with `pack_sequences`.
    packs_sequences = True

    train_file: str | None = setting(
        None,
        "CoNLL-style (word and tag columns, blank line between sentences) or "
        "JSONL (tokens, tags) file; default: the embedded WNUT-16 split.",
    )
    validation_file: str | None = validation_file_setting()
    test_file: str | None = test_file_setting()
    max_train_examples: int | None = setting(
        None, "Train on a seeded subset of this many sentences.", minimum=1
    )
    max_eval_examples: int | None = setting(
        None,
        "Validate and test on seeded subsets of this many sentences.",
        minimum=1,
    )
    head_learning_rate: float | None = setting(
        3e-3,
        "Peak learning rate of the new tagging head, which starts from random "
        "weights over small backbone features (None: --learning_rate).",
        minimum=0,
        exclusive_minimum=True,
    )
    dropout: float = setting(
        0.1,
        "Dropout of the tagging head.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    calibrate: bool = setting(
        True,
        "Fit a softmax temperature on the validation tokens after training "
        "(saved with the model, applied in exports); the report gives the "
        "expected calibration error over tokens before and after.",
        run_setting=False,
    )
    epochs: int = setting(4, "Training epochs.", minimum=1)
    batch_size: int = setting(16, "Batch size (sentences) per replica.", minimum=1)
    learning_rate: float = setting(
        1e-4, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    max_length: int = setting(
        64,
        "Longest word-piece sequence; words past it are left out of the loss "
        "and predicted 'O'.",
        minimum=2,
    )
    model_dir: str = setting(
        "runs/ner", "Output directory of the run.", run_setting=False
    )

    monitor = "val_entity_f1"
    monitor_mode = "max"
