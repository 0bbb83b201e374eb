"""The settings of a translation model trained from scratch."""

import dataclasses
import os

from tftransformer.data.sequence_datasets import table_column
from tftransformer.training._settings import ConfigError, field_default, setting
from tftransformer.training.pretrained_generator_config import (
    PretrainedGeneratorConfig,
)

__all__ = ["TranslationConfig"]

# Written by `make translation-data`.
DEFAULT_PAIRS_FILE = os.path.join("runs", "data", "bible_en_es.tsv")


@dataclasses.dataclass
class TranslationConfig(PretrainedGeneratorConfig):
    """`PretrainedGeneratorConfig` of a `Seq2SeqTransformer`: its sentence pairs,
    splits, vocabularies and decoding.

    Early stopping watches the validation loss (the training loss with
    `validation_size=0`). The decoding settings (`beam_width`,
    `length_penalty`, `num_samples`) change no training step: a resumed run
    may change them.

    With a `preset` (a keras-hub `Seq2SeqLM` preset: BART, T5), that
    pretrained encoder-decoder is fine-tuned instead, with its own
    tokenizer: pairs are cut to `max_length` tokens rather than left out,
    the shape fields (`num_layers`, ...), `min_token_count`,
    `position_kind` and `length_penalty` (keras-hub's `BeamSampler` has
    none; another value than the default is refused) are not used, and
    `freeze_layers`, `lora_rank` or `layer_decay` (not T5's: see
    `EncoderDecoderAdapter`) may set a transfer recipe.

    Example:
    ```python
    config = TranslationConfig(pairs_file="pairs.tsv", source_column="0",
                               target_column="1")
    config = TranslationConfig(preset="bart_base_en", learning_rate=5e-5)
    config = TranslationConfig(preset="t5_small_multi",
                               source_prefix="translate English to German: ")
    ```
    """

    preset: str | None = setting(
        None,
        "Fine-tune this pretrained keras-hub Seq2SeqLM (BART, T5): a preset "
        "directory, or a keras-hub preset name such as bart_base_en or "
        "t5_small_multi (needs network). Default: a Seq2SeqTransformer from "
        "random weights.",
    )

    source_prefix: str = setting(
        "",
        "Text put before every source the pretrained preset reads, in training, "
        "evaluation and translation (T5's task prefix, e.g. 'translate English "
        "to Spanish: '); the written sources and samples leave it out. Needs "
        "--preset.",
    )

    pairs_file: str = setting(
        DEFAULT_PAIRS_FILE,
        "TSV of sentence pairs; default: the Bible corpus of `make translation-data`.",
    )
    source_column: str = setting("en", "Source column: header name, or index from 0.")
    target_column: str = setting("es", "Target column: header name, or index from 0.")
    on_bad_rows: str = setting(
        "error",
        "Lines with too few fields or an empty sentence: refuse, or skip and count.",
        choices=("error", "skip"),
    )
    max_length: int = setting(
        24,
        "Longest source / target in tokens; longer pairs are left out.",
        minimum=3,
    )
    test_size: int = setting(1500, "Held-out pairs for BLEU.", minimum=1)
    validation_size: int = setting(
        1000, "Held-out pairs for early stopping (0: none).", minimum=0
    )
    max_train_pairs: int | None = setting(
        None, "Train on at most this many pairs.", minimum=1
    )
    min_token_count: int = setting(
        10, "WordPiece pieces must occur this often in training.", minimum=1
    )
    epochs: int = setting(10, "Training epochs.", minimum=1)
    batch_size: int = setting(
        64, "Batch size per replica (the global batch is this x replicas).", minimum=1
    )
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
    beam_width: int = setting(
        4, "Beam width of beam search.", minimum=1, run_setting=False
    )
    length_penalty: float = setting(
        0.6, "Length penalty exponent of beam search.", minimum=0, run_setting=False
    )
    num_samples: int = setting(
        5, "Translations to print.", minimum=0, run_setting=False
    )
    model_dir: str = setting(
        "runs/translate", "Output directory of the run.", run_setting=False
    )

    def validate(self):
        """Checks every field, and that source and target columns differ."""
        super().validate()
        if table_column(self.source_column) == table_column(self.target_column):
            raise ConfigError(
                "source_column and target_column must differ: a model would "
                f"learn to copy. Received: source_column={self.source_column!r}, "
                f"target_column={self.target_column!r}"
            )
        fields = {field.name: field for field in dataclasses.fields(self)}
        default_penalty = field_default(fields["length_penalty"])
        if self.preset is not None and self.length_penalty != default_penalty:
            raise ConfigError(
                "A preset's beam search is keras-hub's BeamSampler, which has "
                "no length penalty: length_penalty applies to a model from "
                "random weights. Leave it at its default. Received: "
                f"preset={self.preset!r}, length_penalty={self.length_penalty!r}"
            )
        if self.source_prefix and self.preset is None:
            raise ConfigError(
                "source_prefix is a pretrained preset's task prefix: a model "
                "trained from scratch learns its task without one. Set --preset, "
                f"or leave it empty. Received: source_prefix={self.source_prefix!r}"
            )
