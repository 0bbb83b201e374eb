"""tftransformer: Transformer transfer learning with Keras 3 and TensorFlow."""

import os
import platform

# The toolkit runs on Keras 3's TensorFlow backend; respect an explicit choice
# only if it is TensorFlow, since tf.data and SavedModel export need it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with
# AVX-512 VNNI / BF16 or AMX; on AVX2-only CPUs (many AMD EPYC cloud
# machines) they train and embed faster than the Eigen kernels TensorFlow
# falls back to (docs/benchmarks.md, "oneDNN on AVX2-only CPUs").
# TensorFlow reads the switch once, when it is imported:
# `TF_ENABLE_ONEDNN_OPTS=0` (or importing TensorFlow first) keeps its own
# default.
if platform.machine().lower() in ("x86_64", "amd64"):
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")

from tftransformer import (
    data,  # noqa: E402
    datasets,  # noqa: E402
    distribute,  # noqa: E402
    evaluation,  # noqa: E402
    export,  # noqa: E402
    finetune,  # noqa: E402
    hardware,  # noqa: E402
    layers,  # noqa: E402
    models,  # noqa: E402
    presets,  # noqa: E402
    saving,  # noqa: E402
    training,  # noqa: E402
    tuning,  # noqa: E402
)
from tftransformer.version import __version__  # noqa: E402

__all__ = [
    "data",
    "datasets",
    "distribute",
    "evaluation",
    "export",
    "finetune",
    "hardware",
    "layers",
    "models",
    "presets",
    "saving",
    "training",
    "tuning",
    "__version__",
]
