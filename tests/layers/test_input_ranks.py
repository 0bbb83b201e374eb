"""Layers refuse inputs of the wrong rank when built, naming the shape.

Before, `SequencePooling` failed inside TensorFlow ops, and the position
layers read the batch axis as positions (or added an axis) silently.
"""

import re

import numpy as np
import pytest

from tftransformer import layers


@pytest.mark.parametrize(
    "layer, inputs, expected",
    [
        (layers.SequencePooling("mean"), np.zeros((2, 7)), "(batch, seq, dim)"),
        (layers.SequencePooling("cls"), np.zeros((2, 7)), "(batch, seq, dim)"),
        (layers.AttentionPooling(), np.zeros((2, 7)), "(batch, seq, dim)"),
        (layers.PositionEmbedding(50), np.zeros((2, 7)), "(batch, seq, dim)"),
        (layers.SinePositionEncoding(), np.zeros((2, 7)), "(batch, seq, dim)"),
        (
            layers.TokenAndPositionEmbedding(10, 8, 16),
            np.zeros((2, 3, 2), "int32"),
            "(batch, seq)",
        ),
    ],
    ids=lambda value: type(value).__name__ if hasattr(value, "build") else "",
)
def test_wrong_rank_is_refused_naming_the_shape(layer, inputs, expected):
    name = type(layer).__name__
    message = re.escape(f"{name} expects inputs of shape {expected}")
    message += ".*" + re.escape(f"Received: inputs.shape={inputs.shape}")
    with pytest.raises(ValueError, match=message):
        layer(inputs)
