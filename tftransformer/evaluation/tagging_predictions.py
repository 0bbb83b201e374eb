"""Word-level predictions of a token classifier, and its entity evaluation.

A token classifier gives one logit vector per word piece. A word's tag is
the arg-max at its first piece (the position that carried its label in
training), its tag probabilities `softmax(logits / model.temperature)`
there. A word whose first piece was cut off by the maximum sequence length
is tagged `"O"` and flagged in `truncated`.
"""

import numpy as np

from tftransformer._arguments import check_int, check_positive_number, output_shape
from tftransformer.data.tagging import tokenize_and_align, words_to_ragged
from tftransformer.evaluation.calibration import calibration_summary
from tftransformer.evaluation.entity_metrics import entity_report, extract_entities
from tftransformer.models._task_base import predict_batch

__all__ = ["evaluate_tagger", "predict_entities", "predict_tags"]

_DEFAULT_PAD_TO = 16


def _settings(model, tokenizer, max_length, tag_names):
    preprocessor = getattr(model, "preprocessor", None)
    if tokenizer is None:
        tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            "The model has no preprocessor with a tokenizer; pass `tokenizer=` "
            "(e.g. the tokenizer the model was trained with)."
        )
    if max_length is None:
        max_length = getattr(preprocessor, "sequence_length", None) or 128
    pad_to = getattr(preprocessor, "pad_to_multiple_of", _DEFAULT_PAD_TO)
    if tag_names is None:
        tag_names = getattr(model, "tag_names", None)
    if tag_names is None:
        raise ValueError(
            "The model has no tag_names; pass `tag_names=` (the tag of each output id)."
        )
    tag_names = [str(name) for name in tag_names]
    shape = output_shape(model)
    num_outputs = None if shape is None else shape[-1]
    if num_outputs is not None and num_outputs != len(tag_names):
        raise ValueError(
            f"The model has {num_outputs} outputs per token but {len(tag_names)} "
            f"tag names were given. Received: tag_names={tag_names}"
        )
    return tokenizer, max_length, pad_to, tag_names


def _decode(value):
    return value.decode("utf-8") if isinstance(value, bytes) else value


def _softmax(logits):
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


def _temperature(model):
    return check_positive_number("temperature", getattr(model, "temperature", 1.0))


def predict_tags(
    model, sentences, tokenizer=None, max_length=None, batch_size=32, tag_names=None
):
    """Predicts one tag per word for each sentence.

    Args:
        model: a `TokenClassifier` (or any model taking the BERT input dict
            and returning `(batch, seq, num_tags)` logits).
        sentences: raw strings (split on whitespace as `tf.strings.split`
            does, as in an exported model), or lists of words.
        tokenizer: the WordPiece tokenizer; defaults to the model's
            preprocessor's.
        max_length: the longest sequence; defaults to the preprocessor's
            `sequence_length`, else 128.
        batch_size: sentences per forward pass.
        tag_names: tag of each output id; defaults to `model.tag_names`.

    Returns:
        A dict of lists, one entry per sentence: `"words"` (lists of
        `str`), `"tags"` (lists of `str`, one per word), `"truncated"`
        (lists of `bool`, true for words cut off by `max_length`, whose tag
        is `"O"`), `"probabilities"` (float32 arrays `(num_words,
        num_tags)`: `softmax(logits / model.temperature)` at each word's
        first piece, zeros for truncated words) and `"logits"` (the same,
        unscaled).

    Example:
    ```python
    result = predict_tags(tagger, ["Obama visits Paris"])
    result["tags"]  # [["B-person", "O", "B-geo-loc"]]
    ```
    """
    batch_size = check_int("batch_size", batch_size, 1)
    tokenizer, max_length, pad_to, tag_names = _settings(
        model, tokenizer, max_length, tag_names
    )
    temperature = _temperature(model)
    words = words_to_ragged(sentences)
    result = {"words": [], "tags": [], "truncated": [], "probabilities": []}
    result["logits"] = []
    for start in range(0, int(words.nrows()), batch_size):
        batch_words = words[start : start + batch_size]
        features = tokenize_and_align(
            batch_words, tokenizer, max_length, pad_to_multiple_of=pad_to
        )
        word_starts = features.pop("word_starts").to_list()
        logits = predict_batch(model, features).astype("float32", copy=False)
        tag_ids = np.argmax(logits, axis=-1)
        for row, (sentence, starts) in enumerate(
            zip(batch_words.to_list(), word_starts)
        ):
            starts = np.asarray(starts, dtype="int64")
            truncated = starts < 0
            ids = tag_ids[row, np.maximum(starts, 0)]
            # (num_words, num_tags); nothing for words cut off.
            word_logits = np.where(
                truncated[:, None], 0.0, logits[row, np.maximum(starts, 0)]
            ).astype("float32")
            probabilities = np.where(
                truncated[:, None], 0.0, _softmax(word_logits / temperature)
            ).astype("float32")
            result["words"].append([_decode(word) for word in sentence])
            result["tags"].append(
                ["O" if cut else tag_names[i] for i, cut in zip(ids, truncated)]
            )
            result["truncated"].append(truncated.tolist())
            result["probabilities"].append(probabilities)
            result["logits"].append(word_logits)
    return result


def predict_entities(
    model, sentences, tokenizer=None, max_length=None, batch_size=32, tag_names=None
):
    """Predicts word tags and the entities they spell, for each sentence.

    Entities are read from the predicted BIO tags as conlleval does (see
    `extract_entities`).

    Args:
        model: a `TokenClassifier` with BIO `tag_names`.
        sentences: raw strings (split on whitespace) or lists of words.
        tokenizer: the WordPiece tokenizer; defaults to the model's
            preprocessor's.
        max_length: the longest sequence; defaults to the preprocessor's
            `sequence_length`, else 128.
        batch_size: sentences per forward pass.
        tag_names: tag of each output id; defaults to `model.tag_names`.

    Returns:
        A list with one dict per sentence: `"words"`, `"tags"`,
        `"truncated"` (as `predict_tags`) and `"entities"`, a list of
        `{"type", "start", "end", "text"}` dicts: words `start` to `end - 1`
        (`end` exclusive) form an entity of `type`, `text` is those words
        joined by spaces.

    Example:
    ```python
    predict_entities(tagger, ["Barack Obama visits Paris"])[0]["entities"]
    # [{"type": "person", "start": 0, "end": 2, "text": "Barack Obama"},
    #  {"type": "geo-loc", "start": 3, "end": 4, "text": "Paris"}]
    ```
    """
    predicted = predict_tags(
        model,
        sentences,
        tokenizer=tokenizer,
        max_length=max_length,
        batch_size=batch_size,
        tag_names=tag_names,
    )
    results = []
    for words, tags, truncated in zip(
        predicted["words"], predicted["tags"], predicted["truncated"]
    ):
        entities = [
            {
                "type": entity_type,
                "start": start,
                "end": end,
                "text": " ".join(words[start:end]),
            }
            for entity_type, start, end in extract_entities(tags)
        ]
        results.append(
            {"words": words, "tags": tags, "truncated": truncated, "entities": entities}
        )
    return results


def evaluate_tagger(model, data, tokenizer=None, max_length=None, batch_size=32):
    """Predicts the tags of tagged data and scores the entities.

    Truncated words are predicted `"O"` and scored like any other word, so
    entities beyond `max_length` count as missed.

    Args:
        model: a `TokenClassifier` whose `tag_names` name its outputs.
        data: a `tftransformer.data.TaggingData`.
        tokenizer: the WordPiece tokenizer; defaults to the model's
            preprocessor's.
        max_length: the longest sequence; defaults to the preprocessor's
            `sequence_length`, else 128.
        batch_size: sentences per forward pass.

    Returns:
        A `(EntityReport, predicted_tags)` tuple; `predicted_tags` has one
        list of tags per sentence of `data`. For a model with a
        `temperature` (a `TokenClassifier`), the report's `calibration`
        gives the expected calibration error over tokens (each scored
        word's first piece) before and after the temperature.

    Example:
    ```python
    report, predicted = evaluate_tagger(tagger, load_wnut16("test"))
    print(report)
    ```
    """
    predicted = predict_tags(
        model,
        data.words,
        tokenizer=tokenizer,
        max_length=max_length,
        batch_size=batch_size,
    )
    calibration = None
    if hasattr(model, "temperature"):
        calibration = _token_calibration(model, data.tags, predicted)
    report = entity_report(data.tags, predicted["tags"], calibration=calibration)
    return report, predicted["tags"]


def _token_calibration(model, true_tags, predicted):
    """Temperature scaling judged over tokens: each word the model saw (its
    first piece) with a true tag among the model's tags."""
    tag_ids = {
        name: i for i, name in enumerate(getattr(model, "tag_names", None) or ())
    }
    logits, labels = [], []
    for tags, word_logits, truncated in zip(
        true_tags, predicted["logits"], predicted["truncated"]
    ):
        for tag, row, cut in zip(tags, word_logits, truncated):
            if not cut and tag in tag_ids:
                logits.append(row)
                labels.append(tag_ids[tag])
    if not labels:
        return None
    return calibration_summary(
        np.stack(logits), np.asarray(labels), _temperature(model)
    )
