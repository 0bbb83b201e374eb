"""Masked-language-model data: texts packed into rows, masked as BERT.

The 15% / 80-10-10 masking of single pieces or of whole words (which
keras-hub lacks) is one seeded `tf.data` step with the outputs of
keras-hub's `MaskedLMMaskGenerator`, whose draws take no seed.
"""

import os

import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    check_bool,
    check_int,
    check_path,
    is_finite_number,
)
from tftransformer.data._autotune import prefetched
from tftransformer.data.data_error import DataError
from tftransformer.data.sequence_datasets import load_texts, text_lines

__all__ = [
    "load_text_files",
    "make_masked_lm_dataset",
    "masked_lm_rows",
    "whole_word_mask",
]


def load_text_files(path):
    """The texts of a file, or of every file in a directory (one text a line).

    Args:
        path: a UTF-8 text file, or a directory whose files (sorted by name,
            hidden files left out) are read in turn.

    Returns:
        A list of str, blank lines left out.

    Raises:
        ValueError: `path` is not a string or a path.
        FileNotFoundError: nothing is at `path`.
        DataError: a file is not valid UTF-8 (naming it and the line), or
            there is no text at all.

    Example:
    ```python
    texts = load_text_files("notes/")
    ```
    """
    path = check_path("path", path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"Text file or directory not found: {path!r}.")
    if not os.path.isdir(path):
        return load_texts(path)
    files = [
        os.path.join(path, name)
        for name in sorted(os.listdir(path))
        if not name.startswith(".") and os.path.isfile(os.path.join(path, name))
    ]
    texts = []
    for file in files:
        texts += text_lines(file)
    if not texts:
        raise DataError(f"{path}: no text in its {len(files)} files.")
    return texts


def masked_lm_rows(token_ids, length, start_id, end_id, pack=True):
    """Rows `[start] pieces [end]...` of at most `length` token ids.

    Args:
        token_ids: lists of token ids, one per text (no special tokens).
        length: the row length, at least 3.
        start_id, end_id: the `[CLS]` and `[SEP]` ids.
        pack: True: the texts, each followed by `[end]`, one after another,
            cut into rows of `length` (every row full but the last; a text
            may run on into the next row); False: one row per text, cut to
            fit.

    Returns:
        A list of lists of int.

    Example:
    ```python
    masked_lm_rows([[5, 6], [7]], 6, 101, 102)  # [[101, 5, 6, 102, 7, 102]]
    ```
    """
    check_int("length", length, 3, what=" (room for [CLS], [SEP] and a piece)")
    if not isinstance(token_ids, (str, bytes)):
        token_ids = list(token_ids)
    if isinstance(token_ids, (str, bytes)) or any(
        isinstance(ids, (str, bytes)) for ids in token_ids
    ):
        # Texts, not token ids: each character would become a "piece".
        raise ValueError(
            "token_ids must be lists of token ids, one per text "
            "(`tft.data.tokenize_texts(tokenizer, texts)`), not texts. "
            f"Received: token_ids={token_ids!r:.100}"
        )
    if not pack:
        return [[start_id, *ids[: length - 2], end_id] for ids in token_ids if ids]
    stream = [i for ids in token_ids if ids for i in (*ids, end_id)]
    step = length - 1
    rows = [[start_id, *stream[i : i + step]] for i in range(0, len(stream), step)]
    # A last row of the closing end token alone has nothing to mask.
    if rows and rows[-1] == [start_id, end_id]:
        rows.pop()
    return rows


def whole_word_mask(
    token_ids,
    is_continuation,
    unselectable_ids,
    mask_rate,
    mask_token_id,
    vocabulary_size,
    mask_selection_length,
    seed,
    mask_token_rate=0.8,
    random_token_rate=0.1,
):
    """Masks whole words of one row: all pieces of a chosen word, or none.

    Each word (a piece and the continuation pieces after it) is chosen with
    probability `mask_rate`; each piece of a chosen word becomes the mask
    token (`mask_token_rate`), a random token (`random_token_rate`) or stays.
    Words that would overrun `mask_selection_length` are left whole.

    Args:
        token_ids: int32 `(length,)` tensor.
        is_continuation: bool `(vocabulary_size,)` tensor, True for pieces
            that continue a word (WordPiece's `##...`).
        unselectable_ids: ids never masked (`[CLS]`, `[SEP]`, padding).
        mask_rate: share of words chosen.
        mask_token_id: the `[MASK]` id.
        vocabulary_size: random replacements are drawn below it.
        mask_selection_length: the most masked pieces of a row.
        seed: int32 `(2,)` tensor, the stateless random seed of this row.

    Returns:
        A dict as keras-hub's `MaskedLMMaskGenerator` returns it:
        `token_ids`, `mask_positions`, `mask_ids`, `mask_weights`, the last
        three padded to `mask_selection_length`.
    """
    token_ids = tf.convert_to_tensor(token_ids, "int32")
    unselectable = tf.constant(list(unselectable_ids), "int32")
    special = tf.reduce_any(token_ids[:, None] == unselectable[None, :], axis=1)
    continuation = tf.gather(is_continuation, token_ids) & ~special
    # word[i]: the index of the word piece i belongs to. (length,)
    word = tf.cumsum(tf.cast(~continuation, "int32")) - 1
    num_words = tf.reduce_max(word) + 1
    seeds = tf.random.experimental.stateless_split(seed, 3)
    word_chosen = tf.random.stateless_uniform([num_words], seeds[0]) < mask_rate
    chosen = tf.gather(word_chosen, word) & ~special
    # Keep a word only if its last piece fits the budget: none are cut.
    count = tf.cumsum(tf.cast(chosen, "int32"))
    last_count = tf.math.unsorted_segment_max(count, word, num_words)
    chosen &= tf.gather(last_count, word) <= mask_selection_length
    positions = tf.cast(tf.where(chosen)[:, 0], "int32")
    originals = tf.gather(token_ids, positions)
    draw = tf.random.stateless_uniform(tf.shape(positions), seeds[1])
    random_ids = tf.random.stateless_uniform(
        tf.shape(positions), seeds[2], 0, vocabulary_size, "int32"
    )
    replaced = tf.where(
        draw < mask_token_rate,
        mask_token_id,
        tf.where(draw < mask_token_rate + random_token_rate, random_ids, originals),
    )
    masked = tf.tensor_scatter_nd_update(token_ids, positions[:, None], replaced)
    pad = [[0, mask_selection_length - tf.shape(positions)[0]]]
    return {
        "token_ids": masked,
        "mask_positions": tf.pad(positions, pad),
        "mask_ids": tf.pad(originals, pad),
        "mask_weights": tf.pad(tf.ones_like(positions, "float32"), pad),
    }


def continuation_pieces(tokenizer, whole_word_masking=True):
    """Which of `tokenizer`'s pieces continue a word, as masking reads them.

    Args:
        tokenizer: a keras-hub tokenizer.
        whole_word_masking: False makes every piece a word of its own.

    Returns:
        A bool NumPy array, one entry per vocabulary id: WordPiece's `##...`
        pieces with `whole_word_masking`, none without.

    Raises:
        ValueError: `whole_word_masking` with a vocabulary of no `##` piece
            (SentencePiece and byte-pair families).
    """
    vocabulary = tokenizer.get_vocabulary()
    if not whole_word_masking:
        return np.zeros(len(vocabulary), bool)
    flags = np.array([token.startswith("##") for token in vocabulary])
    if not flags.any():
        raise ValueError(
            "whole_word_masking needs a WordPiece vocabulary (continuation "
            "pieces starting with '##'); this tokenizer's "
            f"{type(tokenizer).__name__} has none."
        )
    return flags


def make_masked_lm_dataset(
    rows,
    tokenizer,
    batch_size,
    mask_rate=0.15,
    whole_word_masking=False,
    shuffle=False,
    seed=0,
    input_names=("token_ids", "padding_mask", "segment_ids"),
):
    """Batches `(features, mask_ids, mask_weights)` for a keras-hub `MaskedLM`.

    Each piece of a row is chosen with probability `mask_rate` (each word,
    with `whole_word_masking`), 80% of the chosen replaced by the mask
    token, 10% by a random token, 10% kept, drawn from `seed` and the row's
    index (`whole_word_mask`, each piece a word of its own unless
    `whole_word_masking`): the same seed masks the same pieces in any
    process, so a rerun or a resumed run scores its validation on the same
    masks. For dynamic masking, make each epoch's dataset with its own seed,
    as `continue_pretraining` does. Rows are padded to the batch's longest.

    Args:
        rows: lists of token ids (`masked_lm_rows`).
        tokenizer: the keras-hub tokenizer whose special tokens and
            vocabulary the rows use.
        batch_size: global batch size.
        mask_rate: share of pieces masked, in (0, 1).
        whole_word_masking: mask all pieces of a word or none (WordPiece
            vocabularies, whose continuation pieces start with `##`).
        shuffle: shuffle with `seed`.
        seed: int, the shuffling and masking seed.
        input_names: the backbone's inputs; `mask_positions` is added.

    Returns:
        A `tf.data.Dataset` with a known number of batches.
    """
    if not is_finite_number(mask_rate) or not 0 < mask_rate < 1:
        raise ValueError(
            f"mask_rate must be a number in (0, 1). Received: mask_rate={mask_rate!r}"
        )
    check_int("batch_size", batch_size, 1)
    check_bool("whole_word_masking", whole_word_masking)
    if not rows:
        raise DataError("No rows to mask: every text tokenized to nothing.")
    length = max(len(row) for row in rows)
    # Room for the chosen pieces of a row: twice the expected count.
    selections = min(length, int(np.ceil(2 * mask_rate * length)) + 1)
    vocabulary = tokenizer.get_vocabulary()
    special = sorted(
        {
            getattr(tokenizer, name)
            for name in (
                "pad_token_id",
                "cls_token_id",
                "sep_token_id",
                "start_token_id",
                "end_token_id",
            )
            if getattr(tokenizer, name, None) is not None
        }
    )
    mask_token_id = tokenizer.mask_token_id
    is_continuation = tf.constant(continuation_pieces(tokenizer, whole_word_masking))

    def mask(index, row):
        return whole_word_mask(
            row,
            is_continuation,
            special,
            mask_rate,
            mask_token_id,
            len(vocabulary),
            selections,
            seed=tf.stack([tf.cast(seed % 2**31, "int32"), tf.cast(index, "int32")]),
        )

    lengths = np.array([len(row) for row in rows], "int64")
    values = np.concatenate([np.asarray(row, "int32") for row in rows])
    data = tf.data.Dataset.from_tensor_slices(
        tf.RaggedTensor.from_row_lengths(values, lengths)
    )
    if shuffle:
        data = data.shuffle(len(rows), seed=seed, reshuffle_each_iteration=False)

    def features(index, row):
        masked = mask(index, row)
        ones = tf.ones_like(row)
        inputs = {
            "token_ids": masked["token_ids"],
            "padding_mask": ones,
            "segment_ids": tf.zeros_like(row),
        }
        inputs = {name: inputs[name] for name in input_names if name in inputs}
        inputs["mask_positions"] = masked["mask_positions"]
        return inputs, masked["mask_ids"], masked["mask_weights"]

    data = data.enumerate().map(features, num_parallel_calls=tf.data.AUTOTUNE)
    data = data.padded_batch(batch_size)
    num_batches = -(-len(rows) // batch_size)
    data = data.apply(tf.data.experimental.assert_cardinality(num_batches))
    return prefetched(data)
