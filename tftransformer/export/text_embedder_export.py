"""Exporting a text embedder as a SavedModel that embeds raw strings."""

import tensorflow as tf

from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export._untracked import set_untracked
from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import publish_directory, version_path
from tftransformer.export.text_classifier_serving_module import (
    TEXT_INPUT,
    string_batch,
)
from tftransformer.models.text_embedder import TextEmbedder

__all__ = ["check_text_embedder", "export_text_embedder"]


def export_text_embedder(
    embedder, path, version=None, overwrite=False, precision="float32"
):
    """Exports a `TextEmbedder` as a TF Serving model version on raw strings.

    The `serving_default` signature takes `text` (1-D `tf.string`) and
    returns `embedding` (float32, `(batch, dim)`); tokenization, truncation
    and padding run in the graph with TensorFlow Text ops, as in
    `export_for_serving` (a client needs `import tensorflow_text` before
    `tf.saved_model.load`). The graph is float32 whatever the training
    precision.

    Args:
        embedder: a built `tftransformer.models.TextEmbedder` with a
            preprocessor.
        path: TF Serving's model base path.
        version: optional int >= 0; defaults to the next free version.
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        precision: `"float32"`, or `"int8"` for Keras' int8 quantization of
            the float32 copy (see `inference_copy`).

    Returns:
        str, the version directory written.

    Example:
    ```python
    directory = export_text_embedder(embedder, "serving/embedder")
    loaded = tf.saved_model.load(directory)
    loaded.signatures["serving_default"](text=tf.constant(["a query"]))
    ```
    """
    refuse_multi_task_model(embedder)
    preprocessor = check_text_embedder(embedder)
    final_path = version_path(path, version, overwrite)
    copy = inference_copy(embedder, preprocessor, precision=precision)
    module = _EmbedderModule(copy, preprocessor)
    with publish_directory(final_path, overwrite) as out:
        tf.saved_model.save(
            module,
            out,
            signatures={"serving_default": module.serve},
        )
    return final_path


def check_text_embedder(embedder):
    """Returns the preprocessor of `embedder`, a `TextEmbedder`.

    Raises:
        ValueError: for another model (a classifier's logits would be
            served as embeddings) or an embedder without a preprocessor,
            naming what was received.
    """
    preprocessor = getattr(embedder, "preprocessor", None)
    if not isinstance(embedder, TextEmbedder) or preprocessor is None:
        raise ValueError(
            "embedder must be a tftransformer.models.TextEmbedder with a "
            "preprocessor (a ContrastiveEmbedder's: its `embedder`). Received: "
            f"{type(embedder).__name__} with preprocessor={preprocessor!r}"
        )
    return preprocessor


class _EmbedderModule(tf.Module):
    def __init__(self, model, preprocessor):
        super().__init__()
        set_untracked(self, "_model", model)
        self._preprocessor = preprocessor
        # Tracked, so `tf.saved_model.save` writes the variables.
        self.model_variables = list(model.variables)
        spec = tf.TensorSpec([None], tf.string, name=TEXT_INPUT)
        self.serve = tf.function(self._embed, input_signature=[spec])

    def _embed(self, text):
        features = self._preprocessor(x=string_batch(text))
        embedding = tf.cast(self._model(features, training=False), tf.float32)
        return {"embedding": embedding}
