import keras
from keras import ops

from tftransformer.models.text_embedder import TextEmbedder


@keras.saving.register_keras_serializable(package="tftransformer")
class ContrastiveEmbedder(keras.Model):
    """Trains a `TextEmbedder` on groups of texts with a contrastive loss.

    Each example is a group of `k` texts (anchor, positive, and optional
    hard negatives, or the two texts of a scored pair), tokenized together
    as features of shape `(batch, k, seq)` (what
    `tftransformer.data.make_pair_dataset` yields). The model embeds the
    `batch * k` texts in one pass and returns `(batch, k, dim)`, what
    `tftransformer.finetune.MultipleNegativesRankingLoss`,
    `CosineSimilarityLoss` and `TripletLoss` take. The embedder's weights
    are trained in place: after `fit`, `model.embedder` is the tuned
    embedder.

    Args:
        embedder: a `tftransformer.models.TextEmbedder`.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: a dict of `token_ids`, `padding_mask` (and `segment_ids`),
            each `(batch, k, seq)`.
        training: bool, whether dropout is active.

    Returns:
        float32 embeddings of shape `(batch, k, dim)`.

    Example:
    ```python
    embedder = tftransformer.models.TextEmbedder.from_preset("embedded")
    model = ContrastiveEmbedder(embedder)
    model.compile(optimizer="adam",
                  loss=tftransformer.finetune.MultipleNegativesRankingLoss())
    model.fit(tftransformer.data.make_pair_dataset(pairs, embedder, 16))
    ```
    """

    def __init__(self, embedder, **kwargs):
        if not isinstance(embedder, TextEmbedder):
            raise ValueError(
                "embedder must be a tftransformer.models.TextEmbedder. "
                f"Received: embedder={embedder!r}"
            )
        super().__init__(**kwargs)
        self.embedder = embedder

    @property
    def backbone(self):
        """The embedder's backbone, which the transfer recipes act on."""
        return self.embedder.backbone

    @property
    def preprocessor(self):
        """The embedder's preprocessor."""
        return self.embedder.preprocessor

    def call(self, inputs, training=False):
        token_ids = inputs["token_ids"]
        texts = token_ids.shape[1]
        if texts is None:
            raise ValueError(
                "ContrastiveEmbedder needs a known number of texts per example "
                f"(axis 1 of token_ids). Received: shape={tuple(token_ids.shape)}"
            )
        length = ops.shape(token_ids)[-1]
        # (batch * k, seq): one pass over every text of the batch.
        flat = {key: ops.reshape(value, (-1, length)) for key, value in inputs.items()}
        embeddings = self.embedder(flat, training=training)
        # (batch, k, dim)
        return ops.reshape(embeddings, (-1, texts, self.embedder.embedding_dim))

    def get_config(self):
        config = super().get_config()
        config.update({"embedder": keras.saving.serialize_keras_object(self.embedder)})
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embedder"] = keras.saving.deserialize_keras_object(config["embedder"])
        return cls(**config)
