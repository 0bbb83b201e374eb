"""Sequence tagging (NER) data: file loaders, word-piece alignment, pipelines.

Files hold pre-split words with one BIO (IOB2) tag each: `"O"` outside any
entity, `"B-TYPE"` on an entity's first word, `"I-TYPE"` on its other words.
Two formats are read:

- CoNLL style (`file_format="conll"`): one word per line, the word in the
  first column and its tag in the last, a blank (or whitespace-only) line
  between sentences. Columns are separated by tabs when the line has a tab,
  otherwise by runs of spaces, so CoNLL-2003's four space-separated columns
  and two-column TSV files both load. `-DOCSTART-` lines separate sentences
  and are dropped.
- JSON Lines (`file_format="jsonl"`): one object per line with a `tokens`
  list of words and a `tags` list of tags (tag ids are accepted too when a
  `tag_vocabulary` is given), or a JSON array of such objects.

Every problem with a file raises `DataError` naming the file and the line.

Word pieces and labels: each word is tokenized on its own with the
backbone's WordPiece tokenizer. The word's first piece carries the word's
tag id; its other pieces, `[CLS]`, `[SEP]` and padding carry
`IGNORE_LABEL` (-100), which the loss and token accuracy skip (the Hugging
Face convention). A word that yields no piece at all (e.g. a lone
zero-width space) is given one `[UNK]` piece, so that every word has a first
piece. Truncation to `max_length` cuts pieces at the end and never moves a
label: a word whose first piece is cut off has no label in the sequence
(it is left out of the loss) and its `word_starts` entry is -1; prediction
reports such a word as `"O"` and flags it as truncated.
"""

import re
import weakref

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int, refuse_one_string
from tftransformer.data._autotune import prefetched
from tftransformer.data._json_records import json_records
from tftransformer.data.classification_dataset import (
    _batch_by_length,
    _run_now,
    _special_token_id,
    default_bucket_boundaries,
)
from tftransformer.data.data_error import DataError
from tftransformer.data.loaders import _read_text
from tftransformer.data.packing import check_packing_arguments, padded_length
from tftransformer.data.tagging_data import TaggingData
from tftransformer.data.text_packing import (
    batched_rows,
    check_packing_options,
    lay_out_in_rows,
    packed_rows,
)
from tftransformer.data.unknown_pieces import unknown_token_id

__all__ = [
    "IGNORE_LABEL",
    "TAGGING_FORMATS",
    "build_tag_vocabulary",
    "load_tagging_file",
    "make_tagging_dataset",
    "tokenize_and_align",
    "words_to_ragged",
]

# The label of positions that are not a word's first piece.
IGNORE_LABEL = -100
TAGGING_FORMATS = ("conll", "jsonl")
# `.json`: what `datasets`' and pandas' `to_json(lines=True)` exports are
# often named; a JSON array is refused at its first line.
_JSONL_EXTENSIONS = (".jsonl", ".ndjson", ".json")
_BIO_TAG = re.compile(r"^(?:O|[BI]-\S+)$")
_DOCSTART = "-DOCSTART-"
_SPACES = re.compile(" +")
# Sentences are tokenized in chunks of this size before being cached.
_TOKENIZE_CHUNK = 256


def _is_bio_tag(tag):
    return isinstance(tag, str) and bool(_BIO_TAG.match(tag))


def build_tag_vocabulary(tag_sequences):
    """Returns the BIO tag vocabulary covering the entity types of some tags.

    The vocabulary is `"O"` followed by `"B-TYPE"` and `"I-TYPE"` for every
    entity type found, types sorted. Both tags of a type are included even
    when only one occurs, so that a model can predict either.

    Args:
        tag_sequences: iterable of sentences, each an iterable of BIO tags.

    Returns:
        A tuple of tag strings.

    Example:

    ```python
    build_tag_vocabulary([["B-PER", "I-PER", "O"], ["B-LOC"]])
    # ("O", "B-LOC", "I-LOC", "B-PER", "I-PER")
    ```
    """
    types = set()
    for index, sentence in enumerate(tag_sequences):
        if isinstance(sentence, str):
            raise ValueError(
                "tag_sequences must hold sentences (sequences of tags), not "
                f"strings. Received sentence {index}: {sentence!r}"
            )
        for tag in sentence:
            if not _is_bio_tag(tag):
                raise ValueError(
                    f"Tag {tag!r} of sentence {index} is not a BIO tag; expected "
                    "'O', 'B-TYPE' or 'I-TYPE'."
                )
            if tag != "O":
                types.add(tag[2:])
    return ("O",) + tuple(f"{p}-{t}" for t in sorted(types) for p in "BI")


def _check_tag_vocabulary(tag_vocabulary):
    if tag_vocabulary is None:
        return None
    if isinstance(tag_vocabulary, str):
        raise ValueError(
            "tag_vocabulary must be a sequence of tags, not a string. "
            f"Received: tag_vocabulary={tag_vocabulary!r}"
        )
    vocabulary = tuple(tag_vocabulary)
    bad = [tag for tag in vocabulary if not _is_bio_tag(tag)]
    if bad or "O" not in vocabulary or len(set(vocabulary)) != len(vocabulary):
        raise ValueError(
            "tag_vocabulary must hold distinct BIO tags ('O', 'B-TYPE', "
            f"'I-TYPE'), 'O' among them. Received: tag_vocabulary={vocabulary}"
        )
    return vocabulary


def _infer_format(path):
    return "jsonl" if path.lower().endswith(_JSONL_EXTENSIONS) else "conll"


def _conll_sentences(path, content):
    """Yields (first line, words, [(line, tag)]) per sentence of a CoNLL file."""
    words, tags, first = [], [], None
    for number, line in enumerate(content.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            if words:
                yield first, words, tags
            words, tags, first = [], [], None
            continue
        # ASCII spaces only: a word may hold other white space ("10\u00a0000").
        fields = line.split("\t") if "\t" in line else _SPACES.split(line.strip(" "))
        # Trailing tabs (spreadsheet exports) make no column.
        while len(fields) > 2 and not fields[-1].strip():
            fields.pop()
        if fields[0].strip() == _DOCSTART:
            if words:
                yield first, words, tags
            words, tags, first = [], [], None
            continue
        if len(fields) < 2:
            raise DataError(
                f"{path}, line {number}: expected at least two columns (a word "
                "and its tag, separated by a tab or spaces), found one: "
                f"{line!r}. Sentences are separated by blank lines."
            )
        word, tag = fields[0].strip(), fields[-1].strip()
        if not word:
            raise DataError(
                f"{path}, line {number}: empty word in the first column: {line!r}."
            )
        if not tag:
            raise DataError(
                f"{path}, line {number}: empty tag in the last column: {line!r}."
            )
        if first is None:
            first = number
        words.append(word)
        tags.append((number, tag))
    if words:
        yield first, words, tags


def _jsonl_sentences(path, content, tokens_key, tags_key, tag_vocabulary):
    """Yields (line, words, [(line, tag)]) per record of a JSON Lines file
    (or of a JSON array of objects)."""
    for number, record, text in json_records(path, content):
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {number}: expected a JSON object with "
                f"{tokens_key!r} and {tags_key!r}, received a "
                f"{type(record).__name__}: {text[:80]!r}"
            )
        for key in (tokens_key, tags_key):
            if not isinstance(record.get(key), list):
                raise DataError(
                    f"{path}, line {number}: expected a list under {key!r}, "
                    f"received {record.get(key)!r}. Keys found: {sorted(record)}"
                )
        words, tags = record[tokens_key], record[tags_key]
        if not words:
            raise DataError(f"{path}, line {number}: {tokens_key!r} is empty.")
        if len(words) != len(tags):
            raise DataError(
                f"{path}, line {number}: {len(words)} {tokens_key} but "
                f"{len(tags)} {tags_key}; expected one tag per token."
            )
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise DataError(
                    f"{path}, line {number}: every token must be a non-empty "
                    f"string. Received: {word!r}"
                )
        resolved = []
        for tag in tags:
            if isinstance(tag, int) and not isinstance(tag, bool):
                if tag_vocabulary is None or not 0 <= tag < len(tag_vocabulary):
                    raise DataError(
                        f"{path}, line {number}: tag id {tag} needs a "
                        "tag_vocabulary holding it (ids index the vocabulary). "
                        f"Received: tag_vocabulary={tag_vocabulary}"
                    )
                tag = tag_vocabulary[tag]
            elif not isinstance(tag, str):
                raise DataError(
                    f"{path}, line {number}: expected tags as strings (or ids), "
                    f"received {type(tag).__name__} {tag!r}."
                )
            resolved.append((number, tag.strip()))
        yield number, [word.strip() for word in words], resolved


def load_tagging_file(
    path,
    file_format=None,
    tag_vocabulary=None,
    tokens_key="tokens",
    tags_key="tags",
):
    """Loads BIO-tagged sentences from a CoNLL-style or JSON Lines file.

    Args:
        path: the file's path (local or any `tf.io.gfile` path).
        file_format: `"conll"` or `"jsonl"`; `None` picks `"jsonl"` for
            `.jsonl` / `.ndjson` / `.json` files and `"conll"` otherwise.
        tag_vocabulary: optional sequence of tags. Given (e.g. the training
            data's vocabulary when loading validation data), a tag outside it
            is an error and ids agree between files. `None` builds one from
            the file with `build_tag_vocabulary`.
        tokens_key: the JSON Lines key of the words.
        tags_key: the JSON Lines key of the tags.

    Returns:
        A `TaggingData` with the file's sentences in order, their tags, the
        tag vocabulary and each sentence's first line.

    Raises:
        DataError: the file is missing, empty, a line has a single column,
            a tag is not BIO, or a tag is outside `tag_vocabulary`; the
            message names the file and the line.

    Example:

    ```python
    train = load_tagging_file("train.conll")
    dev = load_tagging_file("dev.conll", tag_vocabulary=train.tag_vocabulary)
    ```
    """
    if file_format is None:
        file_format = _infer_format(str(path))
    if file_format not in TAGGING_FORMATS:
        raise ValueError(
            f"file_format must be one of {TAGGING_FORMATS} or None. "
            f"Received: file_format={file_format!r}"
        )
    vocabulary = _check_tag_vocabulary(tag_vocabulary)
    path = str(path)
    try:
        content = _read_text(path)
    except FileNotFoundError as e:
        raise DataError(str(e)) from None
    if file_format == "conll":
        sentences = _conll_sentences(path, content)
    else:
        sentences = _jsonl_sentences(path, content, tokens_key, tags_key, vocabulary)

    all_words, all_tags, lines = [], [], []
    for first_line, words, numbered_tags in sentences:
        for number, tag in numbered_tags:
            if not _is_bio_tag(tag):
                raise DataError(
                    f"{path}, line {number}: tag {tag!r} is not a BIO (IOB2) tag; "
                    "expected 'O', 'B-TYPE' or 'I-TYPE'."
                )
            if vocabulary is not None and tag not in vocabulary:
                raise DataError(
                    f"{path}, line {number}: tag {tag!r} is not in the tag "
                    f"vocabulary {list(vocabulary)}."
                )
        all_words.append(tuple(words))
        all_tags.append(tuple(tag for _, tag in numbered_tags))
        lines.append(first_line)
    if not all_words:
        expected = (
            "'word<TAB>tag' lines with a blank line between sentences"
            if file_format == "conll"
            else f"JSON objects with {tokens_key!r} and {tags_key!r} lists"
        )
        raise DataError(f"{path}: no sentences found; expected {expected}.")
    if vocabulary is None:
        vocabulary = build_tag_vocabulary(all_tags)
    return TaggingData(
        words=tuple(all_words),
        tags=tuple(all_tags),
        tag_vocabulary=vocabulary,
        source=path,
        lines=tuple(lines),
    )


def words_to_ragged(sentences):
    """Turns sentences into a ragged string tensor of words.

    Args:
        sentences: a `tf.RaggedTensor` of words (returned as is), a 1-D
            string tensor or a list of `str` (each split on whitespace with
            `tf.strings.split`, as an exported model does), or a list of
            sentences, each a list of `str` words (none empty or of spaces
            alone).

    Returns:
        A `tf.RaggedTensor` of shape `(num_sentences, (num_words))`, dtype
        `tf.string`.

    Example:

    ```python
    words_to_ragged(["EU rejects  German call"])  # [[b"EU", b"rejects", ...]]
    words_to_ragged([["New", "York"], ["Paris"]])
    ```
    """
    if isinstance(sentences, tf.RaggedTensor):
        return sentences
    if isinstance(sentences, (tf.Tensor, np.ndarray)):
        return tf.strings.split(tf.convert_to_tensor(sentences, dtype=tf.string))
    refuse_one_string("sentences", sentences, "a list of sentences")
    sentences = list(sentences)
    if all(isinstance(s, (str, bytes)) for s in sentences):
        return tf.strings.split(
            tf.constant(sentences, dtype=tf.string, shape=[len(sentences)])
        )
    flat, lengths = [], []
    for index, sentence in enumerate(sentences):
        if isinstance(sentence, (str, bytes)) or not all(
            isinstance(word, (str, bytes)) for word in sentence
        ):
            raise ValueError(
                "sentences must be all strings or all lists of word strings. "
                f"Received sentence {index}: {sentence!r}"
            )
        for position, word in enumerate(sentence):
            if not word.strip():
                # No word piece to tag (the tokenizer reads [UNK]), and
                # the loaders refuse it.
                raise ValueError(
                    "Every word must be a non-empty string, not spaces alone. "
                    f"Received: sentences[{index}][{position}]={word!r}"
                )
        flat.extend(sentence)
        lengths.append(len(sentence))
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat, dtype=tf.string, shape=[len(flat)]),
        tf.constant(lengths, dtype=tf.int64, shape=[len(lengths)]),
    )


def _to_ragged_ids(tag_ids, words):
    if isinstance(tag_ids, tf.RaggedTensor):
        return tf.cast(tag_ids, tf.int32)
    flat = np.concatenate(
        [np.asarray(t, dtype="int32").reshape(-1) for t in tag_ids] or [[]]
    ).astype("int32")
    return tf.RaggedTensor.from_row_lengths(
        tf.constant(flat), tf.constant([len(t) for t in tag_ids], dtype=tf.int64)
    )


def _check_tag_counts(word_counts, tag_counts, sentence_words):
    """Raises `ValueError` unless each sentence has one tag id per word.

    Args:
        word_counts: the number of words of each sentence.
        tag_counts: the number of tag ids of each sentence.
        sentence_words: a function of a sentence's index that returns its
            words, for the message.
    """
    if len(tag_counts) != len(word_counts):
        raise ValueError(
            "tag_ids must have one entry per sentence. Received: "
            f"len(tag_ids)={len(tag_counts)}, len(words)={len(word_counts)}"
        )
    mismatched = np.flatnonzero(np.asarray(word_counts) != np.asarray(tag_counts))
    if mismatched.size:
        index = int(mismatched[0])
        raise ValueError(
            f"Sentence {index} has {int(word_counts[index])} words but "
            f"{int(tag_counts[index])} tag ids. Received: "
            f"words={sentence_words(index)}"
        )


def tokenize_and_align(
    words, tokenizer, max_length, tag_ids=None, pad_to_multiple_of=None
):
    """Tokenizes sentences of words into BERT inputs aligned with the words.

    Each sequence is `[CLS] pieces [SEP]`, the pieces cut to
    `max_length - 2`. The batch is padded to its longest sequence (rounded
    up to `pad_to_multiple_of`, at most `max_length`). Runs as TensorFlow
    ops (inside `tf.data` or a `tf.function`, as in an exported model); eager
    calls run a `tf.function` traced once per tokenizer.

    Args:
        words: a `tf.RaggedTensor` of words `(batch, (num_words))`, or what
            `words_to_ragged` takes.
        tokenizer: a keras-hub WordPiece tokenizer such as
            `keras_hub.models.BertTokenizer`.
        max_length: int >= 2, the longest sequence, `[CLS]` and `[SEP]`
            included.
        tag_ids: optional ragged int tag ids `(batch, (num_words))` (or a list
            of int sequences), one per word: a `ValueError` names the first
            sentence whose count differs (in a graph, an
            `InvalidArgumentError` when it runs).
        pad_to_multiple_of: optional int, the padded length is rounded up to a
            multiple of it.

    Returns:
        A dict of `"token_ids"` (int32), `"padding_mask"` (bool) and
        `"segment_ids"` (int32), each `(batch, padded_length)`;
        `"word_starts"`, a ragged int32 `(batch, (num_words))` with the
        position of each word's first piece, -1 for a word cut off by
        `max_length`; and with `tag_ids`, `"labels"` (int32, `(batch,
        padded_length)`): the word's tag id at its first piece and
        `IGNORE_LABEL` elsewhere.

    Example:

    ```python
    tokenizer = embedded_tokenizer()
    features = tokenize_and_align([["Obama", "visits", "Paris"]], tokenizer, 16)
    features["word_starts"]  # [[1, 2, 3]]
    ```
    """
    max_length, pad_to_multiple_of = check_packing_arguments(
        "max_length", max_length, pad_to_multiple_of
    )
    words = words_to_ragged(words)
    if tag_ids is not None:
        tag_ids = _to_ragged_ids(tag_ids, words)
        word_counts = tf.cast(words.row_lengths(), tf.int64)
        tag_counts = tf.cast(tag_ids.row_lengths(), tf.int64)
        if tf.executing_eagerly():
            _check_tag_counts(
                word_counts.numpy(),
                tag_counts.numpy(),
                lambda index: [
                    word.decode("utf-8", "replace")
                    for word in words[index].numpy().tolist()
                ],
            )
        else:
            message = "tag_ids must have one tag id per word of each sentence"
            checks = [
                tf.debugging.assert_equal(
                    tag_ids.nrows(out_type=tf.int64),
                    words.nrows(out_type=tf.int64),
                    message=message,
                ),
                tf.debugging.assert_equal(tag_counts, word_counts, message=message),
            ]
            with tf.control_dependencies(checks):
                tag_ids = tag_ids.with_flat_values(tf.identity(tag_ids.flat_values))
    if tf.executing_eagerly():
        # keras-hub tokenizers return Python lists when called eagerly: run
        # the ops in a graph, traced once per tokenizer.
        function = _eager_function(tokenizer, with_tags=tag_ids is not None)
        arguments = [
            words.with_row_splits_dtype(tf.int64),
            tf.constant(max_length, tf.int32),
            tf.constant(pad_to_multiple_of or 1, tf.int32),
        ]
        if tag_ids is not None:
            arguments.append(tag_ids.with_row_splits_dtype(tf.int64))
        return function(*arguments)
    return _tokenize_and_align(
        words, tokenizer, max_length, tag_ids, pad_to_multiple_of
    )


# tokenizer -> {with_tags: tf.function}, so eager calls reuse one trace.
_EAGER_FUNCTIONS = weakref.WeakKeyDictionary()


def _eager_function(tokenizer, with_tags):
    functions = _EAGER_FUNCTIONS.setdefault(tokenizer, {})
    if with_tags not in functions:
        signature = [
            tf.RaggedTensorSpec([None, None], tf.string, 1, tf.int64),
            tf.TensorSpec([], tf.int32),
            tf.TensorSpec([], tf.int32),
        ]
        if with_tags:
            signature.append(tf.RaggedTensorSpec([None, None], tf.int32, 1, tf.int64))

        def align(words, max_length, pad_to_multiple_of, tag_ids=None):
            return _tokenize_and_align(
                words, tokenizer, max_length, tag_ids, pad_to_multiple_of
            )

        functions[with_tags] = tf.function(
            align, input_signature=signature, autograph=False
        )
    return functions[with_tags]


def _marks_word_starts_with_a_space(tokenizer):
    """Whether the tokenizer is byte-level BPE, whose pieces carry spaces."""
    return hasattr(tokenizer, "merges")


def _tokenize_and_align(words, tokenizer, max_length, tag_ids, pad_to_multiple_of):
    cls_id = _special_token_id(tokenizer, "cls_token_id", "[CLS]")
    sep_id = _special_token_id(tokenizer, "sep_token_id", "[SEP]")
    pad_id = _special_token_id(tokenizer, "pad_token_id", "[PAD]")
    # Byte-level BPE has no unknown token: an empty word gets padding.
    unk_id = unknown_token_id(tokenizer)
    unk_id = pad_id if unk_id is None else unk_id
    # `max_length` and `pad_to_multiple_of` are ints, or scalar tensors when
    # traced once for all values (see `_eager_function`).
    budget = tf.cast(max_length, tf.int64) - 2

    flat_words = words.flat_values  # (num_words,)
    if _marks_word_starts_with_a_space(tokenizer):
        # Byte-level BPE (RoBERTa) reads a word after a space as "Ġword", a
        # different piece from the sentence-initial "word": every word gets
        # the space it has inside a sentence (Hugging Face's
        # `add_prefix_space=True`). SentencePiece adds its "▁" to a word on
        # its own, and WordPiece splits on spaces anyway.
        flat_words = tf.strings.join([" ", flat_words])
    pieces = tokenizer(flat_words)  # ragged (num_words, (num_pieces))
    pieces = tf.cast(pieces, tf.int32)
    # Every word gets at least one piece, so that it has a first piece.
    empty = tf.cast(tf.equal(pieces.row_lengths(), 0), tf.int64)
    unknown = tf.RaggedTensor.from_row_lengths(
        tf.fill([tf.reduce_sum(empty)], tf.constant(unk_id, tf.int32)), empty
    )
    pieces = tf.concat([pieces, unknown], axis=1)
    counts = pieces.row_lengths()  # (num_words,) int64

    batch_size = words.nrows()
    sentence_of_word = words.value_rowids()
    pieces_per_sentence = tf.math.unsorted_segment_sum(
        counts, sentence_of_word, batch_size
    )
    first_piece = tf.cumsum(counts, exclusive=True)  # over the whole batch
    sentence_offset = tf.cumsum(pieces_per_sentence, exclusive=True)
    start = first_piece - tf.gather(sentence_offset, sentence_of_word)
    # +1 for [CLS]; -1 where truncation cut the word's first piece off.
    word_starts = tf.where(start < budget, start + 1, -1)
    word_starts = words.with_flat_values(tf.cast(word_starts, tf.int32))

    def pack(flat_values, start_value, end_value, pad_value):
        rows = tf.RaggedTensor.from_row_lengths(flat_values, pieces_per_sentence)
        rows = rows[:, :budget]
        column = tf.ones([batch_size, 1], flat_values.dtype)
        rows = tf.concat(
            [
                tf.RaggedTensor.from_tensor(column * start_value),
                rows,
                tf.RaggedTensor.from_tensor(column * end_value),
            ],
            axis=1,
        )
        return rows.to_tensor(pad_value)

    token_ids = pack(pieces.flat_values, cls_id, sep_id, pad_id)
    lengths = tf.minimum(pieces_per_sentence, budget) + 2
    padded = tf.shape(token_ids)[1]
    padding_mask = tf.sequence_mask(lengths, padded)
    features = {
        "token_ids": token_ids,
        "padding_mask": padding_mask,
        "segment_ids": tf.zeros_like(token_ids),
    }
    if tag_ids is not None:
        total = tf.reduce_sum(counts)
        piece_labels = tf.tensor_scatter_nd_update(
            tf.fill([total], tf.constant(IGNORE_LABEL, tf.int32)),
            first_piece[:, None],
            tf.cast(tag_ids.flat_values, tf.int32),
        )
        features["labels"] = pack(
            piece_labels, IGNORE_LABEL, IGNORE_LABEL, IGNORE_LABEL
        )
    if pad_to_multiple_of is not None:
        target = padded_length(padded, pad_to_multiple_of, max_length)
        pad_values = {"token_ids": pad_id, "labels": IGNORE_LABEL}
        features = {
            key: tf.pad(
                value,
                [[0, 0], [0, target - padded]],
                constant_values=pad_values.get(key, 0),
            )
            for key, value in features.items()
        }
    features["word_starts"] = word_starts
    return features


def make_tagging_dataset(
    words,
    tag_ids,
    tokenizer,
    batch_size,
    max_length=128,
    shuffle=True,
    seed=0,
    bucket_boundaries=None,
    drop_remainder=False,
    pack=False,
    max_texts_per_row=None,
    packing_strategy=None,
):
    """Builds a batched, tokenized, dynamically padded tagging dataset.

    Sentences are tokenized and aligned once with `tokenize_and_align`, when
    the dataset is made, and kept in memory; the dataset's cardinality is its
    number of batches. Batches are padded to their longest sequence, rounded
    up to the next bucket boundary, so that a run sees at most
    `len(bucket_boundaries)` batch shapes; when shuffling, sentences of
    similar length are batched together.

    Args:
        words: sequence of sentences, each a sequence of `str` words.
        tag_ids: sequence of int arrays, one tag id per word (e.g.
            `TaggingData.tag_ids`), or `None` for prediction.
        tokenizer: a keras-hub WordPiece tokenizer such as
            `keras_hub.models.BertTokenizer`.
        batch_size: positive int, sentences per batch.
        max_length: int >= 2, the longest sequence, special tokens included.
        shuffle: whether to shuffle the sentences (with `seed`) on every pass.
            Without shuffling the input order is kept.
        seed: the shuffling seed.
        bucket_boundaries: increasing padded lengths, each `<= max_length`;
            `None` for `default_bucket_boundaries(max_length)`.
        drop_remainder: whether to drop the last, smaller batch (of each
            bucket, when shuffling).
        pack: whether to pack several sentences into each row of
            `max_length` tokens, each still `[CLS] sentence [SEP]`, with
            attention kept inside each sentence and positions restarting
            (see `tftransformer.data.text_packing`), so that no compute is
            spent on padding. `batch_size` then counts rows, and
            `bucket_boundaries` does not apply.
        max_texts_per_row: with `pack`, `None` (as many sentences as fit) or
            an int >= 1, the most sentences a row holds.
        packing_strategy: with `pack`, `"best_fit"`, `"in_order"` or `None`
            (best fit when shuffling, else input order), as for
            `make_classification_dataset`.

    Returns:
        A `tf.data.Dataset` of `(features, labels)` (or `features` when
        `tag_ids` is `None`): `features` a dict of `"token_ids"`,
        `"padding_mask"` and `"segment_ids"`, each `(batch, padded_length)`;
        `labels` int32 `(batch, padded_length)` with `IGNORE_LABEL` wherever
        a position is not a word's first piece.

        With `pack`, every batch is `(rows, max_length)`, and `features` also
        holds `"text_ids"`, `"position_ids"`, `"text_starts"` and
        `"text_mask"` as `make_classification_dataset` describes them; the
        labels stay per token, `IGNORE_LABEL` on padding. A
        `TokenClassifier` tags each sentence of a row as if alone.

    Example:

    ```python
    train = load_wnut16("train")
    dataset = make_tagging_dataset(
        train.words, train.tag_ids, embedded_tokenizer(), batch_size=32
    )
    features, labels = next(iter(dataset))
    ```
    """
    batch_size = check_int("batch_size", batch_size, 1)
    seed = check_int("seed", seed)
    pack, max_texts_per_row, packing_strategy = check_packing_options(
        pack, max_texts_per_row, packing_strategy, shuffle
    )
    if isinstance(words, (str, bytes)) or not len(words):
        raise ValueError(
            "words must be a non-empty sequence of sentences. "
            f"Received: words={words!r}"
        )
    words = [list(sentence) for sentence in words]
    if tag_ids is not None:
        tag_ids = [np.asarray(t, dtype="int32").reshape(-1) for t in tag_ids]
        _check_tag_counts(
            [len(sentence) for sentence in words],
            [len(ids) for ids in tag_ids],
            lambda index: words[index],
        )
    if bucket_boundaries is None:
        bucket_boundaries = default_bucket_boundaries(max_length)
    else:
        given = bucket_boundaries
        bucket_boundaries = tuple(bucket_boundaries)
        if any(
            isinstance(b, bool) or not isinstance(b, int) or not 2 <= b <= max_length
            for b in bucket_boundaries
        ) or list(bucket_boundaries) != sorted(set(bucket_boundaries)):
            raise ValueError(
                "bucket_boundaries must be strictly increasing integers in "
                f"[2, max_length={max_length}]. Received: bucket_boundaries={given!r}"
            )
        if not bucket_boundaries or bucket_boundaries[-1] != max_length:
            bucket_boundaries += (max_length,)
    pad_id = _special_token_id(tokenizer, "pad_token_id", "[PAD]")

    ragged_words = words_to_ragged(words)
    if tag_ids is not None:
        dataset = tf.data.Dataset.from_tensor_slices(
            (ragged_words, _to_ragged_ids(tag_ids, words))
        )
    else:
        dataset = tf.data.Dataset.from_tensor_slices((ragged_words,))

    def align(chunk_words, chunk_tags=None):
        features = tokenize_and_align(chunk_words, tokenizer, max_length, chunk_tags)
        lengths = tf.reduce_sum(tf.cast(features["padding_mask"], tf.int32), axis=1)
        outputs = (features["token_ids"], lengths)
        if chunk_tags is not None:
            outputs += (features["labels"],)
        return outputs

    def unpad(token_ids, length, labels=None):
        features = {
            "token_ids": token_ids[:length],
            "padding_mask": tf.ones([length], dtype=tf.bool),
            "segment_ids": tf.zeros([length], dtype=tf.int32),
        }
        return features if labels is None else (features, labels[:length])

    columns = _run_now(dataset.ragged_batch(_TOKENIZE_CHUNK), align)
    lengths = columns[1].numpy()
    if pack:
        token_ids = columns[0].numpy()
        features, rows = packed_rows(
            token_ids,
            np.zeros_like(token_ids),
            lengths,
            max_length,
            pad_id,
            max_texts_per_row,
            packing_strategy,
        )
        elements = features
        if tag_ids is not None:
            labels = lay_out_in_rows(
                columns[2].numpy(), rows, lengths, max_length, IGNORE_LABEL
            )
            elements = (features, labels.astype(np.int32))
        return prefetched(
            batched_rows(elements, batch_size, shuffle, seed, drop_remainder)
        )
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.map(unpad, num_parallel_calls=tf.data.AUTOTUNE)
    # Unpadded rows read faster than slicing the padded columns again.
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(words), seed=seed, reshuffle_each_iteration=True)

    padding_values = {
        "token_ids": tf.constant(pad_id, tf.int32),
        "padding_mask": tf.constant(False),
        "segment_ids": tf.constant(0, tf.int32),
    }
    if tag_ids is not None:
        padding_values = (padding_values, tf.constant(IGNORE_LABEL, tf.int32))
    dataset = _batch_by_length(
        dataset,
        lengths,
        batch_size,
        bucket_boundaries if shuffle else None,
        padding_values,
        drop_remainder,
    )

    boundaries = tf.constant(bucket_boundaries, dtype=tf.int32)

    def pad_to_boundary(features, labels=None):
        length = tf.shape(features["token_ids"])[1]
        target = tf.gather(boundaries, tf.searchsorted(boundaries, [length])[0])
        paddings = [[0, 0], [0, target - length]]
        features = {
            "token_ids": tf.pad(
                features["token_ids"], paddings, constant_values=pad_id
            ),
            "padding_mask": tf.pad(features["padding_mask"], paddings),
            "segment_ids": tf.pad(features["segment_ids"], paddings),
        }
        if labels is None:
            return features
        return features, tf.pad(labels, paddings, constant_values=IGNORE_LABEL)

    dataset = dataset.map(pad_to_boundary, num_parallel_calls=tf.data.AUTOTUNE)
    return prefetched(dataset)
