"""From start and end logits over windows to answers in the context."""

import numpy as np

from tftransformer._arguments import check_int

__all__ = ["best_answers"]


def _softmax(logits, allowed):
    logits = np.where(allowed, logits, -np.inf)
    logits = logits - logits.max()
    weights = np.exp(logits)
    return weights / weights.sum()


def _check_decoding(max_answer_length, n_best):
    check_int("max_answer_length", max_answer_length, 1)
    check_int("n_best", n_best, 1)


def best_answers(
    logits,
    windows,
    contexts,
    max_answer_length=30,
    n_best=20,
    null_threshold=0.0,
    allow_no_answer=True,
):
    """The best answer of each example, across its windows.

    In each window, the `n_best` highest start and end logits among the
    context tokens make the candidate spans (end not before start, at most
    `max_answer_length` tokens); a span's score is its start plus end logit.
    The example's null score is the lowest `start + end` logit of the start
    token over its windows. With `allow_no_answer`, the answer is empty when
    the null score beats the best span's by more than `null_threshold`
    (SQuAD 2.0); without, the best span is always taken, and only a
    context without a token (empty, or spaces) gets the empty answer.

    Args:
        logits: float `(num_windows, seq, 2)`, a `QuestionAnswerer`'s output.
        windows: the `QuestionAnsweringWindows` the logits are of.
        contexts: the examples' context strings, in example order.
        max_answer_length: int >= 1, longest answer in tokens.
        n_best: int >= 1, starts and ends tried per window.
        null_threshold: float, how much the null score must beat the best
            span's by for "no answer" (raise it for fewer empty answers).
        allow_no_answer: whether an answer may be empty.

    Returns:
        One dict per example: `answer` (the context's text between `start`
        and `end`; `""` for no answer), `start` and `end` (character offsets
        in the context, `-1` for no answer), and `score`: the probability of
        the answer in its window (the product of its start and end
        softmax probabilities over the window's context and start token).
    """
    _check_decoding(max_answer_length, n_best)
    logits = np.asarray(logits, np.float64)
    best = [None] * len(contexts)
    null = [None] * len(contexts)
    for row, index in enumerate(windows.example_index):
        offsets = windows.offsets[row]
        context_positions = offsets[:, 0] >= 0
        allowed = context_positions.copy()
        allowed[0] = True
        starts, ends = logits[row, :, 0], logits[row, :, 1]
        start_probabilities = _softmax(starts, allowed)
        end_probabilities = _softmax(ends, allowed)
        null_score = starts[0] + ends[0]
        if null[index] is None or null_score < null[index][0]:
            probability = start_probabilities[0] * end_probabilities[0]
            null[index] = (null_score, probability)
        positions = np.flatnonzero(context_positions)
        if not len(positions):
            continue
        top_starts = positions[np.argsort(-starts[positions], kind="stable")[:n_best]]
        top_ends = positions[np.argsort(-ends[positions], kind="stable")[:n_best]]
        for start in top_starts:
            for end in top_ends:
                if end < start or end - start + 1 > max_answer_length:
                    continue
                score = starts[start] + ends[end]
                if best[index] is None or score > best[index][0]:
                    probability = start_probabilities[start] * end_probabilities[end]
                    span = (int(offsets[start][0]), int(offsets[end][1]))
                    best[index] = (score, probability, span)
    answers = []
    for index, context in enumerate(contexts):
        candidate = best[index]
        null_score, null_probability = null[index] or (np.inf, 1.0)
        if candidate is None or (
            allow_no_answer and null_score - candidate[0] > null_threshold
        ):
            # No context token (an empty context) leaves no span to take,
            # whatever `allow_no_answer` says; an export answers it alike.
            answers.append(
                {"answer": "", "start": -1, "end": -1, "score": float(null_probability)}
            )
            continue
        _, probability, (start, end) = candidate
        answers.append(
            {
                "answer": context[start:end],
                "start": start,
                "end": end,
                "score": float(probability),
            }
        )
    return answers
