"""Learning a small WordPiece vocabulary for models trained from scratch."""

import collections
import re

import tensorflow as tf

from tftransformer._arguments import check_int, check_strings

__all__ = [
    "SEQUENCE_RESERVED_TOKENS",
    "learn_word_piece_vocabulary",
    "split_words",
    "tokenize_texts",
    "word_piece_tokenizer",
]

# Padding id 0, then the unknown, start and end tokens of generated sequences.
SEQUENCE_RESERVED_TOKENS = ("[PAD]", "[UNK]", "[START]", "[END]")

_WORDS = re.compile(r"\w+|[^\w\s]")


def split_words(text):
    """Lowercased words and punctuation marks of `text`, as the learner sees them.

    Example:
    ```python
    split_words("Hello, World!")  # ["hello", ",", "world", "!"]
    ```
    """
    if not isinstance(text, str):
        raise ValueError(
            f"text must be a string. Received: text={text!r:.200} of type "
            f"{type(text).__name__}"
        )
    return _WORDS.findall(text.lower())


def learn_word_piece_vocabulary(
    texts, min_count, reserved_tokens=SEQUENCE_RESERVED_TOKENS
):
    """Returns a WordPiece vocabulary of every piece seen `min_count` times.

    This is the learner behind `keras_hub.tokenizers.
    compute_word_piece_vocabulary`, run once at a fixed count threshold
    instead of in a binary search over thresholds for a target size, which
    costs about 20 times longer.

    Args:
        texts: iterable of strings (split with `split_words`).
        min_count: int >= 1, the fewest occurrences a piece needs.
        reserved_tokens: tokens placed first, in order (`[PAD]` at id 0).

    Returns:
        A list of token strings, reserved tokens first, continuation pieces
        prefixed with `##`.

    Example:
    ```python
    vocabulary = learn_word_piece_vocabulary(train_texts, min_count=10)
    tokenizer = word_piece_tokenizer(vocabulary)
    ```
    """
    from tensorflow_text.tools.wordpiece_vocab import (
        wordpiece_tokenizer_learner_lib as learner,
    )

    min_count = check_int("min_count", min_count, 1)
    texts = check_strings("texts", texts)
    counts = collections.Counter(word for text in texts for word in split_words(text))
    return learner.learn(
        sorted(counts.items()),
        vocab_size=len(counts) + 1000,  # not the limit: the threshold is
        reserved_tokens=list(reserved_tokens),
        upper_thresh=min_count,
        lower_thresh=min_count,
        include_joiner_token=True,
        joiner="##",
    )


def word_piece_tokenizer(vocabulary):
    """A lowercasing keras-hub `WordPieceTokenizer` over `vocabulary` (int32 ids).

    Accents are kept: the learned vocabularies hold them (Spanish, French).
    """
    import keras_hub

    return keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=list(vocabulary),
        lowercase=True,
        strip_accents=False,
        oov_token="[UNK]",
        dtype="int32",
    )


def tokenize_texts(tokenizer, texts):
    """Returns the token id lists of `texts` (no start or end tokens).

    Example:
    ```python
    tokenize_texts(tokenizer, ["a fine film"])  # [[17, 523, 96]]
    ```
    """
    ids = []
    # One str would be tokenized as one text per character.
    texts = check_strings("texts", texts)
    # Eagerly, 1,024 texts at a time: a `tf.data` map would trace the
    # tokenizer first, which takes longer than tokenizing thousands of texts.
    for begin in range(0, len(texts), 1024):
        batch = tokenizer(tf.constant(texts[begin : begin + 1024], dtype=tf.string))
        # keras-hub returns ragged ids as lists when called eagerly.
        ids.extend(batch.to_list() if isinstance(batch, tf.RaggedTensor) else batch)
    return ids
