import keras
from keras import ops

from tftransformer._arguments import check_int
from tftransformer.data.tagging import IGNORE_LABEL


@keras.saving.register_keras_serializable(package="tftransformer")
class TokenAccuracy(keras.metrics.Mean):
    """Accuracy over the labelled positions of per-token logits.

    Positions whose label is `ignore_label` (a word's non-first pieces,
    special tokens and padding, see `tftransformer.data.tokenize_and_align`)
    count neither as right nor as wrong, so the value is the fraction of
    words whose first piece gets the right tag, pooled over every batch
    seen (batches padded to different lengths included).

    Args:
        name: the metric's name in the logs.
        ignore_label: int, the label of positions to skip.
        dtype: the metric's dtype.

    Call arguments:
        y_true: int labels of shape `(batch, seq)`.
        y_pred: logits or probabilities of shape `(batch, seq, num_tags)`.
        sample_weight: optional weights of shape `(batch, seq)` or
            `(batch,)`, multiplied with the labelled-position mask.

    Example:
    ```python
    metric = TokenAccuracy()
    metric.update_state([[-100, 1, 0]], [[[0.0, 1.0], [0.0, 1.0], [0.0, 1.0]]])
    metric.result()  # 0.5
    ```
    """

    def __init__(self, name="token_accuracy", ignore_label=IGNORE_LABEL, dtype=None):
        ignore_label = check_int("ignore_label", ignore_label)
        super().__init__(name=name, dtype=dtype)
        self.ignore_label = ignore_label

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.cast(ops.convert_to_tensor(y_true), "int32")
        predicted = ops.cast(ops.argmax(y_pred, axis=-1), "int32")
        matches = ops.cast(ops.equal(predicted, y_true), self.dtype)
        weights = ops.cast(ops.not_equal(y_true, self.ignore_label), self.dtype)
        if sample_weight is not None:
            sample_weight = ops.cast(sample_weight, self.dtype)
            if len(sample_weight.shape) < len(weights.shape):
                sample_weight = ops.expand_dims(sample_weight, -1)
            weights = weights * sample_weight
        # Flat: Mean averages 2-D values over their last axis first, which
        # would weigh each batch by 1 / its padded length.
        return super().update_state(
            ops.reshape(matches, (-1,)), sample_weight=ops.reshape(weights, (-1,))
        )

    def get_config(self):
        config = super().get_config()
        config.update({"ignore_label": self.ignore_label})
        return config
