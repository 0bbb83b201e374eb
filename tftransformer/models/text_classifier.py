import keras
import keras_hub
from keras import ops

from tftransformer._arguments import (
    TASK_KEYWORDS,
    check_choice,
    check_fraction,
    check_int,
    check_model_keywords,
    check_positive_number,
    class_names,
    is_int,
    python_number,
)
from tftransformer.data.text_packing import is_packed_batch
from tftransformer.layers.sequence_pooling import POOLING_MODES, SequencePooling
from tftransformer.models._task_base import (
    EmptyBatchPredict,
    FromPreset,
    PackedTexts,
    ShuffledFit,
    TokenizedBatches,
    class_id_targets,
    extra_encoder_blocks,
    freeze_unused_backbone_layers,
    packed_sequence,
    refuse_class_weight,
    replay_compile,
    restore_frozen_layers,
    saved_frozen_layers,
    with_optimizer_variables,
)
from tftransformer.models.backbone_adapter import (
    sequence_output,
    task_inputs,
)
from tftransformer.models.text_classifier_preprocessor import (
    TextClassifierPreprocessor,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class TextClassifier(
    FromPreset,
    PackedTexts,
    TokenizedBatches,
    EmptyBatchPredict,
    ShuffledFit,
    keras_hub.models.TextClassifier,
):
    """A pretrained encoder with a pooling and classification head.

    The head is: optional extra `TransformerEncoderBlock`s over the
    backbone's sequence output (the "custom block on top" recipe), pooling
    (`"cls"`: the first token, `"mean"`: the average of real tokens, `"max"`),
    dropout, and a dense layer producing one logit per class. It is a
    keras-hub `Task`: with a `preprocessor` attached, `fit`, `evaluate` and
    `predict` take raw strings and tokenize them inside the `tf.data`
    pipeline; batches that are already tokenized (a dict with `token_ids`,
    as `tftransformer.data.make_classification_dataset` yields) pass through
    untouched. `fit` draws in-memory data (arrays, lists of strings) in a
    new order every epoch (see `ShuffledFit`). Backbone layers the head does
    not read (BERT's `pooled_dense` pooler) are set non-trainable: they
    would get no gradient.

    Args:
        backbone: an encoder `keras.Model` taking a dict with `token_ids`,
            `padding_mask` (and `segment_ids` for BERT) and returning a dict
            with `sequence_output`: a keras-hub `BertBackbone` or a
            `tftransformer.models.TransformerEncoder`.
        num_classes: int >= 2, the number of labels.
        preprocessor: optional preprocessor turning raw strings into the
            backbone's inputs, e.g. a `TextClassifierPreprocessor`.
        pooling: `"cls"`, `"mean"` or `"max"`.
        dropout: float in [0, 1), dropout before the dense head.
        num_extra_blocks: int >= 0, new encoder blocks stacked on the
            backbone's sequence output before pooling.
        extra_block_num_heads: heads of each extra block; defaults to 4 or
            the largest divisor of the hidden width below it.
        extra_block_intermediate_dim: feed-forward width of each extra block;
            defaults to 4x the hidden width.
        label_names: optional list of label strings, in class-id order; kept
            in the config so predictions and exports can name labels.
        temperature: float > 0, the softmax temperature of the probabilities
            (`softmax(logits / temperature)`) that evaluation and exports
            report; the logits the model returns are not scaled. 1.0 until
            fitted on validation data (`tftransformer.evaluation.fit_temperature`,
            which `train_text_classifier` runs with `calibrate=True`).
        frozen_backbone_layers: optional list of names of backbone layers to
            freeze (see `tftransformer.finetune.freeze_layers_by_name`). The
            config records the layers frozen by `tftransformer.finetune`'s
            freezing functions at save time, so a `.keras` reload trains the
            same variables and runs those layers in inference mode.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: the backbone's input dict, each entry `(batch, seq)`; or
            packed rows, several texts each, as
            `tftransformer.data.make_classification_dataset(..., pack=True)`
            yields them (with `text_ids`, `position_ids`, `text_starts` and
            `text_mask`). Each text of a packed row is encoded as if alone
            (positions restarting, attention kept inside it; the family's
            adapter runs the backbone so, see
            `BackboneAdapter.packed_sequence_output`) and pooled alone.

    Returns:
        Logits of shape `(batch, num_classes)`; for packed rows `(batch,
        max_texts, num_classes)`, one per row slot (`text_mask` says which
        hold a text). The loss, the metrics and `predict` count the real
        texts only, and `predict` returns `(num_texts, num_classes)`, one
        row per text, in order.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    classifier = tftransformer.models.TextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, pooling="mean"
    )
    classifier.compile(optimizer=keras.optimizers.AdamW(3e-5))
    classifier.fit(x=["a fine film", "a dull mess"], y=[1, 0], batch_size=2)
    ```
    """

    def __init__(
        self,
        backbone,
        num_classes,
        preprocessor=None,
        pooling="cls",
        dropout=0.1,
        num_extra_blocks=0,
        extra_block_num_heads=None,
        extra_block_intermediate_dim=None,
        label_names=None,
        temperature=1.0,
        frozen_backbone_layers=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs, TASK_KEYWORDS)
        temperature = check_positive_number("temperature", temperature)
        dropout = python_number(dropout)
        num_extra_blocks = python_number(num_extra_blocks)
        num_classes = check_int("num_classes", num_classes, self.min_outputs)
        check_choice("pooling", pooling, POOLING_MODES)
        check_fraction("dropout", dropout)
        if label_names is not None:
            label_names = class_names("label_names", label_names, num_classes)
        extra_blocks, extra_block_num_heads, extra_block_intermediate_dim = (
            extra_encoder_blocks(
                backbone,
                num_extra_blocks,
                extra_block_num_heads,
                extra_block_intermediate_dim,
                dropout,
            )
        )

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.extra_blocks = extra_blocks
        self.pooler = SequencePooling(
            mode=pooling, dtype=backbone.dtype_policy, name="pooling"
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

        # === Functional model ===
        inputs, backbone_inputs = task_inputs(backbone)
        # (batch, seq, hidden)
        sequence = sequence_output(backbone(backbone_inputs))
        padding_mask = inputs["padding_mask"]
        for block in self.extra_blocks:
            sequence = block(sequence, padding_mask=padding_mask)
        pooled = self.pooler(sequence, padding_mask=padding_mask)
        pooled = self.output_dropout(pooled)
        outputs = self.output_dense(pooled)
        # Logits stay float32 under mixed precision so the loss is stable.
        outputs = keras.layers.Activation(
            "linear", dtype="float32", name="logits_float32"
        )(outputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # BERT's pooler is not on the head's path: leave it to no optimizer.
        freeze_unused_backbone_layers(backbone)

        # === Config ===
        self.num_classes = num_classes
        self.pooling = pooling
        self.dropout = dropout
        self.num_extra_blocks = num_extra_blocks
        self.extra_block_num_heads = extra_block_num_heads
        self.extra_block_intermediate_dim = extra_block_intermediate_dim
        self.label_names = label_names
        self.temperature = temperature
        # keras-hub's compile() picks from_logits from this.
        self.activation = None

        restore_frozen_layers(self.backbone, frozen_backbone_layers)
        # The output of packed rows carries their `text_mask` (`compute_mask`).
        self.supports_masking = True

    preprocessor_cls = TextClassifierPreprocessor
    # A softmax needs two classes; subclasses with other heads need fewer.
    min_outputs = 2
    # Whether `fit`'s class_weight applies: one class per example.
    takes_class_weight = True

    def call(self, inputs, training=None, mask=None):
        if is_packed_batch(inputs):
            return self._packed_logits(inputs, training)
        return super().call(inputs, training=training, mask=mask)

    def compute_mask(self, inputs, mask=None):
        # Packed rows' slots without a text are masked out of the losses
        # and metrics (Keras reads the output's mask); other outputs have
        # no mask.
        return inputs["text_mask"] if is_packed_batch(inputs) else None

    def _packed_logits(self, inputs, training):
        """Logits `(batch, max_texts, num_classes)` of packed rows' slots."""
        # (batch, seq, hidden)
        sequence = packed_sequence(self.backbone, self.extra_blocks, inputs, training)
        # (batch, max_texts, hidden)
        pooled = self.pooler.pool_texts(
            sequence, inputs["text_ids"], inputs["text_starts"]
        )
        pooled = self.output_dropout(pooled, training=training)
        # (batch, max_texts, num_classes): empty slots too, masked by the
        # loss, the metrics and `predict` (see `PackedTexts`).
        return ops.cast(self.output_dense(pooled), "float32")

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory labels must be class ids in `[0, num_classes)`.

        Labels of shape `(texts,)` or `(texts, 1)` are read; wider ones are
        distributions (soft labels, a teacher's probabilities) for a loss
        of the user's choice.
        """
        return class_id_targets(x, y, name, self.num_classes, self.label_names)

    def fit(self, x=None, y=None, *args, class_weight=None, **kwargs):
        """Keras' `fit`; `class_weight` may name classes by their label names.

        `class_weight` maps class ids, or names of `label_names`, to weights
        (finite numbers >= 0); a class left out weighs 1, as in Keras. A key
        that is neither is refused, naming it (Keras failed on a name with a
        type error, and on an id past the last key inside the step).
        """
        if not self.takes_class_weight:
            refuse_class_weight(
                self,
                class_weight,
                "the largest value of each target row as its class",
                "Weigh examples with sample_weight.",
            )
        if class_weight is not None:
            class_weight = _class_weight_ids(
                class_weight, self.num_classes, self.label_names
            )
        return super().fit(x, y, *args, class_weight=class_weight, **kwargs)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """keras-hub's `compile` defaults, with the accuracy metric named
        `"accuracy"` (what `ClassificationConfig` monitors): of class ids,
        or of one-hot (or soft) labels for a categorical cross-entropy
        `loss`."""
        if metrics == "auto":
            categorical = isinstance(
                loss, keras.losses.CategoricalCrossentropy
            ) or loss in ("categorical_crossentropy", "CategoricalCrossentropy")
            metrics = [
                keras.metrics.CategoricalAccuracy("accuracy")
                if categorical
                else keras.metrics.SparseCategoricalAccuracy("accuracy")
            ]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_compile_config(self):
        return with_optimizer_variables(self, super().get_compile_config())

    def compile_from_config(self, config):
        # The overridden compile only fills in defaults: replay the saved
        # arguments so a loaded model keeps its optimizer and its state.
        replay_compile(self, config)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "num_classes": self.num_classes,
                "pooling": self.pooling,
                "dropout": self.dropout,
                "num_extra_blocks": self.num_extra_blocks,
                "extra_block_num_heads": self.extra_block_num_heads,
                "extra_block_intermediate_dim": self.extra_block_intermediate_dim,
                "label_names": self.label_names,
                "temperature": self.temperature,
                "frozen_backbone_layers": saved_frozen_layers(self.backbone),
            }
        )
        return config


def _class_weight_ids(class_weight, num_classes, label_names):
    """`class_weight` as Keras takes it: every class id to its weight."""
    if not isinstance(class_weight, dict):
        raise ValueError(
            "class_weight must be a dict of class ids (or label names) to "
            f"weights. Received: class_weight={class_weight!r:.200}"
        )
    names = list(label_names or [])
    weights = {}
    for key, weight in class_weight.items():
        if is_int(key) and 0 <= key < num_classes:
            class_id = int(key)
        elif isinstance(key, str) and key in names:
            class_id = names.index(key)
        else:
            expected = f"class ids in [0, {num_classes})"
            if names:
                expected += f" or label names {names!r:.200}"
            raise ValueError(
                f"class_weight's keys must be {expected}. Received: key {key!r}"
            )
        if class_id in weights:
            raise ValueError(
                f"class_weight gives class {class_id} ({key!r}) twice. "
                f"Received: class_weight={class_weight!r:.200}"
            )
        weights[class_id] = check_positive_number(
            f"class_weight[{key!r}]", weight, allow_zero=True
        )
    return {c: weights.get(c, 1.0) for c in range(num_classes)}
