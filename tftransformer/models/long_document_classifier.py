import keras
from keras import ops

from tftransformer._arguments import (
    check_choice,
    check_fraction,
    check_int,
    check_positive_number,
    python_number,
)
from tftransformer.data.chunking import make_long_document_dataset
from tftransformer.layers.attention_pooling import AttentionPooling
from tftransformer.layers.sequence_pooling import POOLING_MODES, SequencePooling
from tftransformer.models._task_base import (
    InMemoryBatches,
    backbone_hidden_dim,
    class_id_targets,
    freeze_unused_backbone_layers,
)
from tftransformer.models.backbone_adapter import sequence_output

CHUNK_POOLING_MODES = ("attention", "mean", "max")


@keras.saving.register_keras_serializable(package="tftransformer")
class LongDocumentClassifier(InMemoryBatches, keras.Model):
    """Classifies documents longer than the encoder's window, chunk by chunk.

    A document arrives as up to `max_chunks` overlapping chunks of at most
    `chunk_length` tokens (`tftransformer.data.make_long_document_dataset`
    or `make_dataset` split it). Every chunk goes through the backbone, is
    pooled into one vector (`token_pooling`), and the chunk vectors are
    combined into one document vector (`pooling`): `"attention"`, a learned
    `AttentionPooling` (hierarchical attention, `v^T tanh(W h)` scores with
    a softmax over the real chunks), or `"mean"` / `"max"` over the real
    chunks. Dropout and a dense layer give the logits. Everything trains end
    to end. Padded chunks (no real token) never contribute. With
    `max_chunks=1` the model is the usual truncating classifier.

    Padded chunks still run through the backbone: shapes stay static (XLA
    compiles the step) at the cost of the batch's longest document.

    Args:
        backbone: an encoder `keras.Model` taking a dict with `token_ids`,
            `padding_mask` (and `segment_ids` for BERT), each `(batch, seq)`,
            and returning a dict with `sequence_output`, e.g. a keras-hub
            `BertBackbone`.
        num_classes: int >= 2, the number of labels.
        max_chunks: int >= 1, the most chunks of a document.
        chunk_length: int >= 3, a chunk's packed length, `[CLS]` and
            `[SEP]` included; at most the backbone's longest sequence.
        stride: int in `[1, chunk_length - 2]`, word pieces between the
            starts of consecutive chunks (they overlap by `chunk_length - 2
            - stride` pieces). Used by `make_dataset`.
        pooling: how chunk vectors combine: `"attention"`, `"mean"` or
            `"max"`.
        token_pooling: how a chunk's token vectors become its vector:
            `"cls"`, `"mean"` or `"max"`.
        attention_dim: width of the attention projection; `None` for the
            backbone's width.
        dropout: float in [0, 1), dropout before the dense head.
        label_names: optional list of `num_classes` label strings.
        temperature: float > 0, the softmax temperature of the probabilities
            (`softmax(logits / temperature)`) that evaluation reports; the
            logits the model returns are not scaled. 1.0 until fitted on
            validation documents (`tftransformer.training.calibrate_classifier`,
            which `train_long_document_classifiers` runs with
            `calibrate=True`).
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict of the backbone's inputs, each `(batch, chunks,
            length)`; a chunk is padding where its `padding_mask` row is all
            false.
        training: bool, whether dropout is active.

    Returns:
        Float32 logits of shape `(batch, num_classes)`.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    model = LongDocumentClassifier(backbone, num_classes=2, max_chunks=8)
    train = tftransformer.datasets.load_political_speeches("train")
    dataset = model.make_dataset(
        train.texts, train.labels, preprocessor.tokenizer, batch_size=4, shuffle=True
    )
    model.compile(
        optimizer=keras.optimizers.AdamW(3e-5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(dataset, epochs=3)
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        max_chunks=8,
        chunk_length=128,
        stride=96,
        pooling="attention",
        token_pooling="mean",
        attention_dim=None,
        dropout=0.1,
        label_names=None,
        temperature=1.0,
        **kwargs,
    ):
        num_classes = python_number(num_classes)
        temperature = check_positive_number("temperature", temperature)
        max_chunks = python_number(max_chunks)
        chunk_length = python_number(chunk_length)
        stride = python_number(stride)
        dropout = python_number(dropout)
        check_int("num_classes", num_classes, 2)
        check_int("max_chunks", max_chunks, 1)
        check_int("chunk_length", chunk_length, 3)
        longest = getattr(backbone, "max_sequence_length", None)
        if longest is not None and chunk_length > longest:
            raise ValueError(
                f"chunk_length must be at most the backbone's max_sequence_length "
                f"({longest}). Received: chunk_length={chunk_length}"
            )
        check_int("stride", stride, 1, chunk_length - 2, what=" (chunk_length - 2)")
        check_choice("pooling", pooling, CHUNK_POOLING_MODES)
        check_choice("token_pooling", token_pooling, POOLING_MODES)
        check_fraction("dropout", dropout)
        if label_names is not None:
            label_names = [str(name) for name in label_names]
            if len(label_names) != num_classes:
                raise ValueError(
                    f"label_names has {len(label_names)} entries but num_classes="
                    f"{num_classes}. Received: label_names={label_names}"
                )
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)

        # === Layers ===
        self.backbone = backbone
        self.token_pooler = SequencePooling(
            token_pooling, dtype=backbone.dtype_policy, name="token_pooling"
        )
        if pooling == "attention":
            self.chunk_pooler = AttentionPooling(
                hidden_dim=attention_dim,
                dtype=backbone.dtype_policy,
                name="chunk_pooling",
            )
        else:
            self.chunk_pooler = SequencePooling(
                pooling, dtype=backbone.dtype_policy, name="chunk_pooling"
            )
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="classifier_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_classes,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=backbone.dtype_policy,
            name="logits",
        )

        # === Config ===
        self.num_classes = num_classes
        self.max_chunks = max_chunks
        self.chunk_length = chunk_length
        self.stride = stride
        self.pooling = pooling
        self.token_pooling = token_pooling
        self.attention_dim = attention_dim
        self.dropout = dropout
        self.label_names = label_names
        self.temperature = temperature
        self._feature_names = tuple(backbone.input)
        self.build()
        freeze_unused_backbone_layers(backbone)

    def build(self, input_shape=None):
        hidden_dim = backbone_hidden_dim(self.backbone)
        self.chunk_pooler.build((None, None, hidden_dim))
        self.output_dense.build((None, hidden_dim))
        self.built = True

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or any(
            name not in inputs for name in self._feature_names
        ):
            received = sorted(inputs) if isinstance(inputs, dict) else type(inputs)
            raise ValueError(
                f"LongDocumentClassifier takes a dict with {list(self._feature_names)}"
                f". Received: {received}"
            )
        token_ids = inputs["token_ids"]
        static = tuple(token_ids.shape)
        if len(static) != 3:
            raise ValueError(
                "Inputs must be (batch, chunks, length) blocks. "
                f"Received: token_ids.shape={static}"
            )
        if static[1] is not None and static[1] > self.max_chunks:
            raise ValueError(
                f"Received {static[1]} chunks per document; this model takes at "
                f"most max_chunks={self.max_chunks}."
            )
        batch, chunks, length = ops.shape(token_ids)
        # The backbone sees every chunk as its own sequence. Selected by
        # name: a functional backbone given extra keys matches by position.
        flat = {
            name: ops.reshape(inputs[name], (-1, length))
            for name in self._feature_names
        }
        sequence = sequence_output(self.backbone(flat, training=training))
        # (batch * chunks, hidden) -> (batch, chunks, hidden)
        chunk_vectors = self.token_pooler(sequence, padding_mask=flat["padding_mask"])
        chunk_vectors = ops.reshape(chunk_vectors, (batch, chunks, -1))
        chunk_mask = ops.any(ops.cast(inputs["padding_mask"], "bool"), axis=-1)
        document = self.chunk_pooler(chunk_vectors, padding_mask=chunk_mask)
        document = self.output_dropout(document, training=training)
        # Logits stay float32 under mixed precision so the loss is stable.
        return ops.cast(self.output_dense(document), "float32")

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory labels must be class ids in `[0, num_classes)`."""
        return class_id_targets(x, y, name, self.num_classes, self.label_names)

    def make_dataset(self, texts, labels, tokenizer, batch_size, shuffle=False, seed=0):
        """Chunks and batches documents with this model's chunking settings.

        Args:
            texts: sequence of `str`, the documents.
            labels: sequence of int label ids, or `None`.
            tokenizer: the backbone's tokenizer (any family).
            batch_size: positive int, documents per batch.
            shuffle: whether to shuffle (with `seed`) on every pass.
            seed: the shuffling seed.

        Returns:
            `tftransformer.data.make_long_document_dataset(...)` with this
            model's `chunk_length`, `stride` and `max_chunks`.
        """
        if labels is not None:
            class_id_targets(None, labels, "labels", self.num_classes, self.label_names)
        return make_long_document_dataset(
            texts,
            labels,
            tokenizer,
            batch_size,
            chunk_length=self.chunk_length,
            stride=self.stride,
            max_chunks=self.max_chunks,
            shuffle=shuffle,
            seed=seed,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "num_classes": self.num_classes,
                "max_chunks": self.max_chunks,
                "chunk_length": self.chunk_length,
                "stride": self.stride,
                "pooling": self.pooling,
                "token_pooling": self.token_pooling,
                "attention_dim": self.attention_dim,
                "dropout": self.dropout,
                "label_names": self.label_names,
                "temperature": self.temperature,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        return cls(**config)
