import numpy as np
import pytest

from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.testing import run_model_test

TOKEN_IDS = np.array([[5, 9, 3, 7, 0, 0], [4, 8, 2, 6, 11, 13]], "int32")
PADDING_MASK = (np.arange(6)[None, :] < np.array([[4], [6]])).astype("int32")
INPUTS = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}


def tiny_encoder(dtype=None, **kwargs):
    args = dict(
        vocabulary_size=16,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
        dropout=0.0,
    )
    return TransformerEncoder(**{**args, **kwargs}, dtype=dtype)


POSITION_KINDS = ["learned", "sine", "relative"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position_kind": "learned"},
        {"position_kind": "sine", "norm_first": True},
        {"position_kind": "relative", "dropout": 0.1},
    ],
)
def test_model_contract(kwargs, tmp_path):
    run_model_test(
        lambda dtype=None: tiny_encoder(dtype, **kwargs),
        INPUTS,
        tmp_path,
        {"sequence_output": (2, 6, 8), "pooled_output": (2, 8)},
    )


@pytest.mark.parametrize("position_kind", POSITION_KINDS)
@pytest.mark.parametrize("norm_first", [False, True])
def test_padding_does_not_change_real_tokens(position_kind, norm_first):
    encoder = tiny_encoder(position_kind=position_kind, norm_first=norm_first)
    reference = np.asarray(encoder(INPUTS)["sequence_output"])
    changed_ids = TOKEN_IDS.copy()
    changed_ids[0, 4:] = [14, 15]
    changed = np.asarray(
        encoder({"token_ids": changed_ids, "padding_mask": PADDING_MASK})[
            "sequence_output"
        ]
    )
    np.testing.assert_allclose(changed[0, :4], reference[0, :4], atol=1e-5)
    np.testing.assert_allclose(changed[1], reference[1], atol=1e-5)
    # The same change without the padding mask does reach the real tokens.
    ones = np.ones_like(PADDING_MASK)
    unmasked = np.asarray(
        encoder({"token_ids": TOKEN_IDS, "padding_mask": ones})["sequence_output"]
    )
    unmasked_changed = np.asarray(
        encoder({"token_ids": changed_ids, "padding_mask": ones})["sequence_output"]
    )
    assert np.abs(unmasked[0, :4] - unmasked_changed[0, :4]).max() > 1e-3


def test_pooled_output_is_tanh_dense_of_first_token():
    encoder = tiny_encoder()
    outputs = encoder(INPUTS)
    kernel, bias = encoder.get_layer("pooled_dense").get_weights()
    first = np.asarray(outputs["sequence_output"])[:, 0]
    np.testing.assert_allclose(
        np.asarray(outputs["pooled_output"]), np.tanh(first @ kernel + bias), atol=1e-5
    )


def test_layer_names_and_attributes():
    encoder = tiny_encoder(num_layers=3, position_kind="relative")
    assert encoder.num_layers == 3 and encoder.hidden_dim == 8
    assert encoder.get_layer("embeddings").position_kind == "none"
    for i in range(3):
        block = encoder.get_layer(f"transformer_layer_{i}")
        assert block.use_relative_position_bias
    learned = tiny_encoder()
    assert learned.get_layer("embeddings").position_kind == "learned"
    assert not learned.get_layer("transformer_layer_0").use_relative_position_bias


def test_positions_matter():
    # Reordering tokens changes each token's output unless the positions are
    # ignored; all three kinds must see the order.
    for position_kind in POSITION_KINDS:
        encoder = tiny_encoder(position_kind=position_kind)
        ids = np.array([[3, 5, 7, 9]], "int32")
        mask = np.ones_like(ids)
        out = np.asarray(
            encoder({"token_ids": ids, "padding_mask": mask})["sequence_output"]
        )
        rev = np.asarray(
            encoder({"token_ids": ids[:, ::-1], "padding_mask": mask})[
                "sequence_output"
            ]
        )
        assert np.abs(out - rev[:, ::-1]).max() > 1e-3, position_kind


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"position_kind": "rotary"}, "position_kind='rotary'"),
        ({"num_layers": 0}, "num_layers=0"),
        ({"hidden_dim": 9}, "hidden_dim=9, num_heads=2"),
        ({"dropout": 1.5}, "dropout=1.5"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_encoder(**kwargs)
