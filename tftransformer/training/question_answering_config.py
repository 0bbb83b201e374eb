"""The settings of an extractive question answering run."""

import dataclasses

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.finetune_config import FinetuneConfig

__all__ = ["QuestionAnsweringConfig"]


@dataclasses.dataclass
class QuestionAnsweringConfig(FinetuneConfig):
    """`FinetuneConfig` plus the data, windows and decoding of SQuAD-style QA.

    Early stopping watches the validation loss of the span head.

    Example:
    ```python
    config = QuestionAnsweringConfig(train_file="train-v2.0.json", epochs=2)
    ```
    """

    takes_extra_blocks = False

    train_file: str | None = setting(
        None, "SQuAD v1.1 or v2.0 JSON file of training questions (required)."
    )
    validation_file: str | None = setting(
        None, "Validation questions; default: 10% of --train_file held out."
    )
    test_file: str | None = setting(
        None, "Test questions, scored with EM/F1; default: the validation data."
    )
    max_train_examples: int | None = setting(
        None, "Train on a seeded subset of this many questions.", minimum=1
    )
    max_eval_examples: int | None = setting(
        None,
        "Validate and test on seeded subsets of this many questions.",
        minimum=1,
    )
    doc_stride: int = setting(
        128, "Context tokens between the starts of overlapping windows.", minimum=1
    )
    max_question_length: int = setting(
        64, "Questions are cut to this many tokens.", minimum=1
    )
    max_answer_length: int = setting(
        30, "Longest predicted answer, in tokens.", minimum=1
    )
    null_threshold: float = setting(
        0.0,
        "Answer 'no answer' when its score beats the best span's by more than "
        "this (SQuAD 2.0; raise it for fewer empty answers).",
    )
    allow_no_answer: bool | None = setting(
        None,
        "Whether answers may be empty; default: when the training data has "
        "unanswerable questions.",
        run_setting=False,
    )
    head_learning_rate: float | None = setting(
        None,
        "Peak learning rate of the new span head (None: --learning_rate).",
        minimum=0,
        exclusive_minimum=True,
    )
    dropout: float = setting(
        0.1,
        "Dropout before the span head.",
        minimum=0,
        maximum=1,
        exclusive_maximum=True,
    )
    epochs: int = setting(2, "Training epochs.", minimum=1)
    batch_size: int = setting(16, "Batch size (windows) per replica.", minimum=1)
    learning_rate: float = setting(
        5e-5, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    max_length: int = setting(
        384, "Length of every window: question, context and special tokens.", minimum=8
    )
    model_dir: str = setting(
        "runs/question_answering", "Output directory of the run.", run_setting=False
    )

    def validate(self):
        super().validate()
        if not self.train_file:
            raise ConfigError(
                "train_file is required: a SQuAD v1.1 or v2.0 JSON file "
                "(no question answering data ships with the package). "
                f"Received: train_file={self.train_file!r}"
            )
