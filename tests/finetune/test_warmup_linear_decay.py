import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.finetune import (
    WarmupLinearDecay,
)

# peak 0.01, 10 warmup steps, 110 steps in all: the decay spans steps 10-110.
WARMUP_THEN_DECAY_TO_ZERO = dict(
    peak_learning_rate=0.01, warmup_steps=10, num_train_steps=110
)
WARMUP_THEN_DECAY_TO_END = dict(WARMUP_THEN_DECAY_TO_ZERO, end_learning_rate=0.001)
NO_WARMUP = dict(peak_learning_rate=0.01, warmup_steps=0, num_train_steps=100)


@pytest.mark.parametrize(
    "kwargs, step, expected",
    [
        (WARMUP_THEN_DECAY_TO_ZERO, 0, 0.0),  # warmup starts from 0
        (WARMUP_THEN_DECAY_TO_ZERO, 5, 0.005),  # 0.01 * 5 / 10
        (WARMUP_THEN_DECAY_TO_ZERO, 10, 0.01),  # the peak
        (WARMUP_THEN_DECAY_TO_ZERO, 60, 0.005),  # 0.01 * (1 - 50 / 100)
        (WARMUP_THEN_DECAY_TO_ZERO, 85, 0.0025),  # 0.01 * (1 - 75 / 100)
        (WARMUP_THEN_DECAY_TO_ZERO, 110, 0.0),  # the end
        (WARMUP_THEN_DECAY_TO_ZERO, 500, 0.0),  # constant after the end
        (WARMUP_THEN_DECAY_TO_END, 5, 0.005),  # warmup ignores the end rate
        (WARMUP_THEN_DECAY_TO_END, 60, 0.0055),  # 0.01 + (0.001 - 0.01) * 0.5
        (WARMUP_THEN_DECAY_TO_END, 110, 0.001),
        (WARMUP_THEN_DECAY_TO_END, 500, 0.001),
        (NO_WARMUP, 0, 0.01),  # starts at the peak
        (NO_WARMUP, 25, 0.0075),  # 0.01 * (1 - 25 / 100)
    ],
)
def test_schedule_values(kwargs, step, expected):
    schedule = WarmupLinearDecay(**kwargs)
    np.testing.assert_allclose(float(schedule(step)), expected, rtol=1e-6, atol=1e-9)


def test_schedule_in_graph_with_variable_step():
    schedule = WarmupLinearDecay(**WARMUP_THEN_DECAY_TO_ZERO)
    step = tf.Variable(0, dtype="int64")
    rate = tf.function(lambda: schedule(step))
    step.assign(5)
    np.testing.assert_allclose(float(rate()), 0.005, rtol=1e-6)
    step.assign(60)
    np.testing.assert_allclose(float(rate()), 0.005, rtol=1e-6)


def test_config_round_trip():
    schedule = WarmupLinearDecay(**WARMUP_THEN_DECAY_TO_END, name="bert_schedule")
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
    assert isinstance(revived, WarmupLinearDecay)
    assert revived.get_config() == config


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(NO_WARMUP, peak_learning_rate=0.0), "peak_learning_rate=0.0"),
        (dict(NO_WARMUP, num_train_steps=0), "num_train_steps=0"),
        (dict(NO_WARMUP, warmup_steps=101), "warmup_steps=101"),
        (dict(NO_WARMUP, warmup_steps=-1), "warmup_steps=-1"),
        (dict(NO_WARMUP, end_learning_rate=0.02), "end_learning_rate=0.02"),
        (dict(NO_WARMUP, end_learning_rate=-0.1), "end_learning_rate=-0.1"),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        WarmupLinearDecay(**kwargs)
