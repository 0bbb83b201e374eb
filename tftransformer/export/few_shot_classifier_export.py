"""Exporting a few-shot classifier (embedder and head) on raw strings."""

import keras

from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import version_path
from tftransformer.export.text_classifier_export import (
    classifier_warmup_requests,
    save_serving_module,
    serving_model_name,
)
from tftransformer.export.text_classifier_serving_module import (
    TextClassifierServingModule,
    check_text_classifier,
)
from tftransformer.export.text_embedder_export import check_text_embedder

__all__ = ["check_few_shot_head", "export_few_shot_classifier"]


def export_few_shot_classifier(
    embedder,
    head,
    path,
    label_names=None,
    version=None,
    warmup_texts=None,
    overwrite=False,
    model_name=None,
    precision="float32",
):
    """Exports a tuned embedder and its head as one classifier on raw strings.

    The `TextEmbedder` (rebuilt in float32, see `inference_copy`)
    and the head (e.g. `tftransformer.training.train_logistic_head`'s
    `Dense`) become one Keras model from token features to logits, served
    as `export_for_serving` serves a text classifier: the same layout
    (`<path>/<version>/`, `assets/labels.txt`, optional warmup requests) and
    the same `serving_default` signature, taking `text` (1-D `tf.string`)
    and returning `probabilities` (the softmax of the head's logits),
    `label_id` and `label`. A calibrated head
    (`tftransformer.training.calibrate_logistic_head`, as
    `train_few_shot_classifier` returns with `calibrate=True`) ends in its
    temperature layer, so the served probabilities are the calibrated
    `softmax(logits / temperature)`. A client needs `import tensorflow_text`
    before `tf.saved_model.load`.

    Args:
        embedder: a built `tftransformer.models.TextEmbedder` with a
            preprocessor.
        head: a `keras.Model` from embeddings `(batch, dim)` to logits
            `(batch, num_classes)` (divided by the temperature when
            calibrated).
        path: str or path-like, TF Serving's model base path.
        label_names: optional list of `num_classes` strings; defaults to
            `"0"`, `"1"`, ...
        version: optional int >= 0; defaults to the next free version.
        warmup_texts: optional list of example strings recorded as warmup
            requests (needs `tensorflow-serving-api`).
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        model_name: str, the model name in the warmup requests; defaults to
            the last component of `path`.
        precision: `"float32"`, or `"int8"` for Keras' int8 quantization of
            the embedder's float32 copy (see `inference_copy`); the head,
            a few thousand weights, stays float32.

    Returns:
        str, the version directory written (`<path>/<version>`).

    Example:
    ```python
    run = tft.training.train_few_shot_classifier(config)
    export_few_shot_classifier(
        run.embedder, run.head, "serving/few_shot", label_names=run.label_names
    )
    ```
    """
    check_few_shot_head(embedder, head)
    preprocessor = embedder.preprocessor
    if not isinstance(overwrite, bool):
        raise ValueError(f"`overwrite` must be a bool. Received: {overwrite!r}")
    model_name = serving_model_name(path, model_name)
    warmup_requests = classifier_warmup_requests(warmup_texts)
    # Checks `precision` before anything is written.
    copy = inference_copy(embedder, preprocessor, precision=precision)
    final_path = version_path(path, version, overwrite)

    # (batch, num_classes) logits; the serving module applies the softmax.
    logits = head(copy.output)
    classifier = keras.Model(copy.input, logits, name="few_shot_classifier")
    label_names = check_text_classifier(classifier, label_names)
    module = TextClassifierServingModule(classifier, preprocessor, label_names)
    save_serving_module(
        module,
        label_names,
        final_path,
        overwrite,
        warmup_requests=warmup_requests,
        model_name=model_name,
    )
    return final_path


def check_few_shot_head(embedder, head):
    """Checks a few-shot classifier's embedder and head before an export.

    Raises:
        ValueError: for an embedder that is not a `TextEmbedder` with a
            preprocessor, or a head that is not a built `keras.Model` from
            the embedder's embeddings, naming what was received.
    """
    check_text_embedder(embedder)
    # `inputs`, not `input`: a Sequential model has no call node of its own.
    head_inputs = (
        getattr(head, "inputs", None) if isinstance(head, keras.Model) else None
    )
    if not head_inputs or len(head_inputs) != 1:
        raise ValueError(
            "head must be a built keras.Model with one input, from embeddings "
            f"to logits. Received: head={head!r}"
        )
    head_input = tuple(head_inputs[0].shape)
    embedding_dim = embedder.output.shape[-1]
    if head_input != (None, embedding_dim):
        raise ValueError(
            f"head must take the embedder's {embedding_dim}-dim embeddings. "
            f"Received a head taking inputs of shape {head_input}"
        )
