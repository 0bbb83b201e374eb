import keras
import numpy as np
import pytest

from tftransformer.evaluation import compare_inference_speed


def _model(width):
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(width)])


def test_every_model_gets_a_positive_speed():
    x = np.ones((10, 4), "float32")
    speeds = compare_inference_speed({"small": _model(2), "wide": _model(64)}, x, 10)
    assert list(speeds) == ["small", "wide"]
    assert all(np.isfinite(v) and v > 0 for v in speeds.values())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_examples": 0}, "num_examples=0"),
        ({"rounds": 0}, "rounds=0"),
        ({"models": {}}, "at least one model"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"models": {"m": _model(2)}, "num_examples": 10, **kwargs}
    with pytest.raises(ValueError, match=message):
        compare_inference_speed(dataset=np.ones((10, 4)), **arguments)
