import keras


@keras.saving.register_keras_serializable(package="tftransformer")
class SpanCrossEntropy(keras.losses.Loss):
    """Mean of the start and end positions' sparse categorical cross-entropy.

    Args:
        name: the loss' name.
        **kwargs: passed to `keras.losses.Loss`.

    Call arguments:
        y_true: int `(batch, 2)`, the start and end token positions.
        y_pred: float `(batch, seq, 2)`, start and end logits per position.

    Example:
    ```python
    loss = SpanCrossEntropy()
    loss([[1, 2]], logits)  # logits: (1, seq, 2)
    ```
    """

    def __init__(self, name="span_cross_entropy", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        # (batch, 2, seq): one distribution over positions per end of the span.
        logits = keras.ops.transpose(y_pred, (0, 2, 1))
        y_true = keras.ops.cast(y_true, "int32")
        losses = keras.ops.sparse_categorical_crossentropy(
            y_true, logits, from_logits=True
        )
        return keras.ops.mean(losses, axis=-1)
