"""Long documents as overlapping chunks: splitting and a batched `tf.data` pipeline.

A document longer than the encoder's sequence length is cut into windows of
word pieces that start `stride` pieces apart, so consecutive chunks overlap
by `chunk_length - stride` pieces and every piece of the document lands in
at least one chunk (up to `max_chunks`). `make_long_document_dataset` packs
each chunk with the tokenizer's start and end tokens (`[CLS] chunk [SEP]`
for WordPiece, `<s> chunk </s>` for RoBERTa and XLM-RoBERTa), and yields one
`(chunks, length)` block per document, the input of
`tftransformer.models.LongDocumentClassifier`.
"""

import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    check_int,
    check_strings,
    check_whole_numbers,
    first_bad_entry,
)
from tftransformer.data._autotune import prefetched
from tftransformer.data.classification_dataset import _special_token_id
from tftransformer.data.packing import check_packing_arguments, padded_length

__all__ = ["chunk_documents", "make_long_document_dataset"]

# Tokenized in groups of this many documents: one vectorised WordPiece call
# per group.
_TOKENIZE_CHUNK = 64


def chunk_documents(token_ids, chunk_length, stride, max_chunks=None):
    """Splits token sequences into overlapping windows.

    Chunk `k` of a document holds its tokens `[k * stride, k * stride +
    chunk_length)`; chunks are added until one reaches the document's end, so
    every token is in at least one chunk and consecutive chunks share
    `chunk_length - stride` tokens. A document of at most `chunk_length`
    tokens (an empty one included) is a single chunk; the last chunk of a
    longer one may be shorter than `chunk_length`.

    Args:
        token_ids: a sequence of documents, each a 1-D sequence of int token
            ids (without special tokens).
        chunk_length: int >= 1, the most tokens a chunk holds.
        stride: int in `[1, chunk_length]`, the distance between the starts
            of consecutive chunks. `stride == chunk_length` gives chunks that
            do not overlap; a larger stride would skip tokens and is refused.
        max_chunks: optional int >= 1: keep only each document's first
            `max_chunks` chunks (the rest of the document is dropped).

    Returns:
        A list with, for each document, a list of its chunks, each a list of
        int token ids.

    Example:
    ```python
    chunk_documents([list(range(10))], chunk_length=4, stride=3)
    # [[[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]]
    ```
    """
    chunk_length = check_int("chunk_length", chunk_length, 1)
    stride = check_int("stride", stride, 1)
    if max_chunks is not None:
        max_chunks = check_int("max_chunks", max_chunks, 1, what=" or None")
    if stride > chunk_length:
        raise ValueError(
            "stride must be at most chunk_length, or tokens between chunks would "
            f"be skipped. Received: stride={stride}, chunk_length={chunk_length}"
        )
    if token_ids is None or isinstance(token_ids, (str, bytes)):
        raise ValueError(
            "token_ids must be a sequence of documents, each a sequence of ids. "
            f"Received: token_ids={token_ids!r}"
        )
    documents = []
    for index, document in enumerate(token_ids):
        if isinstance(document, (str, bytes)) or np.ndim(document) != 1:
            raise ValueError(
                f"Document {index} must be a 1-D sequence of token ids. "
                f"Received: {document!r}"
            )
        # A cast would cut a float id (1.7 read as 1) without a word.
        ids = check_whole_numbers(
            f"token_ids[{index}]", document, "token ids (whole numbers)"
        ).tolist()
        if len(ids) <= chunk_length:
            num_chunks = 1
        else:
            # Enough chunks for the last one to reach the end.
            num_chunks = 1 + -(-(len(ids) - chunk_length) // stride)
        if max_chunks is not None:
            num_chunks = min(num_chunks, max_chunks)
        documents.append(
            [ids[k * stride : k * stride + chunk_length] for k in range(num_chunks)]
        )
    return documents


def make_long_document_dataset(
    texts,
    labels,
    tokenizer,
    batch_size,
    chunk_length=128,
    stride=96,
    max_chunks=8,
    shuffle=True,
    seed=0,
    pad_to_multiple_of=16,
):
    """Builds a batched dataset of documents split into packed, overlapping chunks.

    Each text is tokenized into word pieces, split by `chunk_documents` into
    windows of `chunk_length - 2` pieces starting `stride` pieces apart (the
    first `max_chunks` of them), and each window is packed as
    `[CLS] window [SEP]` (the tokenizer's own start and end tokens). A batch
    is padded along the chunk axis to its document with the most chunks
    (padded chunks are all padding: their `padding_mask` rows are false) and
    along the token axis to its longest chunk, rounded up to a multiple of
    `pad_to_multiple_of`. Tokenization happens once, eagerly, before the
    dataset is built.

    Args:
        texts: sequence of `str`, the documents.
        labels: sequence of int label ids, or `None` for prediction.
        tokenizer: a keras-hub text encoder tokenizer of any family
            (WordPiece, byte-level BPE, SentencePiece), e.g.
            `keras_hub.models.BertTokenizer`; its start, end and pad tokens
            (`[CLS]`, `[SEP]` and `[PAD]` for WordPiece) pack the chunks.
        batch_size: positive int, documents per batch.
        chunk_length: int >= 3, the packed length of a chunk, special tokens
            included (the backbone's sequence length).
        stride: int in `[1, chunk_length - 2]`, word pieces between the
            starts of consecutive chunks.
        max_chunks: positive int, the most chunks kept per document.
        shuffle: whether to shuffle the documents (with `seed`) on every pass.
        seed: the shuffling seed.
        pad_to_multiple_of: positive int or None, the rounding of each
            batch's token axis (bounding the number of batch shapes).

    Returns:
        A `tf.data.Dataset` of `(features, label)` (or `features` when
        `labels` is `None`): `features` a dict of `"token_ids"` (int32),
        `"padding_mask"` (bool) and `"segment_ids"` (int32), each of shape
        `(batch, chunks, length)`; `label` int32 of shape `(batch,)`.

    Example:
    ```python
    train = load_political_speeches("train")
    dataset = make_long_document_dataset(
        train.texts, train.labels, embedded_tokenizer(), batch_size=4
    )
    features, labels = next(iter(dataset))
    features["token_ids"].shape  # (4, 8, 128)
    ```
    """
    batch_size = check_int("batch_size", batch_size, 1)
    max_chunks = check_int("max_chunks", max_chunks, 1)
    chunk_length = check_int(
        "chunk_length", chunk_length, 3, what=" (room for [CLS], [SEP] and a token)"
    )
    chunk_length, pad_to_multiple_of = check_packing_arguments(
        "chunk_length", chunk_length, pad_to_multiple_of
    )
    stride = check_int(
        "stride",
        stride,
        1,
        chunk_length - 2,
        what=" (the word pieces a chunk holds: chunk_length - 2)",
    )
    seed = check_int("seed", seed)
    texts = check_strings("texts", texts)
    if not texts:
        raise ValueError("texts must not be empty. Received: texts=[]")
    if labels is not None:
        # A cast would cut 0.5 to class 0 and make a NaN a negative id.
        what = "class ids (whole numbers >= 0)"
        labels = check_whole_numbers("labels", labels, what).reshape(-1)
        if len(labels) != len(texts):
            raise ValueError(
                "labels must have one entry per text. Received: "
                f"len(labels)={len(labels)}, len(texts)={len(texts)}"
            )
        bad = (labels < 0) | (labels > np.iinfo(np.int32).max)
        if bad.any():
            raise ValueError(
                f"labels must hold {what}. Received: "
                f"{first_bad_entry('labels', labels, bad)}"
            )

    pieces = []
    for start in range(0, len(texts), _TOKENIZE_CHUNK):
        ids = tokenizer(tf.constant(texts[start : start + _TOKENIZE_CHUNK]))
        # keras-hub returns eager ragged outputs as nested lists.
        if isinstance(ids, tf.RaggedTensor):
            ids = ids.to_list()
        elif hasattr(ids, "numpy"):
            ids = ids.numpy().tolist()
        pieces.extend(ids)
    chunks = chunk_documents(pieces, chunk_length - 2, stride, max_chunks)

    cls_id = _special_token_id(tokenizer, "cls_token_id", "[CLS]")
    sep_id = _special_token_id(tokenizer, "sep_token_id", "[SEP]")
    pad_id = _special_token_id(tokenizer, "pad_token_id", "[PAD]")
    token_ids = np.full((len(texts), max_chunks, chunk_length), pad_id, "int32")
    lengths = np.zeros((len(texts), max_chunks), "int32")
    for doc, document_chunks in enumerate(chunks):
        for k, chunk in enumerate(document_chunks):
            packed = [cls_id] + chunk + [sep_id]
            token_ids[doc, k, : len(packed)] = packed
            lengths[doc, k] = len(packed)

    features = (token_ids, lengths)
    if labels is not None:
        dataset = tf.data.Dataset.from_tensor_slices((features, labels.astype("int32")))
    else:
        dataset = tf.data.Dataset.from_tensor_slices((features,))
    if shuffle:
        dataset = dataset.shuffle(len(texts), seed=seed, reshuffle_each_iteration=True)
    dataset = dataset.batch(batch_size)

    def trim(features, *label):
        token_ids, lengths = features
        num_chunks = tf.reduce_max(tf.reduce_sum(tf.cast(lengths > 0, "int32"), 1))
        length = padded_length(tf.reduce_max(lengths), pad_to_multiple_of, chunk_length)
        token_ids = token_ids[:, :num_chunks, :length]
        lengths = lengths[:, :num_chunks]
        padding_mask = tf.range(length)[None, None, :] < lengths[:, :, None]
        batch = {
            "token_ids": token_ids,
            "padding_mask": padding_mask,
            "segment_ids": tf.zeros_like(token_ids),
        }
        return (batch,) + label if label else batch

    dataset = dataset.map(trim, num_parallel_calls=tf.data.AUTOTUNE)
    return prefetched(dataset)
