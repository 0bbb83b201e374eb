"""What `train_text_classifier` returns."""

import dataclasses

__all__ = ["ClassificationRun"]


@dataclasses.dataclass(frozen=True)
class ClassificationRun:
    """A trained and evaluated text classifier, with what made it.

    Args:
        model: the trained `TextClassifier` (its best epoch's weights).
        training: the `TrainingResult` of `Trainer.fit`.
        report: the test split's `ClassificationReport`.
        train, validation, test: the `TextClassificationData` splits
            (`train` with its augmented copies).
        trainer: the `Trainer`, e.g. for `trainer.dataset(...)` and
            `trainer.chief`.
    """

    model: object
    training: object
    report: object
    train: object
    validation: object
    test: object
    trainer: object
