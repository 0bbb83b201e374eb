import numpy as np
import pytest

from tftransformer.layers.sine_position_encoding import SinePositionEncoding
from tftransformer.testing import run_layer_test


def _paper_table(positions, dim, max_wavelength):
    """PE[pos, 2i] = sin(pos / w^(2i/d)), PE[pos, 2i+1] = cos(same angle)."""
    table = np.zeros((len(positions), dim))
    for p_index, pos in enumerate(positions):
        for i in range((dim + 1) // 2):
            angle = pos / max_wavelength ** (2 * i / dim)
            table[p_index, 2 * i] = np.sin(angle)
            if 2 * i + 1 < dim:
                table[p_index, 2 * i + 1] = np.cos(angle)
    return table


@pytest.mark.parametrize(
    "init_kwargs, shape",
    [({}, (2, 5, 8)), ({"max_wavelength": 100}, (3, 4, 6))],
)
def test_layer_contract(init_kwargs, shape, tmp_path):
    data = np.random.default_rng(0).normal(size=shape).astype("float32")
    run_layer_test(
        SinePositionEncoding,
        init_kwargs,
        {"inputs": data},
        tmp_path,
        expected_output_shape=shape,
        run_training=False,
        mixed_precision_atol=0.02,
    )


@pytest.mark.parametrize(
    "dim, max_wavelength, start_index",
    [(8, 10000, 0), (6, 100, 0), (7, 10000, 0), (8, 10000, 5)],
)
def test_matches_paper_formula(dim, max_wavelength, start_index):
    seq = 12
    inputs = np.zeros((2, seq, dim), "float32")
    layer = SinePositionEncoding(max_wavelength=max_wavelength)
    outputs = np.asarray(layer(inputs, start_index=start_index))
    expected = _paper_table(range(start_index, start_index + seq), dim, max_wavelength)
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)
    np.testing.assert_allclose(outputs[1], expected, atol=1e-5)


def test_values_do_not_depend_on_inputs():
    layer = SinePositionEncoding()
    rng = np.random.default_rng(1)
    a = layer(rng.normal(size=(1, 4, 8)).astype("float32"))
    b = layer(rng.normal(size=(1, 4, 8)).astype("float32"))
    np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


@pytest.mark.parametrize("max_wavelength", [0, -3, "big", True])
def test_rejects_bad_max_wavelength(max_wavelength):
    with pytest.raises(ValueError, match=f"max_wavelength={max_wavelength!r}"):
        SinePositionEncoding(max_wavelength=max_wavelength)
