import keras
import numpy as np
import pytest
from keras import ops

from tests.layers.test_transformer_encoder_block import (
    np_attention,
    np_feedforward,
    np_relative_bias,
    np_residual,
    randomize_weights,
)
from tftransformer.layers.token_and_position_embedding import TokenAndPositionEmbedding
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.testing import run_layer_test


def _inputs(rng, dec_len=4, enc_len=6, hidden=8):
    decoder = rng.normal(size=(2, dec_len, hidden)).astype("float32")
    encoder = rng.normal(size=(2, enc_len, hidden)).astype("float32")
    # Row 1 of the encoder sequence ends with two padding tokens.
    encoder_padding = np.arange(enc_len)[None] < np.array([[enc_len], [enc_len - 2]])
    return decoder, encoder, encoder_padding


@pytest.mark.parametrize(
    "init_kwargs, with_encoder",
    [
        ({"intermediate_dim": 16, "num_heads": 2}, False),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "norm_first": True,
                "use_relative_position_bias": True,
                "relative_position_buckets": 8,
                "relative_position_max_distance": 16,
            },
            False,
        ),
        ({"intermediate_dim": 16, "num_heads": 4, "dropout": 0.1}, True),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "norm_first": True,
                "activation": "relu",
                "use_relative_position_bias": True,
            },
            True,
        ),
    ],
)
def test_layer_contract(init_kwargs, with_encoder, tmp_path):
    decoder, encoder, encoder_padding = _inputs(np.random.default_rng(0))
    input_data = {"decoder_sequence": decoder}
    if with_encoder:
        input_data.update(
            {"encoder_sequence": encoder, "encoder_padding_mask": encoder_padding}
        )
    run_layer_test(
        TransformerDecoderBlock,
        init_kwargs,
        input_data,
        tmp_path,
        expected_output_shape=decoder.shape,
    )


@pytest.mark.parametrize("use_bias", [False, True])
@pytest.mark.parametrize("norm_first", [False, True])
def test_matches_numpy_block(norm_first, use_bias):
    rng = np.random.default_rng(1)
    decoder, encoder, encoder_padding = _inputs(rng)
    block = TransformerDecoderBlock(
        intermediate_dim=6,
        num_heads=2,
        norm_first=norm_first,
        use_relative_position_bias=use_bias,
    )
    block.build(decoder.shape, encoder.shape)
    weights = randomize_weights(block, rng)
    bias = None
    if use_bias:
        table = weights["self_attention/relative_position_bias/embeddings"]
        bias = np_relative_bias(table, 4, 4, bidirectional=False)
    causal = np.broadcast_to(np.tril(np.ones((4, 4), bool)), (2, 4, 4))
    cross_mask = np.broadcast_to(encoder_padding[:, None, :], (2, 4, 6))

    def self_attention(y):
        return np_attention(weights, "self_attention", y, y, causal, bias)

    def cross_attention(y):
        return np_attention(weights, "cross_attention", y, encoder, cross_mask)

    x = np_residual(
        weights, decoder, self_attention, "self_attention_layer_norm", norm_first
    )
    x = np_residual(
        weights, x, cross_attention, "cross_attention_layer_norm", norm_first
    )
    expected = np_residual(
        weights,
        x,
        lambda y: np_feedforward(weights, y),
        "feedforward_layer_norm",
        norm_first,
    )
    outputs = block(decoder, encoder, encoder_padding_mask=encoder_padding)
    np.testing.assert_allclose(ops.convert_to_numpy(outputs), expected, atol=1e-4)


@pytest.mark.parametrize(
    "use_bias, with_encoder", [(False, False), (True, False), (True, True)]
)
def test_later_tokens_do_not_change_earlier_outputs(use_bias, with_encoder):
    rng = np.random.default_rng(2)
    decoder, encoder, _ = _inputs(rng)
    encoder = encoder if with_encoder else None
    block = TransformerDecoderBlock(
        intermediate_dim=8, num_heads=2, use_relative_position_bias=use_bias
    )
    before = ops.convert_to_numpy(block(decoder, encoder))
    changed = decoder.copy()
    changed[:, 2:] = rng.normal(size=(2, 2, 8))
    after = ops.convert_to_numpy(block(changed, encoder))
    np.testing.assert_allclose(after[:, :2], before[:, :2], atol=1e-6)
    assert np.abs(after[:, 2:] - before[:, 2:]).max() > 1e-3


def test_padded_encoder_positions_do_not_change_outputs():
    rng = np.random.default_rng(3)
    decoder, encoder, encoder_padding = _inputs(rng)
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    before = ops.convert_to_numpy(
        block(decoder, encoder, encoder_padding_mask=encoder_padding)
    )
    changed = np.where(encoder_padding[..., None], encoder, 100.0).astype("float32")
    after = ops.convert_to_numpy(
        block(decoder, changed, encoder_padding_mask=encoder_padding)
    )
    np.testing.assert_allclose(after, before, atol=1e-6)
    # Without the mask the padded encoder values reach row 1.
    unmasked = ops.convert_to_numpy(block(decoder, changed))
    assert np.abs(unmasked[1] - before[1]).max() > 1e-3


@pytest.mark.parametrize("functional", [False, True])
def test_keras_mask_of_shared_encoder_output_reaches_every_block(functional):
    # Two blocks read one masked encoder output: the first must not strip the
    # Keras mask the second one needs.
    embedding = TokenAndPositionEmbedding(20, 8, 16, mask_zero=True)
    blocks = [TransformerDecoderBlock(intermediate_dim=8, num_heads=2) for _ in "ab"]
    decoder = np.random.default_rng(6).normal(size=(1, 3, 8)).astype("float32")

    def stack(decoder, tokens):
        encoder = embedding(tokens)
        for block in blocks:
            decoder = block(decoder, encoder)
        return decoder

    run = stack
    if functional:
        inputs = (keras.Input((3, 8)), keras.Input((None,), dtype="int32"))
        model = keras.Model(inputs, stack(*inputs))
        run = lambda decoder, tokens: model((decoder, tokens))  # noqa: E731
    real = ops.convert_to_numpy(run(decoder, np.array([[5, 6, 7]])))
    padded = ops.convert_to_numpy(run(decoder, np.array([[5, 6, 7, 0, 0, 0]])))
    np.testing.assert_allclose(padded, real, atol=1e-5)


def test_padded_decoder_positions_are_not_attended():
    rng = np.random.default_rng(4)
    decoder, _, _ = _inputs(rng)
    # Left padding: causality alone would let positions 2-3 see positions 0-1.
    padding = np.array([[True] * 4, [False, False, True, True]])
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    before = ops.convert_to_numpy(block(decoder, decoder_padding_mask=padding))
    changed = np.where(padding[..., None], decoder, 100.0).astype("float32")
    after = ops.convert_to_numpy(block(changed, decoder_padding_mask=padding))
    np.testing.assert_allclose(after[padding], before[padding], atol=1e-6)


def test_decoder_attention_mask_is_combined_with_causal_mask():
    rng = np.random.default_rng(5)
    decoder, _, _ = _inputs(rng)
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    # Allows everything: the causal mask must still hide later tokens.
    everything = np.ones((2, 4, 4), bool)
    before = ops.convert_to_numpy(block(decoder, decoder_attention_mask=everything))
    changed = decoder.copy()
    changed[:, 3] = rng.normal(size=(2, 8))
    after = ops.convert_to_numpy(block(changed, decoder_attention_mask=everything))
    np.testing.assert_allclose(after[:, :3], before[:, :3], atol=1e-6)
    # Hiding key 0 from query 1 changes only query 1 (and not queries 0, 2, 3).
    hide = everything.copy()
    hide[:, 1, 0] = False
    hidden = ops.convert_to_numpy(block(decoder, decoder_attention_mask=hide))
    np.testing.assert_allclose(hidden[:, [0, 2, 3]], before[:, [0, 2, 3]], atol=1e-6)
    assert np.abs(hidden[:, 1] - before[:, 1]).max() > 1e-3


def test_cross_attention_exists_only_when_built_with_encoder():
    rng = np.random.default_rng(6)
    decoder, encoder, _ = _inputs(rng)
    decoder_only = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    decoder_only(decoder)
    assert not any("cross_attention" in w.path for w in decoder_only.weights)
    with pytest.raises(ValueError, match="built without cross-attention"):
        decoder_only(decoder, encoder)
    seq2seq = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    seq2seq(decoder, encoder)
    cross = [w for w in seq2seq.weights if "cross_attention" in w.path]
    assert len(cross) == 10  # 4 kernels, 4 biases, layer norm gamma and beta
    with pytest.raises(ValueError, match="built with cross-attention"):
        seq2seq(decoder)


def test_self_attention_bias_is_causal():
    block = TransformerDecoderBlock(
        intermediate_dim=8, num_heads=2, use_relative_position_bias=True
    )
    block.build((None, 4, 8))
    bias_layer = block._self_attention.relative_position_bias
    assert bias_layer.bidirectional is False


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"intermediate_dim": 8, "num_heads": 0}, "num_heads=0"),
        ({"intermediate_dim": -1, "num_heads": 2}, "intermediate_dim=-1"),
        ({"intermediate_dim": 8, "num_heads": 2, "dropout": 1.5}, "dropout=1.5"),
        ({"intermediate_dim": 8, "num_heads": 2, "norm_first": 1}, "norm_first=1"),
        (
            {"intermediate_dim": 8, "num_heads": 2, "use_relative_position_bias": "y"},
            "use_relative_position_bias='y'",
        ),
        (
            {"intermediate_dim": 8, "num_heads": 2, "layer_norm_epsilon": np.inf},
            "layer_norm_epsilon=inf",
        ),
        (
            {
                "intermediate_dim": 8,
                "num_heads": 2,
                "use_relative_position_bias": True,
                "relative_position_max_distance": 4,
            },
            "max_distance=4",
        ),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TransformerDecoderBlock(**kwargs)


def test_numpy_epsilon_is_kept_as_a_python_float():
    block = TransformerDecoderBlock(8, 2, layer_norm_epsilon=np.float32(1e-6))
    epsilon = block.get_config()["layer_norm_epsilon"]
    assert type(epsilon) is float and epsilon == pytest.approx(1e-6)


def test_rejects_hidden_size_not_divisible_by_num_heads():
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=3)
    with pytest.raises(ValueError, match="hidden size=8, num_heads=3"):
        block(np.zeros((1, 3, 8), "float32"))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("relative", [False, True])
@pytest.mark.parametrize("with_encoder", [False, True])
def test_cached_decoding_gives_the_outputs_of_one_call(
    with_encoder, relative, norm_first
):
    rng = np.random.default_rng(0)
    decoder, encoder, encoder_padding = _inputs(rng, dec_len=7, enc_len=5)
    keras.utils.set_random_seed(1)
    block = TransformerDecoderBlock(
        intermediate_dim=16,
        num_heads=4,
        dropout=0.1,  # inactive: inference
        norm_first=norm_first,
        use_relative_position_bias=relative,
        relative_position_buckets=8,
        relative_position_max_distance=10,
    )
    if with_encoder:
        expected = block(decoder, encoder, encoder_padding_mask=encoder_padding)
        encoder_arguments = {"encoder_padding_mask": encoder_padding}
        cross_cache = np.zeros((2, 2, 5, 4, 2), "float32")
    else:
        expected = block(decoder)
        encoder_arguments, cross_cache = {}, None
    cache = np.zeros((2, 2, 7, 4, 2), "float32")
    # Three positions at once (filling the cross-attention cache from the
    # encoder sequence), then one at a time reading it.
    outputs, *caches = block(
        decoder[:, :3],
        encoder if with_encoder else None,
        self_attention_cache=cache,
        self_attention_cache_update_index=0,
        cross_attention_cache=cross_cache,
        cross_attention_cache_update_index=0 if with_encoder else None,
        **encoder_arguments,
    )
    assert len(caches) == (2 if with_encoder else 1)
    outputs = [outputs]
    for index in range(3, 7):
        output, *caches = block(
            decoder[:, index : index + 1],
            self_attention_cache=caches[0],
            self_attention_cache_update_index=index,
            cross_attention_cache=caches[1] if with_encoder else None,
            **encoder_arguments,
        )
        outputs.append(output)
    np.testing.assert_allclose(np.concatenate(outputs, 1), expected, atol=1e-5)


@pytest.mark.parametrize("with_encoder", [False, True])
def test_a_functional_decoding_step_returns_the_caches(with_encoder):
    # One decoding step as a functional model (for export): the symbolic
    # call returns what the eager one does.
    rng = np.random.default_rng(3)
    decoder, encoder, _ = _inputs(rng, dec_len=1, enc_len=5)
    block = TransformerDecoderBlock(intermediate_dim=16, num_heads=4)
    cache = rng.normal(size=(2, 2, 6, 4, 2)).astype("float32")
    cross_cache = np.zeros((2, 2, 5, 4, 2), "float32")
    arguments = [decoder, cache, np.array(2, "int32")]
    step = keras.Input((1, 8))
    cache_input = keras.Input((2, 6, 4, 2))
    index = keras.Input((), batch_size=1, dtype="int32")
    inputs = [step, cache_input, index]
    kwargs = {}
    if with_encoder:
        arguments += [encoder, cross_cache]
        inputs += [keras.Input((5, 8)), keras.Input((2, 5, 4, 2))]
        kwargs = {"cross_attention_cache_update_index": 0}
    symbolic = block(
        step,
        inputs[3] if with_encoder else None,
        self_attention_cache=cache_input,
        self_attention_cache_update_index=ops.squeeze(index),
        cross_attention_cache=inputs[4] if with_encoder else None,
        **kwargs,
    )
    assert isinstance(symbolic, tuple) and len(symbolic) == 2 + with_encoder
    model = keras.Model(inputs, list(symbolic))
    expected = block(
        decoder,
        encoder if with_encoder else None,
        self_attention_cache=cache,
        self_attention_cache_update_index=2,
        cross_attention_cache=cross_cache if with_encoder else None,
        **kwargs,
    )
    arguments[2] = np.array([2], "int32")
    for got, want in zip(model(arguments), expected, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-5)


def test_cached_decoding_masks_padded_cache_positions():
    rng = np.random.default_rng(2)
    decoder = rng.normal(size=(1, 4, 8)).astype("float32")
    block = TransformerDecoderBlock(intermediate_dim=16, num_heads=2)
    cache = np.zeros((1, 2, 4, 2, 4), "float32")
    padding = np.array([[1, 0, 1, 1]])
    expected = block(decoder, decoder_padding_mask=padding)
    outputs, _ = block(
        decoder,
        decoder_padding_mask=padding,
        self_attention_cache=cache,
        self_attention_cache_update_index=0,
    )
    np.testing.assert_allclose(outputs, expected, atol=1e-5)


def test_cached_decoding_rejects_missing_arguments():
    decoder, encoder, _ = _inputs(np.random.default_rng(0))
    cache = np.zeros((2, 2, 4, 2, 4), "float32")
    cross = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    cross(decoder, encoder)
    with pytest.raises(ValueError, match="self_attention_cache_update_index=None"):
        cross(decoder, encoder, self_attention_cache=cache)
    with pytest.raises(ValueError, match="pass an encoder_sequence"):
        cross(decoder, self_attention_cache=cache, self_attention_cache_update_index=0)
    plain = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    plain(decoder)
    with pytest.raises(ValueError, match="built without cross-attention"):
        plain(
            decoder,
            encoder,
            self_attention_cache=cache,
            self_attention_cache_update_index=0,
        )
