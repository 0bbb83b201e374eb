import pytest

from tftransformer.data import (
    SEQUENCE_RESERVED_TOKENS,
    join_word_pieces,
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


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: split_words(5), "text=5 of type int"),
        # One str would be read as one text per character.
        (
            lambda: tokenize_texts(None, "hello"),
            "not a single string .*Received: texts='hello'",
        ),
        (lambda: learn_word_piece_vocabulary("a b", 1), "texts='a b'"),
        (lambda: learn_word_piece_vocabulary(["a", 3], 1), r"texts\[1\]=3 \(int\)"),
    ],
)
def test_texts_must_be_strings(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "ids, bad_id, position",
    # A negative id would silently index from the end.
    [([0, 1, 99], 99, 2), ([1, -1], -1, 1)],
)
def test_join_word_pieces_refuses_ids_outside_the_vocabulary(ids, bad_id, position):
    vocabulary = ["[PAD]", "a", "##b"]
    assert join_word_pieces([1, 2, 1], vocabulary, end_id=5) == "ab a"
    with pytest.raises(
        ValueError,
        match=rf"token ids in \[0, 3\), the vocabulary size. Received: id "
        rf"{bad_id} at position {position}",
    ):
        join_word_pieces(ids, vocabulary, end_id=5)
