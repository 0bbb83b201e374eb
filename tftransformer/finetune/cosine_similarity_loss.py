import keras
from keras import ops

from tftransformer.finetune.multiple_negatives_ranking_loss import (
    check_texts_per_example,
    unit_rows,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class CosineSimilarityLoss(keras.losses.Loss):
    """Squared error between two texts' cosine similarity and a target score.

    sentence-transformers' `CosineSimilarityLoss`: for pairs labelled with a
    similarity (1 for paraphrases, 0 or -1 for unrelated texts, or a graded
    score), `(cosine(a, b) - score) ** 2`.

    Args:
        **kwargs: passed to `keras.losses.Loss` (`name`, `reduction`).

    Call arguments:
        y_true: float tensor `(batch,)`, the target cosine similarities.
        y_pred: float tensor `(batch, 2, dim)`, the two texts' embeddings.

    Returns:
        The loss, reduced over the batch as `reduction` says.

    Example:
    ```python
    loss = CosineSimilarityLoss()
    loss([1.0], np.stack([[[1.0, 0.0], [0.6, 0.8]]]))  # (0.6 - 1) ** 2
    ```
    """

    def __init__(self, name="cosine_similarity_loss", **kwargs):
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        check_texts_per_example(self, y_pred, minimum=2, maximum=2)
        y_pred = unit_rows(y_pred)
        cosine = ops.sum(y_pred[:, 0] * y_pred[:, 1], axis=-1)
        y_true = ops.reshape(ops.cast(y_true, "float32"), ops.shape(cosine))
        return ops.square(cosine - y_true)
