"""Tokenizing raw strings with TF Text ops that have LiteRT kernels."""

import keras_hub
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from tftransformer._warnings import warn

__all__ = ["PROBE_TEXTS", "LiteRTTokenizer", "as_litert_tokenizer"]

# Texts every export's tokenizer is checked on: cases, accents, digits,
# punctuation, runs of spaces, tabs, non-Latin scripts and an empty string.
PROBE_TEXTS = (
    "The movie was great!",
    "a boring film, never again...",
    "Naïve café ÉCOLE  with   spaces\tand tabs",
    "1234 numbers 56.78 and symbols @#$% ^&*()",
    "Überraschung: ça coûte 5€ — “quotes” ‘too’",
    "日本語のテキスト 中文 한국어 русский текст عربى",
    "",
)


class LiteRTTokenizer:
    """A model's keras-hub tokenizer, rebuilt from TF Text ops with LiteRT
    kernels: `FastBertTokenizer` for a WordPiece vocabulary,
    `FastSentencepieceTokenizer` for a SentencePiece model (ALBERT,
    DeBERTa-v3, XLM-RoBERTa, T5).

    A SentencePiece tokenizer whose ids are not the SentencePiece model's
    own (XLM-RoBERTa's start one past them, its `<unk>` moved) maps them
    through a table read from the tokenizer's vocabulary. The rebuilt
    tokenizer is checked against the model's on `PROBE_TEXTS` (and any
    texts given), so an export never tokenizes differently unnoticed: a
    SentencePiece difference is refused; a WordPiece one warns, naming
    the texts (`FastBertTokenizer` normalizes some scripts differently
    from keras-hub's `WordPieceTokenizer`, such as Hangul, which keras-hub
    leaves whole and TF Text splits into its letters, and there is no
    other WordPiece op with a LiteRT kernel).
    Byte-pair tokenizers (GPT-2, RoBERTa, BART) have no LiteRT kernel.

    Args:
        tokenizer: a keras-hub `WordPieceTokenizer` or
            `SentencePieceTokenizer` (or a subclass, e.g. a family's).
        texts: optional list of strings the two tokenizers are compared
            on, besides `PROBE_TEXTS`.

    Raises:
        ValueError: for another tokenizer (naming its class), or a
            SentencePiece one the TF Text op tokenizes differently (naming
            the first text).
    """

    def __init__(self, tokenizer, texts=()):
        # The model's own tokenizer, for what an export reads from it besides
        # tokenizing (a vocabulary, a SentencePiece model).
        self.keras_tokenizer = tokenizer
        # A task preprocessor's special tokens (None for a bare tokenizer).
        self.start_token_id = _token_id(tokenizer, "start_token_id")
        self.end_token_id = _token_id(tokenizer, "end_token_id")
        self.pad_token_id = _token_id(tokenizer, "pad_token_id")
        self._table = None
        if isinstance(tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
            self._tokenizer = tf_text.FastBertTokenizer(
                vocab=tokenizer.get_vocabulary(),
                suffix_indicator=tokenizer.suffix_indicator,
                unknown_token=tokenizer.oov_token,
                token_out_type=tf.int32,
                lower_case_nfd_strip_accents=bool(tokenizer.lowercase),
            )
            # The accents' warning says why; the probe's would repeat it.
            if not _warn_of_accents(tokenizer):
                self._warn_of_differences(tokenizer, list(PROBE_TEXTS) + list(texts))
            return
        if not isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
            raise ValueError(
                "A LiteRT export tokenizes with TF Text ops that have LiteRT "
                "kernels: it needs a keras-hub WordPieceTokenizer (BERT, "
                "DistilBERT, ELECTRA) or SentencePieceTokenizer (ALBERT, "
                "DeBERTa-v3, XLM-RoBERTa); byte-pair tokenizers (RoBERTa, "
                "GPT-2, BART) have no LiteRT kernel. Received: "
                f"tokenizer of class {type(tokenizer).__name__}"
            )
        try:
            self._tokenizer = tf_text.FastSentencepieceTokenizer(tokenizer.proto)
        except Exception as error:  # The op's own message says why.
            raise ValueError(
                "TF Text's FastSentencepieceTokenizer cannot read this "
                f"SentencePiece model ({type(error).__name__}: {error})"
            ) from None
        self._table = _id_table(tokenizer)
        self._check(tokenizer, list(PROBE_TEXTS) + list(texts))

    def tokenize(self, texts):
        """Token ids of 1-D strings: a ragged int32 `(batch, (pieces))`."""
        pieces = self._tokenizer.tokenize(texts)
        if self._table is None:
            return tf.cast(pieces, tf.int32)
        return tf.ragged.map_flat_values(tf.gather, self._table, pieces)

    def _differences(self, tokenizer, texts):
        """(text, the model's ids, this tokenizer's ids) of each text the
        two tokenize differently."""
        # keras-hub tokenizes eager calls with the sentencepiece package (its
        # graphs with TF Text's op, whose resource a `tf.random.set_seed`
        # after the tokenizer was built destroys: see BUILD_NOTES).
        expected = _lists(tokenizer.tokenize(texts))
        received = self.tokenize(tf.constant(texts)).to_list()
        return [
            (text, want, got)
            for text, want, got in zip(texts, expected, received)
            if want != got
        ]

    def _check(self, tokenizer, texts):
        differences = self._differences(tokenizer, texts)
        if differences:
            text, want, got = differences[0]
            raise ValueError(
                "TF Text's FastSentencepieceTokenizer tokenizes "
                f"{text!r} as {got}, where the model's "
                f"{type(tokenizer).__name__} gives {want}: a LiteRT "
                "export would not answer as the model does."
            )

    def _warn_of_differences(self, tokenizer, texts):
        differences = self._differences(tokenizer, texts)
        if not differences:
            return
        text, want, got = differences[0]
        # From the first piece that differs, a few pieces of each.
        start = next(
            (i for i, (a, b) in enumerate(zip(want, got)) if a != b),
            min(len(want), len(got)),
        )
        warn(
            "A LiteRT model tokenizes WordPiece text with TF Text's "
            f"FastBertTokenizer, which tokenizes {len(differences)} of "
            f"{len(texts)} texts checked differently from this "
            f"{type(tokenizer).__name__}: {_shorten(text)!r} from piece "
            f"{start} on as {got[start : start + 8]}, where it gives "
            f"{want[start : start + 8]}. The LiteRT model answers such "
            f"texts (here: {[_shorten(d[0]) for d in differences[:5]]}) "
            "unlike the Keras model and its SavedModel.",
        )


def _warn_of_accents(tokenizer):
    """Warns when `FastBertTokenizer` cannot normalize as `tokenizer` does;
    whether it warned.

    Its normalizer lower-cases, decomposes (NFD) and strips accents
    together, or does none of it; TF Text has no LiteRT kernel that
    lower-cases alone.
    """
    lowercase = bool(tokenizer.lowercase)
    strip_accents = bool(getattr(tokenizer, "strip_accents", False))
    if lowercase == strip_accents:
        return False
    warn(
        "A LiteRT model tokenizes WordPiece text with TF Text's "
        "FastBertTokenizer, which lower-cases and strips accents "
        "together or does neither. This "
        f"{type(tokenizer).__name__} has lowercase={lowercase}, "
        f"strip_accents={strip_accents}: the LiteRT model "
        f"{'strips' if lowercase else 'keeps'} accents where the Keras "
        f"model and its SavedModel {'keep' if lowercase else 'strip'} "
        "them, so it tokenizes accented letters (such as the 'é' of "
        "'café') differently.",
    )
    return True


def as_litert_tokenizer(tokenizer):
    """`tokenizer` if it is a `LiteRTTokenizer` (built, and checked, once by
    the export), else a new one of it."""
    if isinstance(tokenizer, LiteRTTokenizer):
        return tokenizer
    return LiteRTTokenizer(tokenizer)


def _shorten(text, limit=80):
    """`text`, cut to `limit` characters with "..." if longer."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _lists(token_ids):
    """Rows of token ids (a ragged tensor, arrays or lists) as lists of ints."""
    if hasattr(token_ids, "to_list"):
        token_ids = token_ids.to_list()
    return [[int(token_id) for token_id in row] for row in token_ids]


def _id_table(tokenizer):
    """The tokenizer's id of each SentencePiece id, or None if they are the
    same. Pieces the tokenizer's vocabulary lacks keep their own id."""
    model = tf_text.SentencepieceTokenizer(tokenizer.proto)
    size = int(model.vocab_size())
    pieces = model.id_to_string(tf.range(size)).numpy()
    ids = {token: index for index, token in enumerate(tokenizer.get_vocabulary())}
    table = np.array(
        [ids.get(piece.decode("utf-8"), index) for index, piece in enumerate(pieces)],
        np.int32,
    )
    if np.array_equal(table, np.arange(size)):
        return None
    return tf.constant(table)


def _token_id(tokenizer, name):
    token_id = getattr(tokenizer, name, None)
    return None if token_id is None else int(token_id)
