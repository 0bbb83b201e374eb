"""The LiteRT interpreter that runs exported files, with TF Text's ops.

Two Python interpreters run a `.tflite` file: LiteRT's own
(`ai_edge_litert.interpreter`, the `litert` extra), and TensorFlow's
(`tf.lite.Interpreter`), which TensorFlow marks deprecated and warns of at
each construction. Both take TF Text's kernels through
`custom_op_registerers`. They answer float32 and dynamic-range int8 files
alike (`tests/export/test_litert_runtimes.py`); full-int8 files and speed
differ (docs/serving.md).
"""

import importlib
import warnings

import tensorflow_text as tf_text

from tftransformer._arguments import check_choice

__all__ = ["RUNTIMES", "make_interpreter", "resolve_runtime"]

# "auto": LiteRT's interpreter where `ai_edge_litert` is installed, else
# TensorFlow's.
RUNTIMES = ("auto", "litert", "tensorflow")
_MODULES = {
    "litert": "ai_edge_litert.interpreter",
    "tensorflow": "tensorflow.lite.python.interpreter",
}


def _module(runtime):
    return importlib.import_module(_MODULES[runtime])


def resolve_runtime(runtime="auto", name="runtime"):
    """The runtime `runtime` names: `"litert"` or `"tensorflow"`.

    Args:
        name: the argument's name in the messages.

    Raises:
        ValueError: `runtime` not one of `RUNTIMES`.
        ImportError: `"litert"` without the `ai_edge_litert` package.
    """
    runtime = check_choice(name, runtime, RUNTIMES)
    if runtime == "tensorflow":
        return runtime
    try:
        _module("litert")
    except ImportError as error:
        if runtime == "auto":
            return "tensorflow"
        raise ImportError(
            f"{name}='litert' needs LiteRT's interpreter, the ai_edge_litert "
            "package: pip install 'tftransformer[litert]' (or "
            f"{name}='tensorflow', TensorFlow's deprecated tf.lite.Interpreter)."
        ) from error
    return "litert"


def make_interpreter(runtime="auto", op_resolver_type=None, **kwargs):
    """`(interpreter, runtime)`: an `InterpreterWithCustomOps` of `runtime`
    with TF Text's ops registered; `kwargs` go to it (`model_path` or
    `model_content`, `num_threads`). `op_resolver_type` names a member of
    the runtime's `OpResolverType` (such as
    `"BUILTIN_WITHOUT_DEFAULT_DELEGATES"`: no XNNPACK); None keeps its
    default."""
    chosen = resolve_runtime(runtime)
    if op_resolver_type is not None:
        kwargs["experimental_op_resolver_type"] = getattr(
            _module(chosen).OpResolverType, op_resolver_type
        )
    with warnings.catch_warnings():
        if runtime == "tensorflow":
            # Asked for by name: its deprecation is known. Under "auto"
            # without ai_edge_litert, TensorFlow's warning says to install it.
            warnings.filterwarnings(
                "ignore", r"\s*Warning: tf.lite.Interpreter is deprecated"
            )
        interpreter = _module(chosen).InterpreterWithCustomOps(
            custom_op_registerers=list(tf_text.tflite_registrar.SELECT_TFTEXT_OPS),
            **kwargs,
        )
    return interpreter, chosen
