"""The settings of a multi-task (sentiment and NER) run."""

import dataclasses

from tftransformer.data.multi_task import SAMPLING_RULES
from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["MultiTaskConfig"]


@dataclasses.dataclass
class MultiTaskConfig(FinetuneConfig):
    """`FinetuneConfig` plus the tasks, sampling and loss weights of a
    sentiment + NER run on one shared encoder (`train_multi_task_model`).

    Example:
    ```python
    config = MultiTaskConfig(rule="temperature", ner_loss_weight=2.0)
    ```
    """

    takes_extra_blocks = False

    max_sentiment_examples: int | None = setting(
        2000, "Train on a seeded subset of this many snippets.", minimum=1
    )
    max_ner_examples: int | None = setting(
        None, "Train on a seeded subset of this many tweets.", minimum=1
    )
    max_validation_examples: int | None = setting(
        None, "Validate on seeded subsets of this size.", minimum=1
    )
    max_test_examples: int | None = setting(
        None, "Test on seeded subsets of this size.", minimum=1
    )
    rule: str = setting("proportional", "Task sampling rule.", choices=SAMPLING_RULES)
    temperature: float = setting(
        2.0,
        "T of --rule=temperature: p_i ~ n_i^(1/T).",
        minimum=0,
        exclusive_minimum=True,
    )
    sentiment_loss_weight: float = setting(
        1.0, "Weight of the sentiment loss.", minimum=0
    )
    ner_loss_weight: float = setting(1.0, "Weight of the NER loss.", minimum=0)
    head_learning_rate: float | None = setting(
        3e-3,
        "Peak learning rate of the new heads (None: --learning_rate).",
        minimum=0,
        exclusive_minimum=True,
    )
    dropout: float = setting(
        0.1, "Dropout of the heads.", minimum=0, maximum=1, exclusive_maximum=True
    )
    compare_single_task: bool = setting(
        True,
        "Also train each task alone with the same recipe, data and epochs.",
        run_setting=False,
    )
    epochs: int = setting(
        2, "Epochs; one epoch is one pass's worth of batches.", minimum=1
    )
    batch_size: int = setting(16, "Batch size per replica (every task).", minimum=1)
    learning_rate: float = setting(
        1e-4,
        "Peak learning rate of the encoder (AdamW).",
        minimum=0,
        exclusive_minimum=True,
    )
    max_length: int = setting(64, "Longest word-piece sequence.", minimum=2)
    model_dir: str = setting(
        "runs/multitask", "Output directory of the run.", run_setting=False
    )
    export_dir: str | None = setting(
        None, "Write one TF Serving model per head here.", run_setting=False
    )

    def validate(self):
        """Checks every field; at least one loss weight must be > 0."""
        super().validate()
        if not (self.sentiment_loss_weight or self.ner_loss_weight):
            raise ConfigError(
                "At least one task loss weight must be > 0: with all at 0 "
                "nothing trains. Received: "
                f"sentiment_loss_weight={self.sentiment_loss_weight}, "
                f"ner_loss_weight={self.ner_loss_weight}"
            )
