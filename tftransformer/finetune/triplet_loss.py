import keras
from keras import ops

from tftransformer._arguments import check_choice, check_positive_number
from tftransformer.finetune.multiple_negatives_ranking_loss import (
    check_texts_per_example,
    unit_rows,
)

DISTANCES = ("euclidean", "cosine")


@keras.saving.register_keras_serializable(package="tftransformer")
class TripletLoss(keras.losses.Loss):
    """Pushes each anchor closer to its positive than to its negative.

    sentence-transformers' `TripletLoss`:
    `max(d(anchor, positive) - d(anchor, negative) + margin, 0)`, with the
    Euclidean distance and a margin of 5 by default (its defaults), or the
    cosine distance `1 - cosine`.

    Args:
        distance: `"euclidean"` or `"cosine"`.
        margin: float >= 0, how much closer the positive must be.
        **kwargs: passed to `keras.losses.Loss` (`name`, `reduction`).

    Call arguments:
        y_true: ignored.
        y_pred: float tensor `(batch, 3, dim)`: anchor, positive, negative.

    Returns:
        The loss, reduced over the batch as `reduction` says.

    Example:
    ```python
    loss = TripletLoss(distance="cosine", margin=0.3)
    ```
    """

    def __init__(self, distance="euclidean", margin=5.0, name="triplet_loss", **kwargs):
        super().__init__(name=name, **kwargs)
        self.distance = check_choice("distance", distance, DISTANCES)
        self.margin = check_positive_number("margin", margin, allow_zero=True)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        check_texts_per_example(self, y_pred, minimum=3, maximum=3)
        anchor, positive, negative = y_pred[:, 0], y_pred[:, 1], y_pred[:, 2]
        gap = self._distance(anchor, positive) - self._distance(anchor, negative)
        return ops.relu(gap + self.margin)

    def _distance(self, a, b):
        if self.distance == "cosine":
            return 1.0 - ops.sum(unit_rows(a) * unit_rows(b), axis=-1)
        # The epsilon keeps the gradient of sqrt finite for equal vectors.
        return ops.sqrt(ops.sum(ops.square(a - b), axis=-1) + 1e-12)

    def get_config(self):
        config = super().get_config()
        config.update({"distance": self.distance, "margin": self.margin})
        return config
