"""SQuAD exact match and F1, as the official v2.0 evaluation script scores.

The official script (`evaluate-v2.0.py`, which for answerable questions
scores as `evaluate-v1.1.py` does) normalizes both answers (lowercase,
punctuation removed, the articles "a", "an" and "the" removed, whitespace
collapsed), counts an exact match when the normalized strings are equal,
and an F1 over the normalized whitespace tokens. A question's score is the
best over its gold answers; gold answers that normalize to nothing are
dropped, and a question left with none (SQuAD 2.0's unanswerable ones)
has the single gold answer `""`, which only an empty prediction matches.
"""

import collections
import re
import string
from collections.abc import Mapping

from tftransformer.evaluation.squad_report import SquadReport

__all__ = [
    "normalize_answer",
    "squad_exact_match",
    "squad_f1",
    "score_squad",
]

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCTUATION = frozenset(string.punctuation)


def _answer_text(name, value):
    """`value` as a str: `None` is no answer (`""`); other non-strings are
    refused, naming `name`."""
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(
            f'{name} must be an answer string (None or "" for no answer). '
            f"Received: {name}={value!r:.200} of type {type(value).__name__}"
        )
    return value


def normalize_answer(text):
    """Lowercases, drops punctuation and articles, and collapses whitespace.

    `text` is a str; `None` (no answer) normalizes to `""`.

    Example:
    ```python
    normalize_answer("The  Denver Broncos!")  # "denver broncos"
    ```
    """
    text = _answer_text("text", text).lower()
    text = "".join(ch for ch in text if ch not in _PUNCTUATION)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def squad_exact_match(gold, prediction):
    """1 if the normalized answers are equal, else 0.

    Each answer is a str, `None` or `""` for no answer.
    """
    gold = _answer_text("gold", gold)
    prediction = _answer_text("prediction", prediction)
    return int(normalize_answer(gold) == normalize_answer(prediction))


def squad_f1(gold, prediction):
    """Token F1 of the normalized answers; 1 or 0 when either is empty.

    Each answer is a str, `None` or `""` for no answer.

    Example:
    ```python
    squad_f1("the Denver Broncos", "Broncos")  # 2/3: precision 1, recall 1/2
    ```
    """
    gold_tokens = normalize_answer(_answer_text("gold", gold)).split()
    predicted_tokens = normalize_answer(_answer_text("prediction", prediction)).split()
    if not gold_tokens or not predicted_tokens:
        # A no-answer on either side scores 1 only when both agree.
        return float(gold_tokens == predicted_tokens)
    common = collections.Counter(gold_tokens) & collections.Counter(predicted_tokens)
    num_same = sum(common.values())
    if num_same == 0:
        return 0.0
    precision = num_same / len(predicted_tokens)
    recall = num_same / len(gold_tokens)
    return 2 * precision * recall / (precision + recall)


def _gold_answers(answers):
    kept = [answer for answer in answers if normalize_answer(answer)]
    return kept or [""]


def score_squad(gold_answers, predictions):
    """Scores predicted answers against gold ones, question by question.

    Args:
        gold_answers: dict question id -> list of gold answer texts (empty
            for an unanswerable question), e.g. `{e.id: e.answers for e in
            examples}` of `tftransformer.data.load_squad`.
        predictions: dict question id -> predicted answer text (`""` for
            "no answer"), one for every gold question.

    Returns:
        A `SquadReport` (exact match and F1 in percent, with the answerable
        and unanswerable questions apart when there are both kinds).

    Raises:
        ValueError: a question without a prediction, a prediction for an
            unknown question, or an answer that is not a string.

    Example:
    ```python
    report = score_squad({"q1": ["Denver Broncos"], "q2": []}, {"q1": "Broncos", "q2": ""})
    report.exact, report.f1  # (50.0, 83.33...)
    ```
    """  # noqa: E501
    for name, value, what in (
        ("gold_answers", gold_answers, "its list of gold answer texts"),
        ("predictions", predictions, "its predicted answer text"),
    ):
        if not isinstance(value, Mapping):
            raise ValueError(
                f"{name} must be a dict mapping each question id to {what}. "
                f"Received: {name}={value!r:.200}"
            )
    missing = sorted(set(gold_answers) - set(predictions))
    unknown = sorted(set(predictions) - set(gold_answers))
    if missing or unknown:
        raise ValueError(
            "predictions must answer every gold question and no other. Received: "
            f"no prediction for {missing[:5]}, predictions for unknown ids "
            f"{unknown[:5]}"
        )
    exact, f1, has_answer = {}, {}, {}
    for qid, answers in gold_answers.items():
        prediction = predictions[qid]
        if not isinstance(prediction, str):
            raise ValueError(
                f"predictions must be strings. Received: {qid!r}: {prediction!r}"
            )
        if isinstance(answers, str) or not all(isinstance(a, str) for a in answers):
            raise ValueError(
                "gold_answers must map each id to a list of strings. Received: "
                f"{qid!r}: {answers!r}"
            )
        golds = _gold_answers(answers)
        exact[qid] = max(squad_exact_match(gold, prediction) for gold in golds)
        f1[qid] = max(squad_f1(gold, prediction) for gold in golds)
        has_answer[qid] = bool(answers)
    return SquadReport(exact, f1, has_answer)
