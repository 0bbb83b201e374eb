import keras
import numpy as np
import pytest
from keras import ops

from tftransformer.layers.relative_position_bias import RelativePositionBias
from tftransformer.testing import run_layer_test

bucket = RelativePositionBias.relative_position_bucket

# Expected buckets worked out by hand from the T5 rule (mesh-tensorflow
# `_relative_position_bucket`), with `relative_position = key - query` and
# `n = -relative_position`:
#   bidirectional: half the buckets for n < 0 (keys after the query), n = |n|;
#   causal: n = max(n, 0);
#   then with `nb` buckets per side and `max_exact = nb // 2`:
#   bucket = n if n < max_exact, else
#   min(max_exact + floor(log(n / max_exact) / log(max_distance / max_exact)
#       * (nb - max_exact)), nb - 1).

# num_buckets=32, max_distance=128, bidirectional: nb=16, max_exact=8,
# large n: 8 + floor(log(n/8) / log(16) * 8) = 8 + floor(2 * log2(n / 8)).
BIDIRECTIONAL_CASES = [
    (0, 0),
    (-3, 3),  # n=3 < 8: exact
    (-7, 7),
    (-8, 8),  # 8 + floor(2 * log2(1)) = 8
    (-12, 9),  # 8 + floor(2 * 0.585) = 8 + 1
    (-20, 10),  # 8 + floor(2 * 1.322) = 8 + 2
    (-40, 12),  # 8 + floor(2 * 2.322) = 8 + 4
    (-100, 15),  # 8 + floor(2 * 3.644) = 8 + 7
    (-127, 15),  # 8 + floor(2 * 3.989) = 8 + 7
    (-128, 15),  # 8 + 8 = 16, clipped to nb - 1 = 15
    (-500, 15),  # beyond max_distance
    (1, 17),  # key after the query: 16 + 1
    (3, 19),  # 16 + 3
    (20, 26),  # 16 + 10
    (500, 31),  # 16 + 15
]

# num_buckets=32, max_distance=128, causal: nb=32, max_exact=16,
# large n: 16 + floor(log(n/16) / log(8) * 16) = 16 + floor(16 * log2(n/16) / 3).
CAUSAL_CASES = [
    (5, 0),  # key after the query: n = max(-5, 0) = 0
    (0, 0),
    (-15, 15),
    (-16, 16),  # 16 + floor(0)
    (-20, 17),  # 16 + floor(16 * 0.3219 / 3) = 16 + floor(1.717)
    (-50, 24),  # 16 + floor(16 * 1.6439 / 3) = 16 + floor(8.767)
    (-100, 30),  # 16 + floor(16 * 2.6439 / 3) = 16 + floor(14.10)
    (-127, 31),  # 16 + floor(16 * 2.9887 / 3) = 16 + floor(15.94)
    (-128, 31),  # 16 + 16 = 32, clipped to 31
    (-1000, 31),
]

# num_buckets=8, max_distance=20, bidirectional: nb=4, max_exact=2,
# large n: 2 + floor(log(n/2) / log(10) * 2) = 2 + floor(2 * log10(n/2)).
SMALL_TABLE_CASES = [
    (-1, 1),
    (-5, 2),  # 2 + floor(2 * 0.398)
    (-7, 3),  # 2 + floor(2 * 0.544)
    (-19, 3),  # 2 + floor(2 * 0.978)
    (-25, 3),  # 2 + floor(2 * 1.097) = 4, clipped to 3
    (7, 7),  # 4 + 3
]


@pytest.mark.parametrize(
    "bidirectional, num_buckets, max_distance, cases",
    [
        (True, 32, 128, BIDIRECTIONAL_CASES),
        (False, 32, 128, CAUSAL_CASES),
        (True, 8, 20, SMALL_TABLE_CASES),
    ],
)
def test_buckets_follow_t5_rule(bidirectional, num_buckets, max_distance, cases):
    positions = np.array([c[0] for c in cases], "int32")
    expected = np.array([c[1] for c in cases], "int32")
    buckets = bucket(
        positions,
        bidirectional=bidirectional,
        num_buckets=num_buckets,
        max_distance=max_distance,
    )
    np.testing.assert_array_equal(ops.convert_to_numpy(buckets), expected)


@pytest.mark.parametrize(
    "init_kwargs, input_data, expected_shape",
    [
        (
            {"num_heads": 2},
            {"query_sequence": np.ones((1, 5, 3), "float32")},
            (1, 2, 5, 5),
        ),
        (
            {
                "num_buckets": 8,
                "max_distance": 16,
                "num_heads": 3,
                "bidirectional": False,
            },
            {
                "query_sequence": np.ones((1, 4, 3), "float32"),
                "key_sequence": np.ones((1, 6, 2), "float32"),
            },
            (1, 3, 4, 6),
        ),
    ],
)
def test_layer_contract(init_kwargs, input_data, expected_shape, tmp_path):
    run_layer_test(
        RelativePositionBias,
        init_kwargs,
        input_data,
        tmp_path,
        expected_output_shape=expected_shape,
        mixed_precision_atol=0.02,
    )


@pytest.mark.parametrize("bidirectional", [True, False])
def test_bias_reads_table_at_relative_position_bucket(bidirectional):
    layer = RelativePositionBias(
        num_buckets=32, max_distance=128, num_heads=2, bidirectional=bidirectional
    )
    x = np.zeros((2, 3, 4), "float32")
    layer.build(x.shape)
    table = np.stack([np.arange(32), 100 + np.arange(32)], axis=1).astype("float32")
    layer.set_weights([table])
    bias = ops.convert_to_numpy(layer(x, np.zeros((2, 4, 4), "float32")))
    # Distances below max_exact are exact: key j, query i, d = j - i.
    # Bidirectional: bucket -d for d <= 0, 16 + d for d > 0.
    # Causal: bucket -d for d <= 0, 0 for d > 0.
    after = (lambda d: 16 + d) if bidirectional else (lambda d: 0)
    expected_buckets = np.array(
        [[-(j - i) if j <= i else after(j - i) for j in range(4)] for i in range(3)]
    )
    assert bias.shape == (1, 2, 3, 4)
    np.testing.assert_array_equal(bias[0, 0], expected_buckets)
    np.testing.assert_array_equal(bias[0, 1], 100 + expected_buckets)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads=0"),
        ({"num_heads": None}, "num_heads=None"),
        ({"num_heads": 2, "num_buckets": 0}, "num_buckets=0"),
        ({"num_heads": 2, "num_buckets": 3}, "num_buckets=3"),
        ({"num_heads": 2, "num_buckets": 1, "bidirectional": False}, "num_buckets=1"),
        ({"num_heads": 2, "num_buckets": 2.5}, "num_buckets=2.5"),
        ({"num_heads": 2, "max_distance": 8}, "max_distance=8"),
        ({"num_heads": 2, "bidirectional": "no"}, "bidirectional='no'"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        RelativePositionBias(**kwargs)


def test_default_initializer_is_small():
    layer = RelativePositionBias(num_heads=4)
    layer.build((None, None, 8))
    table = ops.convert_to_numpy(layer.embeddings)
    assert table.shape == (32, 4)
    assert 0 < np.std(table) < 0.1
    assert isinstance(layer.embeddings_initializer, keras.initializers.RandomNormal)
