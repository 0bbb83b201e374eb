"""Questions and long contexts as overlapping windows of token ids.

Each example becomes one or more windows `[start] question [sep] context
window [end]` of at most `sequence_length` tokens; consecutive windows
start `doc_stride` context tokens apart, so an answer cut by one window's
edge is whole in the next. Every context token keeps the character span of
the original context it came from, so a predicted span of tokens maps back
to a span of characters.

The context is first split into words (letters, digits, `_` and combining
marks) and single punctuation characters, with their character offsets;
each piece is tokenized on its own by the family's tokenizer (with a
leading space where the context has one, as byte-level BPE and
SentencePiece tokenizers mark word starts), and
all its tokens carry its character span. The tokenizer is a keras-hub one
(WordPiece, SentencePiece or byte-level BPE): no family needs offsets from
its tokenizer. A SentencePiece tokenizer marks the start of every text it
reads as a word start (`▁`), a piece glued to the one before it (`,` of
`round,`, `t` of `isn't`) too: such a piece's first token loses the mark
(a lone `▁` is dropped, `▁t` read as `t` where the vocabulary has it), as
the family reads the whole context (a run of characters the vocabulary
lacks still gives one unknown token per piece, where the whole context has
one for the run). An answer that starts or ends inside a word is labelled
with the whole word.
"""

import dataclasses
import functools
import re
import sys
import unicodedata
import weakref

import numpy as np

from tftransformer._arguments import check_int

__all__ = [
    "QuestionAnsweringWindows",
    "combining_mark_ranges",
    "context_pieces",
    "glued_piece_ids",
    "make_question_answering_windows",
]


@functools.cache
def combining_mark_ranges():
    """`(first, last)` code points of each run of combining marks (Unicode
    category M) in Python's `unicodedata`: the serving graph's regular
    expression names the same ones."""
    ranges, start = [], None
    for code in range(sys.maxunicode + 2):
        mark = code <= sys.maxunicode and unicodedata.category(chr(code))[0] == "M"
        if mark and start is None:
            start = code
        elif not mark and start is not None:
            ranges.append((start, code - 1))
            start = None
    return tuple(ranges)


@functools.cache
def _piece_pattern():
    """Words (letters, digits, `_` and combining marks: a Devanagari vowel
    sign or a decomposed accent belongs to its word) and single other
    non-space characters. Python's `\\w` leaves the marks out."""
    marks = "".join(
        f"\\U{first:08x}-\\U{last:08x}" for first, last in combining_mark_ranges()
    )
    return re.compile(rf"[\w{marks}]+|[^\w{marks}\s]", re.UNICODE)


def context_pieces(context):
    """Words and punctuation characters of `context`, with their offsets.

    A word is a run of letters, digits, `_` and combining marks (Unicode
    categories L, N, M).

    Returns:
        A list of `(text, begin, end)` with `context[begin:end] == text`;
        `text` starts with a space where the context has whitespace before it.
    """
    pieces = []
    for match in _piece_pattern().finditer(context):
        begin, end = match.span()
        spaced = begin > 0 and context[begin - 1].isspace()
        pieces.append((" " * spaced + match.group(), begin, end))
    return pieces


# SentencePiece's mark of a word start.
_WORD_START = "\u2581"


def glued_piece_ids(tokenizer):
    """How a SentencePiece tokenizer's ids read inside a word.

    A piece of `context_pieces` tokenized on its own starts with a word
    start mark, as a text does; glued to the piece before it, it has none
    in the whole context.

    Returns:
        `None` for another tokenizer (WordPiece and byte-level BPE mark word
        starts from the leading space `context_pieces` keeps); else
        `(table, mark)`: an int32 array of every id's id without its leading
        `▁` (itself when it has none, or when the rest is not a token), and
        the id of the lone `▁` (-1 when the vocabulary has none), which a
        glued piece's first token drops.
    """
    import keras_hub

    if not isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
        return None
    # Read once per tokenizer: XLM-R's vocabulary holds 250,002 tokens, and
    # `predict_answers` makes windows batch by batch.
    if tokenizer not in _GLUED_PIECE_IDS:
        _GLUED_PIECE_IDS[tokenizer] = _glued_piece_table(tokenizer)
    return _GLUED_PIECE_IDS[tokenizer]


_GLUED_PIECE_IDS = weakref.WeakKeyDictionary()


def _glued_piece_table(tokenizer):
    vocabulary = tokenizer.get_vocabulary()
    ids = {token: tokenizer.token_to_id(token) for token in vocabulary}
    table = np.arange(len(vocabulary), dtype=np.int32)
    for token, token_id in ids.items():
        rest = token[len(_WORD_START) :]
        if token.startswith(_WORD_START) and rest in ids:
            table[token_id] = ids[rest]
    return table, ids.get(_WORD_START, -1)


def _glued(tokens, continuation):
    """A glued piece's tokens, its first one read inside a word."""
    table, mark = continuation
    if tokens and tokens[0] == mark:
        return tokens[1:]
    return [int(table[tokens[0]]), *tokens[1:]] if tokens else tokens


def _token_lists(tokenizer, texts):
    if not texts:
        return []
    ids = tokenizer(list(texts))
    # keras-hub returns Python lists for list inputs in eager mode.
    if hasattr(ids, "to_list"):
        ids = ids.to_list()
    return [[int(token) for token in row] for row in ids]


@dataclasses.dataclass(frozen=True)
class QuestionAnsweringWindows:
    """Packed windows of question-answering examples, as numpy arrays.

    Args:
        features: dict of `token_ids`, `padding_mask`, `segment_ids`, each
            int32 `(num_windows, sequence_length)`: what a
            `QuestionAnswerer` takes (`segment_ids` is 1 on the context
            window and its end token).
        labels: int32 `(num_windows, 2)`: the start and end positions of
            the first gold answer in the window, `(0, 0)` (the start token)
            when the window holds no whole answer or the question has none.
        offsets: int32 `(num_windows, sequence_length, 2)`: each context
            token's `[begin, end)` character span in its context, `-1` on
            other positions.
        example_index: int32 `(num_windows,)`: the example each window is of.
    """

    features: dict
    labels: np.ndarray
    offsets: np.ndarray
    example_index: np.ndarray

    def __len__(self):
        return len(self.example_index)


def _window_starts(num_tokens, room, stride):
    starts = [0]
    while starts[-1] + room < num_tokens:
        starts.append(starts[-1] + stride)
    return starts


def _label(offsets, answer_begin, answer_end, first, last):
    """Token positions of the answer's first and last tokens, or (0, 0)."""
    if not (offsets[first][0] <= answer_begin and answer_end <= offsets[last][1]):
        return 0, 0
    start = end = None
    for position in range(first, last + 1):
        begin, stop = offsets[position]
        if start is None and stop > answer_begin:
            start = position
        if begin < answer_end:
            end = position
    if start is None or end is None or end < start:
        return 0, 0
    return start, end


def make_question_answering_windows(
    examples,
    tokenizer,
    sequence_length=384,
    doc_stride=128,
    max_question_length=64,
    pair_separators=1,
):
    """Tokenizes and packs examples into overlapping labelled windows.

    Args:
        examples: a list of `SquadExample`s (or objects with `question`,
            `context`, `answers` and `answer_starts`).
        tokenizer: a keras-hub tokenizer with `start_token_id`,
            `end_token_id` and `pad_token_id` (every text encoder family's).
        sequence_length: int >= 8, the length of every window.
        doc_stride: int >= 1, context tokens between the starts of
            consecutive windows (at most the window's room for context).
        max_question_length: int >= 1, questions are cut to this many tokens.
        pair_separators: 1 (`[CLS] q [SEP] c [SEP]`, BERT's) or 2
            (`<s> q </s></s> c </s>`, RoBERTa's) end tokens between the
            question and the context.

    Returns:
        A `QuestionAnsweringWindows`.

    Raises:
        ValueError: a length argument out of range, or a `sequence_length`
            that leaves no room for context after the question.

    Example:
    ```python
    windows = make_question_answering_windows(examples, tokenizer, 64, 16)
    windows.features["token_ids"].shape  # (num_windows, 64)
    ```
    """
    sequence_length = check_int("sequence_length", sequence_length, 8)
    doc_stride = check_int("doc_stride", doc_stride, 1)
    max_question_length = check_int("max_question_length", max_question_length, 1)
    if pair_separators not in (1, 2):
        raise ValueError(
            "pair_separators must be 1 or 2. "
            f"Received: pair_separators={pair_separators!r}"
        )
    start_id = tokenizer.start_token_id
    end_id = tokenizer.end_token_id
    pad_id = tokenizer.pad_token_id
    questions = _token_lists(tokenizer, [example.question for example in examples])
    pieces = [context_pieces(example.context) for example in examples]
    # One tokenizer call for every piece of every context.
    flat = _token_lists(tokenizer, [text for piece in pieces for text, _, _ in piece])

    continuation = glued_piece_ids(tokenizer)

    token_ids, segment_ids, offsets, labels, example_index = [], [], [], [], []
    lengths = []
    cursor = 0
    for index, example in enumerate(examples):
        context_ids, context_offsets = [], []
        for text, begin, end in pieces[index]:
            tokens = flat[cursor]
            if continuation is not None and begin > 0 and not text.startswith(" "):
                tokens = _glued(tokens, continuation)
            for token in tokens:
                context_ids.append(token)
                context_offsets.append((begin, end))
            cursor += 1
        question = questions[index][:max_question_length]
        prefix = [start_id, *question] + [end_id] * pair_separators
        room = sequence_length - len(prefix) - 1
        if room < 1:
            raise ValueError(
                f"sequence_length={sequence_length} leaves no room for context "
                f"after a question of {len(question)} tokens; raise "
                "sequence_length or lower max_question_length."
            )
        stride = min(doc_stride, room)
        answer = None
        if example.answers:
            answer_begin = example.answer_starts[0]
            answer = (answer_begin, answer_begin + len(example.answers[0]))
        for first in _window_starts(len(context_ids), room, stride):
            window = context_ids[first : first + room]
            ids = prefix + window + [end_id]
            padding = sequence_length - len(ids)
            lengths.append(len(ids))
            token_ids.append(ids + [pad_id] * padding)
            segment_ids.append(
                [0] * len(prefix) + [1] * (len(window) + 1) + [0] * padding
            )
            window_offsets = [(-1, -1)] * sequence_length
            shift = len(prefix)
            for position, span in enumerate(context_offsets[first : first + room]):
                window_offsets[shift + position] = span
            offsets.append(window_offsets)
            if answer is None or not window:
                labels.append((0, 0))
            else:
                labels.append(
                    _label(window_offsets, *answer, shift, shift + len(window) - 1)
                )
            example_index.append(index)
    token_ids = np.asarray(token_ids, np.int32).reshape(-1, sequence_length)
    features = {
        "token_ids": token_ids,
        "padding_mask": (
            np.arange(sequence_length) < np.asarray(lengths, np.int32)[:, None]
        ).astype(np.int32),
        "segment_ids": np.asarray(segment_ids, np.int32).reshape(-1, sequence_length),
    }
    return QuestionAnsweringWindows(
        features,
        np.asarray(labels, np.int32).reshape(-1, 2),
        np.asarray(offsets, np.int32).reshape(-1, sequence_length, 2),
        np.asarray(example_index, np.int32),
    )
