import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.finetune import (
    LEARNING_RATE_SCHEDULES,
    WarmupCosineDecay,
    WarmupLinearDecay,
    create_optimizer,
)

SCHEDULES = [WarmupLinearDecay, WarmupCosineDecay]

# peak 0.01, 10 warmup steps, 110 steps in all: the decay spans steps 10-110.
WARMUP_THEN_DECAY_TO_ZERO = dict(
    peak_learning_rate=0.01, warmup_steps=10, num_train_steps=110
)
WARMUP_THEN_DECAY_TO_END = dict(WARMUP_THEN_DECAY_TO_ZERO, end_learning_rate=0.001)
NO_WARMUP = dict(peak_learning_rate=0.01, warmup_steps=0, num_train_steps=100)
# Half a cosine from 1 to 0 at a quarter of the decay: (1 + cos(pi / 4)) / 2.
COSINE_AT_A_QUARTER = (1 + math.cos(math.pi / 4)) / 2


@pytest.mark.parametrize(
    "schedule_cls, kwargs, step, expected",
    [
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 0, 0.0),  # from 0
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 5, 0.005),  # 0.01 * 5 / 10
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 10, 0.01),  # the peak
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 60, 0.005),  # 1 - 50 / 100
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 85, 0.0025),  # 1 - 75 / 100
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 110, 0.0),  # the end
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_ZERO, 500, 0.0),  # stays there
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_END, 5, 0.005),  # warmup from 0
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_END, 60, 0.0055),  # halfway
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_END, 110, 0.001),
        (WarmupLinearDecay, WARMUP_THEN_DECAY_TO_END, 500, 0.001),
        (WarmupLinearDecay, NO_WARMUP, 0, 0.01),  # starts at the peak
        (WarmupLinearDecay, NO_WARMUP, 25, 0.0075),  # 0.01 * (1 - 25 / 100)
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 0, 0.0),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 5, 0.005),  # same warmup
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 10, 0.01),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 35, 0.01 * COSINE_AT_A_QUARTER),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 60, 0.005),  # halfway
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 110, 0.0),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_ZERO, 500, 0.0),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_END, 60, 0.0055),
        (
            WarmupCosineDecay,
            WARMUP_THEN_DECAY_TO_END,
            35,
            0.001 + 0.009 * COSINE_AT_A_QUARTER,
        ),
        (WarmupCosineDecay, WARMUP_THEN_DECAY_TO_END, 500, 0.001),
        (WarmupCosineDecay, NO_WARMUP, 0, 0.01),
        (WarmupCosineDecay, NO_WARMUP, 25, 0.01 * COSINE_AT_A_QUARTER),
    ],
)
def test_schedule_values(schedule_cls, kwargs, step, expected):
    schedule = schedule_cls(**kwargs)
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("kwargs", [WARMUP_THEN_DECAY_TO_END, NO_WARMUP])
def test_the_cosine_schedule_is_keras_cosine_decay_with_warmup(kwargs):
    ours = WarmupCosineDecay(**kwargs)
    peak = kwargs["peak_learning_rate"]
    warmup = kwargs["warmup_steps"]
    alpha = kwargs.get("end_learning_rate", 0.0) / peak
    decay_steps = kwargs["num_train_steps"] - warmup
    if warmup:
        keras_schedule = keras.optimizers.schedules.CosineDecay(
            0.0, decay_steps, alpha, warmup_target=peak, warmup_steps=warmup
        )
    else:
        # Without warmup Keras decays from its initial rate.
        keras_schedule = keras.optimizers.schedules.CosineDecay(
            peak, decay_steps, alpha
        )
    steps = range(kwargs["num_train_steps"] + 20)
    np.testing.assert_allclose(
        [float(ours(step)) for step in steps],
        [float(keras_schedule(step)) for step in steps],
        rtol=1e-5,
        atol=1e-9,
    )


@pytest.mark.parametrize("schedule_cls", SCHEDULES)
def test_schedule_in_graph_with_variable_step(schedule_cls):
    schedule = schedule_cls(**WARMUP_THEN_DECAY_TO_ZERO)
    step = tf.Variable(0, dtype="int64")
    rate = tf.function(lambda: schedule(step))
    step.assign(5)
    np.testing.assert_allclose(float(rate()), 0.005, rtol=1e-6)
    step.assign(60)
    np.testing.assert_allclose(float(rate()), 0.005, rtol=1e-6)


@pytest.mark.parametrize("schedule_cls", SCHEDULES)
def test_the_schedule_counts_updates_not_batches(schedule_cls):
    schedule = schedule_cls(1.0, warmup_steps=2, num_train_steps=4)
    accumulated = schedule_cls(
        1.0, warmup_steps=2, num_train_steps=4, steps_per_update=3
    )
    for batch in range(12):
        assert float(accumulated(batch)) == float(schedule(batch // 3))
    assert accumulated.get_config()["steps_per_update"] == 3


@pytest.mark.parametrize("schedule_cls", SCHEDULES)
def test_config_round_trip(schedule_cls):
    schedule = schedule_cls(**WARMUP_THEN_DECAY_TO_END, name="bert_schedule")
    config = schedule.get_config()
    assert config == {
        "peak_learning_rate": 0.01,
        "warmup_steps": 10,
        "num_train_steps": 110,
        "end_learning_rate": 0.001,
        "steps_per_update": 1,
        "name": "bert_schedule",
    }
    # Through Keras' registry, as when an optimizer is saved and loaded.
    revived = keras.optimizers.schedules.deserialize(
        keras.optimizers.schedules.serialize(schedule)
    )
    assert type(revived) is schedule_cls
    assert revived.get_config() == config


@pytest.mark.parametrize("schedule_cls", SCHEDULES)
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(NO_WARMUP, peak_learning_rate=0.0), "peak_learning_rate=0.0"),
        (dict(NO_WARMUP, num_train_steps=0), "num_train_steps=0"),
        (dict(NO_WARMUP, warmup_steps=101), "warmup_steps=101"),
        (dict(NO_WARMUP, warmup_steps=-1), "warmup_steps=-1"),
        (dict(NO_WARMUP, end_learning_rate=0.02), "end_learning_rate=0.02"),
        (dict(NO_WARMUP, end_learning_rate=-0.1), "end_learning_rate=-0.1"),
        (dict(NO_WARMUP, steps_per_update=0), "steps_per_update=0"),
    ],
)
def test_invalid_arguments_are_rejected(schedule_cls, kwargs, message):
    with pytest.raises(ValueError, match=message):
        schedule_cls(**kwargs)


@pytest.mark.parametrize(
    "schedule, kwargs, schedule_cls, rates",
    [
        # 10 steps, 2 of warmup: the rate at steps 0, 1, 2, 6 and 10.
        ("linear", {}, WarmupLinearDecay, [0.0, 0.5, 1.0, 0.5, 0.0]),
        ("cosine", {}, WarmupCosineDecay, [0.0, 0.5, 1.0, 0.5, 0.0]),
        ("constant", {}, WarmupLinearDecay, [0.0, 0.5, 1.0, 1.0, 1.0]),
        ("constant", {"end_learning_rate": 1.0}, WarmupLinearDecay, [0, 0.5, 1, 1, 1]),
        (
            "linear",
            {"end_learning_rate": 0.5},
            WarmupLinearDecay,
            [0, 0.5, 1, 0.75, 0.5],
        ),
    ],
)
def test_create_optimizer_builds_the_schedule_asked_for(
    schedule, kwargs, schedule_cls, rates
):
    optimizer = create_optimizer(
        1.0, num_train_steps=10, warmup_steps=2, schedule=schedule, **kwargs
    )
    learning_rate = optimizer._learning_rate
    assert type(learning_rate) is schedule_cls
    np.testing.assert_allclose(
        [float(learning_rate(step)) for step in (0, 1, 2, 6, 10)], rates, atol=1e-7
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"schedule": "exponential"}, "schedule='exponential'"),
        ({"schedule": None}, "schedule=None"),
        (
            {"schedule": "constant", "end_learning_rate": 0.0},
            'schedule="constant" keeps the rate at learning_rate=0.001.*'
            "end_learning_rate=0.0",
        ),
    ],
)
def test_create_optimizer_refuses_a_schedule_it_does_not_know(kwargs, message):
    with pytest.raises(ValueError, match=message):
        create_optimizer(1e-3, num_train_steps=10, **kwargs)


def test_every_schedule_name_is_a_choice_of_create_optimizer():
    for schedule in LEARNING_RATE_SCHEDULES:
        create_optimizer(1e-3, num_train_steps=10, schedule=schedule)
