import keras
import keras_hub

from tftransformer._arguments import (
    TASK_KEYWORDS,
    check_fraction,
    check_model_keywords,
    python_number,
)
from tftransformer.models._task_base import (
    EmptyBatchPredict,
    FromPreset,
    ShuffledFit,
    TokenizedBatches,
    freeze_unused_backbone_layers,
    load_saved_task,
    replay_compile,
    restore_frozen_layers,
    saved_frozen_layers,
    saved_task,
    with_optimizer_variables,
)
from tftransformer.models.backbone_adapter import sequence_output, task_inputs
from tftransformer.models.question_answerer_preprocessor import (
    QuestionAnswererPreprocessor,
)
from tftransformer.models.question_answering_spans import best_answers
from tftransformer.models.span_cross_entropy import SpanCrossEntropy
from tftransformer.presets import load_backbone

# Added to the logits of positions no answer can start or end at.
_MASKED_LOGIT = -1e9


@keras.saving.register_keras_serializable(package="tftransformer")
class QuestionAnswerer(
    FromPreset, TokenizedBatches, EmptyBatchPredict, ShuffledFit, keras_hub.models.Task
):
    """A pretrained encoder with a span head for extractive question answering.

    A dense layer gives every position a start and an end logit. Only the
    context window (positions with `segment_ids == 1` and
    `padding_mask == 1`) and the start token at position 0, which stands for
    "no answer in this window" (SQuAD 2.0 style), can be picked: other
    positions get a logit of -1e9. Labels are the `(start, end)` token
    positions of `tftransformer.data.make_question_answering_windows`; the
    default loss (`compile()`) is `SpanCrossEntropy`. `predict_answers`
    takes raw questions and contexts and returns answers as character spans
    of the contexts, with long contexts read in overlapping windows. Works
    on any family's backbone (`task_inputs` decides what the backbone
    reads).

    Args:
        backbone: a keras-hub text encoder backbone.
        preprocessor: optional `QuestionAnswererPreprocessor`.
        dropout: float in [0, 1), dropout before the span head.
        frozen_backbone_layers: optional list of names of backbone layers to
            freeze, restored on load (as `TextClassifier`'s).
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict of `token_ids`, `padding_mask` and `segment_ids`, each
            `(batch, seq)`.

    Returns:
        Float32 logits `(batch, seq, 2)`: start at `[..., 0]`, end at
        `[..., 1]`.

    Example:
    ```python
    qa = QuestionAnswerer.from_preset("embedded", sequence_length=128)
    qa.predict_answers(["Who won?"], ["The Broncos won the game."])
    # [{"answer": ..., "start": ..., "end": ..., "score": ...}]
    ```
    """

    preprocessor_cls = QuestionAnswererPreprocessor

    @classmethod
    def from_preset(
        cls,
        preset="embedded",
        sequence_length=None,
        doc_stride=None,
        max_question_length=None,
        dtype=None,
        **kwargs,
    ):
        """Builds the answerer on a pretrained backbone and its tokenizer, or
        loads one saved with `save_to_preset`.

        A local preset directory that `save_to_preset` wrote for an answerer
        gives it back as saved, span head included; arguments given
        override its settings.

        Args:
            preset: what `tftransformer.presets.load_backbone` takes.
            sequence_length: int, the length of every window (default 384).
            doc_stride: int, context tokens between window starts (default
                128).
            max_question_length: int, questions are cut to this many tokens
                (default 64).
            dtype: optional dtype policy name.
            **kwargs: `dropout` and `keras.Model` arguments.
        """
        windows = {"doc_stride": doc_stride, "max_question_length": max_question_length}
        windows = {k: v for k, v in windows.items() if v is not None}
        saved = saved_task(cls, preset, kwargs)
        if saved is not None:
            return load_saved_task(*saved, sequence_length, dtype, windows, kwargs)
        windows = {"doc_stride": 128, "max_question_length": 64, **windows}
        if sequence_length is None:
            sequence_length = 384
        backbone, family_preprocessor = load_backbone(
            preset, sequence_length=sequence_length, dtype=dtype
        )
        preprocessor = QuestionAnswererPreprocessor(
            family_preprocessor.tokenizer,
            sequence_length=sequence_length,
            **windows,
        )
        return cls(backbone, preprocessor=preprocessor, **kwargs)

    def __init__(
        self,
        backbone,
        preprocessor=None,
        dropout=0.1,
        frozen_backbone_layers=None,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs, TASK_KEYWORDS)
        dropout = python_number(dropout)
        check_fraction("dropout", dropout)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(
            dropout, dtype=backbone.dtype_policy, name="span_dropout"
        )
        self.output_dense = keras.layers.Dense(
            2,
            kernel_initializer=keras.initializers.TruncatedNormal(stddev=0.02),
            dtype=backbone.dtype_policy,
            name="span_logits",
        )

        # === Functional model ===
        inputs, backbone_inputs = task_inputs(backbone)
        # (batch, seq, hidden)
        sequence = sequence_output(backbone(backbone_inputs))
        logits = self.output_dense(self.output_dropout(sequence))
        # Float32 under mixed precision, so the masked logit and the loss hold.
        logits = keras.layers.Activation(
            "linear", dtype="float32", name="span_logits_float32"
        )(logits)
        context = keras.ops.logical_and(
            keras.ops.equal(inputs["segment_ids"], 1),
            keras.ops.equal(inputs["padding_mask"], 1),
        )
        # (batch, seq): the context window, and the start token for "no answer".
        first = keras.ops.equal(keras.ops.cumsum(keras.ops.ones_like(context), 1), 1)
        allowed = keras.ops.logical_or(context, first)
        outputs = keras.ops.where(allowed[..., None], logits, _MASKED_LOGIT)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        freeze_unused_backbone_layers(backbone)

        # === Config ===
        self.dropout = dropout

        restore_frozen_layers(self.backbone, frozen_backbone_layers)

    def compile(self, optimizer="auto", loss="auto", *, metrics="auto", **kwargs):
        """Configures the model for training, with span defaults.

        Args:
            optimizer: `"auto"` (AdamW, learning rate 5e-5) or any optimizer.
            loss: `"auto"` for `SpanCrossEntropy()`, or any loss.
            metrics: `"auto"` for none, or a list of metrics.
            **kwargs: passed to `keras.Model.compile`.
        """
        default = isinstance(optimizer, str) and optimizer == "auto"
        if default:
            optimizer = keras.optimizers.AdamW(5e-5)
        if loss == "auto":
            loss = SpanCrossEntropy()
        if metrics == "auto":
            metrics = None
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)
        self.compiled_with_default_optimizer = default

    def get_compile_config(self):
        return with_optimizer_variables(self, super().get_compile_config())

    def compile_from_config(self, config):
        replay_compile(self, config)

    def predict_answers(
        self,
        questions,
        contexts=None,
        batch_size=32,
        max_answer_length=30,
        n_best=20,
        null_threshold=0.0,
        allow_no_answer=True,
    ):
        """Answers questions about contexts with spans of the contexts.

        Args:
            questions: a list of question strings, or of `SquadExample`s
                (then `contexts` is `None`).
            contexts: a list of context strings, one per question.
            batch_size: windows per prediction batch.
            max_answer_length, n_best, null_threshold, allow_no_answer: see
                `tftransformer.models.best_answers`.

        Returns:
            One dict per question: `answer`, `start`, `end` (character
            offsets in its context; -1 for no answer) and `score`.
        """
        if self.preprocessor is None:
            raise ValueError(
                "predict_answers needs a QuestionAnswererPreprocessor; this "
                "model has preprocessor=None."
            )
        windows = self.preprocessor.windows(questions, contexts)
        if contexts is None:
            contexts = [example.context for example in questions]
        if not len(windows):
            return []
        logits = self.predict(windows.features, batch_size=batch_size, verbose=0)
        return best_answers(
            logits,
            windows,
            list(contexts),
            max_answer_length=max_answer_length,
            n_best=n_best,
            null_threshold=null_threshold,
            allow_no_answer=allow_no_answer,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "dropout": self.dropout,
                "frozen_backbone_layers": saved_frozen_layers(self.backbone),
            }
        )
        return config
