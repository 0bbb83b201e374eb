"""The settings of a few-shot (SetFit-style) classification run."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["FewShotConfig"]


@dataclasses.dataclass
class FewShotConfig(FinetuneConfig):
    """`FinetuneConfig` plus the sampling and head of few-shot classification.

    `epochs`, `batch_size` and `learning_rate` are those of the contrastive
    phase (pairs, not examples, per batch). `calibrate` fits the head's
    softmax temperature on examples neither tuned on nor scored: the
    validation data when given, else `calibration_examples_per_class` more
    labelled examples of each class of the training split.

    Example:
    ```python
    config = FewShotConfig(examples_per_class=8, num_iterations=5)
    ```
    """

    takes_extra_blocks = False

    examples_per_class: int = setting(
        8, "Labelled training examples per class.", minimum=1
    )
    num_iterations: int = setting(
        20, "Rounds of pair sampling (2 pairs per example each).", minimum=1
    )
    head_epochs: int = setting(
        300, "Full-batch epochs of the logistic head.", minimum=1
    )
    calibrate: bool = setting(
        True,
        "Fit a softmax temperature on held-out labelled examples after "
        "training (saved in the head, applied in exports); the report gives "
        "the expected calibration error before and after.",
        run_setting=False,
    )
    calibration_examples_per_class: int = setting(
        8,
        "Labelled training examples per class, besides the few-shot ones, "
        "held out to fit the temperature (when no validation data is given).",
        minimum=1,
        run_setting=False,
    )
    max_test_examples: int | None = setting(
        None, "Evaluate on a seeded subset of the test split.", minimum=1
    )
    epochs: int = setting(1, "Contrastive training epochs.", minimum=1)
    batch_size: int = setting(16, "Pairs per batch (per replica).", minimum=1)
    learning_rate: float = setting(2e-5, "Peak learning rate.", minimum=0)
    max_length: int = setting(256, "Longest tokenized text.", minimum=2)
    model_dir: str = setting("runs/few_shot", "Output directory.", run_setting=False)

    def validate(self):
        """Checks every field; refuses recipes that train a head first."""
        super().validate()
        head_first = {
            "freeze_backbone": self.freeze_backbone,
            "gradual_unfreeze": self.gradual_unfreeze,
            "head_warmup_steps": self.head_warmup_steps,
        }
        for name, value in head_first.items():
            if value:
                raise ConfigError(
                    "A few-shot run's contrastive phase trains the encoder "
                    "alone (the logistic head is fitted afterwards, on the "
                    f"embeddings): {name}, which trains a head alone first, "
                    f"would train nothing. Received: {name}={value}"
                )
