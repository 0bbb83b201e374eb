"""Runs that train several models in turn, without TensorFlow's false alarm.

TensorFlow counts the tracing of a `tf.function` per Python code object, so
the step functions of every Keras model in a process count together: a
search, a cross-validation or a comparison, which build one model per trial,
fold or variant, each traced once for itself, warns that "N out of the last
M calls to <function TensorFlowTrainer...> triggered tf.function retracing"
as if one function kept retracing. Within such a run those warnings are
dropped; TensorFlow's other warnings, and retracing warnings of any other
function (the library's own or the user's), still show.
"""

import contextlib
import functools
import logging

from tftransformer.training._settings import ConfigError

_RETRACING = "triggered tf.function retracing"
_KERAS_STEPS = "<function TensorFlowTrainer."


class _KerasStepRetracing(logging.Filter):
    def filter(self, record):
        message = record.getMessage()
        return not (_RETRACING in message and _KERAS_STEPS in message)


@contextlib.contextmanager
def _without_step_retracing_warnings():
    logger = logging.getLogger("tensorflow")
    quiet = _KerasStepRetracing()
    logger.addFilter(quiet)
    try:
        yield
    finally:
        logger.removeFilter(quiet)


def trains_several_models(function):
    """Decorates a run that trains one model after another (see above)."""

    @functools.wraps(function)
    def run(*args, **kwargs):
        with _without_step_retracing_warnings():
            return function(*args, **kwargs)

    return run


def refuse_export_dir(config, function, trains):
    """Refuses `config.export_dir` in a run of several models: it exports
    none of them (a script's `--export_dir` would be ignored).

    Args:
        config: the run's config.
        function: the function's name, for the message.
        trains: what it trains, e.g. `"a teacher and its students"`.
    """
    export_dir = getattr(config, "export_dir", None)
    if export_dir:
        raise ConfigError(
            f"{function} trains {trains} and exports none of them: export the "
            "run you keep from its model_dir, e.g. `tft.export.export_for_"
            "serving(keras.saving.load_model(path), export_dir)`. Received: "
            f"export_dir={export_dir!r}"
        )
