import os

import keras
import numpy as np
import pytest

from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.testing import assert_all_close

TOKEN_IDS = np.array([[5, 9, 3, 7, 0, 0], [4, 8, 2, 6, 11, 13]], "int32")
PADDING_MASK = (np.arange(6)[None, :] < np.array([[4], [6]])).astype("int32")
INPUTS = {"token_ids": TOKEN_IDS, "padding_mask": PADDING_MASK}


def check_model_contract(build, input_data, tmp_path, expected_output_shape):
    """The layer contract of `tftransformer.testing` for functional models.

    `run_layer_test` calls a layer with its inputs as keyword arguments;
    these models take one dict, so this checks the same properties: config
    round trip, shapes, `.keras` save and reload, a fit step and mixed
    precision.

    Args:
        build: callable `build(dtype=None)` returning a fresh model.
        input_data: dict of NumPy arrays, the model's inputs.
        tmp_path: directory for the `.keras` file.
        expected_output_shape: structure of shapes matching the outputs.
    """
    model = build()
    config = model.get_config()
    revived = type(model).from_config(config)
    assert type(revived) is type(model)
    assert revived.get_config() == config, "config round trip changed the config"

    outputs = model(input_data)
    shapes = keras.tree.map_structure(lambda t: tuple(t.shape), outputs)
    expected = keras.tree.map_shape_structure(tuple, expected_output_shape)
    assert shapes == expected, f"output shapes {shapes}, expected {expected}"

    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert_all_close(reloaded(input_data), outputs, atol=1e-5, rtol=1e-5)

    before = [np.array(w) for w in model.trainable_weights]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.tree.map_structure(lambda _: "mse", outputs),
    )
    targets = keras.tree.map_structure(lambda t: np.ones(t.shape, "float32"), outputs)
    batch_size = len(next(iter(input_data.values())))
    model.fit(input_data, targets, batch_size=batch_size, epochs=1, verbose=0)
    after = [np.array(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after))

    mp_model = build(dtype="mixed_bfloat16")
    mp_outputs = mp_model(input_data)
    assert all(w.dtype == "float32" for w in mp_model.weights)
    ref_model = build()
    ref_model.set_weights(mp_model.get_weights())
    ref_outputs = ref_model(input_data)
    for mp, ref in zip(keras.tree.flatten(mp_outputs), keras.tree.flatten(ref_outputs)):
        mp = np.asarray(keras.ops.convert_to_numpy(keras.ops.cast(mp, "float32")))
        assert np.all(np.isfinite(mp))
        np.testing.assert_allclose(mp, np.asarray(ref), atol=0.15, rtol=0.15)
    # The blocks compute in bfloat16.
    assert any(
        keras.backend.standardize_dtype(layer.compute_dtype) == "bfloat16"
        for layer in mp_model.layers
    )
    return outputs


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
    check_model_contract(
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
