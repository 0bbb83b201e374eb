"""The settings of a long-document classification run."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["LongDocumentConfig"]

VARIANTS = ("attention", "mean", "truncate")


@dataclasses.dataclass
class LongDocumentConfig(FinetuneConfig):
    """`FinetuneConfig` plus the chunking and the variants compared by
    `train_long_document_classifiers`.

    Each document is cut into chunks of `max_length` tokens starting
    `stride` word pieces apart, at most `max_chunks` of them. The variants:
    `attention` (a learned `AttentionPooling` over the chunks), `mean` (the
    average of the chunk vectors), `truncate` (the first chunk only).

    Example:
    ```python
    config = LongDocumentConfig(variants="attention,truncate", max_chunks=4)
    config.variant_names  # ["attention", "truncate"]
    ```
    """

    takes_extra_blocks = False

    variants: str = setting(
        ",".join(VARIANTS),
        "Chunk poolings to compare, comma-separated: attention,mean,truncate.",
        run_setting=False,
    )
    max_length: int = setting(
        128, "Tokens per chunk, [CLS] and [SEP] included.", minimum=3
    )
    stride: int = setting(96, "Word pieces between the starts of chunks.", minimum=1)
    max_chunks: int = setting(8, "Chunks kept per document.", minimum=1)
    max_train_examples: int | None = setting(
        None, "Train on a seeded subset of this many documents.", minimum=1
    )
    max_eval_examples: int | None = setting(
        None, "Validate and test on seeded subsets of this size.", minimum=1
    )
    head_learning_rate: float | None = setting(
        1e-3,
        "Peak learning rate of the chunk pooling and head (None: --learning_rate).",
        minimum=0,
        exclusive_minimum=True,
    )
    dropout: float = setting(
        0.1, "Dropout before the head.", minimum=0, maximum=1, exclusive_maximum=True
    )
    calibrate: bool = setting(
        True,
        "Fit a softmax temperature on the validation data after training "
        "each variant (saved with its model); the report gives the "
        "expected calibration error before and after.",
        run_setting=False,
    )
    epochs: int = setting(3, "Training epochs.", minimum=1)
    batch_size: int = setting(4, "Documents per batch per replica.", minimum=1)
    model_dir: str = setting(
        "runs/long_documents", "Output directory of the run.", run_setting=False
    )

    monitor = "val_accuracy"
    monitor_mode = "max"

    def validate(self):
        """Checks every field, the variants and the stride."""
        super().validate()
        names = self.variant_names
        if not names or any(name not in VARIANTS for name in names):
            raise ConfigError(
                f"variants must be a non-empty comma-separated list of {VARIANTS}. "
                f"Received: variants={self.variants!r}"
            )
        if self.stride > self.max_length - 2:
            raise ConfigError(
                "stride must be an integer in [1, max_length - 2 = "
                f"{self.max_length - 2}]. Received: stride={self.stride}"
            )

    @property
    def variant_names(self):
        """The variants, as a list."""
        return [name for name in self.variants.split(",") if name]
