"""What `train_question_answerer` returns."""

import dataclasses

__all__ = ["QuestionAnsweringRun"]


@dataclasses.dataclass(frozen=True)
class QuestionAnsweringRun:
    """A trained and evaluated question answerer, with what made it.

    Args:
        model: the trained `QuestionAnswerer` (its best epoch's weights).
        training: the `TrainingResult` of `Trainer.fit`.
        report: the test questions' `SquadReport`.
        predictions: dict question id -> predicted answer dict (`answer`,
            `start`, `end`, `score`).
        train, validation, test: lists of `SquadExample`s.
        trainer: the `Trainer`, e.g. for `trainer.chief`.
        decoding: the `max_answer_length`, `null_threshold` and
            `allow_no_answer` the test answers were decoded with (also the
            run directory's `decoding.json`), e.g. for an export.
    """

    model: object
    training: object
    report: object
    predictions: dict
    train: list
    validation: list
    test: list
    trainer: object
    decoding: dict = None
