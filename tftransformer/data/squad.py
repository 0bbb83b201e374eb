"""Reading SQuAD-format JSON files (v1.1 and v2.0) into `SquadExample`s."""

import json
import os

from tftransformer._arguments import check_path
from tftransformer.data.data_error import DataError
from tftransformer.data.loaders import _read_text
from tftransformer.data.squad_example import SquadExample

__all__ = ["load_squad", "squad_examples"]


def _field(record, key, kind, where):
    if not isinstance(record, dict):
        raise DataError(f"{where}: expected a JSON object. Received: {record!r:.80}")
    if key not in record:
        raise DataError(
            f"{where}: missing key {key!r}; expected a SQuAD record with it. "
            f"Received keys: {sorted(record)}"
        )
    value = record[key]
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        names = kind.__name__ if isinstance(kind, type) else kind
        raise DataError(
            f"{where}: {key!r} must be of type {names}. Received: {value!r:.80}"
        )
    return value


def _example(qa, context, title, where):
    qid = str(_field(qa, "id", (str, int), where))
    question = _field(qa, "question", str, where)
    if not question.strip():
        raise DataError(f"{where}: empty question (id {qid!r}).")
    answers = _field(qa, "answers", list, where) if "answers" in qa else []
    is_impossible = qa.get("is_impossible", False)
    if not isinstance(is_impossible, bool):
        raise DataError(
            f"{where}: 'is_impossible' must be true or false. "
            f"Received: {is_impossible!r}"
        )
    if is_impossible and answers:
        raise DataError(
            f"{where}: question {qid!r} is_impossible but has {len(answers)} "
            "answers; expected an empty 'answers' list (SQuAD 2.0 keeps them "
            "in 'plausible_answers')."
        )
    if not is_impossible and not answers:
        raise DataError(
            f"{where}: question {qid!r} has no answers; expected at least one, "
            "or 'is_impossible': true for a question without an answer."
        )
    texts, starts = [], []
    for a, answer in enumerate(answers):
        answer_where = f"{where}.answers[{a}]"
        texts.append(_field(answer, "text", str, answer_where))
        starts.append(_field(answer, "answer_start", int, answer_where))
    try:
        return SquadExample(qid, question, context, texts, starts, title)
    except ValueError as error:
        raise DataError(f"{where}: {error}") from None


def squad_examples(squad, source="<data>"):
    """The examples of parsed SQuAD JSON (a dict with a `data` list).

    Args:
        squad: the parsed JSON of a SQuAD v1.1 or v2.0 file.
        source: its name in error messages.

    Returns:
        A list of `SquadExample`s in file order.

    Raises:
        DataError: a missing key, a value of the wrong type, an answer whose
            text is not at its `answer_start`, an answerable question without
            answers (or an `is_impossible` one with answers), a repeated id,
            or no questions at all; the message names the record.
    """
    articles = _field(squad, "data", list, source)
    examples, seen = [], {}
    for i, article in enumerate(articles):
        where = f"{source}: data[{i}]"
        title = article.get("title", "") if isinstance(article, dict) else ""
        for j, paragraph in enumerate(_field(article, "paragraphs", list, where)):
            paragraph_where = f"{where}.paragraphs[{j}]"
            context = _field(paragraph, "context", str, paragraph_where)
            for k, qa in enumerate(_field(paragraph, "qas", list, paragraph_where)):
                qa_where = f"{paragraph_where}.qas[{k}]"
                example = _example(qa, context, str(title), qa_where)
                if example.id in seen:
                    raise DataError(
                        f"{qa_where}: question id {example.id!r} is repeated "
                        f"(first at {seen[example.id]}); expected unique ids."
                    )
                seen[example.id] = qa_where
                examples.append(example)
    if not examples:
        raise DataError(f"{source}: no questions; expected at least one.")
    return examples


def load_squad(path):
    """Reads a SQuAD v1.1 or v2.0 JSON file.

    Args:
        path: the file: `{"data": [{"title", "paragraphs": [{"context",
            "qas": [{"id", "question", "answers": [{"text", "answer_start"}],
            "is_impossible"}]}]}]}`. `is_impossible` (SQuAD 2.0) is optional;
            an impossible question has an empty `answers` list.

    Returns:
        A list of `SquadExample`s, one per question.

    Raises:
        DataError: the file is missing, not UTF-8 (naming the line) or not
            JSON, or a record is malformed (see `squad_examples`).

    Example:
    ```python
    examples = load_squad("dev-v2.0.json")
    examples[0].question, examples[0].answers
    ```
    """
    path = check_path("path", path)
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such file; expected a SQuAD JSON file.")
    # Raises a DataError naming the line of a byte that is not UTF-8.
    content = _read_text(path)
    try:
        squad = json.loads(content)
    except json.JSONDecodeError as error:
        raise DataError(f"{path}: not valid JSON ({error}).") from None
    return squad_examples(squad, source=path)
