import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from tftransformer.layers.multi_head_attention import MultiHeadAttention
from tftransformer.testing import run_layer_test

HEADS, HEAD_DIM = 2, 3


def _softmax(x):
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _set_known_weights(layer, rng):
    """Sets every projection to random known arrays and returns them."""
    weights = {}
    for name in ("query", "key", "value", "output"):
        dense = getattr(layer, f"{name}_dense")
        arrays = [rng.normal(size=w.shape).astype("float32") for w in dense.weights]
        dense.set_weights(arrays)
        weights[name] = arrays
    return weights


def _numpy_attention(query, value, weights, bias=None, mask=None):
    """softmax(Q K^T / sqrt(d) + bias) V, then the output projection."""
    (wq, bq), (wk, bk) = weights["query"], weights["key"]
    (wv, bv), (wo, bo) = weights["value"], weights["output"]
    q = np.einsum("btd,dnh->btnh", query, wq) + bq
    k = np.einsum("bsd,dnh->bsnh", value, wk) + bk
    v = np.einsum("bsd,dnh->bsnh", value, wv) + bv
    # (batch, heads, query_len, key_len)
    logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = np.where(mask[:, None], logits, -1e9)
    probs = _softmax(logits)
    context = np.einsum("bnts,bsnh->btnh", probs, v)
    return np.einsum("btnh,nhd->btd", context, wo) + bo, probs


def _make_layer(query, value, **kwargs):
    layer = MultiHeadAttention(num_heads=HEADS, key_dim=HEAD_DIM, **kwargs)
    layer.build(query.shape, value.shape)
    return layer


@pytest.mark.parametrize("return_scores", [False, True])
@pytest.mark.parametrize("cross", [False, True])
def test_matches_numpy_attention(cross, return_scores):
    rng = np.random.default_rng(0)
    query = rng.normal(size=(2, 4, 5)).astype("float32")
    value = rng.normal(size=(2, 6, 7)).astype("float32") if cross else query
    layer = _make_layer(query, value)
    weights = _set_known_weights(layer, rng)
    expected, expected_probs = _numpy_attention(query, value, weights)
    outputs = layer(query, value, return_attention_scores=return_scores)
    if return_scores:
        outputs, probs = outputs
        np.testing.assert_allclose(
            ops.convert_to_numpy(probs), expected_probs, atol=1e-5
        )
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), expected, atol=1e-4)


def test_attention_mask_matches_numpy():
    rng = np.random.default_rng(1)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    value = rng.normal(size=(2, 5, 4)).astype("float32")
    mask = rng.uniform(size=(2, 3, 5)) > 0.4
    mask[..., 0] = True  # every query keeps at least one key
    layer = _make_layer(query, value)
    weights = _set_known_weights(layer, rng)
    expected, _ = _numpy_attention(query, value, weights, mask=mask)
    outputs = layer(query, value, attention_mask=mask)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), expected, atol=1e-4)


@pytest.mark.parametrize("bidirectional", [True, False])
def test_relative_bias_shifts_logits_by_table_values(bidirectional):
    rng = np.random.default_rng(2)
    query = rng.normal(size=(2, 4, 6)).astype("float32")
    layer = _make_layer(
        query,
        query,
        use_relative_position_bias=True,
        relative_position_buckets=8,
        relative_position_max_distance=16,
        bidirectional=bidirectional,
    )
    weights = _set_known_weights(layer, rng)
    table = rng.normal(size=(8, HEADS)).astype("float32")
    layer.relative_position_bias.set_weights([table])
    # With 8 buckets, distances d = key - query in [-3, 3] are exact:
    # bidirectional: max_exact = 2, so |d| < 2 is exact; worked out by hand
    # from the T5 rule (4 buckets per side, max_distance 16):
    #   d=-2: 2 + floor(log(1)/log(8)*2) = 2; d=-3: 2 + floor(0.195*2) = 2
    #   d>0: 4 + same; causal: max_exact = 4, d <= 0 -> -d, d > 0 -> 0.
    if bidirectional:
        to_bucket = {0: 0, -1: 1, -2: 2, -3: 2, 1: 5, 2: 6, 3: 6}
    else:
        to_bucket = {0: 0, -1: 1, -2: 2, -3: 3, 1: 0, 2: 0, 3: 0}
    buckets = np.array([[to_bucket[j - i] for j in range(4)] for i in range(4)])
    # (1, heads, query_len, key_len)
    bias = np.transpose(table[buckets], (2, 0, 1))[None]
    expected, expected_probs = _numpy_attention(query, query, weights, bias=bias)
    outputs, probs = layer(query, query, return_attention_scores=True)
    np.testing.assert_allclose(ops.convert_to_numpy(probs), expected_probs, atol=1e-5)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), expected, atol=1e-4)
    # Without the return of scores the same computation runs.
    np.testing.assert_allclose(
        ops.convert_to_numpy(layer(query, query)), expected, atol=1e-4
    )


@pytest.mark.parametrize("use_bias", [False, True])
def test_causal_mask_hides_later_tokens(use_bias):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, 5, 4)).astype("float32")
    layer = MultiHeadAttention(
        num_heads=HEADS,
        key_dim=HEAD_DIM,
        use_relative_position_bias=use_bias,
        bidirectional=False,
    )
    before = ops.convert_to_numpy(layer(x, x, use_causal_mask=True))
    changed = x.copy()
    changed[:, 3:] = rng.normal(size=(2, 2, 4))
    after = ops.convert_to_numpy(layer(changed, changed, use_causal_mask=True))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    assert np.abs(after[:, 3:] - before[:, 3:]).max() > 1e-3


@pytest.mark.parametrize("use_bias", [False, True])
def test_keras_mask_ignores_padded_keys(use_bias):
    embedding = keras.layers.Embedding(10, 4, mask_zero=True)
    layer = MultiHeadAttention(
        num_heads=HEADS, key_dim=HEAD_DIM, use_relative_position_bias=use_bias
    )
    tokens = np.array([[3, 5, 2, 0, 0]])
    padded = layer(embedding(tokens), embedding(tokens))
    # The same real tokens with no padding at all.
    real = layer(embedding(tokens[:, :3]), embedding(tokens[:, :3]))
    np.testing.assert_allclose(
        ops.convert_to_numpy(padded)[:, :3], ops.convert_to_numpy(real), atol=1e-6
    )


@pytest.mark.parametrize("use_bias", [False, True])
def test_explicit_query_and_value_masks_replace_keras_masks(use_bias):
    # Keras' own layer reads the query's Keras mask and ignores `query_mask`.
    layer = MultiHeadAttention(
        num_heads=HEADS, key_dim=HEAD_DIM, use_relative_position_bias=use_bias
    )
    masked = keras.layers.Embedding(10, 4, mask_zero=True)(np.array([[3, 5, 0, 0]]))
    plain = ops.convert_to_tensor(ops.convert_to_numpy(masked))
    mask = np.array([[True, True, True, False]])
    got = layer(masked, masked, query_mask=mask, value_mask=mask)
    expected = layer(plain, plain, query_mask=mask, value_mask=mask)
    np.testing.assert_allclose(
        ops.convert_to_numpy(got), ops.convert_to_numpy(expected), atol=1e-6
    )
    # The caller's tensor keeps its Keras mask.
    np.testing.assert_array_equal(
        ops.convert_to_numpy(keras.src.backend.get_keras_mask(masked)),
        [[True, True, False, False]],
    )


@pytest.mark.parametrize(
    "init_kwargs, call_kwargs, shapes, expected",
    [
        ({"num_heads": 2, "key_dim": 3}, {}, [(2, 4, 6)], (2, 4, 6)),
        (
            {
                "num_heads": 2,
                "key_dim": 3,
                "dropout": 0.1,
                "use_relative_position_bias": True,
                "relative_position_buckets": 8,
                "relative_position_max_distance": 16,
            },
            {"return_attention_scores": True},
            [(2, 4, 6)],
            ((2, 4, 6), (2, 2, 4, 4)),
        ),
        (
            {
                "num_heads": 2,
                "key_dim": 4,
                "use_relative_position_bias": True,
                "bidirectional": False,
            },
            {"use_causal_mask": True, "return_attention_scores": True},
            [(2, 3, 6), (2, 5, 8)],
            ((2, 3, 6), (2, 2, 3, 5)),
        ),
    ],
)
def test_layer_contract(init_kwargs, call_kwargs, shapes, expected, tmp_path):
    rng = np.random.default_rng(5)
    query = rng.normal(size=shapes[0]).astype("float32")
    value = rng.normal(size=shapes[-1]).astype("float32")
    run_layer_test(
        MultiHeadAttention,
        init_kwargs,
        {"query": query, "value": value},
        tmp_path,
        expected_output_shape=expected,
        call_kwargs=call_kwargs,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0, "key_dim": 4}, "num_heads=0"),
        ({"num_heads": -1, "key_dim": 4}, "num_heads=-1"),
        ({"num_heads": 2, "key_dim": 0}, "key_dim=0"),
        ({"num_heads": 2, "key_dim": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"num_heads": 2, "key_dim": 4, "dropout": -0.1}, "dropout=-0.1"),
        (
            {
                "num_heads": 2,
                "key_dim": 4,
                "use_relative_position_bias": True,
                "relative_position_buckets": 0,
            },
            "num_buckets=0",
        ),
        (
            {"num_heads": 2, "key_dim": 4, "use_relative_position_bias": "no"},
            "use_relative_position_bias='no'",
        ),
        ({"num_heads": 2, "key_dim": 4, "bidirectional": "no"}, "bidirectional='no'"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_rejects_inputs_without_a_sequence_axis():
    # Keras' own layer fails inside its softmax ("tuple index out of range").
    x = np.zeros((5, 8), "float32")
    with pytest.raises(ValueError, match=r"query.shape=\(5, 8\)"):
        MultiHeadAttention(num_heads=2, key_dim=4)(x, x)


def test_rejects_feature_size_other_than_built():
    layer = MultiHeadAttention(num_heads=2, key_dim=4)
    layer(np.zeros((1, 3, 8), "float32"), np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match=r"query.shape=\(1, 3, 6\)"):
        layer(np.zeros((1, 3, 6), "float32"), np.zeros((1, 3, 8), "float32"))
    with pytest.raises(ValueError, match=r"value.shape=\(None, 3, 5\)"):
        layer(keras.Input((3, 8)), keras.Input((3, 5)))


def test_relative_bias_over_one_key_without_a_warning():
    x = np.random.default_rng(0).normal(size=(2, 1, 8)).astype("float32")
    layer = MultiHeadAttention(2, 4, use_relative_position_bias=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ops.softmax warns on a size-1 axis
        _, scores = layer(x, x, return_attention_scores=True)
    np.testing.assert_array_equal(np.asarray(scores), np.ones((2, 2, 1, 1)))


def _fill_in_pieces(layer, x, pieces, **kwargs):
    """Runs causal self-attention over `x` in the given pieces with a cache;
    returns the concatenated outputs and scores."""
    batch, length = x.shape[:2]
    cache = np.zeros((batch, 2, length, HEADS, HEAD_DIM), "float32")
    outputs, scores, start = [], [], 0
    for size in pieces:
        output, score, cache = layer(
            x[:, start : start + size],
            x[:, start : start + size],
            cache=cache,
            cache_update_index=start,
            return_attention_scores=True,
            **kwargs,
        )
        outputs.append(output)
        scores.append(score)
        start += size
    return np.concatenate(outputs, 1), np.concatenate(scores, 2)


@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("pieces", [[1] * 5, [3, 1, 1], [5]])
def test_cache_gives_the_outputs_of_one_causal_call(relative, pieces):
    x = np.random.default_rng(0).normal(size=(2, 5, 4)).astype("float32")
    layer = _make_layer(
        x,
        x,
        use_relative_position_bias=relative,
        bidirectional=False,
        relative_position_buckets=4,
        relative_position_max_distance=8,
    )
    expected, expected_scores = layer(
        x, x, use_causal_mask=True, return_attention_scores=True
    )
    outputs, scores = _fill_in_pieces(layer, x, pieces, use_causal_mask=True)
    np.testing.assert_allclose(outputs, expected, atol=1e-5)
    np.testing.assert_allclose(scores, expected_scores, atol=1e-6)
    # Passing the causal mask as attention_mask gives the same.
    mask = np.tril(np.ones((5, 5), bool))[None].repeat(2, 0)
    cache = np.zeros((2, 2, 5, HEADS, HEAD_DIM), "float32")
    output, _ = layer(x, x, attention_mask=mask, cache=cache, cache_update_index=0)
    np.testing.assert_allclose(output, expected, atol=1e-5)


def test_cache_without_update_index_is_read_as_it_is():
    rng = np.random.default_rng(1)
    query = rng.normal(size=(2, 3, 4)).astype("float32")
    value = rng.normal(size=(2, 6, 4)).astype("float32")
    layer = _make_layer(query, value)
    mask = np.ones((2, 3, 6), bool)
    mask[1, :, 4:] = False
    expected = layer(query, value, attention_mask=mask)
    cache = np.zeros((2, 2, 6, HEADS, HEAD_DIM), "float32")
    # Filled once from the value, then reused for other queries.
    _, cache = layer(
        query, value, attention_mask=mask, cache=cache, cache_update_index=0
    )
    output, same_cache = layer(query, None, attention_mask=mask, cache=cache)
    np.testing.assert_allclose(output, expected, atol=1e-5)
    np.testing.assert_array_equal(same_cache, cache)


def test_rejects_bad_cache_arguments():
    x = np.ones((1, 2, 4), "float32")
    layer = _make_layer(x, x)
    with pytest.raises(ValueError, match="cache_update_index needs a cache"):
        layer(x, x, cache_update_index=0)
    with pytest.raises(ValueError, match=r"cache\.shape=\(1, 2, 3\)"):
        layer(x, x, cache=np.zeros((1, 2, 3), "float32"), cache_update_index=0)
    # New positions past the cache's end: TensorFlow clamped the update onto
    # the last slots, and the attention read wrong keys without an error.
    cache = np.zeros((1, 2, 3, HEADS, HEAD_DIM), "float32")
    layer(x, x, cache=cache, cache_update_index=1)  # Positions 1 and 2 fit.
    for index in (2, tf.constant(2), -1):
        with pytest.raises(ValueError, match=r"must fit in the cache: positions"):
            layer(x, x, cache=cache, cache_update_index=index)
