"""Extractive question answering in a LiteRT-convertible graph."""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from tftransformer.export.question_answerer_serving_module import (
    CONTEXT_INPUT,
    QUESTION_INPUT,
)

__all__ = ["LiteRTQuestionAnswererModule"]

# What a window without a span scores.
_NEGATIVE = float("-inf")
# Subtracted from the logits and spans not allowed: past any real logit,
# and exp(-_MASK) is 0 in float32. A mask by subtraction, not `tf.where`:
# with `tf.where(..., -inf)` masks, full int8 quantized the span head's
# output (calibrated to -24..21) with a scale of 1.3e36, every logit one
# code.
_MASK = 1e9
# The name scope of the ops after the model, which full int8 leaves in
# float32.
SPAN_SEARCH = "span_search"
# The `QuestionAnswerer` layer whose output is the unmasked span logits.
_LOGITS_LAYER = "span_logits_float32"


class LiteRTQuestionAnswererModule(tf.Module):
    """Answers raw questions about raw contexts with LiteRT-compatible ops.

    As `QuestionAnswererServingModule` (whose graph has no LiteRT kernels
    for its regex split, string arithmetic, ragged windows and segment
    sums): `[CLS] question [SEP]*pair_separators context window [SEP]`
    windows of `sequence_length` tokens, `doc_stride` context tokens apart,
    the question cut to `max_question_length` tokens; every span of at most
    `max_answer_length` context tokens in every window is scored `start +
    end` logit, the best across an example's windows (the first window on
    a tie) answers unless its null score (the lowest `start + end` logit
    of a window's first token) beats it by more than `null_threshold`.

    Past TF Text's tokenizers, every op is dense arithmetic with a LiteRT
    builtin kernel. The context is tokenized whole by `FastBertNormalizer`
    and `FastWordpieceTokenizer` with byte offsets (`FastBertTokenizer`'s
    own `tokenize_with_offsets` maps them back through a ragged gather,
    `RaggedRange`, which LiteRT lacks). Each token's span is widened to its
    whole word (from its word's first piece to its last), as the SavedModel
    export gives every token of a word its word's span. The windows of the
    whole batch are laid out as `(batch, max_windows, sequence_length)`,
    the real ones gathered with a boolean mask, run through the model, and
    their best spans gathered back per example: no limit on the number of
    windows. The span search reads the span head's logits before the
    model's -1e9 mask (it masks them itself) and runs in the
    `SPAN_SEARCH` name scope, which a full-int8 export keeps in float32.

    Args:
        model: a float32 `QuestionAnswerer` (or its inference copy).
        tokenizer: the model's keras-hub `WordPieceTokenizer`.
        sequence_length, doc_stride, max_question_length, pair_separators:
            the windows, as `QuestionAnswererPreprocessor`'s.
        max_answer_length: int >= 1, longest answer in tokens.
        null_threshold: float, see `tftransformer.models.best_answers`.
        allow_no_answer: bool, whether an answer may be empty.

    Call arguments (of `serve`):
        question: 1-D `tf.string`, one question per entry.
        context: 1-D `tf.string`, the context of each question.

    Returns (of `serve`):
        A dict of `(batch,)` tensors: `byte_start` and `byte_end` (int32,
        the answer's UTF-8 byte offsets in its context, -1 for no answer)
        and `score` (float32, the answer's probability in its window, or
        the no-answer probability).
    """

    inputs = (QUESTION_INPUT, CONTEXT_INPUT)

    def __init__(
        self,
        model,
        tokenizer,
        sequence_length,
        doc_stride,
        max_question_length,
        pair_separators,
        max_answer_length=30,
        null_threshold=0.0,
        allow_no_answer=True,
    ):
        super().__init__()
        self._length = int(sequence_length)
        self._stride = int(doc_stride)
        self._max_question = int(max_question_length)
        self._separators = int(pair_separators)
        self._max_answer = int(max_answer_length)
        self._threshold = float(null_threshold)
        self._allow_no_answer = bool(allow_no_answer)
        self._cls_id = tokenizer.token_to_id(tokenizer.cls_token)
        self._sep_id = tokenizer.token_to_id(tokenizer.sep_token)
        self._pad_id = tokenizer.token_to_id(tokenizer.pad_token)
        vocabulary = tokenizer.get_vocabulary()
        lowercase = bool(tokenizer.lowercase)
        wordpiece = {
            "vocab": vocabulary,
            "suffix_indicator": tokenizer.suffix_indicator,
            "unknown_token": tokenizer.oov_token,
            "token_out_type": tf.int32,
        }
        self._question_tokenizer = tf_text.FastBertTokenizer(
            lower_case_nfd_strip_accents=lowercase, **wordpiece
        )
        self._normalizer = tf_text.FastBertNormalizer(
            lower_case_nfd_strip_accents=lowercase
        )
        self._word_pieces = tf_text.FastWordpieceTokenizer(**wordpiece)
        # (vocabulary,): 1 for a piece that continues a word ("##ing").
        self._continues = tf.constant(
            [int(token.startswith(tokenizer.suffix_indicator)) for token in vocabulary],
            tf.int32,
        )
        self._logits = keras.Model(model.input, model.get_layer(_LOGITS_LAYER).output)
        self.model_variables = list(model.variables)
        specs = [tf.TensorSpec([None], tf.string, name=name) for name in self.inputs]
        self.serve = tf.function(self._serve, input_signature=specs)

    def _pad_column(self, values, value):
        return tf.fill([tf.shape(values)[0], 1], value)

    def _context_tokens(self, context):
        """The context's token ids `(batch, tokens + 1)`, padded, their count
        `(batch,)`, and each token's word's byte span `(batch, tokens + 1)`
        twice (begin, end)."""
        normalized, offsets = self._normalizer.normalize_with_offsets(context)
        ids, begins, ends = self._word_pieces.tokenize_with_offsets(normalized)
        counts = tf.cast(ids.row_lengths(), tf.int32)
        # A padding column each: an all-empty batch still has one column.
        ids = tf.concat(
            [ids.to_tensor(self._pad_id), self._pad_column(context, self._pad_id)], 1
        )
        # Offsets in the normalized text to offsets in the context's bytes,
        # with a dense gather (the ragged one needs `RaggedRange`).
        offsets = tf.cast(offsets.to_tensor(0), tf.int32)

        def to_context(positions):
            positions = tf.concat(
                [
                    tf.cast(positions.to_tensor(0), tf.int32),
                    self._pad_column(context, 0),
                ],
                1,
            )
            return tf.gather(offsets, positions, batch_dims=1)

        begins, ends = to_context(begins), to_context(ends)
        # Every token of a word spans the whole word: the first piece's
        # begin to the last piece's end, in flat (batch * columns) order.
        columns = tf.range(tf.shape(ids)[1])[tf.newaxis, :]
        real = columns < counts[:, tf.newaxis]
        continues = tf.gather(self._continues, ids)
        continues = tf.where(real & (columns > 0), continues, 0)
        starts = tf.reshape(1 - continues, [-1])  # 1 where a word starts
        word = tf.cumsum(starts) - 1  # each token's word, batch-wide
        # 1 where a word ends: before a word's start, and at the end (the
        # first token starts a word; an empty batch has no tokens).
        lasts = tf.concat([starts[1:], starts[:1]], 0)
        shape = tf.shape(ids)
        word_begins = tf.boolean_mask(tf.reshape(begins, [-1]), tf.equal(starts, 1))
        word_ends = tf.boolean_mask(tf.reshape(ends, [-1]), tf.equal(lasts, 1))
        begins = tf.reshape(tf.gather(word_begins, word), shape)
        ends = tf.reshape(tf.gather(word_ends, word), shape)
        return ids, counts, begins, ends

    def _serve(self, question, context):
        length = self._length
        questions = self._question_tokenizer.tokenize(question)
        question_ids = tf.concat(
            [
                questions.to_tensor(self._pad_id)[:, : self._max_question],
                self._pad_column(question, self._pad_id),
            ],
            1,
        )
        question_lengths = tf.minimum(
            tf.cast(questions.row_lengths(), tf.int32), self._max_question
        )
        ids, counts, begins, ends = self._context_tokens(context)

        # Windows, as `make_question_answering_windows`: (batch,) each.
        prefix = question_lengths + 1 + self._separators
        room = tf.maximum(length - prefix - 1, 1)
        stride = tf.minimum(self._stride, room)
        extra = tf.maximum(counts - room, 0)
        num_windows = 1 + (extra + stride - 1) // stride
        # (batch, max_windows): each window's first context token and length.
        window = tf.range(tf.reduce_max(tf.concat([num_windows, [1]], 0)))
        window = window[tf.newaxis, :]
        real_window = window < num_windows[:, tf.newaxis]
        first = stride[:, tf.newaxis] * window
        window_length = tf.maximum(
            tf.minimum(room[:, tf.newaxis], counts[:, tf.newaxis] - first), 0
        )
        # (batch, max_windows, length): each position's context token.
        # expand_dims: a strided slice adding an axis to a 2-D tensor
        # converts to a custom `StridedSlice` without a LiteRT kernel.
        positions = tf.range(length)[tf.newaxis, tf.newaxis, :]
        starts = prefix[:, tf.newaxis, tf.newaxis]
        ends_at = starts + tf.expand_dims(window_length, 2)  # the last [SEP]
        token = tf.expand_dims(first, 2) + positions - starts
        in_context = (positions >= starts) & (positions < ends_at)
        token = tf.clip_by_value(token, 0, tf.shape(ids)[1] - 1)
        context_ids = tf.gather(ids, token, batch_dims=1)
        # (batch, length): the question's pieces after [CLS].
        question_position = tf.clip_by_value(
            tf.range(length)[tf.newaxis, :] - 1, 0, tf.shape(question_ids)[1] - 1
        )
        question_position += tf.zeros_like(question_lengths)[:, tf.newaxis]
        question_part = tf.gather(question_ids, question_position, batch_dims=1)
        in_question = (positions >= 1) & (
            positions <= question_lengths[:, tf.newaxis, tf.newaxis]
        )
        token_ids = tf.where(
            in_context,
            context_ids,
            tf.where(
                in_question,
                tf.expand_dims(question_part, 1),
                tf.where(positions <= ends_at, self._sep_id, self._pad_id),
            ),
        )
        token_ids = tf.where(positions == 0, self._cls_id, token_ids)
        # In integer arithmetic, as `_LiteRTPairModule` (a boolean cast into
        # an embedding converts to a `zeros_like` of booleans).
        padding_mask = tf.clip_by_value(ends_at + 1 - positions, 0, 1)
        segment_ids = tf.clip_by_value(positions - starts + 1, 0, 1) * padding_mask

        # The real windows only, `(windows, length)`.
        flat_real = tf.reshape(real_window, [-1])

        def real_windows(values):
            return tf.boolean_mask(tf.reshape(values, [-1, length]), flat_real)

        features = {
            "token_ids": real_windows(token_ids),
            "padding_mask": real_windows(padding_mask),
            "segment_ids": real_windows(segment_ids),
        }
        window_context = real_windows(tf.cast(in_context, tf.int32)) > 0
        # The span head's logits before the model masks them with -1e9:
        # the same spans, and a range full int8 can hold.
        logits = tf.cast(self._logits(features, training=False), tf.float32)
        # The span search, named so that a full-int8 export keeps it in
        # float32 (`SPAN_SEARCH`).
        with tf.name_scope(SPAN_SEARCH):
            best, best_start, best_end, probability, null, null_probability = (
                self._best_spans(logits, window_context)
            )

            # Back to (batch, max_windows), each window's index among the real.
            index = tf.cumsum(tf.cast(flat_real, tf.int32)) - 1
            index = tf.maximum(tf.reshape(index, tf.shape(real_window)), 0)
            has_span = real_window & (window_length > 0)
            best = tf.where(has_span, tf.gather(best, index), _NEGATIVE)
            null = tf.where(real_window, tf.gather(null, index), -_NEGATIVE)
            # The first window holding the best span, and the lowest null.
            chosen = tf.argmax(best, axis=1, output_type=tf.int32)
            null_window = tf.argmin(null, axis=1, output_type=tf.int32)
            best_of = tf.reduce_max(best, axis=1)
            null_of = tf.reduce_min(null, axis=1)
            no_answer = tf.logical_not(tf.reduce_any(has_span, axis=1))
            if self._allow_no_answer:
                no_answer |= null_of - best_of > self._threshold

            def of_chosen(values, which=chosen):
                return tf.gather(tf.gather(values, index), which, batch_dims=1)

            # Context token positions of the best span's ends.
            shift = tf.gather(first, chosen, batch_dims=1) - prefix
            columns = tf.shape(ids)[1] - 1

            def byte_offset(offsets, position):
                position = tf.clip_by_value(position + shift, 0, columns)
                return tf.gather(offsets, position, batch_dims=1)

            byte_start = byte_offset(begins, of_chosen(best_start))
            byte_end = byte_offset(ends, of_chosen(best_end))
            return {
                "byte_start": tf.where(no_answer, -1, byte_start),
                "byte_end": tf.where(no_answer, -1, byte_end),
                "score": tf.where(
                    no_answer,
                    of_chosen(null_probability, null_window),
                    of_chosen(probability),
                ),
            }

    def _best_spans(self, logits, in_context):
        """Each window's best span, as `QuestionAnswererServingModule`'s.

        Args:
            logits: float32 `(windows, length, 2)`.
            in_context: bool `(windows, length)`, the context's tokens.

        Returns:
            `(windows,)` tensors: the best span's score, start and end
            positions and probability; the null score and probability.
        """
        length = self._length
        starts, ends = logits[..., 0], logits[..., 1]
        first = tf.equal(tf.range(length), 0)[tf.newaxis, :]
        allowed = in_context | first
        masked = (1.0 - tf.cast(allowed, tf.float32)) * _MASK
        start_probability = tf.nn.softmax(starts - masked)
        end_probability = tf.nn.softmax(ends - masked)
        # (windows, length, length): every start and end, valid spans only.
        scores = tf.expand_dims(starts, 2) + tf.expand_dims(ends, 1)
        positions = tf.range(length)
        span_length = positions[tf.newaxis, :] - positions[:, tf.newaxis]
        valid = (span_length >= 0) & (span_length < self._max_answer)
        valid = (
            tf.expand_dims(valid, 0)
            & tf.expand_dims(in_context, 2)
            & tf.expand_dims(in_context, 1)
        )
        scores -= (1.0 - tf.cast(valid, tf.float32)) * _MASK
        flat = tf.reshape(scores, [-1, length * length])
        best_index = tf.argmax(flat, axis=1, output_type=tf.int32)
        best = tf.reduce_max(flat, axis=1)
        best_start = best_index // length
        best_end = best_index % length
        probability = tf.gather(
            start_probability, best_start, batch_dims=1
        ) * tf.gather(end_probability, best_end, batch_dims=1)
        null = starts[:, 0] + ends[:, 0]
        null_probability = start_probability[:, 0] * end_probability[:, 0]
        return best, best_start, best_end, probability, null, null_probability
