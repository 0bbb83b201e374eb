import keras

from tftransformer._arguments import check_int, python_number
from tftransformer.models._task_base import (
    refuse_bad_targets,
    refuse_non_numeric_targets,
    target_array,
)
from tftransformer.models.text_classifier import TextClassifier


def _check_thresholds(thresholds, num_labels):
    if thresholds is None:
        return None
    values = [python_number(value) for value in thresholds]
    if len(values) != num_labels or not all(
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and 0 < value < 1
        for value in values
    ):
        raise ValueError(
            f"thresholds must hold {num_labels} numbers in (0, 1), one per label. "
            f"Received: thresholds={list(thresholds)!r}"
        )
    return [float(value) for value in values]


@keras.saving.register_keras_serializable(package="tftransformer")
class MultiLabelClassifier(TextClassifier):
    """A pretrained encoder with one independent yes/no logit per label.

    The head is `TextClassifier`'s (extra blocks, pooling, dropout, dense);
    each output is a logit whose sigmoid is the probability that the text
    has that label, so a text may have any number of labels, none included.
    `compile` defaults to binary cross-entropy on the logits. A label is
    predicted when `sigmoid(logit / temperature) >= thresholds[label]`: the
    temperature and the per-label thresholds are fitted on validation data
    by `tftransformer.training.train_multi_label_classifier` and saved in
    the config.

    Args:
        backbone: the encoder (see `TextClassifier`).
        num_labels: int >= 2, the number of labels.
        preprocessor: optional preprocessor of raw strings.
        pooling, dropout, num_extra_blocks, extra_block_num_heads,
            extra_block_intermediate_dim, frozen_backbone_layers: as
            `TextClassifier`'s.
        label_names: optional list of `num_labels` label strings.
        temperature: float > 0 dividing the logits before the sigmoid.
        thresholds: optional list of `num_labels` decision thresholds in
            (0, 1); `None` for 0.5 each.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: the backbone's input dict, each entry `(batch, seq)`.

    Returns:
        Logits of shape `(batch, num_labels)`.

    Example:
    ```python
    classifier = MultiLabelClassifier.from_preset("embedded", num_labels=3)
    classifier.compile(optimizer=keras.optimizers.AdamW(3e-5))
    classifier.fit(x=["a", "b"], y=[[1, 0, 1], [0, 0, 0]], batch_size=2)
    ```
    """

    takes_class_weight = False

    def __init__(
        self,
        backbone,
        num_labels,
        preprocessor=None,
        pooling="cls",
        dropout=0.1,
        num_extra_blocks=0,
        extra_block_num_heads=None,
        extra_block_intermediate_dim=None,
        label_names=None,
        temperature=1.0,
        thresholds=None,
        frozen_backbone_layers=None,
        **kwargs,
    ):
        num_labels = check_int("num_labels", num_labels, 2)
        thresholds = _check_thresholds(thresholds, num_labels)
        super().__init__(
            backbone,
            num_classes=num_labels,
            preprocessor=preprocessor,
            pooling=pooling,
            dropout=dropout,
            num_extra_blocks=num_extra_blocks,
            extra_block_num_heads=extra_block_num_heads,
            extra_block_intermediate_dim=extra_block_intermediate_dim,
            label_names=label_names,
            temperature=temperature,
            frozen_backbone_layers=frozen_backbone_layers,
            **kwargs,
        )
        self.num_labels = num_labels
        self.thresholds = thresholds

    def decision_thresholds(self):
        """The per-label thresholds, 0.5 for each when none were fitted."""
        return list(self.thresholds or [0.5] * self.num_labels)

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory targets must be `(texts, num_labels)` numbers in [0, 1]."""
        labels = target_array(x, y, name)
        if labels is None:
            return y
        shape = f"(texts, {self.num_labels}): one 0/1 column per label"
        if labels.ndim != 2 or labels.shape[1] != self.num_labels:
            raise ValueError(
                f"{name} must have shape {shape}. Received: {name} of shape "
                f"{labels.shape}"
            )
        expected = f"numbers in [0, 1], shape {shape}"
        refuse_non_numeric_targets(name, labels, expected)
        refuse_bad_targets(name, labels, ~((labels >= 0) & (labels <= 1)), expected)
        return y

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """keras-hub's `compile`, with binary cross-entropy on the logits and
        a binary accuracy (a logit above 0 is a predicted label)."""
        if loss == "auto":
            loss = keras.losses.BinaryCrossentropy(from_logits=True)
        if metrics == "auto":
            metrics = [keras.metrics.BinaryAccuracy("binary_accuracy", threshold=0.0)]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["num_classes"]
        config.update({"num_labels": self.num_labels, "thresholds": self.thresholds})
        return config
