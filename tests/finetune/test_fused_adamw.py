import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.finetune import (
    FusedAdamW,
    WarmupLinearDecay,
    create_optimizer,
)

SHAPES = [(40, 8), (8, 3), (3,), (8,)]


def _variables(seed):
    rng = np.random.default_rng(seed)
    return [
        keras.Variable(rng.normal(size=shape).astype("float32"), name=name)
        for shape, name in zip(SHAPES, ["embeddings", "kernel", "bias", "gamma"])
    ]


def _gradients(rng, sparse):
    grads = [rng.normal(size=shape).astype("float32") for shape in SHAPES]
    grads = [tf.constant(grad) for grad in grads]
    if sparse:
        # An embedding lookup's gradient: rows, with a row repeated.
        rows = tf.constant([3, 7, 3, 21])
        grads[0] = tf.IndexedSlices(
            tf.constant(rng.normal(size=(4, 8)).astype("float32")),
            rows,
            dense_shape=tf.constant(SHAPES[0]),
        )
    return grads


def _train(optimizer, steps, sparse, densify=False, seed=0):
    variables = _variables(seed)
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma"])
    rng = np.random.default_rng(seed + 1)
    for _ in range(steps):
        grads = _gradients(rng, sparse)
        if densify:
            grads = [tf.convert_to_tensor(g) for g in grads]
        optimizer.apply(grads, variables)
    return [v.numpy() for v in variables], [v.numpy() for v in optimizer.variables]


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
@pytest.mark.parametrize(
    "kwargs",
    [
        dict(learning_rate=0.01, weight_decay=0.1),
        dict(learning_rate=0.01, weight_decay=0.0, beta_1=0.8, epsilon=1e-3),
        dict(
            learning_rate=WarmupLinearDecay(0.02, warmup_steps=2, num_train_steps=6),
            weight_decay=0.01,
            clipnorm=1.0,
        ),
        dict(learning_rate=0.01, weight_decay=0.1, amsgrad=True),
    ],
    ids=["decay", "betas", "schedule-clipnorm", "amsgrad"],
)
def test_same_steps_as_keras_adamw(kwargs, sparse):
    steps = 5
    fused, fused_slots = _train(FusedAdamW(**kwargs), steps, sparse)
    # A sparse gradient counts as its dense sum: the repeated row 3 gets
    # the update of its summed gradient.
    keras_adamw = keras.optimizers.AdamW(**kwargs)
    expected, expected_slots = _train(keras_adamw, steps, sparse, densify=True)
    initial = [v.numpy() for v in _variables(0)]
    for got, want, start in zip(fused, expected, initial):
        assert np.max(np.abs(want - start)) > 1e-3  # the steps moved it
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    # The same slots (iterations, moments, velocities), holding the same
    # values, then each variable's step count.
    counters = fused_slots[len(expected_slots) :]
    assert counters == ([] if kwargs.get("amsgrad") else [steps] * len(fused))
    for got, want in zip(fused_slots, expected_slots):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-7)


def test_a_variable_trained_late_takes_adams_first_step():
    # Bias correction counts the variable's own updates: a layer unfrozen at
    # step 50 starts as with a new Adam, not with steps of several times lr.
    head = keras.Variable(np.ones(3, "float32"))
    body = keras.Variable(np.ones(3, "float32"))
    optimizer = FusedAdamW(learning_rate=1e-3, weight_decay=0.0)
    optimizer.build([head, body])
    gradient = tf.constant([0.5, -1.0, 2.0])
    for _ in range(50):
        optimizer.apply([gradient], [head])
    optimizer.apply([gradient, gradient], [head, body])
    # Adam's first step: m_hat = g and v_hat = g**2, so lr * g / |g|.
    np.testing.assert_allclose(
        1.0 - body.numpy(), 1e-3 * np.sign(gradient.numpy()), rtol=1e-4
    )
    assert [int(c.numpy()) for c in optimizer._variable_steps] == [51, 1]


def _fit(optimizer, jit_compile):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu"),
            keras.layers.Dense(2),
        ]
    )
    model.compile(
        optimizer=optimizer,
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=jit_compile,
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 6)).astype("float32")
    y = rng.integers(0, 2, size=32)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0)
    return model.get_weights()


@pytest.mark.parametrize("jit_compile", [False, True], ids=["graph", "xla"])
def test_fit_matches_keras_adamw(jit_compile):
    fused = _fit(FusedAdamW(0.01, weight_decay=0.05), jit_compile)
    expected = _fit(keras.optimizers.AdamW(0.01, weight_decay=0.05), jit_compile)
    for got, want in zip(fused, expected):
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def _without_exclusion(config):
    return {
        key: value
        for key, value in config.items()
        if key not in ("exclude_from_weight_decay_pattern", "name")
    }


def test_config_round_trip_keeps_the_weight_decay_exclusion():
    optimizer = create_optimizer(3e-5, num_train_steps=100)
    assert type(optimizer) is FusedAdamW
    restored = keras.optimizers.deserialize(keras.optimizers.serialize(optimizer))
    assert type(restored) is FusedAdamW
    assert restored.get_config() == optimizer.get_config()
    decayed = {
        name: restored._use_weight_decay(keras.Variable(np.zeros(2), name=name))
        for name in ["kernel", "bias", "gamma", "beta", "bias_2"]
    }
    assert decayed == {
        "kernel": True,
        "bias": False,
        "gamma": False,
        "beta": False,
        "bias_2": True,
    }
    # Otherwise the config is AdamW's.
    plain = keras.optimizers.AdamW.from_config(
        _without_exclusion(optimizer.get_config())
    )
    assert _without_exclusion(plain.get_config()) == _without_exclusion(
        optimizer.get_config()
    )


def test_create_optimizer_can_return_keras_adamw():
    optimizer = create_optimizer(3e-5, num_train_steps=100, fused=False)
    assert type(optimizer) is keras.optimizers.AdamW
    fused_config = create_optimizer(3e-5, num_train_steps=100).get_config()
    assert _without_exclusion(optimizer.get_config()) == _without_exclusion(
        fused_config
    )
