import keras
from keras import ops

from tftransformer._arguments import check_choice, check_int

__all__ = ["SparseF1Score"]


@keras.saving.register_keras_serializable(package="tftransformer")
class SparseF1Score(keras.metrics.F1Score):
    """F1 of class-id labels against the class a model's scores rank first.

    Keras' `F1Score` takes one-hot labels and thresholds its predictions;
    a classifier trains on class ids with logits. This metric one-hot
    encodes both the label and the argmax of `y_pred`, so that a
    `TextClassifier` compiled with it logs, every epoch, the F1 of its
    predicted classes, averaged over the classes as
    `ClassificationReport.averages` does (`"macro"`: every class counts
    equally, 0 for a class neither present nor predicted). Early stopping
    can then watch `val_macro_f1` (`ClassificationConfig(monitor=...)`).

    Args:
        num_classes: int >= 2, the number of classes.
        average: `"macro"`, `"weighted"` (by each class's support),
            `"micro"` (the accuracy, for single-label predictions) or `None`
            (one F1 per class).
        name: the metric's name in the logs.
        dtype: the metric's dtype.

    Call arguments:
        y_true: int class ids of shape `(batch,)` or `(batch, 1)`, or
            `(rows, slots)` of packed rows.
        y_pred: logits or probabilities, `(..., num_classes)`.
        sample_weight: optional weights of the labels' shape, e.g. Keras'
            mask of packed rows' empty slots.

    Example:
    ```python
    metric = SparseF1Score(num_classes=3)
    metric.update_state([0, 1, 2, 2], [[2.0, 0, 0], [0, 1, 0], [0, 3, 0], [0, 0, 1]])
    float(metric.result())  # 0.778: class F1s 1, 0.667 and 0.667
    classifier.compile(
        optimizer="adam",
        loss=classification_loss(),
        metrics=[SparseF1Score(num_classes=3)],
    )
    ```
    """

    def __init__(self, num_classes, average="macro", name="macro_f1", dtype=None):
        num_classes = check_int("num_classes", num_classes, 2)
        average = check_choice("average", average, ("macro", "weighted", "micro", None))
        super().__init__(average=average, threshold=0.5, name=name, dtype=dtype)
        self.num_classes = num_classes
        # Its variables now, as Keras' other metrics make theirs: not at the
        # first update, inside a traced (and maybe replicated) step.
        self._build((None, num_classes), (None, num_classes))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(ops.convert_to_tensor(y_true), "int32"), (-1,))
        y_pred = ops.reshape(ops.convert_to_tensor(y_pred), (-1, self.num_classes))
        if sample_weight is not None:
            sample_weight = ops.reshape(ops.convert_to_tensor(sample_weight), (-1,))
        predicted = ops.argmax(y_pred, axis=-1)
        return super().update_state(
            ops.one_hot(y_true, self.num_classes, dtype=self.dtype),
            ops.one_hot(predicted, self.num_classes, dtype=self.dtype),
            sample_weight=sample_weight,
        )

    def get_config(self):
        config = super().get_config()
        config.pop("threshold")
        config.pop("beta", None)
        config["num_classes"] = self.num_classes
        return config
