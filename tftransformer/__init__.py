"""tftransformer: Transformer transfer learning with Keras 3 and TensorFlow."""

import os

# The toolkit runs on Keras 3's TensorFlow backend; respect an explicit choice
# only if it is TensorFlow, since tf.data and SavedModel export need it.
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# Before any submodule imports TensorFlow (tftransformer/_onednn.py).
from tftransformer._onednn import prefer_onednn  # noqa: E402

prefer_onednn()

from tftransformer import (  # noqa: E402
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
