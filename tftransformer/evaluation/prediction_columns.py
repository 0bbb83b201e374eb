"""A fine-tuned model's predictions for raw texts, as columns of a table."""

import keras
import numpy as np

from tftransformer._arguments import check_int, class_names
from tftransformer.evaluation.label_predictions import predict_labels
from tftransformer.evaluation.predictions import logits_to_probabilities
from tftransformer.evaluation.tagging_predictions import predict_entities
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.models.text_regressor import TextRegressor
from tftransformer.models.token_classifier import TokenClassifier

__all__ = ["predict_columns"]

# Significant digits kept of a probability, score or target: float32 holds
# about 7.
DIGITS = 6

SUPPORTED = (
    "TextClassifier, MultiLabelClassifier, TextRegressor, TokenClassifier, "
    "QuestionAnswerer or TextEmbedder"
)


def predict_columns(
    model,
    texts,
    text_pairs=None,
    batch_size=32,
    head=None,
    label_names=None,
    answer_decoding=None,
):
    """Predicts each text's answer, as the columns of a table.

    What the model's own prediction functions give (`predict_labels`,
    `predict_targets`, `predict_entities`, `predict_answers`), one value
    per text in each column, ready to be written next to the texts (see
    `tftransformer.training.predict_to_file`):

    - `TextClassifier`: `predicted_label` and `probability_<label>` for each
      label (softmax of the logits over the model's temperature).
    - `MultiLabelClassifier`: `predicted_labels` (a list of the labels whose
      probability reaches its threshold) and `probability_<label>`.
    - `TextRegressor`: `predicted_<target>` for each target, in its units.
    - `TokenClassifier`: `predicted_tags` (one tag per whitespace-separated
      word, joined by spaces) and `predicted_entities` (a list of
      `{"type", "start", "end", "text"}`, word offsets).
    - `QuestionAnswerer` (`texts` are the questions, `text_pairs` the
      contexts): `predicted_answer`, `answer_start` and `answer_end`
      (character offsets in the context, -1 for no answer) and
      `answer_score`.
    - `TextEmbedder`: `embedding` (a list of floats, `TextEmbedder.embed`).
      With `head` (a few-shot classifier: the embedder and the head of
      `tftransformer.training.train_few_shot_classifier`, as
      `export_few_shot_classifier` takes them): `predicted_label` and
      `probability_<label>`, the softmax of the head's logits (calibrated
      when the head ends in its temperature), as the export answers.

    Args:
        model: one of the models above, with its preprocessor.
        texts: a list of str.
        text_pairs: a list of str, each text's second text (a sentence-pair
            classifier or regressor; a question answerer's contexts), or None.
        batch_size: int >= 1, texts per forward pass.
        head: with a `TextEmbedder` only: a `keras.Model` from embeddings
            `(batch, embedding_dim)` to logits `(batch, num_classes)`.
        label_names: with `head` only: `num_classes` names; defaults to
            `"0"`, `"1"`, ...
        answer_decoding: with a `QuestionAnswerer` only: optional dict of
            `predict_answers`' `max_answer_length`, `null_threshold` and
            `allow_no_answer` (e.g. its run's `decoding.json`); the defaults
            of `predict_answers` otherwise.

    Returns:
        A dict of column name to a list of values (str, float, int or a list
        for the list-valued columns), in column order.

    Raises:
        ValueError: for another model, text pairs the model does not take,
            or a head that does not fit the embedder.

    Example:
    ```python
    columns = predict_columns(classifier, ["a quietly devastating film"])
    columns["predicted_label"]  # ["positive"]
    ```
    """
    batch_size = check_int("batch_size", batch_size, 1)
    texts = list(texts)
    pairs = None if text_pairs is None else list(text_pairs)
    if pairs is not None and len(pairs) != len(texts):
        raise ValueError(
            "text_pairs must hold one text per text. Received: "
            f"{len(pairs)} text pairs for {len(texts)} texts"
        )
    if answer_decoding is not None:
        decoding_keys = {"max_answer_length", "null_threshold", "allow_no_answer"}
        if not isinstance(model, QuestionAnswerer) or not (
            isinstance(answer_decoding, dict) and set(answer_decoding) <= decoding_keys
        ):
            raise ValueError(
                "answer_decoding goes with a QuestionAnswerer: a dict of "
                f"{sorted(decoding_keys)}. Received: answer_decoding="
                f"{answer_decoding!r} for a {type(model).__name__}"
            )
    if head is not None or label_names is not None:
        if not isinstance(model, TextEmbedder):
            raise ValueError(
                "head and label_names go with a TextEmbedder (a few-shot "
                f"classifier's embedder). Received: a {type(model).__name__} "
                f"({model.name!r})"
            )
        if head is None:
            raise ValueError(
                "label_names name the classes of a head: pass head too. "
                f"Received: label_names={label_names!r} without a head"
            )
    if isinstance(model, TextEmbedder):
        if pairs is not None:
            raise ValueError(
                "A TextEmbedder embeds single texts. Received: text_pairs for "
                f"model {model.name!r}"
            )
        if head is None:
            embeddings = model.embed(texts, batch_size=batch_size)
            return {"embedding": [[_number(v) for v in row] for row in embeddings]}
        return _few_shot_columns(model, head, label_names, texts, batch_size)
    if isinstance(model, QuestionAnswerer):
        if pairs is None:
            raise ValueError(
                "A QuestionAnswerer answers questions about contexts: pass the "
                "questions as texts and the contexts as text_pairs. Received: "
                "text_pairs=None"
            )
        answers = model.predict_answers(
            texts, pairs, batch_size=batch_size, **(answer_decoding or {})
        )
        return {
            "predicted_answer": [a["answer"] for a in answers],
            "answer_start": [int(a["start"]) for a in answers],
            "answer_end": [int(a["end"]) for a in answers],
            "answer_score": [_number(a["score"]) for a in answers],
        }
    if isinstance(model, TokenClassifier):
        if pairs is not None:
            raise ValueError(
                "A TokenClassifier tags single sentences. Received: text_pairs "
                f"for model {model.name!r}"
            )
        results = predict_entities(model, texts, batch_size=batch_size)
        return {
            "predicted_tags": [" ".join(r["tags"]) for r in results],
            "predicted_entities": [r["entities"] for r in results],
        }
    if not isinstance(model, TextClassifier):
        raise ValueError(
            f"predict_columns takes a {SUPPORTED} (a generator's outputs: "
            "generate_texts). Received: a "
            f"{type(model).__name__} ({model.name!r})"
        )
    inputs = texts if pairs is None else (texts, pairs)
    if isinstance(model, TextRegressor):
        values = model.predict_targets(inputs, batch_size=batch_size)
        names = model.target_names or [str(i) for i in range(model.num_targets)]
        return {
            f"predicted_{name}": [_number(v) for v in values[:, i]]
            for i, name in enumerate(names)
        }
    result = predict_labels(model, inputs, batch_size=batch_size)
    names = model.label_names or [str(i) for i in range(model.num_classes)]
    if isinstance(model, MultiLabelClassifier):
        columns = {"predicted_labels": result["labels"]}
    else:
        columns = {"predicted_label": result["label"]}
    return _with_probabilities(columns, names, result["probabilities"])


def _few_shot_columns(embedder, head, label_names, texts, batch_size):
    expected = (None, embedder.embedding_dim)
    try:
        shape = tuple(head.compute_output_spec(keras.KerasTensor(expected)).shape)
    except (AttributeError, TypeError, ValueError) as error:
        shape = f"an error: {error}"
    if not isinstance(shape, tuple) or len(shape) != 2 or (shape[-1] or 0) < 2:
        raise ValueError(
            "head must be a keras.Model from the embeddings, shape "
            f"{expected}, to one logit per class (at least 2). Received: "
            f"head={head!r}, giving {shape}"
        )
    num_classes = shape[-1]
    if label_names is None:
        label_names = [str(i) for i in range(num_classes)]
    names = class_names("label_names", label_names, num_classes)
    embeddings = embedder.embed(texts, batch_size=batch_size)
    logits = np.zeros((0, num_classes), "float32")
    if len(embeddings):
        logits = head.predict(embeddings, batch_size=batch_size, verbose=0)
    probabilities = logits_to_probabilities(logits)
    columns = {"predicted_label": [names[i] for i in probabilities.argmax(-1)]}
    return _with_probabilities(columns, names, probabilities)


def _with_probabilities(columns, names, probabilities):
    """`columns` and a `probability_<name>` column per label."""
    for i, name in enumerate(names):
        columns[f"probability_{name}"] = [_number(p) for p in probabilities[:, i]]
    return columns


def _number(value):
    return float(f"{float(value):.{DIGITS}g}")
