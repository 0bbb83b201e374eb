import keras
import numpy as np
import pytest

from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.testing import run_layer_test

TOKEN_IDS = np.array([[3, 1, 4, 0, 0], [9, 2, 6, 5, 3]], "int32")


@pytest.mark.parametrize("position_kind", ["learned", "sine", "none"])
@pytest.mark.parametrize("mask_zero", [False, True])
def test_layer_contract(position_kind, mask_zero, tmp_path):
    run_layer_test(
        TokenAndPositionEmbedding,
        {
            "vocabulary_size": 10,
            "sequence_length": 8,
            "embedding_dim": 4,
            "position_kind": position_kind,
            "mask_zero": mask_zero,
        },
        {"inputs": TOKEN_IDS},
        tmp_path,
        expected_output_shape=(2, 5, 4),
    )


def _layer(position_kind, **kwargs):
    layer = TokenAndPositionEmbedding(
        vocabulary_size=10,
        sequence_length=8,
        embedding_dim=4,
        position_kind=position_kind,
        **kwargs,
    )
    layer.build((None, None))
    return layer


def test_learned_is_token_row_plus_position_row():
    layer = _layer("learned")
    tokens = np.asarray(layer.token_embedding.embeddings)
    positions = np.asarray(layer.position_embedding.position_embeddings)
    expected = tokens[TOKEN_IDS] + positions[None, :5]
    np.testing.assert_allclose(np.asarray(layer(TOKEN_IDS)), expected, atol=1e-6)
    shifted = tokens[TOKEN_IDS] + positions[None, 2:7]
    np.testing.assert_allclose(
        np.asarray(layer(TOKEN_IDS, start_index=2)), shifted, atol=1e-6
    )


def test_sine_adds_paper_encoding():
    layer = _layer("sine")
    tokens = np.asarray(layer.token_embedding.embeddings)
    pos = np.arange(5)[:, None]
    i = np.arange(2)[None, :]
    angles = pos / 10000 ** (2 * i / 4)
    encoding = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(5, 4)
    np.testing.assert_allclose(
        np.asarray(layer(TOKEN_IDS)), tokens[TOKEN_IDS] + encoding, atol=1e-5
    )


def test_none_is_token_embedding_only():
    layer = _layer("none")
    assert layer.position_embedding is None
    tokens = np.asarray(layer.token_embedding.embeddings)
    np.testing.assert_allclose(np.asarray(layer(TOKEN_IDS)), tokens[TOKEN_IDS])
    # No position table, so any length is accepted.
    assert tuple(layer(np.ones((1, 20), "int32")).shape) == (1, 20, 4)


def test_mask_zero_mask():
    layer = _layer("learned", mask_zero=True)
    np.testing.assert_array_equal(
        np.asarray(layer.compute_mask(TOKEN_IDS)), TOKEN_IDS != 0
    )
    outputs = layer(TOKEN_IDS)
    np.testing.assert_array_equal(np.asarray(outputs._keras_mask), TOKEN_IDS != 0)
    # The mask reaches downstream layers in a functional model.
    inputs = keras.Input((None,), dtype="int32")
    pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
    expected = np.asarray(layer(TOKEN_IDS))[0, :3].mean(axis=0)
    np.testing.assert_allclose(
        np.asarray(keras.Model(inputs, pooled)(TOKEN_IDS))[0], expected, atol=1e-6
    )


def test_no_mask_without_mask_zero():
    layer = _layer("learned")
    assert layer.compute_mask(TOKEN_IDS) is None


def test_learned_rejects_too_long_sequence():
    with pytest.raises(ValueError, match=r"sequence length 9.*sequence_length=8"):
        _layer("learned")(np.ones((1, 9), "int32"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"position_kind": "rotary"}, "position_kind='rotary'"),
        ({"vocabulary_size": 0}, "vocabulary_size=0"),
        ({"sequence_length": None}, "sequence_length=None"),
        ({"embedding_dim": -4}, "embedding_dim=-4"),
        ({"mask_zero": "y"}, "mask_zero='y'"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    args = {"vocabulary_size": 10, "sequence_length": 8, "embedding_dim": 4}
    with pytest.raises(ValueError, match=message):
        TokenAndPositionEmbedding(**{**args, **kwargs})
