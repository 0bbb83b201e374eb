import itertools
import re

import keras
import numpy as np
import pytest
from keras import ops

from tftransformer.layers.attention_pooling import AttentionPooling
from tftransformer.layers.fused_transformer_encoder import FusedTransformerEncoder
from tftransformer.layers.masking import (
    block_diagonal_attention_mask,
    compute_causal_mask,
    merge_padding_and_attention_mask,
)
from tftransformer.layers.multi_head_attention import MultiHeadAttention
from tftransformer.layers.sequence_pooling import SequencePooling
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock

T, F = True, False


def test_block_diagonal_mask_keeps_attention_inside_each_text():
    mask = ops.convert_to_numpy(block_diagonal_attention_mask([[1, 1, 2, 0]]))
    expected = [[T, T, F, F], [T, T, F, F], [F, F, T, F], [F, F, F, F]]
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [expected])


def test_causal_mask_is_lower_triangular():
    mask = ops.convert_to_numpy(compute_causal_mask(2, 3, 3))
    expected = np.array([[T, F, F], [T, T, F], [T, T, T]])
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, np.stack([expected, expected]))


def test_causal_mask_rectangular_with_cache_index():
    # Queries at absolute positions 2 and 3 of a 5-key cache.
    mask = ops.convert_to_numpy(compute_causal_mask(1, 2, 5, cache_index=2))
    np.testing.assert_array_equal(mask, [[[T, T, T, F, F], [T, T, T, T, F]]])


def test_causal_mask_accepts_dynamic_lengths():
    x = np.zeros((3, 4, 2), "float32")
    shape = ops.shape(ops.convert_to_tensor(x))
    mask = ops.convert_to_numpy(compute_causal_mask(shape[0], shape[1], shape[1]))
    np.testing.assert_array_equal(mask, np.tril(np.ones((3, 4, 4), bool)))


def test_merge_padding_only_gives_key_mask():
    x = np.zeros((2, 3, 4), "float32")
    padding = np.array([[1, 1, 0], [1, 0, 0]])
    mask = ops.convert_to_numpy(merge_padding_and_attention_mask(x, padding))
    assert mask.dtype == bool
    np.testing.assert_array_equal(mask, [[[T, T, F]], [[T, F, F]]])


def test_merge_attention_only_and_no_mask():
    x = np.zeros((1, 2, 4), "float32")
    attention = np.array([[[1, 0], [1, 1]]])
    mask = merge_padding_and_attention_mask(x, attention_mask=attention)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[[T, F], [T, T]]])
    assert merge_padding_and_attention_mask(x) is None


def test_merge_is_logical_and_of_both_masks():
    x = np.zeros((1, 3, 4), "float32")
    padding = np.array([[T, T, F]])
    attention = np.array([[[T, F, T], [T, T, T], [F, T, T]]])
    mask = merge_padding_and_attention_mask(x, padding, attention)
    # Column 2 is padding; the attention mask's own False entries stay False.
    expected = [[[T, F, F], [T, T, F], [F, T, F]]]
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), expected)


def test_merge_uses_keras_mask_unless_padding_mask_given():
    x = keras.layers.Embedding(5, 2, mask_zero=True)(np.array([[3, 1, 0, 0]]))
    mask = merge_padding_and_attention_mask(x)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[[T, T, F, F]]])
    explicit = np.array([[T, F, T, T]])
    mask = merge_padding_and_attention_mask(x, padding_mask=explicit)
    np.testing.assert_array_equal(ops.convert_to_numpy(mask), [[[T, F, T, T]]])


def test_merge_rejects_bad_ranks():
    x = np.zeros((1, 3, 4), "float32")
    with pytest.raises(ValueError, match=r"padding_mask.shape=\(1, 1, 3\)"):
        merge_padding_and_attention_mask(x, np.ones((1, 1, 3), bool))
    with pytest.raises(ValueError, match=r"attention_mask.shape=\(1, 3\)"):
        merge_padding_and_attention_mask(x, attention_mask=np.ones((1, 3), bool))


_PADDING = r"sequence length \(2, 5\)\. Received: \w*padding_mask.shape="
_ATTENTION = r"attention_mask must have shape \(batch, query_length, key_length\)"


@pytest.mark.parametrize(
    "padding_mask, attention_mask, expected",
    [
        (np.ones((2, 9), bool), None, _PADDING + r"\(2, 9\)"),
        (np.ones((3, 5), bool), None, _PADDING + r"\(3, 5\)"),
        (np.ones((2, 5, 1), bool), None, r"padding_mask.shape=\(2, 5, 1\)"),
        (None, np.ones((2, 5, 4), bool), _ATTENTION + r" = \(2, 5, 5\).*\(2, 5, 4\)"),
        (None, np.ones((2, 4, 5), bool), _ATTENTION + r" = \(2, 5, 5\).*\(2, 4, 5\)"),
        (None, np.ones((3, 5, 5), bool), _ATTENTION + r".*\(3, 5, 5\)"),
        # A padding mask given as the attention mask.
        (None, np.ones((2, 5), bool), _ATTENTION + r".*shape=\(2, 5\)"),
    ],
)
def test_masks_of_another_batch_or_length_are_refused(
    padding_mask, attention_mask, expected
):
    # TensorFlow would report a broadcast failure inside the attention (or,
    # for the merge alone, return a mask of the wrong length).
    x = np.zeros((2, 5, 8), "float32")
    with pytest.raises(ValueError, match=expected):
        merge_padding_and_attention_mask(x, padding_mask, attention_mask, query=x)
    blocks = [
        TransformerEncoderBlock(intermediate_dim=8, num_heads=2),
        FusedTransformerEncoder(intermediate_dim=8, num_heads=2),
    ]
    for block, training in itertools.product(blocks, (False, True)):
        with pytest.raises(ValueError, match=expected):
            block(
                x,
                padding_mask=padding_mask,
                attention_mask=attention_mask,
                training=training,
            )
    decoder = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    with pytest.raises(ValueError, match=expected) as error:
        decoder(
            x,
            decoder_padding_mask=padding_mask,
            decoder_attention_mask=attention_mask,
        )
    # The message names the decoder's own argument.
    name = "padding" if attention_mask is None else "attention"
    assert f"decoder_{name}_mask" in str(error.value)
    if attention_mask is None:
        for pooling in (
            AttentionPooling(),
            SequencePooling("mean"),
            SequencePooling("cls"),
        ):
            with pytest.raises(ValueError, match=expected):
                pooling(x, padding_mask=padding_mask)
    else:
        attention = MultiHeadAttention(num_heads=2, key_dim=4)
        with pytest.raises(ValueError, match=expected):
            attention(x, x, attention_mask=attention_mask)


def test_cross_attention_masks_are_checked_against_both_sequences():
    # (decoder queries, encoder keys): 3 and 5.
    decoder = np.zeros((2, 3, 8), "float32")
    encoder = np.zeros((2, 5, 8), "float32")
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    block(decoder, encoder, encoder_attention_mask=np.ones((2, 3, 5), bool))
    for shape in ((2, 5, 5), (2, 3, 3), (2, 5)):
        with pytest.raises(
            ValueError, match=re.escape(f"encoder_attention_mask.shape={shape}")
        ):
            block(decoder, encoder, encoder_attention_mask=np.ones(shape, bool))
    with pytest.raises(ValueError, match=r"encoder_padding_mask.shape=\(2, 3\)"):
        block(decoder, encoder, encoder_padding_mask=np.ones((2, 3), bool))
    attention = MultiHeadAttention(num_heads=2, key_dim=4)
    attention(decoder, encoder, attention_mask=np.ones((2, 3, 5), bool))
    # A key mask broadcasts over the queries.
    attention(decoder, encoder, attention_mask=np.ones((2, 1, 5), bool))
    with pytest.raises(ValueError, match=r"= \(2, 3, 5\).*shape=\(2, 5, 3\)"):
        attention(decoder, encoder, attention_mask=np.ones((2, 5, 3), bool))


def test_a_padding_mask_given_as_attention_mask_is_refused_when_sizes_agree():
    # With batch == sequence length, Keras broadcast the (batch, key) mask
    # as one (query, key) mask for the whole batch: example 0's queries
    # ignored key 3 although only example 3 had it as padding.
    x = np.random.default_rng(0).normal(size=(4, 4, 8)).astype("float32")
    padding = np.tril(np.ones((4, 4), bool))[::-1]
    with pytest.raises(ValueError, match=r"= \(4, 4, 4\).*shape=\(4, 4\)"):
        MultiHeadAttention(num_heads=2, key_dim=4)(x, x, attention_mask=padding)


@pytest.mark.parametrize("argument", ["return_attention_scores", "use_causal_mask"])
def test_call_flags_refuse_a_string(argument):
    x = np.zeros((2, 5, 8), "float32")
    layers = [MultiHeadAttention(num_heads=2, key_dim=4)]
    if argument == "return_attention_scores":
        layers += [
            TransformerEncoderBlock(intermediate_dim=8, num_heads=2),
            FusedTransformerEncoder(intermediate_dim=8, num_heads=2),
            AttentionPooling(),
        ]
    for layer in layers:
        inputs = (x, x) if isinstance(layer, MultiHeadAttention) else (x,)
        with pytest.raises(ValueError, match=f"{argument}='false'"):
            layer(*inputs, **{argument: "false"})


@pytest.mark.parametrize("shape", [(5, 8), (2, 3, 5, 8)])
def test_blocks_refuse_inputs_that_are_not_batch_sequence_features(shape):
    # A (5, 8) input failed inside the softmax; a 4-D one gave a 4-D output.
    x = np.zeros(shape, "float32")
    for block, name in (
        (TransformerEncoderBlock(intermediate_dim=8, num_heads=2), "inputs"),
        (FusedTransformerEncoder(intermediate_dim=8, num_heads=2), "inputs"),
        (TransformerDecoderBlock(intermediate_dim=8, num_heads=2), "decoder_sequence"),
    ):
        with pytest.raises(ValueError, match=re.escape(f"{name}.shape={shape}")):
            block(x)


def _encoder_self_attention(masked, explicit):
    block = TransformerEncoderBlock(intermediate_dim=8, num_heads=2)
    return lambda x: block(x, padding_mask=explicit), masked


def _decoder_self_attention(masked, explicit):
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    return lambda x: block(x, decoder_padding_mask=explicit), masked


def _decoder_cross_attention(masked, explicit):
    block = TransformerDecoderBlock(intermediate_dim=8, num_heads=2)
    decoder = np.random.default_rng(1).normal(size=(1, 3, 8)).astype("float32")
    return lambda x: block(decoder, x, encoder_padding_mask=explicit), masked


@pytest.mark.parametrize(
    "make",
    [_encoder_self_attention, _decoder_self_attention, _decoder_cross_attention],
    ids=["encoder", "decoder-self", "decoder-cross"],
)
def test_explicit_padding_mask_replaces_the_keras_mask_in_blocks(make):
    # The Keras mask hides the last two positions; the caller says all four
    # are real. Keras' attention would AND the two masks.
    masked = keras.layers.Embedding(5, 8, mask_zero=True)(np.array([[3, 1, 0, 0]]))
    plain = ops.convert_to_tensor(ops.convert_to_numpy(masked))
    explicit = np.array([[T, T, T, T]])
    call, masked = make(masked, explicit)
    np.testing.assert_allclose(
        ops.convert_to_numpy(call(masked)), ops.convert_to_numpy(call(plain)), atol=1e-6
    )
    # The Keras mask is still there for later layers.
    assert keras.src.backend.get_keras_mask(masked) is not None
