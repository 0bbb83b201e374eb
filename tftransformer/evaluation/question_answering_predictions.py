"""Answering SQuAD examples with a `QuestionAnswerer` and scoring them."""

from tftransformer.evaluation.squad_metrics import score_squad

__all__ = ["evaluate_question_answerer"]


def evaluate_question_answerer(
    model,
    examples,
    batch_size=32,
    max_answer_length=30,
    null_threshold=0.0,
    allow_no_answer=True,
):
    """Answers `examples` and scores the answers as the SQuAD script does.

    Args:
        model: a `QuestionAnswerer` with its preprocessor.
        examples: a list of `SquadExample`s.
        batch_size: windows per prediction batch.
        max_answer_length, null_threshold, allow_no_answer: see
            `tftransformer.models.best_answers`.

    Returns:
        `(SquadReport, predictions)`, `predictions` a dict question id ->
        answer dict (`answer`, `start`, `end`, `score`).
    """
    answers = model.predict_answers(
        examples,
        batch_size=batch_size,
        max_answer_length=max_answer_length,
        null_threshold=null_threshold,
        allow_no_answer=allow_no_answer,
    )
    predictions = {example.id: answer for example, answer in zip(examples, answers)}
    report = score_squad(
        {example.id: list(example.answers) for example in examples},
        {qid: answer["answer"] for qid, answer in predictions.items()},
    )
    return report, predictions
