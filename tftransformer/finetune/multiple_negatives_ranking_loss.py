import keras
from keras import ops

from tftransformer._arguments import check_bool, check_positive_number
from tftransformer.finetune._replica_gather import gather_from_replicas


@keras.saving.register_keras_serializable(package="tftransformer")
class MultipleNegativesRankingLoss(keras.losses.Loss):
    """Ranks each anchor's positive above every other candidate of the batch.

    For anchor `i`, the candidates are the positives of the whole batch (and
    the hard negatives, when each example has some); the loss is the
    cross-entropy of picking positive `i` from `scale * cosine(anchor_i,
    candidate_j)` (sentence-transformers' `MultipleNegativesRankingLoss`).
    Under `tf.distribute` the candidates are gathered from every replica,
    so a run on several replicas computes the loss of one replica running
    the global batch.

    Args:
        scale: float > 0, the inverse temperature of the softmax
            (sentence-transformers' default: 20).
        symmetric: bool, whether to also rank each positive's anchor among
            every anchor of the batch, and average both directions.
        **kwargs: passed to `keras.losses.Loss` (`name`, `reduction`).

    Call arguments:
        y_true: ignored (the targets are the pairs' own order).
        y_pred: float tensor `(batch, k, dim)`: the embeddings of each
            example's anchor, positive and `k - 2` hard negatives.

    Returns:
        The loss, reduced over the batch as `reduction` says.

    Example:
    ```python
    trainer_model = tftransformer.models.ContrastiveEmbedder(embedder)
    trainer_model.compile(optimizer="adam", loss=MultipleNegativesRankingLoss())
    ```
    """

    def __init__(
        self,
        scale=20.0,
        symmetric=False,
        name="multiple_negatives_ranking_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        self.scale = check_positive_number("scale", scale)
        self.symmetric = check_bool("symmetric", symmetric)

    def call(self, y_true, y_pred):
        y_pred = ops.cast(y_pred, "float32")
        check_texts_per_example(self, y_pred, minimum=2)
        # (batch, k, dim), unit rows: dot products are cosines.
        y_pred = unit_rows(y_pred)
        anchors = y_pred[:, 0]
        positives = y_pred[:, 1]
        # (global_batch * (k - 1), dim): every replica's positives, then
        # each group of hard negatives.
        candidates, offset = gather_from_replicas(positives)
        negatives = [
            gather_from_replicas(y_pred[:, i])[0] for i in range(2, y_pred.shape[1])
        ]
        candidates = ops.concatenate([candidates, *negatives], axis=0)
        labels = offset + ops.arange(ops.shape(anchors)[0])
        # (batch, num_candidates)
        logits = self.scale * ops.matmul(anchors, ops.transpose(candidates))
        losses = keras.losses.sparse_categorical_crossentropy(
            labels, logits, from_logits=True
        )
        if self.symmetric:
            all_anchors, _ = gather_from_replicas(anchors)
            logits = self.scale * ops.matmul(positives, ops.transpose(all_anchors))
            backward = keras.losses.sparse_categorical_crossentropy(
                labels, logits, from_logits=True
            )
            losses = (losses + backward) / 2.0
        return losses

    def get_config(self):
        config = super().get_config()
        config.update({"scale": self.scale, "symmetric": self.symmetric})
        return config


def unit_rows(x):
    """`x` scaled to unit L2 norm along its last axis (zero rows stay zero)."""
    norm = ops.sqrt(ops.maximum(ops.sum(ops.square(x), axis=-1, keepdims=True), 1e-24))
    return x / norm


def check_texts_per_example(loss, y_pred, minimum, maximum=None):
    """Refuses embeddings without `minimum` to `maximum` texts per example."""
    count = y_pred.shape[1] if len(y_pred.shape) == 3 else None
    if count is None or count < minimum or (maximum is not None and count > maximum):
        wanted = f"{minimum}" if maximum == minimum else f"at least {minimum}"
        if maximum is not None and maximum != minimum:
            wanted = f"{minimum} to {maximum}"
        raise ValueError(
            f"{type(loss).__name__} takes embeddings of shape (batch, texts, dim) "
            f"with {wanted} texts per example. Received: shape={tuple(y_pred.shape)}"
        )
