import keras
import numpy as np
import pytest

from tftransformer.layers.position_embedding import PositionEmbedding
from tftransformer.testing import run_layer_test


@pytest.mark.parametrize(
    "init_kwargs, shape",
    [
        ({"sequence_length": 8}, (2, 5, 4)),
        (
            {
                "sequence_length": 4,
                "initializer": keras.initializers.RandomNormal(stddev=0.5),
            },
            (3, 4, 6),
        ),
    ],
)
def test_layer_contract(init_kwargs, shape, tmp_path):
    data = np.random.default_rng(0).normal(size=shape).astype("float32")
    run_layer_test(
        PositionEmbedding,
        init_kwargs,
        {"inputs": data},
        tmp_path,
        expected_output_shape=shape,
    )


def test_returns_table_rows_from_start_index():
    layer = PositionEmbedding(sequence_length=6)
    layer.build((None, None, 3))
    table = np.arange(18, dtype="float32").reshape(6, 3)
    layer.set_weights([table])
    inputs = np.zeros((2, 3, 3), "float32")
    np.testing.assert_array_equal(np.asarray(layer(inputs)), np.stack([table[:3]] * 2))
    np.testing.assert_array_equal(
        np.asarray(layer(inputs, start_index=2)), np.stack([table[2:5]] * 2)
    )


def test_too_long_sequence_raises():
    layer = PositionEmbedding(sequence_length=4)
    with pytest.raises(ValueError, match=r"sequence length 5.*sequence_length=4"):
        layer(np.zeros((1, 5, 2), "float32"))
    for start_index in (2, np.int64(2)):
        with pytest.raises(ValueError, match=r"start_index=2.*sequence_length=4"):
            layer(np.zeros((1, 3, 2), "float32"), start_index=start_index)
    # A fixed-length symbolic input is rejected when the model is built.
    with pytest.raises(ValueError, match=r"sequence length 6.*sequence_length=4"):
        PositionEmbedding(sequence_length=4)(keras.Input((6, 2)))


def test_full_length_sequence_is_accepted():
    layer = PositionEmbedding(sequence_length=4)
    assert tuple(layer(np.zeros((1, 4, 2), "float32")).shape) == (1, 4, 2)


@pytest.mark.parametrize("sequence_length", [0, -1, None, 2.5])
def test_rejects_bad_sequence_length(sequence_length):
    with pytest.raises(ValueError, match=f"sequence_length={sequence_length}"):
        PositionEmbedding(sequence_length=sequence_length)
