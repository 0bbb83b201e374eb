"""What `train_token_classifier` returns."""

import dataclasses

__all__ = ["TokenClassificationRun"]


@dataclasses.dataclass(frozen=True)
class TokenClassificationRun:
    """A trained and evaluated token classifier, with what made it.

    Args:
        model: the trained `TokenClassifier` (its best epoch's weights).
        training: the `TrainingResult` of `Trainer.fit`.
        report: the test split's `EntityReport`.
        predictions: the test tags, one list per sentence.
        train, validation, test: the `TaggingData` splits.
        trainer: the `Trainer`, e.g. for `trainer.chief`.
    """

    model: object
    training: object
    report: object
    predictions: list
    train: object
    validation: object
    test: object
    trainer: object
