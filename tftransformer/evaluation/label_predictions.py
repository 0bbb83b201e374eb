"""A text classifier's labels for raw texts, as its serving export answers."""

import numpy as np

from tftransformer._arguments import (
    check_int,
    check_positive_number,
    class_names,
    output_shape,
)
from tftransformer.evaluation._task_kinds import refuse_other_task
from tftransformer.evaluation.multi_label_predictions import sigmoid_probabilities
from tftransformer.evaluation.predictions import logits_to_probabilities
from tftransformer.models.multi_label_classifier import MultiLabelClassifier
from tftransformer.models.text_classifier import TextClassifier

__all__ = ["predict_labels"]


def predict_labels(model, texts, batch_size=32):
    """Predicts each text's label (or labels) and the probabilities behind it.

    The answer of the model's SavedModel and LiteRT exports (`label`,
    `label_id` and `probabilities`; `labels`, `predicted` and
    `probabilities` for a multi-label classifier), from the Keras model:
    the logits are divided by the model's `temperature` (1 unless
    calibrated) before the softmax (sigmoid), and a multi-label classifier
    predicts each label whose probability reaches its threshold
    (`decision_thresholds()`).

    Args:
        model: a `TextClassifier` or `MultiLabelClassifier` with a
            preprocessor (or another Keras model with `num_classes`,
            `preprocessor` and logits `(batch, num_classes)`).
        texts: raw strings (a list, array or string tensor), or a tuple
            `(texts, text_pairs)` for a model of sentence pairs.
        batch_size: int >= 1, texts per forward pass.

    Returns:
        A dict, one entry per text. For a single-label classifier:
        `"label"` (list of str: `model.label_names`, else `"0"`, `"1"`,
        ...), `"label_id"` (int64 array) and `"probabilities"` (float32
        `(num_texts, num_classes)`). For a `MultiLabelClassifier`:
        `"labels"` (list of lists of str, in label order),
        `"predicted"` (bool `(num_texts, num_labels)`) and
        `"probabilities"` (float32 `(num_texts, num_labels)`).

    Raises:
        ValueError: for another task model of this library (a
            `TextRegressor`'s `predict_targets` gives its targets, a
            `TextEmbedder`'s `embed` its embeddings), a model without a
            preprocessor, or one whose outputs are not one logit per class
            (at least 2).

    Example:
    ```python
    result = predict_labels(classifier, ["a quietly devastating film"])
    result["label"]  # ["positive"]
    ```
    """
    refuse_other_task(model, "predict_labels", (TextClassifier, MultiLabelClassifier))
    if getattr(model, "preprocessor", None) is None:
        raise ValueError(
            "predict_labels takes raw texts and needs a model with a "
            f"preprocessor. Received: model {model.name!r} without one"
        )
    shape = output_shape(model)
    if shape is None or len(shape) != 2 or shape[-1] is None or shape[-1] < 2:
        raise ValueError(
            "The model must output one logit per class, (batch, num_classes) "
            f"with at least 2 classes. Received a model {model.name!r} with "
            f"output shape {shape}"
        )
    batch_size = check_int("batch_size", batch_size, 1)
    names = getattr(model, "label_names", None)
    if names is None:
        names = [str(i) for i in range(shape[-1])]
    names = class_names("label_names", names, shape[-1])
    temperature = check_positive_number(
        "temperature", getattr(model, "temperature", None) or 1.0
    )
    logits = np.asarray(model.predict(texts, batch_size=batch_size, verbose=0))
    if isinstance(model, MultiLabelClassifier):
        probabilities = sigmoid_probabilities(logits, temperature)
        predicted = probabilities >= np.asarray(model.decision_thresholds())
        return {
            "labels": [
                [name for name, on in zip(names, row) if on] for row in predicted
            ],
            "predicted": predicted,
            "probabilities": probabilities,
        }
    probabilities = logits_to_probabilities(logits / temperature)
    label_ids = probabilities.argmax(axis=-1).astype("int64")
    return {
        "label": [names[i] for i in label_ids],
        "label_id": label_ids,
        "probabilities": probabilities,
    }
