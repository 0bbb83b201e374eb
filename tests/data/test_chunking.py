import numpy as np
import pytest

from tftransformer.data import (
    chunk_documents,
    make_long_document_dataset,
)
from tftransformer.presets import embedded_tokenizer


def windows(document, chunk_length, stride):
    """The chunks by the definition: windows every `stride` until the end."""
    chunks, start = [], 0
    while True:
        chunks.append(list(document[start : start + chunk_length]))
        if start + chunk_length >= len(document):
            return chunks
        start += stride


def test_example():
    assert chunk_documents([list(range(10))], chunk_length=4, stride=3) == [
        [[0, 1, 2, 3], [3, 4, 5, 6], [6, 7, 8, 9]]
    ]


@pytest.mark.parametrize("length", [0, 1, 5, 6, 7, 12, 13, 50])
@pytest.mark.parametrize("chunk_length, stride", [(6, 4), (6, 6), (6, 1), (1, 1)])
def test_overlap_and_coverage(length, chunk_length, stride):
    document = list(range(100, 100 + length))
    (chunks,) = chunk_documents([document], chunk_length, stride)
    assert chunks == windows(document, chunk_length, stride)
    overlap = chunk_length - stride
    for k, (chunk, following) in enumerate(zip(chunks, chunks[1:])):
        assert len(chunk) == chunk_length
        # Consecutive chunks share exactly `overlap` tokens.
        assert chunk[stride:] == following[:overlap], k
        assert following[0] == document[(k + 1) * stride]
    # Every token is in some chunk, in order, and nothing else is.
    covered = [token for chunk in chunks for token in chunk]
    assert sorted(set(covered)) == document
    assert len(chunks) == (
        1 if length <= chunk_length else 1 + -(-(length - chunk_length) // stride)
    )


def test_max_chunks_keeps_the_first_chunks():
    document = list(range(30))
    (chunks,) = chunk_documents([document], 8, 5, max_chunks=3)
    assert chunks == windows(document, 8, 5)[:3]
    (short,) = chunk_documents([document[:4]], 8, 5, max_chunks=3)
    assert short == [document[:4]]


def test_documents_of_numpy_arrays():
    documents = [np.arange(7), np.arange(3)]
    assert chunk_documents(documents, 4, 2) == [
        [[0, 1, 2, 3], [2, 3, 4, 5], [4, 5, 6]],
        [[0, 1, 2]],
    ]


@pytest.mark.parametrize(
    "args, message",
    [
        (([[1, 2]], 0, 1), "chunk_length=0"),
        (([[1, 2]], 4, 0), "stride=0"),
        (([[1, 2]], 4, 5), "stride=5, chunk_length=4"),
        (([[1, 2]], 4, 2, 0), "max_chunks=0"),
        (([1, 2, 3], 4, 2), "Document 0 must be a 1-D sequence"),
        (("some text", 4, 2), "sequence of documents"),
        # A float id was cut (1.7 read as 1).
        (
            ([[1, 2], [1.7, 2.0]], 4, 2),
            r"token_ids\[1\] must hold token ids.*\[0\]=1\.7",
        ),
    ],
)
def test_bad_arguments(args, message):
    with pytest.raises(ValueError, match=message):
        chunk_documents(*args)


def pieces_of(tokenizer, text):
    return np.asarray(tokenizer(text)).tolist()


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


TEXTS = [
    " ".join(f"word{i}" for i in range(40)),  # far longer than one chunk
    "a short text",
    " ".join(["the cat sat on the mat"] * 3),
]


def test_dataset_packs_every_chunk(tokenizer):
    chunk_length, stride, max_chunks = 16, 10, 4
    dataset = make_long_document_dataset(
        TEXTS,
        [1, 0, 1],
        tokenizer,
        batch_size=3,
        chunk_length=chunk_length,
        stride=stride,
        max_chunks=max_chunks,
        shuffle=False,
    )
    (features, labels), *rest = list(dataset.as_numpy_iterator())
    assert not rest
    np.testing.assert_array_equal(labels, [1, 0, 1])
    token_ids, mask = features["token_ids"], features["padding_mask"]
    cls_id, sep_id = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    expected_counts = []
    for row, text in enumerate(TEXTS):
        pieces = pieces_of(tokenizer, text)
        expected = windows(pieces, chunk_length - 2, stride)[:max_chunks]
        expected_counts.append(len(expected))
        for k in range(token_ids.shape[1]):
            real = token_ids[row, k][mask[row, k]].tolist()
            if k < len(expected):
                assert real == [cls_id] + expected[k] + [sep_id]
            else:
                assert real == [] and not mask[row, k].any()
    # Padded to the batch's most chunks and its longest chunk.
    assert token_ids.shape == (3, max(expected_counts), chunk_length)
    assert expected_counts[0] == max_chunks
    np.testing.assert_array_equal(features["segment_ids"], 0)


def test_dataset_rounds_the_token_axis(tokenizer):
    dataset = make_long_document_dataset(
        ["tiny", "also tiny"], None, tokenizer, batch_size=2, shuffle=False
    )
    features = next(iter(dataset))
    # 3 real tokens at most, rounded up to 16; one chunk each.
    assert tuple(features["token_ids"].shape) == (2, 1, 16)


def test_shuffled_dataset_keeps_labels_with_their_documents(tokenizer):
    texts = [f"document number {i}" for i in range(10)]
    dataset = make_long_document_dataset(
        texts, list(range(10)), tokenizer, batch_size=4, shuffle=True, seed=1
    )
    seen = {}
    for features, labels in dataset.as_numpy_iterator():
        for ids, label in zip(features["token_ids"][:, 0], labels):
            seen[int(label)] = ids[ids > 0].tolist()
    for i, text in enumerate(texts):
        assert seen[i][1:-1] == pieces_of(tokenizer, text)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"chunk_length": 2}, "chunk_length"),
        ({"stride": 127}, r"stride=127"),
        ({"max_chunks": 0}, "max_chunks=0"),
        ({"batch_size": 0}, "batch_size=0"),
        ({"labels": [0]}, "len\\(labels\\)=1"),
        # Cut to class 0, made a negative id, or kept below zero.
        ({"labels": [0.5, 1]}, r"labels must hold class ids .*labels\[0\]=0\.5"),
        ({"labels": [0, np.nan]}, r"labels\[1\]=nan"),
        ({"labels": [0, -1]}, r"whole numbers >= 0.*labels\[1\]=-1"),
        ({"labels": ["a", "b"]}, "labels must hold class ids"),
        ({"texts": "one string"}, "list of strings, not a single string"),
        ({"texts": []}, "must not be empty"),
    ],
)
def test_dataset_bad_arguments(tokenizer, kwargs, message):
    arguments = {"texts": ["a", "b"], "labels": [0, 1], "batch_size": 2}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        make_long_document_dataset(tokenizer=tokenizer, **arguments)
