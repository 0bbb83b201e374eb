import keras
import numpy as np
import pytest

from tftransformer.finetune import (
    CosineSimilarityLoss,
    MultipleNegativesRankingLoss,
    TripletLoss,
)


def _unit(x):
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def _cross_entropy(logits, labels):
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    return -log_probs[np.arange(len(labels)), labels]


@pytest.fixture
def groups():
    # (batch, texts, dim): anchor, positive, hard negative.
    return np.random.default_rng(0).normal(size=(5, 3, 4)).astype("float32")


def test_multiple_negatives_ranking_loss_matches_numpy(groups):
    anchors, positives = _unit(groups[:, 0]), _unit(groups[:, 1])
    logits = 20.0 * anchors @ positives.T
    expected = _cross_entropy(logits, np.arange(5)).mean()
    loss = MultipleNegativesRankingLoss()(np.zeros(5), groups[:, :2])
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_hard_negatives_join_the_candidates(groups):
    anchors = _unit(groups[:, 0])
    candidates = np.concatenate([_unit(groups[:, 1]), _unit(groups[:, 2])])
    expected = _cross_entropy(7.0 * anchors @ candidates.T, np.arange(5)).mean()
    loss = MultipleNegativesRankingLoss(scale=7.0)(np.zeros(5), groups)
    np.testing.assert_allclose(loss, expected, rtol=1e-5)


def test_symmetric_averages_both_directions(groups):
    anchors, positives = _unit(groups[:, 0]), _unit(groups[:, 1])
    labels = np.arange(5)
    forward = _cross_entropy(20.0 * anchors @ positives.T, labels)
    backward = _cross_entropy(20.0 * positives @ anchors.T, labels)
    loss = MultipleNegativesRankingLoss(symmetric=True)(np.zeros(5), groups[:, :2])
    np.testing.assert_allclose(loss, ((forward + backward) / 2).mean(), rtol=1e-5)


def test_cosine_similarity_loss_is_the_squared_error_of_the_cosine():
    pairs = np.array([[[1.0, 0.0], [0.6, 0.8]], [[2.0, 0.0], [-3.0, 0.0]]], "float32")
    scores = np.array([1.0, -1.0], "float32")
    loss = CosineSimilarityLoss()(scores, pairs)
    np.testing.assert_allclose(loss, ((0.6 - 1.0) ** 2 + 0.0) / 2, rtol=1e-6)


@pytest.mark.parametrize("distance", ["euclidean", "cosine"])
def test_triplet_loss(groups, distance):
    a, p, n = groups[:, 0], groups[:, 1], groups[:, 2]
    if distance == "euclidean":
        gap = np.linalg.norm(a - p, axis=1) - np.linalg.norm(a - n, axis=1)
    else:
        gap = np.sum(_unit(a) * _unit(n), axis=1) - np.sum(_unit(a) * _unit(p), axis=1)
    expected = np.maximum(gap + 0.3, 0.0).mean()
    loss = TripletLoss(distance=distance, margin=0.3)(np.zeros(5), groups)
    np.testing.assert_allclose(loss, expected, rtol=1e-5, atol=1e-6)


def test_configs_round_trip_and_arguments_are_checked(groups):
    for loss in (
        MultipleNegativesRankingLoss(scale=5.0, symmetric=True),
        TripletLoss(distance="cosine", margin=0.2),
        CosineSimilarityLoss(),
    ):
        restored = keras.losses.deserialize(keras.losses.serialize(loss))
        assert restored.get_config() == loss.get_config()
    with pytest.raises(ValueError, match="scale=0"):
        MultipleNegativesRankingLoss(scale=0)
    with pytest.raises(ValueError, match="symmetric='yes'"):
        MultipleNegativesRankingLoss(symmetric="yes")
    with pytest.raises(ValueError, match="distance='dot'"):
        TripletLoss(distance="dot")
    with pytest.raises(ValueError, match=r"3 texts per example.*\(5, 2, 4\)"):
        TripletLoss()(np.zeros(5), groups[:, :2])
    with pytest.raises(ValueError, match=r"2 texts per example.*\(5, 3, 4\)"):
        CosineSimilarityLoss()(np.zeros(5), groups)
