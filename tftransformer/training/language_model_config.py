"""The settings of a causal language model trained from scratch."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.pretrained_generator_config import (
    PretrainedGeneratorConfig,
)

__all__ = ["LanguageModelConfig"]


@dataclasses.dataclass
class LanguageModelConfig(PretrainedGeneratorConfig):
    """`PretrainedGeneratorConfig` of a `CausalLM`: its texts, vocabulary and samples.

    With a `preset` (a keras-hub `CausalLM` preset of a GPT-2-like family),
    that pretrained model is fine-tuned instead, with its own tokenizer: the
    shape fields (`num_layers`, ...), `vocabulary`, `min_token_count` and
    `position_kind` are not used, and `lora_rank`, `freeze_layers` or
    `layer_decay` may set a transfer recipe. Early stopping watches the validation
    perplexity. The sampling settings (`num_samples`, `prompt_tokens`,
    `temperature`, `top_k`) change no training step: a resumed run may
    change them.

    Example:
    ```python
    config = LanguageModelConfig(text_file="corpus.txt", temperature=0.7)
    config = LanguageModelConfig(preset="gpt2_base_en", lora_rank=4)
    ```
    """

    preset: str | None = setting(
        None,
        "Fine-tune this pretrained keras-hub CausalLM (GPT-2-like): a preset "
        "directory, or a keras-hub preset name such as gpt2_base_en (needs "
        "network). Default: a CausalLM from random weights.",
    )

    text_file: str | None = setting(
        None,
        "UTF-8 text file, one text per line, or a TSV file with --text_column; "
        "default: the embedded Rotten Tomatoes snippets.",
    )
    text_column: str | None = setting(
        None, "TSV column of the texts: header name, or index from 0 (no header)."
    )
    on_bad_rows: str = setting(
        "error",
        "TSV lines without --text_column or with an empty text: refuse, or skip.",
        choices=("error", "skip"),
    )
    validation_fraction: float = setting(
        0.05,
        "Share of --text_file held out for perplexity.",
        minimum=0,
        maximum=1,
        exclusive_minimum=True,
        exclusive_maximum=True,
    )
    max_train_texts: int | None = setting(
        None, "Train on a seeded subset of this size.", minimum=1
    )
    max_validation_texts: int | None = setting(
        None, "Measure perplexity on a seeded subset of this size.", minimum=1
    )
    vocabulary: str = setting(
        "learned",
        "WordPiece vocabulary: learned from the training texts, or the "
        "embedded checkpoint's.",
        choices=("learned", "embedded"),
    )
    min_token_count: int = setting(
        5, "Learned pieces must occur this often in training.", minimum=1
    )
    max_length: int = setting(
        64, "Longest sequence in tokens; longer texts are cut.", minimum=2
    )
    epochs: int = setting(10, "Training epochs.", minimum=1)
    learning_rate: float = setting(
        1e-3, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    warmup_fraction: float = setting(
        0.05,
        "Fraction of steps of linear warmup.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    num_samples: int = setting(
        5, "Validation texts to continue.", minimum=0, run_setting=False
    )
    prompt_tokens: int = setting(
        3,
        "Tokens of each validation text as prompt (WordPiece, or the preset's).",
        minimum=1,
        run_setting=False,
    )
    temperature: float = setting(
        0.8,
        "Sampling temperature: below 1 sharpens, above flattens.",
        minimum=0,
        exclusive_minimum=True,
        run_setting=False,
    )
    top_k: int = setting(
        40,
        "Sample among the k most likely tokens (0: all, 1: greedy).",
        minimum=0,
        run_setting=False,
    )
    model_dir: str = setting(
        "runs/causal_lm", "Output directory of the run.", run_setting=False
    )

    monitor = "val_perplexity"
    monitor_mode = "min"

    def validate(self):
        """Checks every field, and that a prompt leaves room to sample."""
        super().validate()
        if self.max_length <= self.prompt_tokens + 1:
            raise ConfigError(
                "max_length must leave room after the [START] token and the "
                f"prompt. Received: max_length={self.max_length}, "
                f"prompt_tokens={self.prompt_tokens}"
            )
