"""Runs that train several models keep TensorFlow's other warnings."""

import logging

import tensorflow as tf
from tensorflow.python.eager.polymorphic_function import polymorphic_function

from tftransformer.training._several_models import trains_several_models


def test_only_keras_steps_retracing_warnings_are_dropped(caplog, monkeypatch):
    monkeypatch.setattr(
        polymorphic_function,
        "_frequent_tracing_detector_manager",
        polymorphic_function._FrequentTracingDetectorManager(),
    )
    keras_step = (
        "5 out of the last 5 calls to <function TensorFlowTrainer._make_function."
        "<locals>.multi_step_on_iterator at 0x7f0> triggered tf.function retracing."
    )

    @tf.function
    def users_step(x):
        return x + 1

    @trains_several_models
    def run():
        logging.getLogger("tensorflow").warning(keras_step)
        # A function of the user's own that retraces on every call.
        for length in range(1, 7):
            users_step(tf.zeros([length] * length))
        logging.getLogger("tensorflow").warning("another warning")
        return "done"

    with caplog.at_level(logging.WARNING, logger="tensorflow"):
        assert run() == "done"
        messages = [record.getMessage() for record in caplog.records]
        retracing = [message for message in messages if "retracing" in message]
        assert retracing and all("users_step" in m for m in retracing), messages
        assert messages[-1] == "another warning"
        # Outside the run, Keras' warning shows again.
        logging.getLogger("tensorflow").warning(keras_step)
        assert caplog.records[-1].getMessage() == keras_step
