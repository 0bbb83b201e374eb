import functools

import tensorflow as tf
import tensorflow_text as tf_text

from tftransformer.data.question_answering_windows import (
    combining_mark_ranges,
    glued_piece_ids,
)
from tftransformer.export._untracked import set_untracked
from tftransformer.export.text_classifier_serving_module import string_batch

__all__ = ["QuestionAnswererServingModule", "piece_delimiters"]

QUESTION_INPUT = "question"
CONTEXT_INPUT = "context"


@functools.cache
def piece_delimiters():
    """The graph's `tftransformer.data.context_pieces`, as the delimiter
    and kept-delimiter patterns of `tf_text.regex_split_with_offsets`: runs
    of letters, numbers, "_" (Python's `\\w`) and combining marks (Python's,
    named: RE2's Unicode tables are newer) are words, other non-space
    characters single pieces. RE2's `\\s` is ASCII only: Unicode spaces
    are named."""
    space = r"\s\p{Z}\x{0b}\x{85}\x{1c}-\x{1f}"
    word = r"\p{L}\p{N}_" + "".join(
        rf"\x{{{first:x}}}-\x{{{last:x}}}" for first, last in combining_mark_ranges()
    )
    return rf"[{space}]+|[^{word}{space}]", rf"[^{word}{space}]"


def _repeat_rows(values, ragged):
    """`values[row]` for every element of `ragged`, as its flat values."""
    return tf.gather(values, ragged.value_rowids())


class QuestionAnswererServingModule(tf.Module):
    """A `tf.Module` answering raw questions about raw contexts.

    The whole of `QuestionAnswerer.predict_answers` runs in the graph:
    splitting the context into words and punctuation with their character
    offsets, the family's tokenization, overlapping windows `doc_stride`
    tokens apart, the span head, and the choice of the best span across
    windows or "no answer". Every span of at most `max_answer_length` context
    tokens is searched (`predict_answers` with `n_best` >= the window's
    length gives the same answers). The signature needs only TensorFlow and
    TensorFlow Text ops.

    Args:
        model: a float32 `QuestionAnswerer` (or its inference copy).
        tokenizer: the model's keras-hub tokenizer.
        sequence_length, doc_stride, max_question_length, pair_separators:
            the windows, as `QuestionAnswererPreprocessor`'s.
        max_answer_length: int >= 1, longest answer in tokens.
        null_threshold: float, see `tftransformer.models.best_answers`.
        allow_no_answer: bool, whether an answer may be empty.
        name: optional module name.

    Call arguments (of `serve`):
        question: 1-D `tf.string`, one question per entry.
        context: 1-D `tf.string`, the context of each question.

    Returns (of `serve`):
        A dict of `(batch,)` tensors: `answer` (string, `""` for no answer),
        `start` and `end` (int32 character offsets in the context, -1 for
        no answer) and `score` (float32, the answer's probability in its
        window).
    """

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
        name=None,
    ):
        super().__init__(name=name)
        set_untracked(self, "_model", model)
        self._tokenizer = tokenizer
        # A SentencePiece family's glued pieces, as in training.
        continuation = glued_piece_ids(tokenizer)
        self._continuation = None
        if continuation is not None:
            table, mark = continuation
            self._continuation = (tf.constant(table), tf.constant(mark, tf.int32))
        self._length = int(sequence_length)
        self._stride = int(doc_stride)
        self._max_question = int(max_question_length)
        self._separators = int(pair_separators)
        self._max_answer = int(max_answer_length)
        self._threshold = float(null_threshold)
        self._allow_no_answer = bool(allow_no_answer)
        self.model_variables = list(model.variables)
        specs = [
            tf.TensorSpec([None], tf.string, name=QUESTION_INPUT),
            tf.TensorSpec([None], tf.string, name=CONTEXT_INPUT),
        ]

        def serve(question, context):
            return self._answer(string_batch(question), string_batch(context))

        self.serve = tf.function(serve, input_signature=specs)

    def _pieces(self, context):
        """Tokens of each context, `(batch, (tokens))`, and their char spans."""
        pieces, begin, end = tf_text.regex_split_with_offsets(
            context, *piece_delimiters()
        )
        # A piece after a gap (whitespace) gets a leading space, as the
        # tokenizers mark word starts.
        previous_end = tf.concat([tf.zeros_like(end[:, :1]), end[:, :-1]], axis=1)
        spaced = begin.flat_values > previous_end.flat_values
        texts = tf.where(spaced, " " + pieces.flat_values, pieces.flat_values)
        # Byte offsets to character offsets.
        rows = _repeat_rows(context, pieces)

        def characters(offsets):
            offsets = tf.cast(offsets.flat_values, tf.int32)
            prefix = tf.strings.substr(rows, tf.zeros_like(offsets), offsets)
            return tf.strings.length(prefix, unit="UTF8_CHAR")

        char_begin, char_end = characters(begin), characters(end)
        ids = self._tokenizer(texts)  # (num_pieces, (tokens))
        ids = tf.cast(ids, tf.int32)
        if self._continuation is not None:
            # A piece glued to the one before (no gap, not the context's
            # first) reads its first token inside a word.
            glued = (begin.flat_values == previous_end.flat_values) & (
                begin.flat_values > 0
            )
            ids = self._glued(ids, glued)
        per_piece = ids.row_lengths()
        token_begin = tf.repeat(char_begin, per_piece)
        token_end = tf.repeat(char_end, per_piece)
        # Tokens per context: the pieces' token counts summed per row.
        per_context = tf.math.unsorted_segment_sum(
            per_piece, pieces.value_rowids(), tf.shape(context, tf.int64)[0]
        )
        tokens = tf.RaggedTensor.from_row_lengths(ids.flat_values, per_context)
        spans = tf.stack([token_begin, token_end], axis=1)
        return tokens, tf.RaggedTensor.from_row_lengths(spans, per_context)

    def _glued(self, ids, glued):
        """`ids` (`(num_pieces, (tokens))`) with each glued piece's first
        token read inside a word (`tftransformer.data.glued_piece_ids`)."""
        table, mark = self._continuation
        tokens = ids.flat_values
        first = tf.range(tf.size(tokens, tf.int64)) == tf.repeat(
            ids.row_starts(), ids.row_lengths()
        )
        changed = first & tf.repeat(glued, ids.row_lengths())
        tokens = tf.where(changed, tf.gather(table, tokens), tokens)
        kept = ~(changed & (ids.flat_values == mark))
        return tf.ragged.boolean_mask(
            ids.with_flat_values(tokens), ids.with_flat_values(kept)
        )

    def _windows(self, question, context):
        tokenizer = self._tokenizer
        questions = tf.cast(tokenizer(question), tf.int32)[:, : self._max_question]
        tokens, spans = self._pieces(context)
        num_tokens = tf.cast(tokens.row_lengths(), tf.int32)
        prefix_length = tf.cast(questions.row_lengths(), tf.int32) + 1
        prefix_length += self._separators
        room = tf.maximum(self._length - prefix_length - 1, 1)
        stride = tf.minimum(self._stride, room)
        extra = tf.maximum(num_tokens - room, 0)
        num_windows = 1 + (extra + stride - 1) // stride
        # One row per window: its example, first context token and length.
        example = tf.repeat(tf.range(tf.size(num_windows)), num_windows)
        index = tf.ragged.range(num_windows).flat_values
        first = tf.gather(stride, example) * index
        length = tf.minimum(
            tf.gather(room, example), tf.gather(num_tokens, example) - first
        )
        length = tf.maximum(length, 0)
        positions = tf.ragged.range(first, first + length)
        flat = tf.gather(tf.cast(tokens.row_starts(), tf.int32), example)
        flat = positions + flat[:, None]
        window_ids = tf.gather(tokens.flat_values, flat)
        window_spans = tf.gather(spans.flat_values, flat)

        rows = tf.size(example)

        def constant(value, width):
            return tf.RaggedTensor.from_tensor(
                tf.fill([rows, width], tf.cast(value, tf.int32))
            )

        end_id = tokenizer.end_token_id
        end = constant(end_id, 1)
        prefix = tf.concat(
            [
                constant(tokenizer.start_token_id, 1),
                tf.gather(questions, example),
                constant(end_id, self._separators),
            ],
            axis=1,
        )
        ids = tf.concat([prefix, window_ids, end], axis=1)
        pad = tf.cast(tokenizer.pad_token_id, tf.int32)
        shape = [None, self._length]
        features = {
            "token_ids": ids.to_tensor(pad, shape=shape),
            "padding_mask": tf.ones_like(ids).to_tensor(0, shape=shape),
            "segment_ids": tf.concat(
                [tf.zeros_like(prefix), tf.ones_like(window_ids), tf.ones_like(end)],
                axis=1,
            ).to_tensor(0, shape=shape),
        }
        prefix_spans = tf.RaggedTensor.from_row_lengths(
            tf.fill([tf.size(prefix.flat_values), 2], -1), prefix.row_lengths()
        )
        offsets = tf.concat([prefix_spans, window_spans], axis=1)
        offsets = offsets.to_tensor(-1, shape=[None, self._length, 2])
        return features, offsets, example

    def _answer(self, question, context):
        features, offsets, example = self._windows(question, context)
        logits = tf.cast(self._model(features, training=False), tf.float32)
        starts, ends = logits[..., 0], logits[..., 1]
        in_context = offsets[..., 0] >= 0  # (windows, seq)
        allowed = tf.concat([tf.ones_like(in_context[:, :1]), in_context[:, 1:]], 1)
        negative = tf.fill(tf.shape(starts), -float("inf"))
        start_probability = tf.nn.softmax(tf.where(allowed, starts, negative))
        end_probability = tf.nn.softmax(tf.where(allowed, ends, negative))
        # (windows, seq, seq): every start and end; valid spans only.
        scores = starts[:, :, None] + ends[:, None, :]
        positions = tf.range(self._length)
        span_length = positions[None, :] - positions[:, None]
        valid = (span_length >= 0) & (span_length < self._max_answer)
        valid = valid[None] & in_context[:, :, None] & in_context[:, None, :]
        scores = tf.where(valid, scores, -float("inf"))
        flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
        best_index = tf.argmax(flat, axis=1, output_type=tf.int32)
        best = tf.reduce_max(flat, axis=1)
        best_start = best_index // self._length
        best_end = best_index % self._length
        probability = tf.gather(
            start_probability, best_start, batch_dims=1
        ) * tf.gather(end_probability, best_end, batch_dims=1)
        null = starts[:, 0] + ends[:, 0]
        null_probability = start_probability[:, 0] * end_probability[:, 0]

        batch = tf.shape(question)[0]
        window = tf.range(tf.size(example))
        big = tf.size(example)
        # The first window holding each example's best span, and lowest null.
        best_of = tf.math.unsorted_segment_max(best, example, batch)
        # The segment maximum starts from the lowest finite float, not -inf:
        # without this, an example with no valid span (an empty context)
        # would choose no window of its own, and another example's span.
        best_of = tf.where(best_of == tf.float32.min, -float("inf"), best_of)
        chosen = tf.math.unsorted_segment_min(
            tf.where(best >= tf.gather(best_of, example), window, big), example, batch
        )
        null_of = tf.math.unsorted_segment_min(null, example, batch)
        null_window = tf.math.unsorted_segment_min(
            tf.where(null <= tf.gather(null_of, example), window, big), example, batch
        )
        chosen = tf.minimum(chosen, big - 1)
        null_window = tf.minimum(null_window, big - 1)
        span_begin = tf.gather_nd(
            offsets, tf.stack([chosen, tf.gather(best_start, chosen)], 1)
        )[:, 0]
        span_end = tf.gather_nd(
            offsets, tf.stack([chosen, tf.gather(best_end, chosen)], 1)
        )[:, 1]
        no_answer = tf.math.is_inf(best_of)
        if self._allow_no_answer:
            no_answer |= null_of - best_of > self._threshold
        # An example without a valid span has offsets of -1 here.
        span_begin = tf.maximum(span_begin, 0)
        span_end = tf.maximum(span_end, span_begin)
        answer = tf.strings.substr(
            context, span_begin, span_end - span_begin, unit="UTF8_CHAR"
        )
        return {
            "answer": tf.where(no_answer, "", answer),
            "start": tf.where(no_answer, -1, span_begin),
            "end": tf.where(no_answer, -1, span_end),
            "score": tf.where(
                no_answer,
                tf.gather(null_probability, null_window),
                tf.gather(probability, chosen),
            ),
        }
