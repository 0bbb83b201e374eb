import tensorflow as tf

from tftransformer.export.text_classifier_serving_module import (
    TextClassifierServingModule,
)

__all__ = ["MultiLabelServingModule"]


class MultiLabelServingModule(TextClassifierServingModule):
    """Serves a `MultiLabelClassifier` on raw strings.

    As `TextClassifierServingModule` (tokenization in the graph, optional
    `text_pair` input), with the multi-label answer: `probabilities`
    (float32, `(batch, num_labels)`, `sigmoid(logits / temperature)`),
    `predicted` (bool, `(batch, num_labels)`, each probability at or above
    its label's threshold) and `labels` (string, `(batch, k)`: the
    predicted label names of each text, in label order, padded with `""`
    to the batch's largest set; `k` may be 0).

    Args:
        model: a float32 `MultiLabelClassifier` (its `temperature` and
            `decision_thresholds()` are read).
        preprocessor, label_names, text_pair, name: as
            `TextClassifierServingModule`'s.

    Example:
    ```python
    module = MultiLabelServingModule(classifier, preprocessor, names)
    module.serve(tf.constant(["Obama in Paris"]))["labels"]  # [[b"geo-loc", b"person"]]
    ```
    """

    def __init__(self, model, preprocessor, label_names, text_pair=False, name=None):
        super().__init__(model, preprocessor, label_names, text_pair, name)
        self.thresholds = tf.constant(model.decision_thresholds(), tf.float32)

    def _classify(self, text):
        probabilities = tf.sigmoid(self._outputs(text) / self.temperature)
        predicted = probabilities >= self.thresholds
        names = tf.broadcast_to(self.label_names, tf.shape(predicted))
        labels = tf.ragged.boolean_mask(names, predicted).to_tensor(default_value="")
        return {
            "probabilities": probabilities,
            "predicted": predicted,
            "labels": labels,
        }
