"""Texts and token sequences for models trained from scratch: language
models (`CausalLM`) and translation (`Seq2SeqTransformer`)."""

import os

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_on_bad_rows, check_path, is_finite_number
from tftransformer.data._autotune import prefetched, without_autotuning
from tftransformer.data.data_error import DataError
from tftransformer.data.hold_out import hold_out_validation
from tftransformer.data.loaders import _read_text
from tftransformer.data.parallel_text import check_tsv_column, read_tsv_columns
from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes

__all__ = [
    "join_word_pieces",
    "load_language_model_texts",
    "load_texts",
    "make_language_model_dataset",
    "make_teacher_forcing_dataset",
    "table_column",
]


def table_column(value):
    """A column setting: an index from 0 when it is digits, a header name
    otherwise (a flag gives both as strings)."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def load_texts(path, column=None, on_bad_rows="error"):
    """The texts of a file: each non-blank line, or one TSV column.

    Args:
        path: a UTF-8 text file.
        column: None for one text per line; else the TSV column, a header
            name or an index from 0 (digits, as a flag gives it) for a file
            without a header.
        on_bad_rows: what becomes of a TSV line without that column or with
            an empty text: `"error"` refuses it naming the line, `"skip"`
            leaves it out.

    Returns:
        A list of str.

    Example:
    ```python
    load_texts("bible.tsv", "es")
    ```
    """
    path = check_path("path", path)
    check_on_bad_rows(on_bad_rows)
    if column is None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"Text file not found: {path!r}.")
        texts = text_lines(path)
        if not texts:
            raise DataError(f"{path}: no text in the file.")
        return texts
    column = check_tsv_column("column", table_column(column))
    # The sentence pair reader's TSV parsing and its errors naming file and
    # line, for one column.
    (texts,) = read_tsv_columns(path, {"text": column}, on_bad_rows, what="texts")
    return texts


def text_lines(path):
    """The stripped, non-blank lines of a text file.

    Read as the CSV loaders read (a UTF-8 or UTF-16 byte order mark is
    honoured, `.gz` and `.bz2` files are decompressed); lines end at a line
    feed, a carriage return or both, as in Python's text files.

    Raises:
        DataError: the file is a directory or not valid UTF-8, naming the
            file and the line of the first invalid byte.
    """
    content = _read_text(path)
    lines = content.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [line.strip() for line in lines if line.strip()]


def load_language_model_texts(
    text_file=None,
    text_column=None,
    validation_fraction=0.05,
    seed=0,
    on_bad_rows="error",
):
    """Training and validation texts of a language model.

    Without `text_file`, the embedded Rotten Tomatoes snippets (their
    training and validation splits); with it, `load_texts(text_file,
    text_column, on_bad_rows)` with a seeded `validation_fraction` held out.

    Args:
        text_file: None, or a text file (see `load_texts`).
        text_column: None, or the TSV column of `text_file`'s texts.
        validation_fraction: a number in (0, 1), the share of `text_file`'s
            texts held out for validation (at least one text). 0 is refused:
            training measures the validation perplexity.
        seed: int, the seed of the hold-out draw.
        on_bad_rows: as in `load_texts`.

    Returns:
        `(train_texts, validation_texts, description)`.

    Example:
    ```python
    train, validation, source = load_language_model_texts()
    ```
    """
    if not is_finite_number(validation_fraction) or not 0 < validation_fraction < 1:
        raise ValueError(
            "validation_fraction must be a number in (0, 1), the share of the "
            "texts held out for validation. Received: "
            f"validation_fraction={validation_fraction!r}"
        )
    if text_file is None:
        if text_column is not None:
            raise ValueError(
                "text_column needs a text_file. "
                f"Received: text_column={text_column!r}, text_file=None"
            )
        return (
            list(load_rotten_tomatoes("train").texts),
            list(load_rotten_tomatoes("validation").texts),
            "embedded Rotten Tomatoes snippets",
        )
    texts = load_texts(text_file, text_column, on_bad_rows)
    kept, held_out = hold_out_validation(
        len(texts), validation_fraction, seed, text_file, "texts"
    )
    train, validation = [texts[i] for i in kept], [texts[i] for i in held_out]
    column = "" if text_column is None else f", column {text_column}"
    return train, validation, f"{text_file}{column}"


def _ragged(rows):
    lengths = np.array([len(row) for row in rows], "int64")
    values = np.concatenate([np.asarray(row, "int32") for row in rows])
    return tf.RaggedTensor.from_row_lengths(values, lengths)


def _bucketed(data, length, batch_size, max_length, step):
    """Batches of similar length, each padded to its longest, with a known
    number of batches (the same in every order; a bucket's last batch may
    be short), which spares Keras an unknown epoch length."""
    boundaries = list(range(step, max_length + 1, step))
    data = data.bucket_by_sequence_length(
        length,
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )
    return data


def _finish(data):
    num_batches = sum(1 for _ in without_autotuning(data))
    data = data.apply(tf.data.experimental.assert_cardinality(num_batches))
    return prefetched(data)


def make_language_model_dataset(sequences, batch_size, max_length, shuffle, seed):
    """Batches `({token_ids, padding_mask}, labels, weights)` of a causal LM.

    Labels are the token ids shifted left by one, weights 1 at real labels
    and 0 at padding (id 0). Sequences of similar length are batched
    together.

    Args:
        sequences: lists of token ids, `[start] ... [end]`, each at most
            `max_length + 1` long.
        batch_size: global batch size.
        max_length: the longest model input.
        shuffle: shuffle with `seed` (a resumed epoch given the same seed
            sees the same batches).
        seed: int.
    """
    data = tf.data.Dataset.from_tensor_slices(_ragged(sequences))
    if shuffle:
        data = data.shuffle(len(sequences), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda row: (row[:-1], row[1:]))
    data = _bucketed(
        data, lambda inputs, labels: tf.shape(inputs)[0], batch_size, max_length, 16
    )

    def add_mask(inputs, labels):
        mask = tf.cast(inputs != 0, "int32")
        features = {"token_ids": inputs, "padding_mask": mask}
        return features, labels, tf.cast(mask, "float32")

    return _finish(data.map(add_mask))


def make_teacher_forcing_dataset(
    source_ids, target_ids, batch_size, max_length, shuffle, seed, start_id, end_id
):
    """Batches `({encoder_token_ids, encoder_padding_mask, decoder_token_ids,
    decoder_padding_mask}, labels)` of a `Seq2SeqTransformer`.

    The decoder reads `[start] + target` and predicts `target + [end]`.
    Pairs of similar length are batched together, padded with id 0.

    Args:
        source_ids, target_ids: equally many lists of token ids.
        batch_size: global batch size.
        max_length: the longest sequence.
        shuffle: shuffle with `seed`.
        seed: int.
        start_id, end_id: the target vocabulary's start and end tokens.
    """
    data = tf.data.Dataset.from_tensor_slices(
        (_ragged(source_ids), _ragged(target_ids))
    )
    if shuffle:
        data = data.shuffle(len(source_ids), seed=seed, reshuffle_each_iteration=True)

    def teacher_forcing(source, target):
        return {
            "encoder_token_ids": source,
            "decoder_token_ids": tf.concat([[start_id], target], 0),
        }, tf.concat([target, [end_id]], 0)

    data = _bucketed(
        data.map(teacher_forcing),
        lambda x, y: tf.maximum(tf.shape(x["encoder_token_ids"])[0], tf.shape(y)[0]),
        batch_size,
        max_length,
        8,
    )

    def add_masks(x, y):
        x["encoder_padding_mask"] = tf.cast(x["encoder_token_ids"] != 0, "int32")
        x["decoder_padding_mask"] = tf.cast(x["decoder_token_ids"] != 0, "int32")
        return x, y

    return _finish(data.map(add_masks))


def join_word_pieces(ids, vocabulary, end_id, skipped_ids=()):
    """Joins WordPiece tokens into space-separated words.

    Stops at `end_id`, leaves out `skipped_ids` (padding, start) and glues
    `##` pieces to the word before them.

    Example:
    ```python
    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "film", "##s"]
    join_word_pieces([2, 4, 5, 3, 4], vocabulary, 3, (0, 2))  # "films"
    ```
    """
    words = []
    for position, token_id in enumerate(ids):
        if token_id == end_id:
            break
        if token_id in skipped_ids:
            continue
        if not 0 <= token_id < len(vocabulary):
            # A negative id would silently index from the end.
            raise ValueError(
                f"ids must be token ids in [0, {len(vocabulary)}), the "
                f"vocabulary size. Received: id {token_id!r} at position "
                f"{position} of ids"
            )
        token = vocabulary[token_id]
        if token.startswith("##") and words:
            words[-1] += token[2:]
        else:
            words.append(token.removeprefix("##"))
    return " ".join(words)
