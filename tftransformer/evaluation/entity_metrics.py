"""Entity-level evaluation of BIO tag sequences, as CoNLL's `conlleval` does.

An entity (a "chunk" in conlleval) is a maximal run of words of one type:
it starts at a `B-TYPE`, or at an `I-TYPE` that follows `O` or a tag of
another type (a malformed `I-` opens an entity, as in conlleval), and goes
on over the following `I-TYPE` words. A predicted entity is correct only
when a true entity has exactly the same first word, last word and type.
Sentences are evaluated separately: no entity crosses a sentence boundary.
"""

import numpy as np

from tftransformer.evaluation.entity_report import EntityReport

__all__ = ["entity_report", "extract_entities"]


def _split_tag(tag, where):
    if tag == "O":
        return "O", ""
    if isinstance(tag, str) and tag[:2] in ("B-", "I-") and len(tag) > 2:
        return tag[0], tag[2:]
    raise ValueError(
        f"Tag {tag!r} ({where}) is not a BIO tag; expected 'O', 'B-TYPE' or 'I-TYPE'."
    )


def extract_entities(tags):
    """Returns the entities of one sentence's BIO tags.

    Args:
        tags: sequence of tags (`"O"`, `"B-TYPE"`, `"I-TYPE"`), one per word.

    Returns:
        A list of `(type, start, end)` tuples in sentence order: the words
        `start` to `end - 1` (`end` is exclusive, as in a Python slice) form
        an entity of `type`.

    Example:

    ```python
    extract_entities(["B-PER", "I-PER", "O", "I-LOC", "B-LOC", "B-LOC"])
    # [("PER", 0, 2), ("LOC", 3, 4), ("LOC", 4, 5), ("LOC", 5, 6)]
    ```
    """
    if isinstance(tags, str):
        raise ValueError(
            f"tags must be a sequence of tags, not a string. Received: tags={tags!r}"
        )
    entities = []
    start, current = None, None
    for index, tag in enumerate(list(tags) + ["O"]):
        prefix, entity_type = _split_tag(tag, f"position {index}")
        # An entity ends before a B-, an O, or a word of another type.
        if start is not None and (prefix != "I" or entity_type != current):
            entities.append((current, start, index))
            start = None
        # An entity starts at a B-, or at an I- that continues nothing.
        if prefix == "B" or (prefix == "I" and start is None):
            start, current = index, entity_type
    return entities


def entity_report(true_tags, predicted_tags, calibration=None):
    """Scores predicted BIO tags against true ones, per entity type.

    Precision is the fraction of predicted entities that are correct
    (exact span and type), recall the fraction of true entities predicted
    correctly, F1 their harmonic mean; micro averages pool the entities of
    all types, macro averages take the unweighted mean over the types found
    in the true or the predicted tags. Token accuracy is the fraction of
    words whose predicted tag equals the true tag, `"O"` words included (as
    conlleval reports it).

    Args:
        true_tags: sequence of sentences, each a sequence of BIO tags.
        predicted_tags: the same shape: one predicted tag per true tag.
        calibration: optional token-level `calibration_summary` dict, kept
            in the report.

    Returns:
        An `EntityReport`.

    Example:

    ```python
    report = entity_report(
        [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "O", "O"]]
    )
    report.micro  # {"precision": 1.0, "recall": 0.5, "f1": 0.667, ...}
    ```
    """
    if isinstance(true_tags, str) or isinstance(predicted_tags, str):
        raise ValueError(
            "true_tags and predicted_tags must be sequences of sentences. "
            f"Received: true_tags={true_tags!r}, predicted_tags={predicted_tags!r}"
        )
    true_tags, predicted_tags = list(true_tags), list(predicted_tags)
    if len(true_tags) != len(predicted_tags):
        raise ValueError(
            "true_tags and predicted_tags must hold the same number of "
            f"sentences. Received: {len(true_tags)} and {len(predicted_tags)}"
        )
    true_counts, predicted_counts, correct_counts = {}, {}, {}
    num_words = num_correct_words = 0
    for index, (truth, prediction) in enumerate(zip(true_tags, predicted_tags)):
        if isinstance(truth, str) or isinstance(prediction, str):
            raise ValueError(
                f"Sentence {index} must be a sequence of tags, not a string. "
                f"Received: {truth!r} and {prediction!r}"
            )
        truth, prediction = list(truth), list(prediction)
        if len(truth) != len(prediction):
            raise ValueError(
                f"Sentence {index} has {len(truth)} true tags but "
                f"{len(prediction)} predicted tags. Received: true={truth}, "
                f"predicted={prediction}"
            )
        true_entities = set(extract_entities(truth))
        predicted_entities = set(extract_entities(prediction))
        for counts, entities in (
            (true_counts, true_entities),
            (predicted_counts, predicted_entities),
            (correct_counts, true_entities & predicted_entities),
        ):
            for entity_type, _, _ in entities:
                counts[entity_type] = counts.get(entity_type, 0) + 1
        num_words += len(truth)
        num_correct_words += int(np.sum([t == p for t, p in zip(truth, prediction)]))
    return EntityReport(
        true_counts=true_counts,
        predicted_counts=predicted_counts,
        correct_counts=correct_counts,
        num_words=num_words,
        num_correct_words=num_correct_words,
        num_sentences=len(true_tags),
        calibration=calibration,
    )
