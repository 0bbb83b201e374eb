"""Exporting a token classifier as a SavedModel that tags raw sentences."""

import keras

from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import version_path
from tftransformer.export.text_classifier_export import save_serving_module
from tftransformer.export.token_classifier_serving_module import (
    TokenClassifierServingModule,
    check_token_classifier,
)

__all__ = ["TAGS_FILE", "export_token_classifier"]

# Written to `<version>/assets/`: one tag a line, in tag-id order.
TAGS_FILE = "tags.txt"


def export_token_classifier(
    model,
    path,
    version=None,
    tokenizer=None,
    sequence_length=None,
    tag_names=None,
    merge_lora=True,
    overwrite=False,
    precision="float32",
):
    """Exports a token classifier as a TF Serving model version on raw sentences.

    Writes TF Serving's layout, `<path>/<version>/saved_model.pb`,
    `variables/` and `assets/tags.txt`; the version is written under a
    hidden name and renamed into place.

    The `serving_default` signature takes `text` (1-D `tf.string`, one
    sentence per entry, any batch size), splits each on whitespace
    (`tf.strings.split`) and returns, padded to the batch's longest
    sentence: `tags` (string, `(batch, max_words)`, `""` past a sentence's
    end), `tag_ids` (int64, -1 past the end), `words` (string), `num_words`
    (int32, `(batch,)`: the first `num_words` entries of a row are real),
    `truncated` (bool: words cut off by the sequence length, tagged `"O"`)
    and `probabilities` (float32, `(batch, max_words, num_tags)`, the tag
    probabilities `softmax(logits / model.temperature)` at each word's
    first piece: a temperature fitted on validation tokens, `calibrate=True`
    in `train_token_classifier`, is applied in the graph; zeros for
    truncated words and past the end).
    A word's tag is the arg-max at its first word piece, as in
    `tftransformer.evaluation.predict_tags`. Tokenization runs with
    TensorFlow Text ops: a client needs `import tensorflow_text` before
    `tf.saved_model.load` (TF Serving's model server includes them).

    The graph is float32 whatever the training precision, with LoRA
    adapters merged (see `float32_inference_copy`).

    Args:
        model: a built `tftransformer.models.TokenClassifier`.
        path: str or path-like, TF Serving's model base path.
        version: optional int >= 0. Defaults to one more than the highest
            numeric subdirectory of `path` (1 for a new one).
        tokenizer: the WordPiece tokenizer; defaults to the model's
            preprocessor's.
        sequence_length: int, the truncation limit; defaults to the model's
            preprocessor's `sequence_length`, else 128.
        tag_names: list of tag strings in id order, `"O"` among them;
            defaults to `model.tag_names`.
        merge_lora: bool. With False, a model with LoRA adapters is refused.
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        precision: `"float32"`, or `"int8"` for Keras' int8 quantization of
            the float32 copy (see `inference_copy`).

    Returns:
        str, the version directory written (`<path>/<version>`).

    Example:
    ```python
    version_dir = export_token_classifier(tagger, "serving/ner")
    # In a process with only TensorFlow:
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops)
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    serve(text=tf.constant(["Obama visits Paris"]))["tags"]
    ```
    """
    refuse_multi_task_model(model)
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    preprocessor = getattr(model, "preprocessor", None)
    if tokenizer is None:
        tokenizer = getattr(preprocessor, "tokenizer", None)
    if tokenizer is None:
        raise ValueError(
            "Exporting on raw sentences needs the model's tokenizer: attach a "
            "TokenClassifierPreprocessor to the model or pass `tokenizer=`."
        )
    if sequence_length is None:
        sequence_length = getattr(preprocessor, "sequence_length", None) or 128
    if tag_names is None:
        tag_names = getattr(model, "tag_names", None)
    if tag_names is None:
        raise ValueError(
            "The model has no tag_names; pass `tag_names=` (the tag of each output id)."
        )
    for name, value in (("merge_lora", merge_lora), ("overwrite", overwrite)):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    # Checked again by the serving module, but before any work here.
    tag_names = check_token_classifier(model, sequence_length, tag_names)
    final_path = version_path(path, version, overwrite)

    copy = inference_copy(
        model, preprocessor, merge_lora=merge_lora, precision=precision
    )
    module = TokenClassifierServingModule(copy, tokenizer, sequence_length, tag_names)
    save_serving_module(module, tag_names, final_path, overwrite, names_file=TAGS_FILE)
    return final_path
