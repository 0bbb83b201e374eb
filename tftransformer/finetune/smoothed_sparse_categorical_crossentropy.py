import keras
from keras import ops

from tftransformer._arguments import check_bool, check_fraction

__all__ = ["SmoothedSparseCategoricalCrossentropy"]


@keras.saving.register_keras_serializable(package="tftransformer")
class SmoothedSparseCategoricalCrossentropy(keras.losses.Loss):
    """Cross-entropy between integer labels and predictions, with label smoothing.

    Keras' `SparseCategoricalCrossentropy` has no `label_smoothing`, so the
    labels are one-hot encoded and smoothed as in
    `keras.losses.CategoricalCrossentropy`: with `K` classes and smoothing
    `e`, the target of the true class is `1 - e + e / K` and of every other
    class `e / K`.

    Args:
        label_smoothing: float in [0, 1), the smoothing `e`.
        from_logits: bool, whether `y_pred` holds logits rather than
            probabilities.
        reduction: the Keras loss reduction, e.g. `"sum_over_batch_size"`.
        name: optional string, the loss name.

    Returns:
        Called with `y_true` (int labels of shape `(batch,)` or `(batch, 1)`)
        and `y_pred` (`(batch, K)`), the reduced loss.

    Example:
    ```python
    loss = SmoothedSparseCategoricalCrossentropy(label_smoothing=0.1)
    loss(np.array([2]), np.array([[0.0, 0.0, np.log(2.0)]]))
    ```
    """

    def __init__(
        self,
        label_smoothing=0.1,
        from_logits=True,
        reduction="sum_over_batch_size",
        name="smoothed_sparse_categorical_crossentropy",
    ):
        super().__init__(name=name, reduction=reduction)
        check_fraction("label_smoothing", label_smoothing)
        self.label_smoothing = float(label_smoothing)
        self.from_logits = check_bool("from_logits", from_logits)

    def call(self, y_true, y_pred):
        # Labels arrive as floats (the base class casts them to self.dtype).
        labels = ops.cast(y_true, "int32")
        if len(labels.shape) == len(y_pred.shape):
            labels = ops.squeeze(labels, axis=-1)
        one_hot = ops.one_hot(labels, ops.shape(y_pred)[-1], dtype=y_pred.dtype)
        return keras.losses.categorical_crossentropy(
            one_hot,
            y_pred,
            from_logits=self.from_logits,
            label_smoothing=self.label_smoothing,
        )

    def get_config(self):
        return {
            "label_smoothing": self.label_smoothing,
            "from_logits": self.from_logits,
            "reduction": self.reduction,
            "name": self.name,
        }
