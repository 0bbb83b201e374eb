"""Sequence packing: several short texts per row, no compute spent on padding.

A packed row holds tokenized texts one after the other, each still
`[CLS] text [SEP]`, at most `sequence_length` tokens in all; the rest of
the row is padding. Texts go to rows by best fit (`pack_best_fit`: the
least padding, rows in no particular order) or in input order
(`pack_greedily`: a row ends when the next text does not fit). Per
token, `text_ids` says which text of the row it belongs to (1, 2, ...; 0
for padding), so that attention can be kept inside each text
(`tftransformer.layers.block_diagonal_attention_mask`), and `position_ids`
restart at 0 with each text, so each text sees the positions
it would see alone. Per row, `text_starts` gives the index of each text's
first token (its `[CLS]`), padded with 0 up to `max_texts_per_row`, and
`text_mask` which of these slots hold a text; labels come per slot too.
"""

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_bool, check_choice, check_int


def pack_greedily(lengths, sequence_length, max_texts_per_row=None):
    """Assigns texts to rows, greedily and in order.

    Each text goes to the current row if it fits (and the row holds fewer
    than `max_texts_per_row` texts), else it starts a new row. The result
    depends on the lengths only: the same texts always pack the same way.

    Args:
        lengths: sequence of ints, each text's tokenized length, special
            tokens included, each in `[1, sequence_length]`.
        sequence_length: int >= 2, the row length.
        max_texts_per_row: `None` (as many as fit) or an int >= 1.

    Returns:
        A list of rows, each a list of text indices in input order.

    Example:
    ```python
    pack_greedily([5, 4, 3, 6], sequence_length=10)  # [[0, 1], [2, 3]]
    ```
    """
    sequence_length, max_texts_per_row, lengths = _check_packing(
        lengths, sequence_length, max_texts_per_row
    )
    rows, used = [], sequence_length
    for index, length in enumerate(lengths):
        full = bool(rows) and max_texts_per_row is not None
        full = full and len(rows[-1]) >= max_texts_per_row
        if not rows or used + length > sequence_length or full:
            rows.append([])
            used = 0
        rows[-1].append(index)
        used += length
    return rows


def pack_best_fit(lengths, sequence_length, max_texts_per_row=None):
    """Assigns texts to rows by best fit, longest text first.

    The texts are taken longest first (ties in input order), each into the
    open row with the least room that still holds it, or a new row when none
    does (best-fit decreasing bin packing). Rows fill far better than in
    input order (`pack_greedily`), whose rows end as soon as the next text
    does not fit; the price is that rows no longer follow the input order.
    The result depends on the lengths only: the same texts always pack the
    same way.

    Args:
        lengths, sequence_length, max_texts_per_row: as for `pack_greedily`.

    Returns:
        A list of rows, each a list of text indices in ascending order,
        the rows in order of their first text.

    Example:
    ```python
    pack_best_fit([6, 5, 4, 5], sequence_length=10)  # [[0, 2], [1, 3]]
    pack_greedily([6, 5, 4, 5], sequence_length=10)  # [[0], [1, 2], [3]]
    ```
    """
    sequence_length, max_texts_per_row, lengths = _check_packing(
        lengths, sequence_length, max_texts_per_row
    )
    rows = []
    # open_rows[room]: the rows with `room` tokens left that take more texts.
    open_rows = [[] for _ in range(sequence_length + 1)]
    order = sorted(range(len(lengths)), key=lambda index: -lengths[index])
    for index in order:
        length = lengths[index]
        room = next((r for r in range(length, sequence_length) if open_rows[r]), None)
        if room is None:
            rows.append([])
            row, room = len(rows) - 1, sequence_length
        else:
            row = open_rows[room].pop()
        rows[row].append(index)
        room -= length
        if room and (max_texts_per_row is None or len(rows[row]) < max_texts_per_row):
            open_rows[room].append(row)
    return sorted(sorted(row) for row in rows)


def _check_packing(lengths, sequence_length, max_texts_per_row):
    sequence_length = check_int("sequence_length", sequence_length, 2)
    if max_texts_per_row is not None:
        max_texts_per_row = check_int("max_texts_per_row", max_texts_per_row, 1)
    lengths = [int(length) for length in lengths]
    bad = [length for length in lengths if not 1 <= length <= sequence_length]
    if bad:
        raise ValueError(
            f"Each length must be in [1, sequence_length={sequence_length}]. "
            f"Received a length of {bad[0]}"
        )
    return sequence_length, max_texts_per_row, lengths


PACKING_STRATEGIES = {"best_fit": pack_best_fit, "in_order": pack_greedily}


def check_packing_options(pack, max_texts_per_row, packing_strategy, shuffle):
    """Checks a dataset builder's packing arguments.

    Returns:
        `(pack, max_texts_per_row, packing_strategy)`; a `None` strategy
        becomes `"best_fit"` when shuffling, otherwise `"in_order"` (rows
        then keep the input order, so predictions line up with it).
    """
    pack = check_bool("pack", pack)
    if max_texts_per_row is not None:
        max_texts_per_row = check_int("max_texts_per_row", max_texts_per_row, 1)
    if packing_strategy is None:
        packing_strategy = "best_fit" if shuffle else "in_order"
    check_choice("packing_strategy", packing_strategy, PACKING_STRATEGIES)
    return pack, max_texts_per_row, packing_strategy


def lay_out_in_rows(values, rows, lengths, sequence_length, pad_value):
    """Per-token values of each text, laid out as `packed_rows` lays out
    its tokens (e.g. a tagger's per-token labels).

    Args:
        values: array `(num_texts, width)`, each text's values first.
        rows: the rows `packed_rows` returned.
        lengths: the texts' lengths, as given to `packed_rows`.
        sequence_length: the row length.
        pad_value: the value of the positions no text fills.

    Returns:
        An array `(num_rows, sequence_length)` of `values`' dtype.
    """
    values = np.asarray(values)
    laid_out = np.full((len(rows), sequence_length), pad_value, values.dtype)
    for r, row in enumerate(rows):
        start = 0
        for index in row:
            length = int(lengths[index])
            laid_out[r, start : start + length] = values[index, :length]
            start += length
    return laid_out


def packed_rows(
    token_ids,
    segment_ids,
    lengths,
    sequence_length,
    pad_id,
    max_texts_per_row=None,
    strategy="best_fit",
):
    """Packs tokenized texts into rows (see `pack_best_fit`, `pack_greedily`).

    Args:
        token_ids: int array `(num_texts, width)`, each text's tokens first.
        segment_ids: int array `(num_texts, width)`, the token types (BERT's
            `segment_ids`; 0 for single texts, 0 and 1 for pairs).
        lengths: int array `(num_texts,)`, the real tokens of each text.
        sequence_length: int, the row length.
        pad_id: the padding token id.
        max_texts_per_row: `None` (as many as fit) or an int >= 1.
        strategy: `"best_fit"` (`pack_best_fit`) or `"in_order"`
            (`pack_greedily`).

    Returns:
        `(features, rows)`: `features` a dict of numpy arrays, each
        `(num_rows, sequence_length)` (`token_ids`, `padding_mask`,
        `segment_ids`, `text_ids`, `position_ids`) or `(num_rows,
        max_texts)` (`text_starts`, `text_mask`); `rows` as the strategy's
        function returns them.
    """
    token_ids, segment_ids = np.asarray(token_ids), np.asarray(segment_ids)
    rows = PACKING_STRATEGIES[strategy](lengths, sequence_length, max_texts_per_row)
    max_texts = max(len(row) for row in rows)
    shape = (len(rows), sequence_length)
    features = {
        "token_ids": lay_out_in_rows(
            token_ids, rows, lengths, sequence_length, pad_id
        ).astype(np.int32),
        "padding_mask": np.zeros(shape, bool),
        "segment_ids": lay_out_in_rows(
            segment_ids, rows, lengths, sequence_length, 0
        ).astype(np.int32),
        "text_ids": np.zeros(shape, np.int32),
        "position_ids": np.zeros(shape, np.int32),
        "text_starts": np.zeros((len(rows), max_texts), np.int32),
        "text_mask": np.zeros((len(rows), max_texts), bool),
    }
    for r, row in enumerate(rows):
        start = 0
        for slot, index in enumerate(row):
            length = int(lengths[index])
            span = slice(start, start + length)
            features["padding_mask"][r, span] = True
            features["text_ids"][r, span] = slot + 1
            features["position_ids"][r, span] = np.arange(length)
            features["text_starts"][r, slot] = start
            features["text_mask"][r, slot] = True
            start += length
    return features, rows


def packed_dataset(features, rows, labels, batch_size, shuffle, seed, drop_remainder):
    """A `tf.data.Dataset` of batches of packed rows.

    Labels are per row slot, `(batch, max_texts, ...)`, 0 in the slots no
    text fills (`text_mask` False), so every tensor of a batch splits along
    its rows (as `tf.distribute` splits a batch across replicas) and every
    batch has the same shape past its rows. The task model counts the real
    slots only (see `TextClassifier`).

    Args:
        features: the dict `packed_rows` returns.
        rows: the rows `packed_rows` returns.
        labels: numpy array of per-text labels (`(num_texts, ...)`), or
            `None` for features only.
        batch_size: rows per batch.
        shuffle: whether to shuffle the rows (with `seed`) on every pass.
        seed: the shuffling seed.
        drop_remainder: whether to drop the last, smaller batch.
    """
    elements = dict(features)
    if labels is not None:
        labels = np.asarray(labels)
        row_labels = np.zeros(
            features["text_mask"].shape + labels.shape[1:], labels.dtype
        )
        for r, row in enumerate(rows):
            row_labels[r, : len(row)] = labels[row]
        elements = (elements, row_labels)
    return batched_rows(elements, batch_size, shuffle, seed, drop_remainder)


def batched_rows(elements, batch_size, shuffle, seed, drop_remainder):
    """A `tf.data.Dataset` of batches of packed rows held in memory.

    Args:
        elements: `features` (the dict `packed_rows` returns) or
            `(features, labels)`, each array's first axis the rows.
        batch_size: rows per batch.
        shuffle: whether to shuffle the rows (with `seed`) on every pass.
        seed: the shuffling seed.
        drop_remainder: whether to drop the last, smaller batch.
    """
    features = elements[0] if isinstance(elements, tuple) else elements
    dataset = tf.data.Dataset.from_tensor_slices(elements).cache()
    if shuffle:
        num_rows = len(features["token_ids"])
        dataset = dataset.shuffle(num_rows, seed=seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size, drop_remainder=drop_remainder)


def is_packed_batch(features):
    """Whether a batch's features (or their spec) are packed text rows."""
    return isinstance(features, dict) and "text_mask" in features


def holds_packed_texts(dataset):
    """Whether a dataset's batches are packed text rows (with `text_mask`)."""
    spec = dataset.element_spec
    return is_packed_batch(spec[0] if isinstance(spec, tuple) else spec)


def count_batches(dataset):
    """Counts the texts, rows and token positions of a dataset's batches.

    Counted inside the input pipeline (`Dataset.reduce`), not batch by batch
    in Python.

    Args:
        dataset: batches of `(features, ...)` or `features`, with a
            `"padding_mask"` (and, for packed rows, `"text_mask"`).

    Returns:
        A dict of ints: `texts` (rows when the batches are not packed),
        `rows`, `batch_rows` (the rows of the largest batch),
        `real_tokens`, `positions`, `row_length` (the longest row, padding
        included) and `longest_text` (the most tokens of one text).
    """
    packed = holds_packed_texts(dataset)

    def count(totals, element):
        features = element[0] if isinstance(element, tuple) else element
        mask = features["padding_mask"]
        rows = tf.shape(mask, out_type=tf.int64)[0]
        if packed:
            texts = tf.reduce_sum(tf.cast(features["text_mask"], tf.int64))
            # Tokens of each slot's text: (rows, max_texts).
            slots = tf.range(1, tf.shape(features["text_mask"])[1] + 1)
            in_slot = tf.equal(
                tf.cast(features["text_ids"], tf.int32)[:, :, None], slots
            )
            lengths = tf.reduce_sum(tf.cast(in_slot, tf.int64), axis=1)
        else:
            texts = rows
            lengths = tf.reduce_sum(tf.cast(mask, tf.int64), axis=-1)
        return (
            totals[0] + texts,
            totals[1] + rows,
            tf.maximum(totals[2], rows),
            totals[3] + tf.reduce_sum(tf.cast(mask, tf.int64)),
            totals[4] + tf.size(mask, out_type=tf.int64),
            tf.maximum(totals[5], tf.shape(mask, out_type=tf.int64)[-1]),
            tf.maximum(totals[6], tf.reduce_max(lengths)),
        )

    zero = tf.constant(0, tf.int64)
    totals = dataset.reduce((zero,) * 7, count)
    names = (
        "texts",
        "rows",
        "batch_rows",
        "real_tokens",
        "positions",
        "row_length",
        "longest_text",
    )
    return {name: int(total) for name, total in zip(names, totals)}


def padded_token_share(dataset):
    """The share of the token positions of a dataset's batches that are padding.

    Args:
        dataset: batches of `(features, ...)` or `features`, with a
            `"padding_mask"`, e.g. from
            `tftransformer.data.make_classification_dataset`, packed or not.

    Returns:
        A float in [0, 1]: padded positions over all positions.

    Example:
    ```python
    padded_token_share(make_classification_dataset(texts, labels, tok, 32))
    ```
    """
    counts = count_batches(dataset)
    if counts["positions"] == 0:
        raise ValueError("dataset must hold at least one batch. Received none.")
    return 1.0 - counts["real_tokens"] / counts["positions"]
