"""Reading text pairs for contrastive training, and batching them tokenized.

A pairs file holds one example per row: an anchor text, its positive, and
optionally a hard negative and a similarity score, in a CSV, TSV or JSON
Lines file with a header (the conventions of
`tftransformer.data.load_text_classification_file`: problems raise
`DataError` naming the file, line and column).
"""

import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    check_int,
    check_on_bad_rows,
    check_path,
    float32_cell,
)
from tftransformer.data._autotune import prefetched
from tftransformer.data.data_error import DataError
from tftransformer.data.loaders import (
    SUPPORTED_FORMATS,
    _text_value,
    bad_row,
    file_records,
    warn_skipped_rows,
)
from tftransformer.data.text_pairs import TextPairs

__all__ = ["load_text_pairs", "make_pair_dataset"]


def load_text_pairs(
    path,
    anchor_column="anchor",
    positive_column="positive",
    negative_column=None,
    score_column=None,
    on_bad_rows="error",
    file_format=None,
):
    """Loads (anchor, positive[, negative][, score]) rows from a file.

    Args:
        path: a CSV, TSV or JSON Lines file (format from the extension, as
            `load_text_classification_file` infers it, or `file_format`).
        anchor_column: the column of the anchor texts.
        positive_column: the column of the positive (or second) texts.
        negative_column: optional column of hard negatives.
        score_column: optional column of similarity scores (numbers).
        on_bad_rows: `"error"` to refuse a row with an empty text or a
            missing or non-numeric score, `"skip"` to skip and count it.
        file_format: `"csv"`, `"tsv"`, `"jsonl"` or None.

    Returns:
        A `TextPairs`, in file order.

    Raises:
        FileNotFoundError: no such file.
        DataError: a missing column, a bad row, or no rows.

    Example:
    ```python
    # pairs.tsv: "anchor\\tpositive\\nhow old are you?\\twhat is your age?\\n"
    pairs = load_text_pairs("pairs.tsv")
    ```
    """
    path = check_path("path", path)
    check_on_bad_rows(on_bad_rows)
    if file_format is not None and file_format not in SUPPORTED_FORMATS:
        raise ValueError(
            f"file_format must be None or one of {SUPPORTED_FORMATS}. Received: "
            f"file_format={file_format!r}"
        )
    text_columns = {"anchor": anchor_column, "positive": positive_column}
    if negative_column is not None:
        text_columns["negative"] = negative_column
    for role, column in [*text_columns.items(), ("score", score_column)]:
        if (column is not None or role in ("anchor", "positive")) and (
            not isinstance(column, str) or not column
        ):
            raise ValueError(
                f"{role}_column must be a non-empty string. Received: "
                f"{role}_column={column!r}"
            )
    path, _, records = file_records(
        path, [*text_columns.items(), ("score", score_column)], file_format
    )

    values = {role: [] for role in text_columns}
    scores, bad_rows = [], []
    for line, record in records:
        row = {
            role: _text_value(path, line, column, record.get(column))
            for role, column in text_columns.items()
        }
        problem = next(
            (
                f"empty text in column {text_columns[role]!r}"
                for role, text in row.items()
                if text is None
            ),
            None,
        )
        score = None
        if problem is None and score_column is not None:
            score = float32_cell(record.get(score_column))
            if score is None:
                problem = (
                    "expected a finite number (float32) in column "
                    f"{score_column!r}, received {record.get(score_column)!r}"
                )
        if problem is None:
            for role, text in row.items():
                values[role].append(text)
            scores.append(score)
            continue
        bad_row(path, line, problem, on_bad_rows, bad_rows)
    warn_skipped_rows(path, bad_rows)
    if not values["anchor"]:
        raise DataError(f"{path}: no pairs (rows: {len(records)}).")
    return TextPairs(
        anchors=values["anchor"],
        positives=values["positive"],
        negatives=values.get("negative"),
        scores=None if score_column is None else np.asarray(scores, "float32"),
        source=path,
    )


def make_pair_dataset(pairs, preprocessor, batch_size, shuffle=False, seed=0):
    """Batches `TextPairs` as `ContrastiveEmbedder` features.

    The `k` texts of each example (2, or 3 with negatives) are tokenized
    together by `preprocessor`, inside the `tf.data` pipeline, and padded to
    the batch's longest text.

    Args:
        pairs: a `TextPairs`.
        preprocessor: the embedder's preprocessor (`embedder.preprocessor`,
            a `TextClassifierPreprocessor`); its `sequence_length` truncates.
        batch_size: int >= 1, examples per batch (the global batch under a
            distribution strategy).
        shuffle: bool, whether to draw the examples in a seeded order.
        seed: int, the order's seed (give the epoch too, e.g. `(seed,
            epoch)` as a tuple, for a new order each epoch).

    Returns:
        A `tf.data.Dataset` of `(features, targets)`: `features` a dict of
        `(batch, k, seq)` int32 tensors, `targets` the float32 scores
        `(batch,)` (zeros without scores).

    Example:
    ```python
    dataset = make_pair_dataset(pairs, embedder.preprocessor, batch_size=32)
    ```
    """
    if not isinstance(pairs, TextPairs):
        raise ValueError(f"pairs must be a TextPairs. Received: {type(pairs).__name__}")
    if hasattr(preprocessor, "backbone"):
        raise ValueError(
            "preprocessor must be the embedder's preprocessor "
            "(`embedder.preprocessor`), not the model. Received: "
            f"preprocessor={type(preprocessor).__name__}"
        )
    batch_size = check_int("batch_size", batch_size, 1)
    if not len(pairs):
        raise ValueError(f"pairs holds no pairs. Received: pairs from {pairs.source}")
    order = np.arange(len(pairs))
    if shuffle:
        seed = list(seed) if isinstance(seed, (tuple, list)) else [seed]
        order = np.random.default_rng(seed).permutation(len(pairs))
    # (examples, k) strings.
    texts = np.stack(
        [np.asarray(column, dtype=object) for column in pairs.columns()], 1
    )
    targets = np.zeros(len(pairs), "float32") if pairs.scores is None else pairs.scores
    k = pairs.texts_per_example

    def tokenize(batch, batch_targets):
        features = preprocessor(tf.reshape(batch, [-1]))
        features = {
            key: tf.reshape(value, [-1, k, tf.shape(value)[-1]])
            for key, value in features.items()
        }
        return features, batch_targets

    dataset = tf.data.Dataset.from_tensor_slices(
        (tf.constant(texts[order].tolist()), targets[order])
    )
    return prefetched(dataset.batch(batch_size).map(tokenize))
