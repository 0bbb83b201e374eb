"""The fused training path of keras-hub's encoder block, pinned to the library.

Every check compares `FusedTransformerEncoder` (or one of its fused pieces)
with keras-hub's `TransformerEncoder` (or the TensorFlow ops it replaces) on
the same weights: outputs and the gradients of every input and weight.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from keras_hub.src.utils.keras_utils import gelu_approximate

import tftransformer as tft
from tftransformer.layers import FusedTransformerEncoder
from tftransformer.layers.fused_transformer_encoder import (
    fused_dropout_add,
    fused_gelu,
    fused_softmax_dropout,
    keep_mask,
)
from tftransformer.testing import run_layer_test, tiny_bert_backbone

BATCH, LENGTH, HIDDEN = 3, 10, 32
PADDING_MASK = np.arange(LENGTH) < np.array([[LENGTH], [6], [1]])


def _inputs(seed=0):
    return tf.constant(
        np.random.default_rng(seed).normal(size=(BATCH, LENGTH, HIDDEN)), tf.float32
    )


def _outputs_and_gradients(layer, x, **call_kwargs):
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x, training=True, **call_kwargs)
        # A loss whose gradient differs per element.
        loss = tf.reduce_sum(tf.cast(y, tf.float32) * tf.sin(tf.cast(y, tf.float32)))
    return [y] + tape.gradient(loss, [x] + layer.trainable_variables)


def test_layer_contract(tmp_path):
    run_layer_test(
        FusedTransformerEncoder,
        {"intermediate_dim": 64, "num_heads": 4, "dropout": 0.0},
        {"inputs": np.asarray(_inputs()), "padding_mask": PADDING_MASK},
        tmp_path,
        expected_output_shape=(BATCH, LENGTH, HIDDEN),
        call_kwargs={"training": True},
    )


def _encoder(activation, normalize_first, dtype=None):
    return keras_hub.layers.TransformerEncoder(
        64,
        4,
        dropout=0.0,
        activation=activation,
        normalize_first=normalize_first,
        dtype=dtype,
    )


# A padding mask and an attention mask (causal), merged as keras-hub does.
MASKS = {
    "padding_mask": PADDING_MASK,
    "attention_mask": np.tril(np.ones((BATCH, LENGTH, LENGTH), bool)),
}


def _errors(results, reference):
    """The norm of each result's difference from its float32 reference."""
    return [
        np.linalg.norm(np.asarray(tf.cast(got, tf.float32)) - want)
        for got, want in zip(results, reference, strict=True)
    ]


# Each activation path (exact GELU, tanh GELU, any other) and both norm
# placements.
@pytest.mark.parametrize(
    "activation, normalize_first",
    [("gelu", False), (gelu_approximate, True), ("relu", False)],
)
def test_training_step_equals_keras_hubs(activation, normalize_first):
    layer = _encoder(activation, normalize_first)
    x = _inputs()
    expected = _outputs_and_gradients(layer, x, **MASKS)
    layer.__class__ = FusedTransformerEncoder
    actual = _outputs_and_gradients(layer, x, **MASKS)
    assert len(actual) == len(expected) == 2 + len(layer.trainable_variables)
    for got, want in zip(actual, expected):
        np.testing.assert_allclose(got, want, atol=2e-5, rtol=2e-5)


# The mixed policy (float32 variables) and the pure one (bfloat16 variables:
# the layer norm's read as float32, its gradients cast back).
@pytest.mark.parametrize(
    "activation, dtype",
    [("gelu", "mixed_bfloat16"), ("relu", "mixed_bfloat16"), ("gelu", "bfloat16")],
)
def test_bfloat16_training_step_is_as_close_to_float32_as_keras_hubs(activation, dtype):
    x = _inputs()
    reference = _encoder(activation, False)
    reference(x)
    expected = [np.asarray(t) for t in _outputs_and_gradients(reference, x, **MASKS)]
    layer = _encoder(activation, False, dtype)
    layer(x)
    layer.set_weights(reference.get_weights())
    plain = _errors(_outputs_and_gradients(layer, x, **MASKS), expected)
    layer.__class__ = FusedTransformerEncoder
    fused = _errors(_outputs_and_gradients(layer, x, **MASKS), expected)
    # bfloat16 keeps 8 bits of mantissa and the two paths round in other
    # places: the fused path's error is of the size of keras-hub's own. (The
    # key bias' gradient is zero in exact arithmetic: there both errors are
    # rounding noise, bounded by a small share of the largest gradient.)
    floor = 2e-3 * max(np.linalg.norm(want) for want in expected)
    for fused_error, plain_error in zip(fused, plain, strict=True):
        assert fused_error <= 1.5 * plain_error + floor


def test_inference_and_attention_scores_are_keras_hubs_own_call():
    layer = keras_hub.layers.TransformerEncoder(64, 4, dropout=0.1)
    x = _inputs()
    expected = layer(x, padding_mask=PADDING_MASK, training=False)
    scores = layer(x, padding_mask=PADDING_MASK, return_attention_scores=True)[1]
    layer.__class__ = FusedTransformerEncoder
    np.testing.assert_array_equal(
        layer(x, padding_mask=PADDING_MASK, training=False), expected
    )
    np.testing.assert_array_equal(
        layer(x, padding_mask=PADDING_MASK, return_attention_scores=True)[1], scores
    )


def test_dropout_draws_new_masks_at_the_rate_asked():
    seeds = keras.random.SeedGenerator(3)
    keep, scale = keep_mask(tf.constant([1000, 999]), 0.1, seeds)
    assert keep.shape == (1000, 999) and keep.dtype == tf.bool
    assert abs(float(tf.reduce_mean(tf.cast(keep, tf.float32))) - 0.9) < 0.002
    # round(0.1 * 65536) = 6554 of 65536 dropped; kept values scaled to keep
    # the expectation.
    assert scale == pytest.approx(65536 / (65536 - 6554))
    assert keep_mask(tf.constant([4, 4]), 0.0, None) == (None, 1.0)
    # A rate within 1/131,072 of 1 keeps one 16-bit value of 65,536.
    keep, scale = keep_mask(tf.constant([4, 4]), 1 - 1e-7, seeds)
    assert scale == 65536.0 and keep.shape == (4, 4)
    # Inside an XLA-compiled function (as in a `jit_compile=True` train
    # step) as well.
    compiled = tf.function(
        lambda: keep_mask(tf.constant([1000, 999]), 0.1, seeds)[0], jit_compile=True
    )
    keep, again = compiled(), compiled()
    assert abs(float(tf.reduce_mean(tf.cast(keep, tf.float32))) - 0.9) < 0.002
    assert not np.array_equal(keep, again)

    layer = FusedTransformerEncoder(64, 4, dropout=0.1)
    x = _inputs()
    first = layer(x, training=True)
    second = layer(x, training=True)
    assert not np.allclose(first, second)
    # Without training, no dropout: the same output each call.
    np.testing.assert_array_equal(layer(x), layer(x))


def _check_gradients(fused, reference, *inputs, atol=1e-5):
    inputs = [tf.constant(value) for value in inputs]
    results = []
    for function in (fused, reference):
        with tf.GradientTape() as tape:
            tape.watch(inputs)
            y = function(*inputs)
            loss = tf.reduce_sum(y * tf.cos(y))
        results.append([y] + tape.gradient(loss, inputs))
    for got, want in zip(*results):
        np.testing.assert_allclose(got, want, atol=atol, rtol=1e-5)


@pytest.mark.parametrize("approximate", [True, False])
def test_fused_gelu_and_its_gradient(approximate):
    h = np.linspace(-6, 6, 1203, dtype="float32").reshape(3, 401)
    _check_gradients(
        lambda h: fused_gelu(h, approximate),
        lambda h: tf.nn.gelu(h, approximate=approximate),
        h,
    )


@pytest.mark.parametrize("approximate", [True, False])
def test_bfloat16_gelu_computes_in_float32_and_rounds_once(approximate):
    # Output and gradient of bfloat16 values: the float32 path's (pinned to
    # `tf.nn.gelu` above) on the same values, rounded to bfloat16 once.
    def output_and_gradient(h, dy):
        with tf.GradientTape() as tape:
            tape.watch(h)
            y = fused_gelu(h, approximate)
        return y, tape.gradient(y, h, output_gradients=dy)

    h = tf.cast(tf.linspace(-6.0, 6.0, 1203), tf.bfloat16)
    dy = tf.cast(tf.cos(tf.linspace(0.0, 40.0, 1203)), tf.bfloat16)
    got = output_and_gradient(h, dy)
    want = output_and_gradient(tf.cast(h, tf.float32), tf.cast(dy, tf.float32))
    for got_value, want_value in zip(got, want, strict=True):
        assert got_value.dtype == tf.bfloat16
        np.testing.assert_array_equal(got_value, tf.cast(want_value, tf.bfloat16))


def test_bfloat16_softmax_computes_in_float32_and_rounds_once():
    # The output of bfloat16 scores: the float32 path's on the same values,
    # rounded once; the gradient reads the rounded probabilities.
    rng = np.random.default_rng(0)
    scores = tf.cast(rng.normal(size=(2, 3, 9, 9)) * 4, tf.bfloat16)
    mask = tf.constant(rng.random((2, 1, 9, 9)) < 0.7)
    keep = tf.constant(rng.random((2, 3, 9, 9)) < 0.8)
    dy = tf.cast(rng.normal(size=(2, 3, 9, 9)), tf.bfloat16)

    def output_and_gradient(scores, dy):
        with tf.GradientTape() as tape:
            tape.watch(scores)
            y = fused_softmax_dropout(scores, mask, keep, 1.25)
        return y, tape.gradient(y, scores, output_gradients=dy)

    got = output_and_gradient(scores, dy)
    want = output_and_gradient(tf.cast(scores, tf.float32), tf.cast(dy, tf.float32))
    assert got[0].dtype == got[1].dtype == tf.bfloat16
    np.testing.assert_array_equal(got[0], tf.cast(want[0], tf.bfloat16))
    np.testing.assert_allclose(
        tf.cast(got[1], tf.float32), want[1], rtol=2e-2, atol=2e-3
    )


def test_fused_softmax_dropout_and_dropout_add_with_a_mask():
    rng = np.random.default_rng(0)
    scores = rng.normal(size=(2, 3, 5, 5)).astype("float32")
    mask = tf.constant(rng.random((2, 1, 5, 5)) < 0.7)
    keep = tf.constant(rng.random((2, 3, 5, 5)) < 0.8)

    def reference(scores):
        probs = tf.nn.softmax(tf.where(mask, scores, -1e9))
        return tf.where(keep, probs * 1.25, 0.0)

    _check_gradients(
        lambda s: fused_softmax_dropout(s, mask, keep, 1.25), reference, scores
    )
    x, residual = rng.normal(size=(2, 2, 5, 4)).astype("float32")
    keep = tf.constant(rng.random((2, 5, 4)) < 0.8)
    _check_gradients(
        lambda x, r: fused_dropout_add(x, r, keep, 1.25),
        lambda x, r: tf.where(keep, x * 1.25, 0.0) + r,
        x,
        residual,
    )


def _fit_weights(fused, lora=False, jit_compile=False):
    keras.utils.set_random_seed(0)
    backbone = tiny_bert_backbone(hidden_dim=16, num_heads=2, dropout=0.0)
    classifier = tft.models.TextClassifier(backbone, num_classes=2, pooling="mean")
    if lora:
        tft.finetune.apply_lora(classifier, rank=2)
    if fused:
        assert tft.finetune.use_fused_encoder(classifier) == 2
    classifier.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=tft.finetune.classification_loss(),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    features = {
        "token_ids": rng.integers(1, 64, (8, 12)),
        "padding_mask": np.arange(12) < rng.integers(3, 13, (8, 1)),
        "segment_ids": np.zeros((8, 12), "int32"),
    }
    classifier.fit(features, rng.integers(0, 2, 8), batch_size=4, epochs=2, verbose=0)
    return [np.asarray(w) for w in classifier.trainable_weights]


@pytest.mark.parametrize(
    "lora, jit_compile",
    [(False, False), (True, False), (False, True)],
    ids=["full", "lora", "xla"],
)
def test_fit_on_the_fused_path_trains_as_keras_hub_does(lora, jit_compile):
    # With `jit_compile`, the fused pieces compile inside the XLA train step
    # (the head's dropout draws XLA's masks on both paths).
    fused = _fit_weights(True, lora, jit_compile)
    reference = _fit_weights(False, lora, jit_compile)
    for got, want in zip(fused, reference, strict=True):
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=1e-4)


def _on_fused_path(block):
    return getattr(block.call, "__func__", None) is FusedTransformerEncoder.call


def test_the_switch_goes_both_ways_and_saved_models_are_keras_hubs(tmp_path):
    backbone = tiny_bert_backbone()
    blocks = tft.finetune.encoder_layers(backbone)
    assert tft.finetune.use_fused_encoder(backbone) == 2
    assert all(_on_fused_path(block) for block in blocks)
    assert all(type(block) is keras_hub.layers.TransformerEncoder for block in blocks)
    # Switching again changes nothing; the count is of blocks on the path.
    assert tft.finetune.use_fused_encoder(backbone) == 2
    # Weight files and saved models are keras-hub's: a plain backbone reads
    # them.
    backbone.save(tmp_path / "backbone.keras")
    reloaded = keras.saving.load_model(tmp_path / "backbone.keras")
    assert not any(_on_fused_path(b) for b in tft.finetune.encoder_layers(reloaded))
    backbone.save_weights(tmp_path / "fused.weights.h5")
    plain = tiny_bert_backbone()
    plain.load_weights(tmp_path / "fused.weights.h5")
    for got, want in zip(plain.weights, backbone.weights, strict=True):
        np.testing.assert_array_equal(got, want)
    assert tft.finetune.use_fused_encoder(backbone, enabled=False) == 2
    assert not any(_on_fused_path(block) for block in blocks)
    with pytest.raises(ValueError, match="enabled.*Received: enabled='yes'"):
        tft.finetune.use_fused_encoder(backbone, enabled="yes")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"num_heads": 0}, "num_heads=0"),
        ({"intermediate_dim": 0}, "intermediate_dim=0"),
        ({"dropout": 1.0}, "dropout=1.0"),
        ({"layer_norm_epsilon": -1}, "layer_norm_epsilon=-1"),
        ({"normalize_first": "x"}, "normalize_first='x'"),
    ],
)
def test_rejects_bad_arguments(kwargs, match):
    # keras-hub's layer takes them all (num_heads=0 fails in the first call,
    # a negative epsilon trains to NaN).
    with pytest.raises(ValueError, match=match):
        FusedTransformerEncoder(**{"intermediate_dim": 8, "num_heads": 2, **kwargs})


def test_rejects_hidden_size_not_divisible_by_num_heads():
    # keras-hub's would give each of 3 heads 5 of the 16 features.
    block = FusedTransformerEncoder(intermediate_dim=8, num_heads=3)
    with pytest.raises(ValueError, match="hidden size=16, num_heads=3"):
        block(np.zeros((1, 4, 16), "float32"))
