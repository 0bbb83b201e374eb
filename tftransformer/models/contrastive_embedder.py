import keras
import tensorflow as tf
from keras import ops

from tftransformer._arguments import check_bool
from tftransformer.models._task_base import InMemoryBatches
from tftransformer.models.text_embedder import TextEmbedder


@keras.saving.register_keras_serializable(package="tftransformer")
class ContrastiveEmbedder(InMemoryBatches, keras.Model):
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

    With `deduplicate=True`, a text that occurs more than once in a batch
    (with the same tokens) is embedded once and its embedding reused, which
    makes the step cheaper when a few texts are paired many times
    (SetFit-style few-shot pairs, which `train_few_shot_classifier`
    deduplicates): the embeddings and their gradients are those of
    embedding every occurrence, except that with dropout the occurrences
    share one dropout mask. How many texts a step embeds is then known only
    when it runs, so the model is not compiled with XLA (Keras'
    `jit_compile` falls back to False; TPUs, which always compile, need the
    default). The default embeds every occurrence on its own, as
    sentence-transformers does.

    Args:
        embedder: a `tftransformer.models.TextEmbedder`.
        deduplicate: bool, whether to embed each distinct text of a batch
            once (see above).
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
    model.fit(tftransformer.data.make_pair_dataset(pairs, embedder.preprocessor, 16))
    ```
    """

    def __init__(self, embedder, deduplicate=False, **kwargs):
        if not isinstance(embedder, TextEmbedder):
            raise ValueError(
                "embedder must be a tftransformer.models.TextEmbedder. "
                f"Received: embedder={embedder!r}"
            )
        deduplicate = check_bool("deduplicate", deduplicate)
        super().__init__(**kwargs)
        self.embedder = embedder
        self.deduplicate = deduplicate
        # Keras compiles with XLA only models whose layers all support it.
        self.supports_jit = not deduplicate

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
        if not self.deduplicate:
            embeddings = self.embedder(flat, training=training)
        else:
            # Rows equal in every feature are one text: embed the first
            # occurrence of each, then give every row its text's embedding.
            rows = ops.concatenate(
                [ops.cast(flat[key], "int32") for key in sorted(flat)], axis=-1
            )
            _, first, inverse = ops.unique(
                rows, sorted=False, return_index=True, return_inverse=True, axis=0
            )
            distinct = {
                key: ops.take(value, first, axis=0) for key, value in flat.items()
            }
            embeddings = ops.take(
                self.embedder(distinct, training=training), inverse, axis=0
            )
        # (batch, k, dim)
        return ops.reshape(embeddings, (-1, texts, self.embedder.embedding_dim))

    def _in_memory_x(self, x):
        """Refuses texts given in memory (pairs as lists of strings), which
        the model would fail on inside the step: it takes tokenized groups."""
        if x is not None and not isinstance(x, dict) and _holds_strings(x):
            raise ValueError(
                "x must be tokenized groups of texts, a dict of (batch, k, seq) "
                "features: build a dataset of them with "
                "`tftransformer.data.make_pair_dataset(pairs, "
                f"model.preprocessor, batch_size)`. Received: x={x!r:.100}"
            )
        return super()._in_memory_x(x)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "embedder": keras.saving.serialize_keras_object(self.embedder),
                "deduplicate": self.deduplicate,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["embedder"] = keras.saving.deserialize_keras_object(config["embedder"])
        return cls(**config)


def _holds_strings(x):
    """Whether in-memory `x` (nested lists, tuples, arrays) holds strings."""
    while isinstance(x, (list, tuple)) and x:
        x = x[0]
    if isinstance(x, (str, bytes)):
        return True
    dtype = getattr(x, "dtype", None)
    return dtype is not None and (
        dtype == tf.string or getattr(dtype, "kind", None) in ("O", "S", "U")
    )
