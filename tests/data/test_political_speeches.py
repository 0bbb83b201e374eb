import collections
import csv
import hashlib

import numpy as np
import pytest

from tftransformer.data.political_speeches import (
    POLITICAL_SPLIT_FRACTIONS,
    political_speeches_path,
)
from tftransformer.datasets import PARTY_LABELS, load_political_speeches

TOTAL = 189
# The fixed split; a change here means every reported number moved.
EXPECTED = {
    "train": (134, [87, 47]),
    "validation": (18, [12, 6]),
    "test": (37, [24, 13]),
}
EXPECTED_SPEAKERS_DIGEST = {
    "train": "69b8df8a032053db",
    "validation": "0caadc7834d0a70a",
    "test": "f27fdbd1e0358a42",
}


def splits():
    return {split: load_political_speeches(split) for split in EXPECTED}


def test_sizes_and_party_counts_are_fixed():
    for split, data in splits().items():
        assert (len(data), np.bincount(data.labels).tolist()) == EXPECTED[split], split
        assert data.label_vocabulary == PARTY_LABELS == ("democrat", "republican")
        digest = hashlib.sha256(
            "\n".join(sorted(set(data.groups))).encode()
        ).hexdigest()
        assert digest[:16] == EXPECTED_SPEAKERS_DIGEST[split], split


def test_splits_partition_the_file():
    with open(political_speeches_path(), encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == TOTAL
    file_pairs = collections.Counter((r["text"].strip(), r["party"]) for r in rows)
    split_pairs = collections.Counter(
        (text, PARTY_LABELS[label])
        for data in splits().values()
        for text, label in zip(data.texts, data.labels)
    )
    assert split_pairs == file_pairs
    everything = load_political_speeches("all")
    assert len(everything) == TOTAL
    assert np.bincount(everything.labels).tolist() == [123, 66]


def test_no_speaker_in_two_splits():
    speakers = {split: set(data.groups) for split, data in splits().items()}
    for a, b in [("train", "validation"), ("train", "test"), ("validation", "test")]:
        assert not speakers[a] & speakers[b], (a, b)
    # Speakers with several speeches exist, and stay together.
    counts = collections.Counter(load_political_speeches("all").groups)
    assert sum(1 for c in counts.values() if c > 1) >= 5


def test_split_is_stratified_by_party():
    for split, data in splits().items():
        for label, party_total in enumerate((123, 66)):
            share = np.sum(data.labels == label) / party_total
            # Whole speakers move, so a share can miss by a speech or two.
            assert (
                abs(share - POLITICAL_SPLIT_FRACTIONS[split]) < 2.5 / party_total + 0.01
            )


def test_speeches_are_long():
    lengths = [len(text.split()) for text in load_political_speeches("all").texts]
    assert np.mean(lengths) > 700 and min(lengths) > 0


def test_bad_split():
    with pytest.raises(ValueError, match="split='dev'"):
        load_political_speeches("dev")
