import numpy as np
import pytest

from tftransformer.data import TextClassificationData, make_few_shot_pairs


def test_pairs_are_scored_by_label_agreement():
    texts = ["great", "awful", "fine", "bad", "superb"]
    labels = [1, 0, 1, 0, 1]
    pairs = make_few_shot_pairs(texts, labels, num_iterations=3, seed=1)
    assert len(pairs) == 2 * 3 * len(texts)
    label_of = dict(zip(texts, labels))
    for anchor, other, score in zip(pairs.anchors, pairs.positives, pairs.scores):
        assert score == float(label_of[anchor] == label_of[other])
        assert anchor != other
    assert sum(pairs.scores) == 3 * len(texts)
    again = make_few_shot_pairs(texts, labels, num_iterations=3, seed=1)
    assert again.positives == pairs.positives


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="at least two labels"):
        make_few_shot_pairs(["a", "b"], [1, 1])
    with pytest.raises(ValueError, match="num_iterations=0"):
        make_few_shot_pairs(["a", "b"], [0, 1], num_iterations=0)
    with pytest.raises(ValueError, match=r"missing labels.*labels\[1\]=nan"):
        make_few_shot_pairs(["a", "b", "c"], [0, np.nan, 1])
    # One str would be read as one text per character.
    with pytest.raises(ValueError, match="texts='ab'"):
        make_few_shot_pairs("ab", [0, 1])


def test_sample_per_class_draws_each_label():
    data = TextClassificationData(
        [f"text {i}" for i in range(9)], [0, 1, 0, 1, 0, 1, 0, 0, 1], ("no", "yes")
    )
    few = data.sample_per_class(2, seed=3)
    assert list(np.bincount(few.labels)) == [2, 2]
    assert set(few.texts) <= set(data.texts)
    assert few.texts == data.sample_per_class(2, seed=3).texts
    assert few.label_vocabulary == data.label_vocabulary
    # A label with fewer examples keeps them all.
    assert sorted(data.sample_per_class(5).texts) == sorted(data.texts)
    with pytest.raises(ValueError, match="Received: examples_per_class=0"):
        data.sample_per_class(0)
