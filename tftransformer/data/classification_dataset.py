"""Tokenized, dynamically padded `tf.data` pipelines for text classification.

Each batch is padded to the length of its longest example, never to a fixed
512: most texts are short, and attention costs grow with the padded length.
When shuffling, examples are first grouped into buckets of similar length
(`tf.data.Dataset.bucket_by_sequence_length`), so that few pad tokens are
needed. The padded length is then rounded up to the bucket's upper boundary,
so that a run sees at most `len(bucket_boundaries)` distinct batch shapes and
a compiled (XLA) train step is retraced at most that many times. The default
boundaries are the multiples of 16 up to `max_length`, plus `max_length`.
"""

import contextlib

import numpy as np
import tensorflow as tf
from keras_hub.layers import MultiSegmentPacker
from keras_hub.src.utils.tensor_utils import no_convert_scope

from tftransformer._arguments import check_int, check_strings
from tftransformer.data._autotune import prefetched, without_autotuning
from tftransformer.data.text_packing import (
    check_packing_options,
    packed_dataset,
    packed_rows,
)

_BUCKET_WIDTH = 16
# Examples are tokenized in chunks of this size: one vectorised WordPiece
# call per chunk is much faster than one call per example.
_TOKENIZE_CHUNK = 256


def default_bucket_boundaries(max_length):
    """Returns the default bucket boundaries for a maximum sequence length.

    Args:
        max_length: the maximum sequence length, special tokens included.

    Returns:
        A tuple of increasing lengths: the multiples of 16 below `max_length`,
        then `max_length`. Each is a padded length a batch may have.

    Example:

    ```python
    default_bucket_boundaries(128)  # (16, 32, 48, 64, 80, 96, 112, 128)
    default_bucket_boundaries(40)  # (16, 32, 40)
    ```
    """
    max_length = check_int("max_length", max_length, 2)
    return tuple(range(_BUCKET_WIDTH, max_length, _BUCKET_WIDTH)) + (max_length,)


def _num_batches(lengths, batch_size, bucket_boundaries=None, drop_remainder=False):
    """Returns how many batches length bucketing makes of examples.

    `tf.data`'s `bucket_by_sequence_length` puts a length `L` in the bucket
    of the smallest boundary `>= L` and ends each bucket with a partial
    batch (dropped with `drop_remainder`).

    Args:
        lengths: array of example lengths, each at most the last boundary.
        batch_size: int > 0.
        bucket_boundaries: increasing boundaries, or `None` for one batching
            of all examples.
        drop_remainder: whether partial batches are dropped.

    Returns:
        An int.

    Example:
    ```python
    _num_batches([5, 5, 5, 20], batch_size=2, bucket_boundaries=(16, 32))  # 3
    ```
    """
    lengths = np.asarray(lengths)
    if bucket_boundaries is None:
        counts = np.array([len(lengths)])
    else:
        buckets = np.searchsorted(np.asarray(bucket_boundaries), lengths)
        counts = np.bincount(buckets, minlength=len(bucket_boundaries))
    if drop_remainder:
        return int(np.sum(counts // batch_size))
    return int(np.sum(-(-counts // batch_size)))


@contextlib.contextmanager
def _eager_tensorflow_path(*layers):
    """Runs keras-hub preprocessing layers eagerly, on their TensorFlow path.

    Traced (in a `tf.data` map), a WordPiece tokenizer embeds its whole
    vocabulary in the graph: about a second per dataset made, several on a
    busy machine, for a 30,000-entry vocabulary. Called eagerly, keras-hub
    layers take a pure-Python path instead (several times slower on
    thousands of texts) and return lists. On the TensorFlow path, eagerly
    and with tensors kept (`no_convert_scope`), they run the same ops as in
    the map, without the tracing.
    """
    # Layers without the switch (not keras-hub's) run as they are.
    layers = [layer for layer in layers if hasattr(layer, "_allow_python_workflow")]
    saved = [layer._allow_python_workflow for layer in layers]
    for layer in layers:
        layer._allow_python_workflow = False
    try:
        with no_convert_scope():
            yield
    finally:
        for layer, value in zip(layers, saved):
            layer._allow_python_workflow = value


def _run_now(chunks, function, *layers):
    """Applies `function` to each chunk now; returns each column, concatenated.

    Tokenizing once, when the dataset is made, lets every pass read the
    token ids from memory, and the lengths give the number of batches.

    Args:
        chunks: an iterable of tuples, e.g. a batched `tf.data.Dataset`.
        function: called as `function(*chunk)`, returns a tuple of tensors.
        *layers: the keras-hub preprocessing layers `function` calls, run
            eagerly on their TensorFlow path (`_eager_tensorflow_path`).
    """
    if isinstance(chunks, tf.data.Dataset):
        # Its iterator is deleted at the loop's end (see `without_autotuning`).
        chunks = without_autotuning(chunks)
    with _eager_tensorflow_path(*layers):
        chunks = [function(*chunk) for chunk in chunks]
    columns = []
    for i in range(len(chunks[0])):
        parts = [chunk[i] for chunk in chunks]
        if parts[0].shape.rank == 2:
            # A chunk may be padded to its own longest row only (tagging
            # pads so): pad all to the widest. Rows are cut back to their
            # lengths afterwards, so the padding value does not matter.
            width = max(part.shape[1] for part in parts)
            parts = [tf.pad(p, [[0, 0], [0, width - p.shape[1]]]) for p in parts]
        columns.append(tf.concat(parts, axis=0))
    return tuple(columns)


def _batch_by_length(
    dataset, lengths, batch_size, bucket_boundaries, padding_values, drop_remainder
):
    """Pads examples into batches, by length bucket unless `bucket_boundaries`
    is `None`, and declares how many batches that makes."""
    if bucket_boundaries is not None:
        dataset = dataset.bucket_by_sequence_length(
            element_length_func=lambda features, *_: tf.shape(features["token_ids"])[0],
            # A length L falls in the bucket of the smallest boundary >= L.
            bucket_boundaries=[b + 1 for b in bucket_boundaries[:-1]],
            bucket_batch_sizes=[batch_size] * len(bucket_boundaries),
            padding_values=padding_values,
            drop_remainder=drop_remainder,
        )
    else:
        dataset = dataset.padded_batch(
            batch_size, padding_values=padding_values, drop_remainder=drop_remainder
        )
    # Bucketing hides the count from tf.data; without it Keras runs one more
    # train call per epoch, on exhausted data (see `count_train_steps`).
    return dataset.apply(
        tf.data.experimental.assert_cardinality(
            _num_batches(lengths, batch_size, bucket_boundaries, drop_remainder)
        )
    )


# RoBERTa's and XLM-RoBERTa's tokenizers name [CLS] and [SEP] start and end.
_START_AND_END = {"cls_token_id": "start_token_id", "sep_token_id": "end_token_id"}


def _special_token_id(tokenizer, attribute, token):
    token_id = getattr(tokenizer, attribute, None)
    if token_id is None and attribute in _START_AND_END:
        token_id = getattr(tokenizer, _START_AND_END[attribute], None)
    if token_id is None:
        token_id = tokenizer.token_to_id(token)
    return int(token_id)


def _check_sequence(name, values, length=None):
    if values is None or isinstance(values, (str, bytes)):
        raise ValueError(
            f"{name} must be a sequence with one entry per text. Received: "
            f"{name}={values!r:.100}"
        )
    values = list(values)
    if length is not None and len(values) != length:
        raise ValueError(
            f"{name} must have one entry per text. Received: len({name})="
            f"{len(values)}, len(texts)={length}"
        )
    return values


def _label_array(labels):
    """`labels` (one entry per text) as a NumPy array, refusing label names
    and negative class ids (of 1-D labels), which TensorFlow would fail on
    (names) or a loss would silently misread (negative ids)."""
    array = np.asarray(labels)
    if array.dtype.kind in "USO":
        names = (i for i, x in enumerate(labels) if np.asarray(x).dtype.kind in "US")
        index = next(names, None)
        if index is not None or array.dtype.kind != "O":
            index = index or 0
            raise ValueError(
                "labels must be label ids (ints from 0), not label names. "
                f"Received: labels[{index}]={labels[index]!r}. Map each name to "
                "its id first, e.g. its index in the label vocabulary (the "
                "tftransformer.data loaders return ids and the vocabulary)."
            )
    if array.ndim == 1 and array.dtype.kind == "i" and array.size and array.min() < 0:
        index = int(np.argwhere(array < 0)[0][0])
        raise ValueError(
            "labels must be label ids >= 0 (from 0 to the number of classes "
            f"- 1). Received: labels[{index}]={labels[index]!r}"
        )
    return array


def make_classification_dataset(
    texts,
    labels,
    tokenizer,
    batch_size,
    max_length=128,
    shuffle=True,
    seed=0,
    text_pairs=None,
    bucket_boundaries=None,
    drop_remainder=False,
    bucket_by_length=None,
    pad_to_bucket_boundary=True,
    feature_names=None,
    pair_separators=1,
    pack=False,
    max_texts_per_row=None,
    packing_strategy=None,
):
    """Builds a batched, tokenized, dynamically padded classification dataset.

    Each example is packed BERT-style, `[CLS] text [SEP]` or
    `[CLS] text [SEP] text_pair [SEP]` (with the tokenizer's own start and
    end tokens, and `pair_separators` end tokens between a pair's texts:
    RoBERTa and XLM-RoBERTa put two), and truncated to `max_length` tokens
    (keeping `[CLS]` and `[SEP]`; pairs are trimmed round-robin). Batches are
    padded to their longest example, rounded up to the next bucket boundary
    when `pad_to_bucket_boundary` is set. The texts are tokenized once, when
    the dataset is made, and kept in memory; the dataset's cardinality is its
    number of batches, so `fit` knows each epoch's length.

    Args:
        texts: sequence of `str`, the texts.
        labels: sequence of int label ids (from 0; not label names), or
            `None` for prediction (the dataset then yields only the
            features). Rows of several values (multi-label 0/1 rows, or
            float regression targets) are batched as they are; float labels
            stay float32.
        tokenizer: a keras-hub text encoder tokenizer of any family, e.g.
            `keras_hub.models.BertTokenizer`; its start, end and pad tokens
            (`[CLS]`, `[SEP]` and `[PAD]` for WordPiece) pack the examples.
        batch_size: positive int, examples per batch.
        max_length: the longest sequence, special tokens included.
        shuffle: whether to shuffle the examples (with `seed`) on every pass.
        seed: the shuffling seed.
        text_pairs: `None`, or a sequence of `str`, the second text of each
            example for pair tasks.
        bucket_boundaries: increasing padded lengths, each `<= max_length`;
            `max_length` is added if missing. `None` for
            `default_bucket_boundaries(max_length)`.
        drop_remainder: whether to drop the last, smaller batch (of each
            bucket, when bucketing).
        bucket_by_length: whether to group examples of similar length into
            the same batches. `None` buckets when `shuffle` is set; otherwise
            the input order is kept, so that predictions line up with the
            inputs.
        pad_to_bucket_boundary: whether to round each batch's padded length
            up to the smallest boundary that holds its longest example
            (bounding the number of batch shapes), or pad exactly to the
            longest example.
        feature_names: which features to yield, a subset of `"token_ids"`,
            `"padding_mask"`, `"segment_ids"`; `None` for all three (what
            BERT backbones take). Pass the model's input names (e.g.
            `model.input.keys()`) for a model that takes fewer: a Keras
            functional model given a dict with extra keys matches the
            inputs by position, not by name, and silently reads the wrong
            tensors.
        pair_separators: int >= 1, end tokens between the two texts of a
            pair, 2 for RoBERTa and XLM-RoBERTa as their keras-hub
            preprocessors pack them (a `TextClassifierPreprocessor`'s
            `pair_separators` is its tokenizer family's).
        pack: whether to pack several texts into each row of `max_length`
            tokens (the same way on every pass; see
            `tftransformer.data.text_packing`), so that no compute is
            spent on padding. `batch_size` then counts rows, and the
            bucketing arguments and `feature_names` do not apply.
        max_texts_per_row: with `pack`, `None` (as many texts as fit) or an
            int >= 1, the most texts a row holds.
        packing_strategy: with `pack`, `"best_fit"` (longest text first,
            each into the fullest row that holds it: the least padding,
            rows in no particular order), `"in_order"` (a row takes the
            next texts until one does not fit: the texts keep the input
            order), or `None`: best fit when `shuffle` is set, otherwise in
            input order, so that predictions line up with the inputs.

    Returns:
        A `tf.data.Dataset` of `(features, label)` (or `features` when
        `labels` is `None`), prefetched. `features` is a dict of
        `"token_ids"` (int32), `"padding_mask"` (bool) and `"segment_ids"`
        (int32), each of shape `(batch_size, padded_length)`; `label` is
        int32 of shape `(batch_size,)`.

        With `pack`, `features` also holds `"text_ids"` (which text of the
        row each token belongs to, from 1; 0 for padding) and
        `"position_ids"` (restarting at 0 with each text), both
        `(batch_size, max_length)`, `"text_starts"` `(batch_size,
        max_texts)` (each text's first token) and `"text_mask"` `(batch_size,
        max_texts)` (which slots hold a text); `label` is `(batch_size,
        max_texts)`, each slot's text's label (0 in empty slots). Every
        batch but a smaller last one has the same shape (one XLA program
        under `jit_compile`), and a batch splits along its rows across
        `tf.distribute` replicas.

    Example:

    ```python
    tokenizer = embedded_tokenizer()
    data = load_rotten_tomatoes("train")
    dataset = make_classification_dataset(
        data.texts, data.labels, tokenizer, batch_size=32
    )
    features, labels = next(iter(dataset))
    features["token_ids"].shape  # (32, 48): this batch's bucket length
    ```
    """
    batch_size = check_int("batch_size", batch_size, 1)
    pair_separators = check_int("pair_separators", pair_separators, 1)
    min_length = 2 + pair_separators if text_pairs is not None else 2
    max_length = check_int(
        "max_length", max_length, min_length, what=" (room for the special tokens)"
    )
    seed = check_int("seed", seed)
    texts = check_strings("texts", texts, allow_bytes=True)
    if not texts:
        raise ValueError("texts must not be empty. Received: texts=[]")
    if labels is not None:
        labels = _check_sequence("labels", labels, len(texts))
        label_array = _label_array(labels)
    if text_pairs is not None:
        text_pairs = _check_sequence("text_pairs", text_pairs, len(texts))
        check_strings("text_pairs", text_pairs, allow_bytes=True)
    if bucket_boundaries is None:
        bucket_boundaries = default_bucket_boundaries(max_length)
    else:
        given = bucket_boundaries
        bucket_boundaries = tuple(bucket_boundaries)
        if (
            not all(isinstance(b, int) and not isinstance(b, bool) for b in given)
            or any(b < min_length or b > max_length for b in bucket_boundaries)
            or list(bucket_boundaries) != sorted(set(bucket_boundaries))
        ):
            raise ValueError(
                "bucket_boundaries must be strictly increasing integers in "
                f"[{min_length}, max_length={max_length}]. Received: "
                f"bucket_boundaries={given!r}"
            )
        if not bucket_boundaries or bucket_boundaries[-1] != max_length:
            bucket_boundaries += (max_length,)
    if bucket_by_length is None:
        bucket_by_length = shuffle
    pack, max_texts_per_row, packing_strategy = check_packing_options(
        pack, max_texts_per_row, packing_strategy, shuffle
    )
    if pack and feature_names is not None:
        raise ValueError(
            "feature_names does not apply to packed rows, which a model reads "
            f"by name. Received: pack=True, feature_names={feature_names!r}"
        )

    pad_id = _special_token_id(tokenizer, "pad_token_id", "[PAD]")
    packer = MultiSegmentPacker(
        sequence_length=max_length,
        start_value=_special_token_id(tokenizer, "cls_token_id", "[CLS]"),
        end_value=_special_token_id(tokenizer, "sep_token_id", "[SEP]"),
        sep_value=[_special_token_id(tokenizer, "sep_token_id", "[SEP]")]
        * pair_separators,
        pad_value=pad_id,
    )
    # Start and end, and the separators between a pair's texts.
    num_special = 2 + (pair_separators if text_pairs is not None else 0)

    def tokenize(inputs):
        # inputs: (texts,) or (texts, pairs), each of shape (chunk,).
        segments = tuple(tokenizer(x) for x in inputs)  # ragged (chunk, None)
        token_ids, segment_ids = packer(segments)  # (chunk, max_length)
        # The packer trims the segments to max_length - num_special tokens in
        # all, so each packed length follows from the unpacked lengths.
        content = tf.add_n([tf.cast(s.row_lengths(), "int32") for s in segments])
        lengths = tf.minimum(content, max_length - num_special) + num_special
        return token_ids, segment_ids, lengths

    def tokenize_element(inputs, *label):
        token_ids, segment_ids, lengths = tokenize(inputs)
        return (token_ids, segment_ids, lengths) + label

    def unpad_element(token_ids, segment_ids, length, *label):
        # (max_length,) -> (length,): batches are padded again, to their own
        # longest example.
        features = {
            "token_ids": token_ids[:length],
            "padding_mask": tf.ones([length], dtype="bool"),
            "segment_ids": segment_ids[:length],
        }
        return (features,) + label

    text_tensors = [tf.constant(texts, dtype=tf.string)]
    if text_pairs is not None:
        text_tensors.append(tf.constant(text_pairs, dtype=tf.string))
    text_tensors = tuple(text_tensors)
    # Class ids (or multi-label 0/1 rows) as int32; real targets as float32.
    label_dtype = tf.int32
    if labels is not None:
        if label_array.dtype.kind == "f":
            label_dtype = tf.float32
        label_tensor = tf.constant(label_array, dtype=label_dtype)
        dataset = tf.data.Dataset.from_tensor_slices((text_tensors, label_tensor))
    else:
        dataset = tf.data.Dataset.from_tensor_slices((text_tensors,))
    columns = _run_now(
        dataset.batch(_TOKENIZE_CHUNK), tokenize_element, tokenizer, packer
    )
    lengths = columns[2].numpy()
    if pack:
        features, rows = packed_rows(
            columns[0].numpy(),
            columns[1].numpy(),
            lengths,
            max_length,
            pad_id,
            max_texts_per_row,
            packing_strategy,
        )
        dataset = packed_dataset(
            features,
            rows,
            None if labels is None else columns[3].numpy(),
            batch_size,
            shuffle,
            seed,
            drop_remainder,
        )
        return prefetched(dataset)
    dataset = tf.data.Dataset.from_tensor_slices(columns)
    dataset = dataset.map(unpad_element, num_parallel_calls=tf.data.AUTOTUNE)
    # Unpadded rows read faster than slicing the padded columns again.
    dataset = dataset.cache()
    if shuffle:
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)

    padding_values = (
        {
            "token_ids": tf.constant(pad_id, tf.int32),
            "padding_mask": tf.constant(False),
            "segment_ids": tf.constant(0, tf.int32),
        },
    )
    if labels is not None:
        padding_values += (tf.constant(0, label_dtype),)
    dataset = _batch_by_length(
        dataset,
        lengths,
        batch_size,
        bucket_boundaries if bucket_by_length else None,
        padding_values,
        drop_remainder,
    )

    if pad_to_bucket_boundary:
        boundaries = tf.constant(bucket_boundaries, dtype=tf.int32)

        def pad_to_boundary(features, *label):
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
            return (features,) + label

        dataset = dataset.map(pad_to_boundary, num_parallel_calls=tf.data.AUTOTUNE)

    if feature_names is not None:
        feature_names = tuple(feature_names)
        unknown = set(feature_names) - {"token_ids", "padding_mask", "segment_ids"}
        if unknown or not feature_names:
            raise ValueError(
                "feature_names must be a non-empty subset of ('token_ids', "
                "'padding_mask', 'segment_ids'). Received: "
                f"feature_names={feature_names}"
            )

        def select(features, *label):
            return ({name: features[name] for name in feature_names},) + label

        dataset = dataset.map(select, num_parallel_calls=tf.data.AUTOTUNE)
    if labels is None:
        dataset = dataset.map(lambda features: features)
    return prefetched(dataset)
