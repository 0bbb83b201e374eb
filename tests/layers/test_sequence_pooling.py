import numpy as np
import pytest

from tftransformer.layers import SequencePooling
from tftransformer.testing import run_layer_test

X = np.random.default_rng(0).normal(size=(2, 4, 6)).astype("float32")
MASK = np.array([[1, 1, 0, 0], [1, 1, 1, 1]], bool)


@pytest.mark.parametrize("mode", ["cls", "mean", "max"])
def test_layer_contract(mode, tmp_path):
    run_layer_test(
        SequencePooling,
        {"mode": mode},
        {"inputs": X, "padding_mask": MASK},
        tmp_path,
        expected_output_shape=(2, 6),
        run_training=False,
    )


@pytest.mark.parametrize(
    "mode, expected",
    [
        ("cls", X[:, 0]),
        ("mean", np.stack([X[0, :2].mean(0), X[1].mean(0)])),
        ("max", np.stack([X[0, :2].max(0), X[1].max(0)])),
    ],
)
def test_padding_is_ignored(mode, expected):
    noisy = X.copy()
    noisy[0, 2:] = 1e3  # padded positions of row 0
    out = SequencePooling(mode)(noisy, padding_mask=MASK)
    np.testing.assert_allclose(np.asarray(out), expected, rtol=1e-6, atol=1e-6)


def test_max_of_large_negative_values_ignores_padding():
    x = np.full((1, 3, 2), -5e4, "float32")
    x[0, 2] = -1e6  # padding, lower still
    out = SequencePooling("max")(x, padding_mask=np.array([[True, True, False]]))
    np.testing.assert_array_equal(np.asarray(out), [[-5e4, -5e4]])


@pytest.mark.parametrize("mode", ["mean", "max"])
def test_non_finite_padding_is_ignored(mode):
    noisy = X.copy()
    noisy[0, 2:] = np.nan
    noisy[0, 3] = np.inf
    pooled = np.asarray(SequencePooling(mode)(noisy, padding_mask=MASK))
    expected = np.asarray(SequencePooling(mode)(X, padding_mask=MASK))
    np.testing.assert_allclose(pooled, expected, atol=1e-6)


def test_all_padding_row_gives_zeros():
    mask = np.zeros((2, 4), bool)
    for mode in ("mean", "max"):
        out = np.asarray(SequencePooling(mode)(X, padding_mask=mask))
        assert np.all(out == 0), mode


def test_bad_mode():
    with pytest.raises(ValueError, match="mode='sum'"):
        SequencePooling("sum")


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
@pytest.mark.parametrize("value", [1.0, 20.0])
def test_16_bit_mean_of_a_long_sequence(policy, value):
    # 8192 x 20 overflows float16; 8192 steps of 1.0 stall a float16 sum.
    x = np.full((1, 8192, 2), value, "float32")
    out = SequencePooling("mean", dtype=policy)(x)
    np.testing.assert_allclose(np.asarray(out, "float32"), value, rtol=1e-2)


@pytest.mark.parametrize("mode", ["cls", "mean", "max"])
def test_texts_of_packed_rows_pool_as_if_alone(mode):
    # Row 0 holds two texts (tokens 0-1 and 2), row 1 one (tokens 0-3).
    text_ids = np.array([[1, 1, 2, 0], [1, 1, 1, 1]])
    starts = np.array([[0, 2], [0, 0]])
    pooled = np.asarray(SequencePooling(mode).pool_texts(X, text_ids, starts))
    alone = SequencePooling(mode)
    for row, slot, span in [
        (0, 0, slice(0, 2)),
        (0, 1, slice(2, 3)),
        (1, 0, slice(0, 4)),
    ]:
        expected = np.asarray(alone(X[row : row + 1, span]))[0]
        # Float32 rounding only: packed means are summed in another order
        # (oneDNN's kernels differ in the last bit near zero); a token of
        # another text leaking in would move them by about 0.1.
        np.testing.assert_allclose(pooled[row, slot], expected, rtol=1e-6, atol=1e-7)
    if mode != "cls":  # an empty slot pools nothing
        np.testing.assert_array_equal(pooled[1, 1], 0.0)
