import math

import keras
import numpy as np
import pytest
from keras import ops

from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock
from tftransformer.testing import run_layer_test

_erf = np.vectorize(math.erf)


# NumPy reference of a Transformer block, reading the weights by path.


def randomize_weights(layer, rng):
    """Sets every weight to known random values; returns them by path."""
    values = [
        rng.normal(scale=0.5, size=w.shape).astype("float32") for w in layer.weights
    ]
    layer.set_weights(values)
    prefix = layer.name + "/"
    return {w.path[len(prefix) :]: v for w, v in zip(layer.weights, values)}


def np_layer_norm(x, weights, name, epsilon=1e-5):
    mean = x.mean(-1, keepdims=True)
    var = x.var(-1, keepdims=True)
    normed = (x - mean) / np.sqrt(var + epsilon)
    return normed * weights[f"{name}/gamma"] + weights[f"{name}/beta"]


def np_attention(weights, name, query, value, mask=None, bias=None):
    """Projections, softmax(Q K^T / sqrt(d) + bias) V, output projection."""

    def w(part):
        return weights[f"{name}/{part}"]

    q = np.einsum("btd,dnh->btnh", query, w("query/kernel")) + w("query/bias")
    k = np.einsum("bsd,dnh->bsnh", value, w("key/kernel")) + w("key/bias")
    v = np.einsum("bsd,dnh->bsnh", value, w("value/kernel")) + w("value/bias")
    # (batch, heads, query_len, key_len)
    logits = np.einsum("btnh,bsnh->bnts", q, k) / np.sqrt(q.shape[-1])
    if bias is not None:
        logits = logits + bias
    if mask is not None:
        logits = np.where(mask[:, None], logits, -1e9)
    probs = np.exp(logits - logits.max(-1, keepdims=True))
    probs = probs / probs.sum(-1, keepdims=True)
    context = np.einsum("bnts,bsnh->btnh", probs, v)
    output = np.einsum("btnh,nhd->btd", context, w("attention_output/kernel"))
    return output + w("attention_output/bias")


def np_feedforward(weights, x):
    h = x @ weights["feedforward/intermediate_dense/kernel"]
    h = h + weights["feedforward/intermediate_dense/bias"]
    h = 0.5 * h * (1.0 + _erf(h / np.sqrt(2.0)))  # exact GELU
    out = h @ weights["feedforward/output_dense/kernel"]
    return out + weights["feedforward/output_dense/bias"]


def np_residual(weights, x, sublayer, norm_name, norm_first):
    if norm_first:
        return x + sublayer(np_layer_norm(x, weights, norm_name))
    return np_layer_norm(x + sublayer(x), weights, norm_name)


def np_relative_bias(table, query_length, key_length, bidirectional):
    """T5 bias for distances below max_exact (8 buckets per side here)."""
    buckets = np.zeros((query_length, key_length), "int64")
    for i in range(query_length):
        for j in range(key_length):
            d = j - i  # key - query
            assert abs(d) < 8, "only exact distances are handled here"
            if d <= 0:
                buckets[i, j] = -d
            else:
                buckets[i, j] = 16 + d if bidirectional else 0
    # (1, heads, query_len, key_len)
    return np.transpose(table[buckets], (2, 0, 1))[None]


# Tests.


def _inputs(rng, batch=2, seq=5, hidden=8):
    x = rng.normal(size=(batch, seq, hidden)).astype("float32")
    padding_mask = np.arange(seq)[None] < np.array([[seq], [seq - 2]])[:batch]
    return x, padding_mask


@pytest.mark.parametrize(
    "init_kwargs, call_kwargs",
    [
        ({"intermediate_dim": 16, "num_heads": 2}, {}),
        (
            {
                "intermediate_dim": 16,
                "num_heads": 4,
                "norm_first": True,
                "dropout": 0.1,
                "activation": "relu",
            },
            {},
        ),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "use_relative_position_bias": True,
                "relative_position_buckets": 8,
                "relative_position_max_distance": 16,
            },
            {"return_attention_scores": True},
        ),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "norm_first": True,
                "use_relative_position_bias": True,
                "layer_norm_epsilon": 1e-6,
            },
            {},
        ),
    ],
)
def test_layer_contract(init_kwargs, call_kwargs, tmp_path):
    x, padding_mask = _inputs(np.random.default_rng(0))
    expected = (2, 5, 8)
    if call_kwargs.get("return_attention_scores"):
        expected = (expected, (2, init_kwargs["num_heads"], 5, 5))
    run_layer_test(
        TransformerEncoderBlock,
        init_kwargs,
        {"inputs": x, "padding_mask": padding_mask},
        tmp_path,
        expected_output_shape=expected,
        call_kwargs=call_kwargs,
    )


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_numpy_block(norm_first, use_bias):
    rng = np.random.default_rng(1)
    x, padding_mask = _inputs(rng)
    block = TransformerEncoderBlock(
        intermediate_dim=6,
        num_heads=2,
        norm_first=norm_first,
        use_relative_position_bias=use_bias,
    )
    block.build(x.shape)
    weights = randomize_weights(block, rng)
    bias = None
    if use_bias:
        table = weights["self_attention/relative_position_bias/embeddings"]
        bias = np_relative_bias(table, 5, 5, bidirectional=True)
    mask = np.broadcast_to(padding_mask[:, None, :], (2, 5, 5))

    def attention(y):
        return np_attention(weights, "self_attention", y, y, mask, bias)

    expected = np_residual(
        weights, x, attention, "self_attention_layer_norm", norm_first
    )
    expected = np_residual(
        weights,
        expected,
        lambda y: np_feedforward(weights, y),
        "feedforward_layer_norm",
        norm_first,
    )
    outputs = block(x, padding_mask=padding_mask)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), expected, atol=1e-4)


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_padded_positions_do_not_change_real_tokens(norm_first, use_bias):
    rng = np.random.default_rng(2)
    x, padding_mask = _inputs(rng)
    block = TransformerEncoderBlock(
        intermediate_dim=8,
        num_heads=2,
        norm_first=norm_first,
        use_relative_position_bias=use_bias,
    )
    before = ops.convert_to_numpy(block(x, padding_mask=padding_mask))
    changed = np.where(padding_mask[..., None], x, 100.0 * rng.normal(size=x.shape))
    after = ops.convert_to_numpy(
        block(changed.astype("float32"), padding_mask=padding_mask)
    )
    np.testing.assert_allclose(after[padding_mask], before[padding_mask], atol=1e-6)
    # Without the mask the padded values of row 1 do reach its real tokens.
    unmasked = ops.convert_to_numpy(block(changed.astype("float32")))
    assert np.abs(unmasked[1, :3] - before[1, :3]).max() > 1e-3


def test_keras_mask_is_used_and_propagated():
    embedding = keras.layers.Embedding(10, 8, mask_zero=True)
    block = TransformerEncoderBlock(intermediate_dim=8, num_heads=2)
    tokens = np.array([[4, 2, 7, 0, 0]])
    embedded = embedding(tokens)
    outputs = block(embedded)
    np.testing.assert_array_equal(
        ops.convert_to_numpy(outputs._keras_mask), [[True, True, True, False, False]]
    )
    # Same as the unpadded sequence: the padded keys were masked.
    real = ops.convert_to_numpy(block(embedding(tokens[:, :3])))
    np.testing.assert_allclose(ops.convert_to_numpy(outputs)[:, :3], real, atol=1e-6)


def test_attention_mask_and_padding_mask_both_apply():
    rng = np.random.default_rng(3)
    x, padding_mask = _inputs(rng)
    block = TransformerEncoderBlock(intermediate_dim=8, num_heads=2)
    causal = np.tril(np.ones((2, 5, 5), bool))
    outputs, scores = block(
        x,
        padding_mask=padding_mask,
        attention_mask=causal,
        return_attention_scores=True,
    )
    scores = ops.convert_to_numpy(scores)
    allowed = causal & padding_mask[:, None, :]
    # Keys hidden by either mask get no weight; the others share all of it.
    assert np.all(scores[~np.broadcast_to(allowed[:, None], scores.shape)] == 0.0)
    np.testing.assert_allclose(scores.sum(-1), np.ones((2, 2, 5)), atol=1e-6)
    # A later token cannot reach earlier ones through the causal mask.
    changed = x.copy()
    changed[:, 2:] = rng.normal(size=(2, 3, 8))
    after = block(changed, padding_mask=padding_mask, attention_mask=causal)
    np.testing.assert_allclose(
        ops.convert_to_numpy(after)[:, :2],
        ops.convert_to_numpy(outputs)[:, :2],
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"intermediate_dim": 8, "num_heads": 0}, "num_heads=0"),
        ({"intermediate_dim": 8, "num_heads": -2}, "num_heads=-2"),
        ({"intermediate_dim": 0, "num_heads": 2}, "intermediate_dim=0"),
        ({"intermediate_dim": 8, "num_heads": 2, "dropout": 1.0}, "dropout=1.0"),
        ({"intermediate_dim": 8, "num_heads": 2, "dropout": -0.1}, "dropout=-0.1"),
        (
            {"intermediate_dim": 8, "num_heads": 2, "layer_norm_epsilon": -1.0},
            "layer_norm_epsilon=-1.0",
        ),
        (
            {"intermediate_dim": 8, "num_heads": 2, "layer_norm_epsilon": "1e-5"},
            "layer_norm_epsilon='1e-5'",
        ),
        (
            {"intermediate_dim": 8, "num_heads": 2, "norm_first": "no"},
            "norm_first='no'",
        ),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "use_relative_position_bias": True,
                "relative_position_buckets": 2,
            },
            "num_buckets=2",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerEncoderBlock(**kwargs)


def test_rejects_hidden_size_not_divisible_by_num_heads():
    block = TransformerEncoderBlock(intermediate_dim=8, num_heads=4)
    with pytest.raises(ValueError, match="hidden size=10, num_heads=4"):
        block(np.zeros((1, 3, 10), "float32"))
