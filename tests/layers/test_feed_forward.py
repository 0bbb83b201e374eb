import math

import keras
import numpy as np
import pytest
from keras import ops

from tftransformer.layers.feed_forward import FeedForward
from tftransformer.testing import run_layer_test

_erf = np.vectorize(math.erf)

ACTIVATIONS = {
    "relu": lambda x: np.maximum(x, 0.0),
    # Exact (erf) GELU.
    "gelu": lambda x: 0.5 * x * (1.0 + _erf(x / np.sqrt(2.0))),
}


@pytest.mark.parametrize(
    "init_kwargs, shape",
    [
        ({"intermediate_dim": 8}, (2, 3, 4)),
        ({"intermediate_dim": 6, "activation": "relu", "dropout": 0.2}, (2, 5)),
        (
            {
                "intermediate_dim": 5,
                "kernel_initializer": keras.initializers.RandomNormal(stddev=0.1),
                "bias_initializer": keras.initializers.Constant(0.1),
            },
            (2, 3, 2, 4),
        ),
    ],
)
def test_layer_contract(init_kwargs, shape, tmp_path):
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    run_layer_test(
        FeedForward, init_kwargs, {"inputs": x}, tmp_path, expected_output_shape=shape
    )


@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_matches_numpy(activation):
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2, 3, 4)).astype("float32")
    layer = FeedForward(intermediate_dim=6, activation=activation, dropout=0.5)
    layer.build(x.shape)
    w1, b1 = rng.normal(size=(4, 6)), rng.normal(size=(6,))
    w2, b2 = rng.normal(size=(6, 4)), rng.normal(size=(4,))
    layer.set_weights([a.astype("float32") for a in (w1, b1, w2, b2)])
    expected = ACTIVATIONS[activation](x @ w1 + b1) @ w2 + b2
    # Dropout is inactive at inference.
    np.testing.assert_allclose(ops.convert_to_numpy(layer(x)), expected, atol=1e-4)
    trained = ops.convert_to_numpy(layer(x, training=True))
    assert np.abs(trained - expected).max() > 1e-2


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"intermediate_dim": 0}, "intermediate_dim=0"),
        ({"intermediate_dim": 2.5}, "intermediate_dim=2.5"),
        ({"intermediate_dim": 4, "dropout": 1.0}, "dropout=1.0"),
        ({"intermediate_dim": 4, "dropout": -0.5}, "dropout=-0.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        FeedForward(**kwargs)
