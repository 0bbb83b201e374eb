import warnings

import keras
import numpy as np
import pytest

from tftransformer.layers import AttentionPooling
from tftransformer.testing import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
MASK = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)


@pytest.mark.parametrize("hidden_dim", [None, 5])
def test_layer_contract(hidden_dim, tmp_path):
    run_layer_test(
        AttentionPooling,
        {"hidden_dim": hidden_dim},
        {"inputs": X, "padding_mask": MASK},
        tmp_path,
        expected_output_shape=(2, 6),
    )


def reference(layer, x, mask):
    """score = v^T tanh(W h + b), softmax over real positions, in NumPy."""
    w, b = layer._projection.get_weights()
    (v,) = layer._score.get_weights()
    scores = (np.tanh(x @ w + b) @ v)[..., 0].astype("float64")
    weights = np.zeros_like(scores)
    for row in range(len(x)):
        real = mask[row]
        if real.any():
            e = np.exp(scores[row, real] - scores[row, real].max())
            weights[row, real] = e / e.sum()
    return (weights[..., None] * x).sum(1), weights


def test_matches_the_formula():
    layer = AttentionPooling(hidden_dim=5)
    pooled, weights = layer(X, padding_mask=MASK, return_attention_scores=True)
    expected_pooled, expected_weights = reference(layer, X, MASK)
    np.testing.assert_allclose(np.asarray(weights), expected_weights, atol=1e-6)
    np.testing.assert_allclose(np.asarray(pooled), expected_pooled, atol=1e-5)


# Non-finite padding too: a float16 chunk that overflowed must not leak.
@pytest.mark.parametrize("padding_value", [1e3, np.inf, np.nan])
def test_padded_chunks_get_zero_weight(padding_value):
    noisy = X.copy()
    noisy[0, 2:] = padding_value  # the padded chunks of row 0
    layer = AttentionPooling()
    pooled, weights = layer(noisy, padding_mask=MASK, return_attention_scores=True)
    weights = np.asarray(weights)
    assert np.all(weights[0, 2:] == 0.0)
    np.testing.assert_allclose(weights.sum(1), [1.0, 1.0], rtol=1e-6)
    # The padding does not move the pooled vector of row 0.
    clean = np.asarray(layer(X, padding_mask=MASK))
    np.testing.assert_allclose(np.asarray(pooled)[0], clean[0], atol=1e-6)
    # Nor does the padding's own score: a row pooled alone, unpadded, agrees.
    alone = np.asarray(layer(X[:1, :2]))
    np.testing.assert_allclose(np.asarray(pooled)[:1], alone, atol=1e-6)


def test_all_padding_row_gives_zeros():
    pooled, weights = AttentionPooling()(
        X, padding_mask=np.zeros((2, 4), bool), return_attention_scores=True
    )
    assert np.all(np.asarray(pooled) == 0) and np.all(np.asarray(weights) == 0)


def test_one_position_pools_to_itself_without_a_warning():
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ops.softmax warns on a size-1 axis
        pooled = AttentionPooling()(X[:, :1])
    np.testing.assert_allclose(np.asarray(pooled), X[:, 0], atol=1e-6)


def test_keras_mask_is_used():
    token_ids = np.array([[3, 4, 0, 0], [5, 6, 7, 8]], "int32")
    embedding = keras.layers.Embedding(10, 6, mask_zero=True)
    layer = AttentionPooling()
    from_keras_mask = layer(embedding(token_ids))
    explicit = layer(embedding(token_ids), padding_mask=token_ids != 0)
    np.testing.assert_allclose(np.asarray(from_keras_mask), np.asarray(explicit))


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_bad_hidden_dim(bad):
    with pytest.raises(ValueError, match=f"hidden_dim={bad!r}"):
        AttentionPooling(hidden_dim=bad)


def test_bad_input_rank():
    with pytest.raises(ValueError, match=r"\(batch, seq, dim\)"):
        AttentionPooling()(np.zeros((2, 6), "float32"))


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_16_bit_pooling_of_a_long_sequence(policy):
    # Equal vectors get equal weights of 1/8192: a 16-bit sum of them stalls.
    x = np.ones((1, 8192, 4), "float32")
    out = AttentionPooling(dtype=policy)(x)
    np.testing.assert_allclose(np.asarray(out, "float32"), 1.0, rtol=1e-2)
