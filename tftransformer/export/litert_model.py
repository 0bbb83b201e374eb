"""Running an exported LiteRT model on raw strings."""

import os

import numpy as np
import tensorflow_text as tf_text
from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

__all__ = ["LiteRTModel"]


class LiteRTModel:
    """A LiteRT interpreter with TF Text's ops, called on a list of strings.

    TensorFlow's LiteRT interpreter (`tf.lite.Interpreter`) takes no custom
    ops; `InterpreterWithCustomOps` registers TF Text's kernels
    (`tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS`), as an app links
    them. The interpreter is resized to each call's batch size.

    Args:
        tflite_file: str, a `.tflite` file written by `export_litert`.
        num_threads: optional int, the interpreter's CPU threads.

    Call arguments:
        texts: list of strings (empty and over-long ones included).

    Returns:
        A dict of NumPy arrays: `probabilities` for a classifier,
        `embedding` for an embedder.

    Example:
    ```python
    model = LiteRTModel("litert/sentiment/model.tflite")
    model(["a fine film", ""])["probabilities"].shape  # (2, num_classes)
    ```
    """

    def __init__(self, tflite_file, num_threads=None):
        tflite_file = os.fspath(tflite_file)
        if not os.path.isfile(tflite_file):
            raise ValueError(
                f"`tflite_file` must be an existing .tflite file. "
                f"Received: {tflite_file!r}"
            )
        self.tflite_file = tflite_file
        self._interpreter = InterpreterWithCustomOps(
            model_path=tflite_file,
            custom_op_registerers=list(tf_text.tflite_registrar.SELECT_TFTEXT_OPS),
            num_threads=num_threads,
        )
        self._runner = self._interpreter.get_signature_runner()

    def __call__(self, texts):
        if isinstance(texts, str) or not all(isinstance(t, str) for t in texts):
            raise ValueError(f"`texts` must be a list of strings. Received: {texts!r}")
        return self._runner(text=np.array(list(texts), dtype=object))
