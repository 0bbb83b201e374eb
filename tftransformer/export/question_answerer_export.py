"""Exporting a question answerer as a SavedModel on raw questions and contexts."""

import keras
import tensorflow as tf

from tftransformer._arguments import check_int
from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import publish_directory, version_path
from tftransformer.export.question_answerer_serving_module import (
    QuestionAnswererServingModule,
)
from tftransformer.export.text_classifier_export import SIGNATURE_NAME

__all__ = ["export_question_answerer"]


def export_question_answerer(
    model,
    path,
    version=None,
    max_answer_length=30,
    null_threshold=0.0,
    allow_no_answer=True,
    merge_lora=True,
    overwrite=False,
    precision="float32",
):
    """Exports a question answerer as a TF Serving model version.

    Writes `<path>/<version>/saved_model.pb` and `variables/` (TF Serving's
    layout). The `serving_default` signature takes `question` and `context`
    (1-D `tf.string`, one pair per entry) and returns `answer` (string, `""`
    for no answer), `start` and `end` (int32 character offsets of the answer
    in its context, -1 for no answer) and `score` (float32). Windowing,
    tokenization, the span head and the choice of the answer all run in the
    graph (see `QuestionAnswererServingModule`): a client needs TensorFlow
    and `import tensorflow_text` only. The graph is float32 whatever the
    training precision, with LoRA adapters merged (`inference_copy`).

    Args:
        model: a `tftransformer.models.QuestionAnswerer` with its
            `QuestionAnswererPreprocessor` (windows and tokenizer).
        path: str or path-like, TF Serving's model base path.
        version: optional int >= 0; default one more than the highest there.
        max_answer_length: int >= 1, longest answer in tokens.
        null_threshold: float, see `tftransformer.models.best_answers`.
        allow_no_answer: bool, whether answers may be empty.
        merge_lora: bool. With False, a model with LoRA adapters is refused.
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        precision: `"float32"`, or `"int8"` for Keras' int8 quantization of
            the float32 copy (int8 kernels; the span search stays float32).

    Returns:
        str, the version directory written.

    Example:
    ```python
    version_dir = export_question_answerer(answerer, "serving/qa")
    # In a process with only TensorFlow:
    import tensorflow_text  # noqa: F401
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    serve(question=tf.constant(["Who won?"]), context=tf.constant(["..."]))
    ```
    """
    refuse_multi_task_model(model)
    preprocessor = getattr(model, "preprocessor", None)
    if not isinstance(model, keras.Model) or not hasattr(preprocessor, "windows"):
        raise ValueError(
            "`model` must be a QuestionAnswerer with its "
            "QuestionAnswererPreprocessor. Received: "
            f"{type(model).__name__} with preprocessor "
            f"{type(preprocessor).__name__}"
        )
    for name, value in (
        ("allow_no_answer", allow_no_answer),
        ("merge_lora", merge_lora),
        ("overwrite", overwrite),
    ):
        if not isinstance(value, bool):
            raise ValueError(f"`{name}` must be a bool. Received: {name}={value!r}")
    max_answer_length = check_int("max_answer_length", max_answer_length, 1)
    final_path = version_path(path, version, overwrite)
    copy = inference_copy(
        model, preprocessor, merge_lora=merge_lora, precision=precision
    )
    module = QuestionAnswererServingModule(
        copy,
        preprocessor.tokenizer,
        sequence_length=preprocessor.sequence_length,
        doc_stride=preprocessor.doc_stride,
        max_question_length=preprocessor.max_question_length,
        pair_separators=preprocessor.pair_separators,
        max_answer_length=max_answer_length,
        null_threshold=float(null_threshold),
        allow_no_answer=allow_no_answer,
    )
    with publish_directory(final_path, overwrite) as out:
        tf.saved_model.save(
            module,
            out,
            signatures={SIGNATURE_NAME: module.serve},
        )
    return final_path
