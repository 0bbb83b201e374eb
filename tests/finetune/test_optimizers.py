import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.finetune.tiny_models import tiny_bert_backbone
from tftransformer.finetune import (
    FusedAdamW,
    LayerwiseAdamW,
    WarmupLinearDecay,
    classification_loss,
    compute_train_steps,
    count_train_steps,
    create_optimizer,
)


def _schedule(optimizer):
    return keras.optimizers.schedules.deserialize(
        optimizer.get_config()["learning_rate"]
    )


def test_returns_adamw_with_warmup_linear_decay():
    optimizer = create_optimizer(3e-5, num_train_steps=1000, end_learning_rate=1e-6)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    config = optimizer.get_config()
    assert config["weight_decay"] == 0.01
    assert config["clipnorm"] == 1.0
    assert config["epsilon"] == 1e-6
    schedule = _schedule(optimizer)
    assert isinstance(schedule, WarmupLinearDecay)
    assert schedule.get_config() == {
        "peak_learning_rate": 3e-5,
        "warmup_steps": 100,  # 0.1 * 1000
        "num_train_steps": 1000,
        "end_learning_rate": 1e-6,
        "steps_per_update": 1,
        "name": None,
    }


def test_gradient_accumulation_steps_is_kept_as_a_python_int():
    optimizer = create_optimizer(
        3e-5, num_train_steps=100, gradient_accumulation_steps=np.int64(4)
    )
    assert type(optimizer.gradient_accumulation_steps) is int
    assert type(_schedule(optimizer).get_config()["steps_per_update"]) is int


@pytest.mark.parametrize(
    "kwargs, expected_warmup",
    [
        (dict(num_train_steps=30), 3),  # 0.1 * 30, which floats make 3.0000000000000004
        (dict(num_train_steps=30, warmup_fraction=0.0), 0),
        (dict(num_train_steps=200, warmup_fraction=0.06), 12),  # 0.06 * 200
        (dict(num_train_steps=30, warmup_steps=7), 7),  # overrides the fraction
        (dict(num_train_steps=30, warmup_steps=30), 30),
    ],
)
def test_warmup_steps(kwargs, expected_warmup):
    optimizer = create_optimizer(1e-3, **kwargs)
    assert _schedule(optimizer).warmup_steps == expected_warmup


@pytest.mark.parametrize(
    "exclude, excluded_names",
    [
        (None, {"gamma", "beta", "bias"}),  # LayerNorm and biases, the default
        ([], set()),  # everything decays
        (["embeddings"], {"embeddings"}),
        # A generator, read once.
        ((name for name in ["embeddings"]), {"embeddings"}),
    ],
)
def test_weight_decay_exclusion_on_bert(exclude, excluded_names):
    backbone = tiny_bert_backbone()
    variables = backbone.trainable_variables
    # Biases and LayerNorm betas start at 0, which decay would leave at 0:
    # random values make every decayed variable move.
    rng = np.random.default_rng(0)
    for v in variables:
        v.assign(rng.uniform(0.5, 1.5, size=v.shape).astype("float32"))
    before = [v.numpy().copy() for v in variables]
    assert {v.name for v in variables} == {
        "kernel",
        "bias",
        "gamma",
        "beta",
        "embeddings",
    }

    optimizer = create_optimizer(
        learning_rate=0.1,
        num_train_steps=10,
        warmup_fraction=0.0,  # so that step 0 runs at the peak rate 0.1
        weight_decay=0.5,
        exclude_from_weight_decay=exclude,
    )
    # Zero gradients: Adam's update is exactly 0, only weight decay acts.
    optimizer.apply([np.zeros(v.shape, "float32") for v in variables], variables)

    for v, old in zip(variables, before):
        if v.name in excluded_names:
            np.testing.assert_array_equal(v.numpy(), old, err_msg=v.path)
        else:
            # w - w * weight_decay * lr = w * (1 - 0.5 * 0.1) = 0.95 w
            np.testing.assert_allclose(v.numpy(), 0.95 * old, rtol=1e-6, err_msg=v.path)


def test_exclusion_matches_variable_names_not_layer_names():
    # A layer whose name holds every excluded word: its kernel still decays.
    layer = keras.layers.Dense(2, name="gamma_beta_bias")
    layer.build((None, 3))
    layer.kernel.assign(np.ones((3, 2), "float32"))
    layer.bias.assign(np.ones((2,), "float32"))
    optimizer = create_optimizer(
        0.1, num_train_steps=10, warmup_fraction=0.0, weight_decay=0.5
    )
    optimizer.apply(
        [np.zeros((3, 2), "float32"), np.zeros((2,), "float32")],
        [layer.kernel, layer.bias],
    )
    # 1 - 0.5 * 0.1 = 0.95 for the kernel; the bias is excluded.
    np.testing.assert_allclose(layer.kernel.numpy(), np.full((3, 2), 0.95), rtol=1e-6)
    np.testing.assert_array_equal(layer.bias.numpy(), np.ones((2,)))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=0.0), "learning_rate=0.0"),
        (dict(learning_rate=-1e-3), "learning_rate=-0.001"),
        (dict(num_train_steps=0), "num_train_steps=0"),
        (dict(num_train_steps=-5), "num_train_steps=-5"),
        (dict(warmup_fraction=1.0), "warmup_fraction=1.0"),
        (dict(warmup_fraction=-0.1), "warmup_fraction=-0.1"),
        (
            dict(warmup_steps=101),
            r"warmup_steps must be an integer in \[0, 100\] \(at most "
            r"num_train_steps\)\. Received: warmup_steps=101",
        ),
        (dict(warmup_steps=-1), "warmup_steps=-1"),
        (dict(weight_decay=-0.01), "weight_decay=-0.01"),
        (dict(clipnorm=0.0), "clipnorm=0.0"),
        (dict(end_learning_rate=1.0), "end_learning_rate=1.0"),
        (dict(exclude_from_weight_decay="bias"), "exclude_from_weight_decay='bias'"),
        (dict(fused="yes"), "fused='yes'"),
        (dict(layer_decay=0.9, fused=False), "layer_decay=0.9, fused=False"),
        (dict(layer_decay=2.0), r"layer_decay must be a number in \(0, 1\]"),
        (dict(layer_decay=0.9, model=1), "layer_decay=0.9, model=1"),
        (
            dict(learning_rate_multipliers={"head/kernel": 3.0}, fused=False),
            "learning_rate_multipliers need the fused optimizer",
        ),
        (
            dict(learning_rate_multipliers={"head/kernel": -1.0}),
            "head/kernel",
        ),
        (dict(learning_rate=float("inf")), "learning_rate=inf"),
        (dict(learning_rate=float("nan")), "learning_rate=nan"),
        (dict(weight_decay=float("nan")), "weight_decay=nan"),
        (dict(clipnorm=float("nan")), "clipnorm=nan"),
        (dict(beta_1=1.5), "beta_1=1.5"),
        (dict(beta_2=-1), "beta_2=-1"),
        (dict(epsilon=-1.0), "epsilon=-1.0"),
        (dict(epsilon="a"), "epsilon='a'"),
        (dict(exclude_from_weight_decay=5), "exclude_from_weight_decay=5"),
        (
            dict(learning_rate_multipliers=[0.5]),
            r"must be a dict .* Received: learning_rate_multipliers=\[0.5\]",
        ),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    kwargs = {"learning_rate": 1e-3, "num_train_steps": 100, **kwargs}
    with pytest.raises(ValueError, match=message):
        create_optimizer(**kwargs)


@pytest.mark.parametrize("optimizer_class", [FusedAdamW, LayerwiseAdamW])
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(learning_rate=-1.0), "learning_rate=-1.0"),
        (dict(learning_rate=float("nan")), "learning_rate=nan"),
        (dict(learning_rate="1e-3"), "learning_rate='1e-3'"),
        (dict(weight_decay=-1), "weight_decay=-1"),
        (dict(beta_1=2.0), "beta_1=2.0"),
        (dict(beta_2=1.0), "beta_2=1.0"),
        (dict(epsilon=-1), "epsilon=-1"),
        (dict(amsgrad="x"), "amsgrad='x'"),
    ],
)
def test_the_optimizers_made_directly_check_their_arguments(
    optimizer_class, kwargs, message
):
    # Keras' AdamW takes all of these; create_optimizer refuses them too.
    with pytest.raises(ValueError, match=message):
        optimizer_class(**kwargs)


def test_learning_rate_multipliers_make_a_layerwise_optimizer():
    optimizer = create_optimizer(
        1e-3, 10, learning_rate_multipliers={"head/kernel": 3.0}
    )
    assert optimizer.learning_rate_multipliers == {"head/kernel": 3.0}


@pytest.mark.parametrize(
    "num_examples, batch_size, epochs, expected",
    [
        (100, 32, 3, 12),  # ceil(100 / 32) = 4 steps per epoch, times 3
        (64, 32, 2, 4),  # 2 full batches per epoch, times 2
        (1, 32, 1, 1),  # one partial batch
        (8530, 32, 3, 801),  # ceil(266.56) = 267, times 3
    ],
)
def test_compute_train_steps(num_examples, batch_size, epochs, expected):
    assert compute_train_steps(num_examples, batch_size, epochs) == expected


@pytest.mark.parametrize(
    "args, message",
    [
        ((0, 32, 1), "num_examples=0"),
        ((100, 0, 1), "batch_size=0"),
        ((100, 32, 0), "epochs=0"),
        ((100, 32.0, 1), "batch_size=32.0"),
    ],
)
def test_compute_train_steps_rejects_non_positive_ints(args, message):
    with pytest.raises(ValueError, match=message):
        compute_train_steps(*args)


def test_count_train_steps_counts_the_partial_batch_of_each_length_bucket():
    # 6 short and 6 long texts in batches of 4: each length bucket ends
    # with a partial batch, so 2 + 2 batches, not ceil(12 / 4) = 3.
    from tftransformer.data import make_classification_dataset
    from tftransformer.presets import embedded_tokenizer

    texts = ["fine."] * 6 + [" ".join(["a long and winding review"] * 6)] * 6
    dataset = make_classification_dataset(
        texts, [0] * 12, embedded_tokenizer(), batch_size=4, max_length=64
    )
    assert len(list(dataset)) == 4
    assert count_train_steps(dataset, epochs=3) == 12
    assert compute_train_steps(12, 4, 3) == 9

    # fit runs exactly that many optimizer steps (no extra end-of-epoch call).
    inputs = {
        name: keras.Input((None,), dtype=spec.dtype, name=name)
        for name, spec in dataset.element_spec[0].items()
    }
    x = keras.layers.Embedding(30_522, 4)(inputs["token_ids"])
    x = keras.layers.GlobalAveragePooling1D()(x)
    model = keras.Model(inputs, keras.layers.Dense(2)(x))
    model.compile(optimizer="adam", loss=classification_loss())
    model.fit(dataset, epochs=3, verbose=0)
    assert int(model.optimizer.iterations) == 12


def test_count_train_steps_reads_a_known_cardinality():
    dataset = tf.data.Dataset.range(10).batch(4)
    assert count_train_steps(dataset, epochs=2) == 6


@pytest.mark.parametrize(
    "dataset, epochs, message",
    [
        (tf.data.Dataset.range(4).batch(2).repeat(), 1, "infinite"),
        (tf.data.Dataset.range(4).filter(lambda x: x > 9).batch(2), 1, "at least one"),
        (tf.data.Dataset.range(4).batch(2), 0, "epochs=0"),
        ([1, 2, 3], 1, r"compute_train_steps.*Received: dataset=\[1, 2, 3\]"),
    ],
)
def test_count_train_steps_refuses_what_it_cannot_count(dataset, epochs, message):
    with pytest.raises(ValueError, match=message):
        count_train_steps(dataset, epochs)
