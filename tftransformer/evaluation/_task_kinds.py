"""Which evaluation function takes which of the library's task models."""

from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.models.text_regressor import TextRegressor
from tftransformer.models.token_classifier import TokenClassifier

# (task class, what it predicts, how to evaluate it), subclasses before
# their base class (`MultiLabelClassifier` and `TextRegressor` are
# `TextClassifier`s).
_TASK_KINDS = (
    (
        MultiLabelClassifier,
        "labels scored one by one",
        "evaluate_multi_label_classifier",
    ),
    (TextRegressor, "numbers (predict_targets)", "evaluate_regressor"),
    (
        TextEmbedder,
        "embeddings (embed)",
        "a SemanticSearchIndex and evaluate_retrieval, or a few-shot head",
    ),
    (TokenClassifier, "a tag per token (predict_tags)", "evaluate_tagger"),
    (QuestionAnswerer, "answer spans (predict_answers)", "evaluate_question_answerer"),
    (TextClassifier, "one class per text", "evaluate_classifier"),
)


def refuse_other_task(model, function, takes):
    """Refuses a task model of this library that is none of the classes
    `takes`, naming what it predicts and how to evaluate it: its outputs
    would otherwise be read as `function`'s (an embedding's dimensions as
    class scores, a multi-label model's logits under a softmax). Other
    Keras models pass."""
    for cls, predicts, evaluator in _TASK_KINDS:
        if isinstance(model, cls):
            if cls in takes:
                return
            expected = " or ".join(kind.__name__ for kind in takes)
            raise ValueError(
                f"{function} takes a {expected}; a {type(model).__name__} "
                f"predicts {predicts}: evaluate it with {evaluator}. "
                f"Received: model {model.name!r}"
            )
