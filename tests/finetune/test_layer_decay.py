import json
import math
import re
import warnings

import keras
import numpy as np
import pytest

from tests.finetune.tiny_models import (
    BERT_EMBEDDINGS,
    bert_inputs,
    tiny_bert_backbone,
    tiny_functional_encoder,
)
from tftransformer.finetune import (
    LayerwiseAdamW,
    classification_loss,
    create_optimizer,
    layer_decay_multipliers,
)
from tftransformer.models import TextClassifier

LR = 0.01
DECAY = 0.5


def _tiny_classifier():
    # Two encoder layers plus one extra block in the head.
    return TextClassifier(tiny_bert_backbone(), num_classes=2, num_extra_blocks=1)


def _expected_bert_multiplier(path):
    """decay ** (L - l) for layer l of L = 2, decay ** 3 for embeddings, else 1."""
    layer = path.split("/")[0]
    match = re.fullmatch(r"transformer_layer_(\d)", layer)
    if match:
        return {0: 0.25, 1: 0.5}[int(match.group(1))]
    if layer in BERT_EMBEDDINGS:
        return 0.125
    # extra_block_0, pooling, logits and BERT's pooled_dense.
    return 1.0


def test_bert_classifier_multipliers():
    classifier = _tiny_classifier()
    multipliers = layer_decay_multipliers(classifier, DECAY)
    assert set(multipliers) == {v.path for v in classifier.weights}
    for path, multiplier in multipliers.items():
        assert multiplier == pytest.approx(_expected_bert_multiplier(path)), path
    # A few spelled out.
    assert multipliers["token_embedding/embeddings"] == pytest.approx(0.125)
    assert multipliers["embeddings_layer_norm/gamma"] == pytest.approx(0.125)
    assert multipliers[
        "transformer_layer_0/self_attention_layer/query/kernel"
    ] == pytest.approx(0.25)
    assert multipliers[
        "transformer_layer_1/feedforward_output_dense/bias"
    ] == pytest.approx(0.5)
    assert multipliers["pooled_dense/kernel"] == 1.0
    assert multipliers["extra_block_0/self_attention/query/kernel"] == 1.0
    assert multipliers["logits/kernel"] == 1.0


def test_functional_encoder_multipliers():
    # 3 encoder layers: layer l gets 0.9 ** (3 - l), embeddings 0.9 ** 4.
    multipliers = layer_decay_multipliers(tiny_functional_encoder(), 0.9)
    assert multipliers["embeddings/embeddings"] == pytest.approx(0.6561)
    for path, multiplier in multipliers.items():
        if path.startswith("transformer_layer_0/"):
            assert multiplier == pytest.approx(0.729), path
        elif path.startswith("transformer_layer_2/"):
            assert multiplier == pytest.approx(0.9), path
    assert multipliers["logits/kernel"] == 1.0


def test_decay_one_gives_every_variable_the_full_rate():
    multipliers = layer_decay_multipliers(_tiny_classifier(), 1.0)
    assert set(multipliers.values()) == {1.0}


@pytest.mark.parametrize("decay", [0, -0.5, 1.5, True, "0.9", None, math.nan])
def test_invalid_decay_is_rejected(decay):
    with pytest.raises(ValueError, match=re.escape(f"decay={decay!r}")):
        layer_decay_multipliers(_tiny_classifier(), decay)


def test_create_optimizer_needs_the_model():
    with pytest.raises(ValueError, match="layer_decay=0.9, model=None"):
        create_optimizer(1e-3, num_train_steps=10, layer_decay=0.9)


@pytest.mark.parametrize(
    "multipliers",
    [[("a", 1.0)], {"a": -1.0}, {"a": math.inf}, {"a": "1"}, {3: 1.0}],
)
def test_invalid_multipliers_are_rejected(multipliers):
    with pytest.raises(ValueError, match="learning_rate_multipliers"):
        LayerwiseAdamW(learning_rate_multipliers=multipliers)


def test_keys_that_match_no_variable_warn_and_frozen_ones_do_not():
    # Layer names or a typo for variable paths: every variable trained at
    # the base rate without a word.
    classifier = _tiny_classifier()
    variables = classifier.trainable_variables
    wrong = LayerwiseAdamW(learning_rate_multipliers={"logits": 30.0})
    with pytest.warns(UserWarning, match=r"None of .*Received keys: \['logits'\]"):
        wrong.build(variables)
    # The decay lists every variable, frozen ones too: some keys match.
    multipliers = layer_decay_multipliers(classifier, DECAY)
    multipliers["frozen_layer/kernel"] = 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        LayerwiseAdamW(learning_rate_multipliers=multipliers).build(variables)


def _random_state(variables, seed=0):
    """Weights in [0.5, 1.5] and gradients with |g| in [0.1, 1], random signs."""
    rng = np.random.default_rng(seed)
    for v in variables:
        v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype("float32"))
    grads = [
        (
            rng.choice([-1.0, 1.0], size=v.shape) * rng.uniform(0.1, 1.0, size=v.shape)
        ).astype("float32")
        for v in variables
    ]
    return [v.numpy().copy() for v in variables], grads


def _check_one_step(variables, before, grads, weight_decay, decayed):
    """Checks each variable moved by its hand-computed first AdamW step.

    Adam's first step is lr * g / (|g| + eps'), i.e. lr * sign(g) with a tiny
    epsilon; scaled by the multiplier m. Decoupled weight decay, applied
    first, adds -w * weight_decay * lr * m to the decayed variables.
    """
    ratios = {}
    for v, old, g in zip(variables, before, grads):
        m = _expected_bert_multiplier(v.path)
        expected = -LR * m * np.sign(g)
        if decayed(v.path):
            expected = expected - old * weight_decay * LR * m
        np.testing.assert_allclose(
            v.numpy() - old, expected, rtol=1e-4, atol=1e-6, err_msg=v.path
        )
        if not decayed(v.path):
            ratios.setdefault(v.path.split("/")[0], []).append(
                np.abs(v.numpy() - old).mean()
            )
    return ratios


def test_first_step_sizes_follow_layer_ratios_without_weight_decay():
    classifier = _tiny_classifier()
    variables = classifier.trainable_variables
    before, grads = _random_state(variables)
    optimizer = LayerwiseAdamW(
        learning_rate=LR,
        weight_decay=0.0,
        epsilon=1e-12,
        learning_rate_multipliers=layer_decay_multipliers(classifier, DECAY),
    )
    optimizer.apply(grads, variables)
    ratios = _check_one_step(variables, before, grads, 0.0, lambda path: False)
    head = np.mean(ratios["logits"])
    # |dw| of each layer over the head's: decay ** (L - l).
    assert np.mean(ratios["transformer_layer_1"]) / head == pytest.approx(0.5, 1e-3)
    assert np.mean(ratios["transformer_layer_0"]) / head == pytest.approx(0.25, 1e-3)
    assert np.mean(ratios["token_embedding"]) / head == pytest.approx(0.125, 1e-3)
    assert np.mean(ratios["extra_block_0"]) / head == pytest.approx(1.0, 1e-3)


def test_first_step_scales_weight_decay_too():
    classifier = _tiny_classifier()
    variables = classifier.trainable_variables
    before, grads = _random_state(variables, seed=1)
    optimizer = create_optimizer(
        LR,
        num_train_steps=10,
        warmup_fraction=0.0,  # step 0 runs at the peak rate
        weight_decay=0.5,
        epsilon=1e-12,
        clipnorm=None,
        layer_decay=DECAY,
        model=classifier,
    )
    assert isinstance(optimizer, LayerwiseAdamW)
    optimizer.apply(grads, variables)

    def decayed(path):
        return path.rsplit("/", 1)[-1] not in ("gamma", "beta", "bias")

    _check_one_step(variables, before, grads, 0.5, decayed)


def test_multipliers_survive_serialization():
    layer = keras.layers.Dense(2, name="dense")
    layer.build((None, 3))
    optimizer = LayerwiseAdamW(
        learning_rate=LR,
        weight_decay=0.0,
        epsilon=1e-12,
        learning_rate_multipliers={"dense/kernel": 0.25},
    )
    serialized = keras.optimizers.serialize(optimizer)
    json.dumps(serialized)
    restored = keras.optimizers.deserialize(serialized)
    assert type(restored) is LayerwiseAdamW
    assert restored.learning_rate_multipliers == {"dense/kernel": 0.25}
    assert restored.get_config() == optimizer.get_config()

    layer.kernel.assign(np.zeros((3, 2), "float32"))
    layer.bias.assign(np.zeros((2,), "float32"))
    restored.apply(
        [np.ones((3, 2), "float32"), np.ones((2,), "float32")],
        [layer.kernel, layer.bias],
    )
    np.testing.assert_allclose(layer.kernel.numpy(), -0.25 * LR, rtol=1e-5)
    np.testing.assert_allclose(layer.bias.numpy(), -LR, rtol=1e-5)  # not listed


def test_inside_loss_scale_optimizer():
    classifier = _tiny_classifier()
    variables = classifier.trainable_variables
    before, grads = _random_state(variables, seed=2)
    inner = LayerwiseAdamW(
        learning_rate=LR,
        weight_decay=0.0,
        epsilon=1e-12,
        learning_rate_multipliers=layer_decay_multipliers(classifier, DECAY),
    )
    optimizer = keras.optimizers.LossScaleOptimizer(inner)
    # The loss-scale optimizer divides the gradients by its scale first;
    # Adam's first step only sees their signs.
    optimizer.apply(grads, variables)
    _check_one_step(variables, before, grads, 0.0, lambda path: False)


def test_trains_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_float16")
    classifier = _tiny_classifier()
    optimizer = create_optimizer(
        LR, num_train_steps=2, layer_decay=DECAY, model=classifier
    )
    classifier.compile(
        optimizer=optimizer, loss=classification_loss(), run_eagerly=True
    )
    assert isinstance(classifier.optimizer, keras.optimizers.LossScaleOptimizer)
    assert classifier.optimizer.inner_optimizer.learning_rate_multipliers[
        "token_embedding/embeddings"
    ] == pytest.approx(0.125)
    history = classifier.fit(
        bert_inputs(batch_size=4), np.array([0, 1, 0, 1]), batch_size=2, verbose=0
    )
    assert np.isfinite(history.history["loss"]).all()
    for v in classifier.weights:
        assert np.isfinite(v.numpy()).all(), v.path
