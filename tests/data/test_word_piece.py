import pytest

from tftransformer.data import (
    SEQUENCE_RESERVED_TOKENS,
    learn_word_piece_vocabulary,
    split_words,
    tokenize_texts,
    word_piece_tokenizer,
)


def test_split_words_lowercases_and_splits_punctuation():
    assert split_words("El Perro, ¡come!") == ["el", "perro", ",", "¡", "come", "!"]


def test_learned_vocabulary_tokenizes_its_frequent_words_whole():
    texts = ["the dog eats bread ."] * 5 + ["the cat sleeps ."] * 5 + ["zebra"]
    vocabulary = learn_word_piece_vocabulary(texts, min_count=3)
    assert vocabulary[:4] == list(SEQUENCE_RESERVED_TOKENS)
    for word in ("the", "dog", "eats", "bread", "cat", "sleeps", "."):
        assert word in vocabulary
    # Seen once, under the threshold: not a token of its own.
    assert "zebra" not in vocabulary
    tokenizer = word_piece_tokenizer(vocabulary)
    [ids] = tokenize_texts(tokenizer, ["The dog sleeps ."])
    assert [vocabulary[i] for i in ids] == ["the", "dog", "sleeps", "."]


def test_min_count_is_checked():
    with pytest.raises(ValueError, match="min_count=0"):
        learn_word_piece_vocabulary(["a b"], min_count=0)
