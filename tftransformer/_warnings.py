"""`warn`: a warning that points at the caller's code, not the library's."""

import os
import sys
import warnings

__all__ = ["warn"]

# Frames in these packages are skipped: a warning raised inside a Keras
# callback during `fit` points at the user's `fit` call.
_LIBRARIES = ("tftransformer", "keras", "keras_hub", "tensorflow")


def warn(message, category=UserWarning):
    """`warnings.warn(message, category)` attributed to the first frame of
    the call stack outside tftransformer, Keras, keras-hub and TensorFlow
    (Python 3.11 has no `skip_file_prefixes`)."""
    directories = tuple(
        os.path.dirname(module.__file__) + os.sep
        for module in map(sys.modules.get, _LIBRARIES)
        if getattr(module, "__file__", None)
    )
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_code.co_filename.startswith(directories):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level + 1)
