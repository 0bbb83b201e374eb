"""The settings of a text classifier trained from scratch."""

import dataclasses

from tftransformer.training._classification_settings import ClassificationSettings
from tftransformer.training._settings import setting
from tftransformer.training.from_scratch_config import FromScratchConfig

__all__ = ["FromScratchClassificationConfig"]


@dataclasses.dataclass
class FromScratchClassificationConfig(FromScratchConfig, ClassificationSettings):
    """`FromScratchConfig` of a text classifier (a `TextClassifier` on a
    `TransformerEncoder` with random weights): the no-transfer baseline of
    `ClassificationConfig`, on the same data fields (files, a TFDS dataset,
    or the embedded sentiment data by default).

    Early stopping watches validation accuracy.

    Example:
    ```python
    config = FromScratchClassificationConfig(epochs=2, max_train_examples=200)
    config = FromScratchClassificationConfig(train_file="reviews.csv")
    ```
    """

    intermediate_dim: int = setting(256, "Feed-forward width.", minimum=1)
    pooling: str = setting(
        "mean",
        "Pooling of the sequence output: the first token, or the mean or "
        "max of the real tokens.",
        choices=("cls", "mean", "max"),
    )
    epochs: int = setting(4, "Training epochs.", minimum=1)
    learning_rate: float = setting(
        5e-4, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    max_length: int = setting(128, "Longest tokenized sequence.", minimum=2)
    tensorboard: bool = setting(
        True, "Write TensorBoard logs to model_dir/logs.", run_setting=False
    )
    model_dir: str = setting(
        "runs/from_scratch", "Output directory of the run.", run_setting=False
    )

    monitor = "val_accuracy"
    monitor_mode = "max"
