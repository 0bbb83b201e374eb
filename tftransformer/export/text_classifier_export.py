"""Exporting a text classifier as a SavedModel that TF Serving answers on strings."""

import os
import tempfile

import keras
import keras_hub
import tensorflow as tf

from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import publish_directory, version_path
from tftransformer.export.multi_label_serving_module import MultiLabelServingModule
from tftransformer.export.text_classifier_serving_module import (
    TEXT_INPUT,
    TEXT_PAIR_INPUT,
    TextClassifierServingModule,
)
from tftransformer.export.text_regressor_serving_module import (
    TextRegressorServingModule,
)
from tftransformer.export.warmup import write_warmup_requests
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.models.text_regressor import TextRegressor

__all__ = ["LABELS_FILE", "SIGNATURE_NAME", "export_for_serving"]

SIGNATURE_NAME = "serving_default"
# Written to `<version>/assets/`: one label name a line, in class-id order.
LABELS_FILE = "labels.txt"


def export_for_serving(
    model,
    path,
    version=None,
    warmup_texts=None,
    text_pair=False,
    preprocessor=None,
    label_names=None,
    merge_lora=True,
    overwrite=False,
    model_name=None,
    precision="float32",
):
    """Exports a text classifier as a TF Serving model version on raw strings.

    Writes TF Serving's layout, `<path>/<version>/saved_model.pb`,
    `variables/`, `assets/labels.txt` and, with `warmup_texts`,
    `assets.extra/tf_serving_warmup_requests`. The version is written under a
    hidden name and renamed into place, so a server watching `path` never
    loads it half-written.

    The `serving_default` signature takes `text` (1-D `tf.string`, any batch
    size), plus `text_pair` with `text_pair=True`, and returns
    `probabilities` (float32, `(batch, num_classes)`), `label_id` (int64,
    `(batch,)`, the arg-max class) and `label` (string, `(batch,)`). The
    probabilities are `softmax(logits / model.temperature)`: a temperature
    fitted on validation data (`calibrate=True` in `train_text_classifier`)
    is applied in the graph.

    A `MultiLabelClassifier` answers `probabilities` (sigmoid, with its
    temperature), `predicted` (bool, each label at or above its tuned
    threshold) and `labels` (the predicted names of each text, padded with
    `""`; see `MultiLabelServingModule`). A `TextRegressor` answers `score`
    (float32, `(batch, num_targets)`, in target units; see
    `TextRegressorServingModule`).
    Tokenization, truncation to the preprocessor's `sequence_length` and
    padding to the batch's longest row run in the graph, with TensorFlow
    Text ops: a client needs `import tensorflow_text` before
    `tf.saved_model.load` (TF Serving's model server includes them).

    The graph is float32 whatever the training precision: the model is
    rebuilt from its config in float32 with the same weights and with LoRA
    adapters merged into their kernels (see `float32_inference_copy`). Call
    it outside `strategy.scope()`; a model built under a strategy exports
    plain variables then.

    Args:
        model: a built `tftransformer.models.TextClassifier`, or another
            keras-hub text classifier `Task` (e.g.
            `keras_hub.models.BertTextClassifier`) returning logits or
            softmax probabilities.
        path: str or path-like, TF Serving's model base path.
        version: optional int >= 0. Defaults to one more than the highest
            numeric subdirectory of `path` (1 for a new one).
        warmup_texts: optional list of example strings (or, with
            `text_pair=True`, of `(text, text_pair)` tuples) recorded as warmup
            requests: one request per example and one with all of them.
            Needs the `tensorflow-serving-api` package.
        text_pair: bool, whether the signature takes a second string input
            `text_pair`, for models trained on sentence pairs.
        preprocessor: optional keras-hub `TextClassifierPreprocessor`.
            Defaults to `model.preprocessor`.
        label_names: optional list of `num_classes` label strings. Defaults
            to `model.label_names`, else `"0"`, `"1"`, ...
        merge_lora: bool, whether LoRA adapters are merged into the exported
            kernels. With False, a model with adapters is refused.
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        model_name: str, the model name in the warmup requests. Defaults to
            the last component of `path`.
        precision: `"float32"`, or `"int8"` for Keras' int8 quantization of
            the float32 copy (see `inference_copy`).

    Returns:
        str, the version directory written (`<path>/<version>`).

    Example:
    ```python
    version_dir = export_for_serving(
        classifier, "serving/sentiment", warmup_texts=["a fine film", "dull"]
    )
    # tensorflow_model_server --rest_api_port=8501 \
    #     --model_name=sentiment --model_base_path=$PWD/serving/sentiment
    ```
    """
    refuse_multi_task_model(model)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    if isinstance(model, TextEmbedder):
        # Its embedding would be served as the scores of `dim` classes.
        raise ValueError(
            "A TextEmbedder outputs embeddings, not class scores: export it "
            "with export_text_embedder, or with its few-shot head with "
            f"export_few_shot_classifier. Received: {type(model).__name__} "
            f"{model.name!r}"
        )
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    if not isinstance(preprocessor, keras_hub.models.TextClassifierPreprocessor):
        raise ValueError(
            "Exporting on raw strings needs a keras-hub TextClassifierPreprocessor "
            "(e.g. tftransformer.models.TextClassifierPreprocessor), attached to "
            "the model or passed as `preprocessor`. Received: "
            f"preprocessor={preprocessor!r}"
        )
    for name, value in (
        ("text_pair", text_pair),
        ("merge_lora", merge_lora),
        ("overwrite", overwrite),
    ):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    model_name = serving_model_name(path, model_name)
    if not model.built or not model.weights:
        raise ValueError(
            f"Model {model.name!r} has no weights yet: build it (call it on a "
            "batch or fit it) before exporting it."
        )
    if label_names is None:
        label_names = getattr(model, "label_names", None)
    # Checked again by the serving module, but before any work here.
    module_class = _serving_module_class(model)
    label_names = module_class.check_model(model, label_names)
    warmup_requests = classifier_warmup_requests(warmup_texts, text_pair)
    final_path = version_path(path, version, overwrite)

    copy = inference_copy(
        model, preprocessor, merge_lora=merge_lora, precision=precision
    )
    module = module_class(copy, preprocessor, label_names, text_pair=text_pair)
    save_serving_module(
        module,
        label_names,
        final_path,
        overwrite,
        warmup_requests=warmup_requests,
        model_name=model_name,
    )
    return final_path


def _serving_module_class(model):
    """The serving module answering for `model`'s task."""
    if isinstance(model, MultiLabelClassifier):
        return MultiLabelServingModule
    if isinstance(model, TextRegressor):
        return TextRegressorServingModule
    return TextClassifierServingModule


def serving_model_name(path, model_name=None):
    """`model_name`, checked, or else the last component of the base path."""
    if model_name is None:
        return os.path.basename(os.path.abspath(os.fspath(path)))
    if not (isinstance(model_name, str) and model_name):
        raise ValueError(
            f"`model_name` must be a non-empty string. Received: {model_name!r}"
        )
    return model_name


def save_serving_module(
    module,
    names,
    final_path,
    overwrite,
    names_file=LABELS_FILE,
    warmup_requests=(),
    model_name=None,
):
    """Writes a serving module as the version `final_path`.

    The SavedModel with its `serving_default` signature, the class or tag
    names as `assets/<names_file>` and the warmup requests, published
    atomically (`publish_directory`).

    Args:
        module: the serving module (`TextClassifierServingModule`,
            `TokenClassifierServingModule`, ...).
        names: list of str, written one a line to `names_file`.
        final_path: the version directory, from `version_path`.
        overwrite: bool, whether an existing `final_path` is replaced.
        names_file: the asset's file name, `labels.txt` or `tags.txt`.
        warmup_requests: list of request input dicts (see
            `classifier_warmup_requests`), possibly empty.
        model_name: str, the model name in the warmup requests.
    """
    with (
        tempfile.TemporaryDirectory() as tmp,
        publish_directory(final_path, overwrite) as out,
    ):
        names_path = os.path.join(tmp, names_file)
        with open(names_path, "w", encoding="utf-8") as f:
            f.write("".join(f"{name}\n" for name in names))
        # Tracked on the module (`labels_file`, `tags_file`), so the file is
        # copied into `assets/`.
        attribute = os.path.splitext(names_file)[0] + "_file"
        setattr(module, attribute, tf.saved_model.Asset(names_path))
        tf.saved_model.save(
            module,
            out,
            signatures={SIGNATURE_NAME: module.serve},
        )
        if warmup_requests:
            write_warmup_requests(out, warmup_requests, model_name, SIGNATURE_NAME)


def classifier_warmup_requests(warmup_texts, text_pair=False):
    """Turns example texts into request input dicts: each alone, then all."""
    if warmup_texts is None:
        return []
    if isinstance(warmup_texts, str) or not warmup_texts:
        raise ValueError(
            "`warmup_texts` must be a non-empty list of strings. "
            f"Received: warmup_texts={warmup_texts!r}"
        )
    examples = list(warmup_texts)
    for example in examples:
        is_pair = (
            isinstance(example, (tuple, list))
            and len(example) == 2
            and all(isinstance(part, str) for part in example)
        )
        if (text_pair and not is_pair) or (
            not text_pair and not isinstance(example, str)
        ):
            expected = "(text, text_pair) tuples" if text_pair else "strings"
            raise ValueError(
                f"With text_pair={text_pair}, `warmup_texts` must hold {expected}. "
                f"Received: {example!r}"
            )
    batches = [[example] for example in examples]
    if len(examples) > 1:
        batches.append(examples)
    if not text_pair:
        return [{TEXT_INPUT: batch} for batch in batches]
    return [
        {
            TEXT_INPUT: [text for text, _ in batch],
            TEXT_PAIR_INPUT: [pair for _, pair in batch],
        }
        for batch in batches
    ]
