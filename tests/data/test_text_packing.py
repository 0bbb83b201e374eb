"""Packed classification rows: by best fit or in order, each text kept whole."""

import numpy as np
import pytest

from tftransformer.data import make_classification_dataset, padded_token_share
from tftransformer.data.text_packing import (
    count_batches,
    pack_best_fit,
    pack_greedily,
)
from tftransformer.presets import embedded_tokenizer

TEXTS = [
    "A quiet, moving film.",
    "Bad.",
    "The plot wanders for two long hours and the jokes never land, sadly.",
    "Fine.",
    "An utterly charming, witty and warm story about growing up.",
    "Dull.",
]
LABELS = [1, 0, 0, 1, 1, 0]
CLS, SEP, PAD = 101, 102, 0


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


@pytest.mark.parametrize(
    "lengths, max_texts, rows",
    [
        ([5, 4, 3, 6], None, [[0, 1], [2, 3]]),
        ([5, 5, 1], None, [[0, 1], [2]]),
        ([2, 2, 2, 2], 3, [[0, 1, 2], [3]]),
        ([10, 1], None, [[0], [1]]),
    ],
)
def test_texts_fill_rows_greedily_in_order(lengths, max_texts, rows):
    assert pack_greedily(lengths, 10, max_texts) == rows


@pytest.mark.parametrize(
    "lengths, max_texts, rows",
    [
        ([6, 5, 4, 5], None, [[0, 2], [1, 3]]),  # in order: three rows
        ([5, 4, 3, 6], None, [[0, 2], [1, 3]]),
        ([2, 2, 2, 2], 3, [[0, 1, 2], [3]]),
        ([10, 1], None, [[0], [1]]),
        ([3, 9, 1, 7, 2], None, [[0, 3], [1, 2], [4]]),
    ],
)
def test_texts_fill_rows_by_best_fit_longest_first(lengths, max_texts, rows):
    assert pack_best_fit(lengths, 10, max_texts) == rows


@pytest.mark.parametrize("max_texts", [None, 3])
def test_best_fit_keeps_every_text_once_in_no_more_rows(max_texts):
    lengths = np.random.default_rng(0).integers(1, 33, size=500)
    rows = pack_best_fit(lengths, 32, max_texts)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[row]) <= 32 for row in rows)
    if max_texts:
        assert max(len(row) for row in rows) <= max_texts
    greedy = pack_greedily(lengths, 32, max_texts)
    # Best fit decreasing needs at most 11/9 of the optimum, plus one row.
    assert len(rows) < len(greedy)
    assert len(rows) <= 11 / 9 * np.ceil(lengths.sum() / 32) + 1


@pytest.mark.parametrize("pack_rows", [pack_greedily, pack_best_fit])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"lengths": [3, 11]}, "Received a length of 11"),
        ({"lengths": [3, 0]}, "Received a length of 0"),
        ({"lengths": [3], "sequence_length": 1}, "sequence_length=1"),
        ({"lengths": [3], "max_texts_per_row": 0}, "max_texts_per_row=0"),
    ],
)
def test_bad_packing_arguments_are_refused(pack_rows, kwargs, message):
    kwargs = {"sequence_length": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        pack_rows(**kwargs)


def test_packed_rows_hold_each_text_whole_with_restarting_positions(tokenizer):
    plain = make_classification_dataset(
        TEXTS, LABELS, tokenizer, batch_size=len(TEXTS), max_length=32, shuffle=False
    )
    features, _ = next(iter(plain))
    lengths = features["padding_mask"].numpy().sum(axis=1)
    texts = [row[:n] for row, n in zip(features["token_ids"].numpy(), lengths)]
    packed = make_classification_dataset(
        TEXTS, LABELS, tokenizer, batch_size=2, max_length=32, shuffle=False, pack=True
    )
    seen_texts, seen_labels = [], []
    for features, labels in packed:
        f = {name: value.numpy() for name, value in features.items()}
        # Labels per row slot, 0 where no text fills the slot.
        assert labels.shape == f["text_mask"].shape
        assert (labels.numpy()[~f["text_mask"]] == 0).all()
        for row, slot in zip(*np.nonzero(f["text_mask"])):
            start = f["text_starts"][row, slot]
            where = np.flatnonzero(f["text_ids"][row] == slot + 1)
            assert where[0] == start and np.all(np.diff(where) == 1)
            np.testing.assert_array_equal(
                f["position_ids"][row, where], np.arange(len(where))
            )
            assert f["padding_mask"][row, where].all()
            seen_texts.append(f["token_ids"][row, where])
        # Padding only after a row's texts, and none inside.
        np.testing.assert_array_equal(f["padding_mask"], f["text_ids"] > 0)
        assert (f["token_ids"][~f["padding_mask"]] == PAD).all()
        seen_labels.extend(labels.numpy()[f["text_mask"]])
    assert len(seen_texts) == len(TEXTS)
    for got, expected in zip(seen_texts, texts):
        np.testing.assert_array_equal(got, expected)
        assert got[0] == CLS and got[-1] == SEP
    assert seen_labels == LABELS


@pytest.mark.parametrize(
    "kwargs, strategy",
    [
        ({}, pack_best_fit),  # shuffled: best fit
        ({"shuffle": False}, pack_greedily),  # in input order
        ({"packing_strategy": "in_order"}, pack_greedily),
        ({"shuffle": False, "packing_strategy": "best_fit"}, pack_best_fit),
    ],
)
def test_packing_strategy_follows_shuffling_unless_given(tokenizer, kwargs, strategy):
    texts, labels = TEXTS * 3, list(range(len(TEXTS) * 3))
    plain = make_classification_dataset(
        texts, None, tokenizer, batch_size=len(texts), max_length=24, shuffle=False
    )
    lengths = next(iter(plain))["padding_mask"].numpy().sum(axis=1)
    expected = sorted(tuple(labels[i] for i in row) for row in strategy(lengths, 24))
    packed = make_classification_dataset(
        texts, labels, tokenizer, 2, max_length=24, pack=True, **kwargs
    )
    rows = []
    for features, batch_labels in packed:
        for row_labels, mask in zip(batch_labels.numpy(), features["text_mask"]):
            rows.append(tuple(row_labels[mask.numpy()]))
    assert sorted(rows) == expected


def test_packed_batches_split_along_their_rows_in_one_shape(tokenizer):
    # Every tensor of a batch has the batch's rows first (tf.distribute
    # splits a batch so across replicas), and every batch the same shape
    # past them however many texts it holds (one XLA program).
    packed = make_classification_dataset(
        TEXTS * 3, LABELS * 3, tokenizer, 2, max_length=24, pack=True
    )
    shapes, texts = set(), set()
    for features, labels in packed:
        tensors = {**features, "labels": labels}
        rows = features["token_ids"].shape[0]
        assert {name: t.shape[0] for name, t in tensors.items()} == dict.fromkeys(
            tensors, rows
        )
        shapes.add(tuple((name, tuple(t.shape[1:])) for name, t in tensors.items()))
        texts.add(int(features["text_mask"].numpy().sum()))
    assert len(shapes) == 1 and len(texts) > 1


def test_pairs_keep_their_token_types_when_packed(tokenizer):
    pairs = [text[::-1] for text in TEXTS]
    kwargs = dict(batch_size=len(TEXTS), max_length=64, shuffle=False)
    plain = make_classification_dataset(
        TEXTS, LABELS, tokenizer, text_pairs=pairs, **kwargs
    )
    features, _ = next(iter(plain))
    expected = [
        row[mask]
        for row, mask in zip(
            features["segment_ids"].numpy(), features["padding_mask"].numpy()
        )
    ]
    packed = make_classification_dataset(
        TEXTS, LABELS, tokenizer, text_pairs=pairs, pack=True, **kwargs
    )
    features, _ = next(iter(packed))
    f = {name: value.numpy() for name, value in features.items()}
    got = []
    for row, slot in zip(*np.nonzero(f["text_mask"])):
        got.append(f["segment_ids"][row, f["text_ids"][row] == slot + 1])
    assert len(got) == len(TEXTS)
    for a, b in zip(got, expected):
        np.testing.assert_array_equal(a, b)
        assert set(a) == {0, 1}


def test_shuffling_moves_rows_not_texts_and_packing_is_deterministic(tokenizer):
    def rows(seed):
        dataset = make_classification_dataset(
            TEXTS * 4, LABELS * 4, tokenizer, 3, max_length=32, seed=seed, pack=True
        )
        return sorted(
            tuple(row)
            for features, _ in dataset
            for row in features["token_ids"].numpy()
        )

    assert rows(0) == rows(1)


def test_packing_spends_less_on_padding_and_keeps_every_text(tokenizer):
    kwargs = dict(batch_size=2, max_length=64, shuffle=False)
    plain_rows = make_classification_dataset(TEXTS, LABELS, tokenizer, **kwargs)
    packed_rows = make_classification_dataset(
        TEXTS, LABELS, tokenizer, pack=True, **kwargs
    )
    packed = padded_token_share(packed_rows)
    assert 0 <= packed < padded_token_share(plain_rows) < 1
    # Features only, for prediction, count the same.
    unlabelled = make_classification_dataset(
        TEXTS, None, tokenizer, pack=True, **kwargs
    )
    assert padded_token_share(unlabelled) == pytest.approx(packed)
    plain, packed = count_batches(plain_rows), count_batches(packed_rows)
    assert plain["texts"] == plain["rows"] == packed["texts"] == len(TEXTS)
    assert packed["rows"] < len(TEXTS)
    assert packed["real_tokens"] == plain["real_tokens"]
    # The longest text, whole in both; packed rows are max_length long,
    # unpacked ones as long as their batch's longest text.
    assert packed["longest_text"] == plain["longest_text"] < 64
    assert packed["row_length"] == 64
    assert plain["row_length"] < 64


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"pack": "yes"}, "pack='yes'"),
        ({"pack": True, "packing_strategy": "first_fit"}, "'first_fit'"),
        ({"pack": True, "max_texts_per_row": 0}, "max_texts_per_row=0"),
        ({"pack": True, "feature_names": ["token_ids"]}, "feature_names"),
    ],
)
def test_bad_pack_options_are_refused(tokenizer, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make_classification_dataset(TEXTS, LABELS, tokenizer, 2, **kwargs)


def test_an_empty_dataset_has_no_padded_share():
    import tensorflow as tf

    empty = tf.data.Dataset.from_tensor_slices({"padding_mask": [[True]]}).take(0)
    with pytest.raises(ValueError, match="at least one batch"):
        padded_token_share(empty)
