import keras
import keras_hub
import numpy as np
import tensorflow as tf
from keras import ops

from tftransformer._arguments import (
    TASK_KEYWORDS,
    check_fraction,
    check_int,
    check_model_keywords,
    check_positive_number,
    class_names,
    is_int,
    python_number,
)
from tftransformer.data.tagging import IGNORE_LABEL, words_to_ragged
from tftransformer.data.text_packing import is_packed_batch
from tftransformer.models._task_base import (
    EmptyBatchPredict,
    FromPreset,
    ShuffledFit,
    TokenizedBatches,
    extra_encoder_blocks,
    freeze_unused_backbone_layers,
    packed_sequence,
    refuse_bad_targets,
    refuse_class_weight,
    refuse_non_numeric_targets,
    replay_compile,
    restore_frozen_layers,
    saved_frozen_layers,
    target_array,
    with_optimizer_variables,
)
from tftransformer.models.backbone_adapter import sequence_output, task_inputs
from tftransformer.models.token_accuracy import TokenAccuracy
from tftransformer.models.token_classifier_preprocessor import (
    TokenClassifierPreprocessor,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class TokenClassifier(
    FromPreset, TokenizedBatches, EmptyBatchPredict, ShuffledFit, keras_hub.models.Task
):
    """A pretrained encoder with a per-token tagging head (e.g. for NER).

    The head is optional extra `TransformerEncoderBlock`s over the
    backbone's sequence output (the "custom block on top" recipe), dropout
    and a dense layer, giving one logit per tag at every position. Labels follow
    `tftransformer.data.tokenize_and_align`: a word's tag id at its first
    word piece and `IGNORE_LABEL` (-100) at its other pieces, `[CLS]`,
    `[SEP]` and padding. The default loss (`compile()`) is a sparse
    categorical cross-entropy that ignores -100 (`ignore_class`), averaged
    over the labelled positions of the batch, and the default metric a
    `TokenAccuracy` over the same positions.

    It is a keras-hub `Task`: with a `TokenClassifierPreprocessor` attached,
    batches of raw sentences are tokenized inside the `tf.data` pipeline,
    and the tokenizer is saved with the model. Batches already tokenized (a
    dict with `token_ids`, as `tftransformer.data.make_tagging_dataset`
    yields) pass through untouched. Word-level tags and entities come from
    `tftransformer.evaluation.predict_entities`. `fit` draws in-memory data
    in a new order every epoch (see `ShuffledFit`). Backbone layers the head
    does not read (BERT's `pooled_dense` pooler) are set non-trainable: they
    would get no gradient.

    Args:
        backbone: an encoder `keras.Model` taking a dict with `token_ids`,
            `padding_mask` (and `segment_ids` for BERT) and returning a dict
            with `sequence_output`: a keras-hub `BertBackbone` or a
            `tftransformer.models.TransformerEncoder`.
        num_tags: int >= 2, the number of tags (e.g. 21 for 10 entity types
            in BIO).
        preprocessor: optional `TokenClassifierPreprocessor`.
        dropout: float in [0, 1), dropout of the extra blocks and before the
            dense head.
        num_extra_blocks: int >= 0, new encoder blocks stacked on the
            backbone, trained from scratch.
        extra_block_num_heads: heads of each extra block; defaults to 4 or
            the largest smaller divisor of the hidden width.
        extra_block_intermediate_dim: feed-forward width of each extra block;
            defaults to 4x the hidden width.
        tag_names: optional list of tag strings in id order (BIO tags for
            entity prediction); kept in the config so predictions and exports
            can name tags.
        temperature: float > 0, the softmax temperature of the per-token
            tag probabilities (`softmax(logits / temperature)`) that
            `tftransformer.evaluation.predict_tags` and exports report; the
            logits the model returns are not scaled. 1.0 until fitted on
            validation tokens (`tftransformer.training.calibrate_classifier`,
            which `train_token_classifier` runs with `calibrate=True`).
        frozen_backbone_layers: optional list of names of backbone layers to
            freeze (see `tftransformer.finetune.freeze_layers_by_name`). The
            config records the layers frozen by `tftransformer.finetune`'s
            freezing functions at save time, so a `.keras` reload trains the
            same variables and runs those layers in inference mode.
        **kwargs: passed to `keras.Model` (and `compile=False` to skip the
            default compilation).

    Call arguments:
        inputs: the backbone's input dict, each entry `(batch, seq)`.

    Returns:
        Float32 logits of shape `(batch, seq, num_tags)`.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    tagger = tftransformer.models.TokenClassifier(
        backbone,
        num_tags=3,
        preprocessor=TokenClassifierPreprocessor(preprocessor.tokenizer),
        tag_names=["O", "B-PER", "I-PER"],
    )
    x = tagger.preprocessor(["Barack Obama visits"])
    tagger(x).shape  # (1, 16, 3)
    ```
    """

    preprocessor_cls = TokenClassifierPreprocessor

    def __init__(
        self,
        backbone,
        num_tags,
        preprocessor=None,
        dropout=0.1,
        tag_names=None,
        num_extra_blocks=0,
        extra_block_num_heads=None,
        extra_block_intermediate_dim=None,
        temperature=1.0,
        frozen_backbone_layers=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs, TASK_KEYWORDS)
        temperature = check_positive_number("temperature", temperature)
        dropout = python_number(dropout)
        num_extra_blocks = python_number(num_extra_blocks)
        num_tags = check_int("num_tags", num_tags, 2)
        check_fraction("dropout", dropout)
        if tag_names is not None:
            tag_names = class_names("tag_names", tag_names, num_tags)

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
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="tagger_dropout"
        )
        self.output_dense = keras.layers.Dense(
            num_tags,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=backbone.dtype_policy,
            name="tag_logits",
        )

        # === Functional model ===
        inputs, backbone_inputs = task_inputs(backbone)
        # (batch, seq, hidden)
        sequence = sequence_output(backbone(backbone_inputs))
        for block in self.extra_blocks:
            sequence = block(sequence, padding_mask=inputs["padding_mask"])
        sequence = self.output_dropout(sequence)
        outputs = self.output_dense(sequence)
        # Logits stay float32 under mixed precision so the loss is stable.
        outputs = keras.layers.Activation(
            "linear", dtype="float32", name="tag_logits_float32"
        )(outputs)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        # BERT's pooler is not on the head's path: leave it to no optimizer.
        freeze_unused_backbone_layers(backbone)

        # === Config ===
        self.num_tags = num_tags
        self.dropout = dropout
        self.tag_names = tag_names
        self.num_extra_blocks = num_extra_blocks
        self.extra_block_num_heads = extra_block_num_heads
        self.extra_block_intermediate_dim = extra_block_intermediate_dim
        self.temperature = temperature

        restore_frozen_layers(self.backbone, frozen_backbone_layers)

    def call(self, inputs, training=None, mask=None):
        if is_packed_batch(inputs):
            return self._packed_logits(inputs, training)
        return super().call(inputs, training=training, mask=mask)

    def _packed_logits(self, inputs, training):
        """Tag logits `(batch, seq, num_tags)` of packed rows, each sentence
        tagged as if alone; padding positions carry `IGNORE_LABEL` labels."""
        sequence = packed_sequence(self.backbone, self.extra_blocks, inputs, training)
        sequence = self.output_dropout(sequence, training=training)
        return ops.cast(self.output_dense(sequence), "float32")

    def _in_memory_x(self, x):
        """Sentences in memory (strings, or lists of words) as the ragged
        tensor of their words: Keras would turn sentences of equal lengths
        into a dense tensor, which the preprocessor splits again."""
        if _raw_sentences(x):
            x = words_to_ragged(list(x))
        return super()._in_memory_x(x)

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory tags must be ids in `[0, num_tags)` or -100 (ignored).

        For sentences of words, one tag per word (returned as a ragged
        tensor, whatever the lengths); for tokenized features, tags of shape
        `(texts, length)`, one per token; wider ones (distributions) are
        left to a loss of the user's choice.
        """
        if isinstance(x, tf.RaggedTensor) and x.dtype == tf.string:
            return self._word_tags(x, y, name)
        tags = target_array(x, y, name)
        if tags is None or tags.ndim != 2 or not tags.size:
            return y
        expected = f"tag ids in [0, {self.num_tags}) or {IGNORE_LABEL} (ignored)"
        expected += ", one per token"
        refuse_non_numeric_targets(name, tags, expected, kinds="iuf")
        in_range = (tags >= 0) & (tags < self.num_tags) & (tags == np.round(tags))
        bad = ~in_range & (tags != IGNORE_LABEL)
        refuse_bad_targets(name, tags, bad, expected)
        return y

    def _word_tags(self, words, y, name):
        """Per-word tags `y` of ragged `words`, checked, as a ragged tensor."""
        target_array(None, y, name)  # refuses y=None
        if isinstance(y, (tf.Tensor, tf.RaggedTensor)):
            y = y.to_list() if isinstance(y, tf.RaggedTensor) else y.numpy().tolist()
        rows = [np.asarray(row).reshape(-1).tolist() for row in y]
        counts = words.row_lengths().numpy()
        if len(rows) != len(counts):
            raise ValueError(
                f"{name} must hold one list of tags per sentence. Received: "
                f"{len(rows)} lists of tags for {len(counts)} sentences"
            )
        expected = f"tag ids in [0, {self.num_tags}) or {IGNORE_LABEL} (ignored)"
        for i, (row, count) in enumerate(zip(rows, counts)):
            if len(row) != count:
                raise ValueError(
                    f"{name} must hold one tag per word: sentence {i} has "
                    f"{count} words and {len(row)} tags. Received: "
                    f"{name}[{i}]={row!r:.100}"
                )
            for j, tag in enumerate(row):
                if not is_int(tag) or not (
                    0 <= tag < self.num_tags or tag == IGNORE_LABEL
                ):
                    raise ValueError(
                        f"{name} must hold {expected}, one per word. "
                        f"Received: {name}[{i}][{j}]={tag!r}"
                    )
        flat = np.asarray([tag for row in rows for tag in row], "int32")
        return tf.RaggedTensor.from_row_lengths(flat, counts)

    def fit(self, *args, class_weight=None, **kwargs):
        """Keras' `fit` (see `InMemoryBatches`); `sample_weight` weighs
        sentences (`(sentences,)`) or positions (`(sentences, length)`).

        `class_weight` is refused: Keras would read each sentence's tags as
        one-hot rows. Weigh tags with per-position sample weights instead.
        """
        refuse_class_weight(
            self,
            class_weight,
            "each sentence's tags as one-hot rows",
            "Weigh tags with sample_weight of shape (sentences, length), one "
            "weight per position.",
        )
        return super().fit(*args, **kwargs)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        """Keras' loss; a weight per sentence weighs each of its positions."""
        return super().compute_loss(
            x=x,
            y=y,
            y_pred=y_pred,
            sample_weight=_per_position(sample_weight, y),
            training=training,
        )

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' metrics; a weight per sentence weighs each of its positions."""
        return super().compute_metrics(
            x, y, y_pred, sample_weight=_per_position(sample_weight, y)
        )

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures the model for training, with tagging defaults.

        Args:
            optimizer: `"auto"` (AdamW, learning rate 5e-5), or any optimizer
                `keras.Model.compile` takes, e.g. one from
                `tftransformer.finetune.create_optimizer`.
            loss: `"auto"` for
                `keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                ignore_class=-100)`, or any loss.
            metrics: `"auto"` for `[TokenAccuracy()]` (logged as
                `token_accuracy`), or a list of metrics. Keras' own accuracy
                metrics would count ignored positions as errors.
            **kwargs: passed to `keras.Model.compile`.
        """
        default = isinstance(optimizer, str) and optimizer == "auto"
        if default:
            optimizer = keras.optimizers.AdamW(5e-5)
        if loss == "auto":
            loss = keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=IGNORE_LABEL
            )
        if metrics == "auto":
            metrics = [TokenAccuracy()]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        # Set after `FromPreset.compile`, which sees the AdamW made here: a
        # `Trainer` puts the config's optimizer in place of this default.
        self.compiled_with_default_optimizer = default

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
                "num_tags": self.num_tags,
                "dropout": self.dropout,
                "tag_names": self.tag_names,
                "num_extra_blocks": self.num_extra_blocks,
                "extra_block_num_heads": self.extra_block_num_heads,
                "extra_block_intermediate_dim": self.extra_block_intermediate_dim,
                "temperature": self.temperature,
                "frozen_backbone_layers": saved_frozen_layers(self.backbone),
            }
        )
        return config


def _raw_sentences(x):
    """Whether in-memory `x` is sentences: strings, or lists of words."""
    if not isinstance(x, (list, tuple)) or not x:
        return False
    if all(isinstance(sentence, str) for sentence in x):
        return True
    return all(
        isinstance(sentence, (list, tuple))
        and all(isinstance(word, str) for word in sentence)
        for sentence in x
    )


def _per_position(sample_weight, y):
    """Weights of shape `y`'s `(batch, length)`: sentence weights `(batch,)`
    spread over their positions (Keras' loss would compare the two shapes),
    position weights cut to the batch's length.

    The rank is read in the graph: a step traced for weights of one rank
    and then called with the other is traced again for an unknown rank,
    which Keras' losses cannot take.
    """
    if sample_weight is None or y is None:
        return sample_weight
    weights = tf.cast(sample_weight, "float32")
    shape = tf.shape(y)
    return tf.cond(
        tf.equal(tf.rank(weights), 1),
        lambda: tf.broadcast_to(tf.expand_dims(weights, -1), shape),
        # Weights per position of `sequence_length` columns, cut to the
        # batch's padded length (the rest weigh padding).
        lambda: tf.reshape(weights, [shape[0], -1])[:, : shape[1]],
    )
