import keras
import keras_hub

from tftransformer._arguments import check_strings, refuse_one_string
from tftransformer.data.question_answering_windows import (
    make_question_answering_windows,
)
from tftransformer.data.squad_example import SquadExample
from tftransformer.models.backbone_adapter import pair_separators as family_separators


@keras.saving.register_keras_serializable(package="tftransformer")
class QuestionAnswererPreprocessor(keras_hub.models.Preprocessor):
    """Packs questions and contexts into overlapping windows for a span head.

    Each `(question, context)` becomes one or more windows
    `[start] question [sep] context window [end]` of `sequence_length`
    tokens, `doc_stride` context tokens apart; every context token keeps the
    character span of the context it came from (see
    `tftransformer.data.make_question_answering_windows`). Works with any
    family's keras-hub tokenizer: WordPiece, SentencePiece or byte-level BPE.

    Args:
        tokenizer: a keras-hub tokenizer (the backbone's).
        sequence_length: int >= 8, the length of every window.
        doc_stride: int >= 1, context tokens between window starts.
        max_question_length: int >= 1, questions are cut to this many tokens.
        pair_separators: 1 or 2 end tokens between question and context;
            `None` takes the tokenizer's family's (2 for RoBERTa and
            XLM-RoBERTa, as their keras-hub pair packing has).
        **kwargs: passed to `keras_hub.models.Preprocessor`.

    Call arguments:
        x: a dict of packed features (`token_ids`, ...), passed through.

    Example:
    ```python
    preprocessor = QuestionAnswererPreprocessor(tokenizer, sequence_length=64)
    windows = preprocessor.windows(["Who won?"], ["The Broncos won."])
    windows.features["token_ids"].shape  # (1, 64)
    ```
    """

    backbone_cls = None

    def __init__(
        self,
        tokenizer,
        sequence_length=384,
        doc_stride=128,
        max_question_length=64,
        pair_separators=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.tokenizer = tokenizer
        self.sequence_length = sequence_length
        self.doc_stride = doc_stride
        self.max_question_length = max_question_length
        if pair_separators is None:
            pair_separators = family_separators(tokenizer)
        self.pair_separators = pair_separators
        # Checks the lengths now, not at the first batch.
        make_question_answering_windows([], tokenizer, **self._lengths())

    def _lengths(self):
        return {
            "sequence_length": self.sequence_length,
            "doc_stride": self.doc_stride,
            "max_question_length": self.max_question_length,
            "pair_separators": self.pair_separators,
        }

    def windows(self, questions, contexts=None):
        """Tokenized, labelled windows of examples.

        Args:
            questions: a list of `SquadExample`s, or of question strings
                with `contexts`.
            contexts: a list of context strings, one per question.

        Returns:
            A `tftransformer.data.QuestionAnsweringWindows`.
        """
        examples = _examples(questions, contexts)
        return make_question_answering_windows(
            examples, self.tokenizer, **self._lengths()
        )

    def call(self, x, y=None, sample_weight=None):
        if not isinstance(x, dict):
            raise ValueError(
                "QuestionAnswererPreprocessor takes packed features (a dict "
                "with token_ids); build them with `.windows(questions, "
                f"contexts)`. Received: {type(x).__name__}"
            )
        return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)

    def get_config(self):
        config = super().get_config()
        config.update(self._lengths())
        return config


def _examples(questions, contexts):
    refuse_one_string("questions", questions)
    refuse_one_string("contexts", contexts)
    if contexts is None:
        if not all(isinstance(q, SquadExample) for q in questions):
            raise ValueError(
                "Without contexts, questions must be SquadExamples. Received: "
                f"{[type(q).__name__ for q in questions][:3]}"
            )
        return list(questions)
    questions = check_strings("questions", questions)
    contexts = check_strings("contexts", contexts)
    if len(questions) != len(contexts):
        raise ValueError(
            "questions and contexts must have the same length. Received: "
            f"{len(questions)} questions and {len(contexts)} contexts"
        )
    return [
        SquadExample(str(i), question, context)
        for i, (question, context) in enumerate(zip(questions, contexts))
    ]
