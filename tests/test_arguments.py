import json

import numpy as np
import pytest

from tests.models.test_text_classifier import tiny_backbone
from tftransformer import layers, models
from tftransformer._arguments import python_number


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.int64(3), 3),
        (np.int32(2), 2),
        (np.float32(0.5), 0.5),
        (np.float64(0.1), 0.1),
    ],
)
def test_numpy_scalars_become_python_numbers(value, expected):
    result = python_number(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", [True, None, "3", [3], np.array([3])])
def test_other_values_are_returned_unchanged(value):
    assert python_number(value) is value


# Hyperparameters as NumPy hands them out (`labels.max() + 1`, `np.arange`).
INT, REAL = np.int64, np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.TransformerEncoderBlock(INT(16), INT(2), dropout=REAL(0.1)),
        lambda: layers.TransformerDecoderBlock(INT(16), INT(2), dropout=REAL(0.1)),
        lambda: layers.FeedForward(INT(16), dropout=REAL(0.1)),
        lambda: layers.MultiHeadAttention(INT(2), INT(4), dropout=REAL(0.1)),
        lambda: layers.RelativePositionBias(INT(8), INT(16), num_heads=INT(2)),
        lambda: layers.TokenAndPositionEmbedding(INT(20), INT(8), INT(4)),
        lambda: layers.PositionEmbedding(INT(8)),
        lambda: layers.AttentionPooling(hidden_dim=INT(8)),
        lambda: layers.SinePositionEncoding(REAL(100.0)),
        lambda: models.TransformerEncoder(
            INT(20), INT(1), INT(2), INT(8), INT(16), dropout=REAL(0.1)
        ),
        lambda: models.TextClassifier(tiny_backbone(), INT(3), dropout=REAL(0.1)),
    ],
)
def test_numpy_hyperparameters_are_accepted_and_serialize(make):
    layer = make()
    # Would raise on a NumPy scalar left in the config.
    json.dumps(layer.get_config())
    assert not any(isinstance(v, np.generic) for v in layer.get_config().values())


@pytest.mark.parametrize("dropout", [None, "0.1", True])
def test_classifier_rejects_non_number_dropout(dropout):
    with pytest.raises(ValueError, match="dropout"):
        models.TextClassifier(tiny_backbone(), 2, dropout=dropout)
