import bz2
import math
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    EDA_OPERATIONS,
    TextClassificationData,
    augment_classification_data,
    augment_dataset,
    augment_texts,
    back_translate,
    embedded_checkpoint_dir,
    embedded_vocabulary_path,
    embedding_synonyms,
    get_synonyms,
    random_deletion,
    random_insertion,
    random_swap,
    synonym_replacement,
)
from tftransformer.data.augment import roget_path
from tftransformer.models import seq2seq_translator
from tftransformer.testing import tiny_seq2seq_transformer

SYNONYMS = {"good": ["fine"], "film": ["movie", "picture"], "the": ["a"]}
TEXTS = [
    "The good film was good.",
    "A slow, dull and overlong film with a good cast.",
    "Funny, warm and wise.",
    "It never finds its footing.",
]
WORDS = "one two three four five six seven eight nine ten".split()


# === The four operations ===


def test_synonym_replacement_keeps_punctuation_case_and_stopwords():
    words = "The Good film was good. THE END".split()
    out = synonym_replacement(words, 10, {"good": ["fine"], "the": ["a"]}, seed=0)
    assert out == "The Fine film was fine. THE END".split()
    assert words == "The Good film was good. THE END".split()  # not modified
    assert synonym_replacement(words, 0, SYNONYMS, seed=0) == words


def test_synonym_replacement_replaces_exactly_n_words():
    words = ["good"] * 10
    for n in range(11):
        out = synonym_replacement(words, n, SYNONYMS, seed=n)
        assert out.count("fine") == n


def test_random_insertion_inserts_synonyms_and_keeps_the_order():
    words = "the good film".split()
    out = random_insertion(words, 3, SYNONYMS, seed=0)
    assert len(out) == 6
    inserted = list(out)
    for word in words:  # the originals, in order
        inserted.remove(word)
    assert set(inserted) <= {"fine", "movie", "picture"}
    assert random_insertion(["the", "end"], 3, SYNONYMS, seed=0) == ["the", "end"]


# Synonyms of the ASCII parts of the accented and mixed-script words below,
# which must never be looked up as if the other letters were punctuation.
ASCII_PART_SYNONYMS = {
    "touch": ["caress"],
    "touche": ["caress"],
    "pass": ["passage"],
    "zrich": ["town"],
    "ber": ["over"],
    "na": ["nah"],
    "ve": ["have"],
    "good": ["fine"],
    "c": ["see"],
    "est": ["is"],
}


@pytest.mark.parametrize(
    "text",
    [
        "touché",
        "C'est passé",
        "Zürich",
        "naïve",
        "über",
        "«passé»",
        "touche\u0301",  # decomposed: "e" and a combining accent
        "日本good",
        "good日本",
    ],
)
@pytest.mark.parametrize("source", ["dict", "roget+embedding"])
def test_non_ascii_letters_are_part_of_the_word(text, source):
    synonym_source = ASCII_PART_SYNONYMS if source == "dict" else source
    words = text.split()
    assert synonym_replacement(words, 5, synonym_source, seed=0) == words
    # No word has a synonym, so nothing is inserted (no synonym of "pass").
    assert random_insertion(words, 2, synonym_source, seed=0) == words
    out = augment_texts(
        [text],
        num_aug=1,
        alpha=1.0,
        operations=("synonym_replacement",),
        synonym_source=synonym_source,
    )
    assert out == [text]


def test_non_ascii_words_are_looked_up_whole():
    # The word is the whole run of letters, punctuation stays attached, and
    # a dict or callable source may know accented words.
    source = {"passé": ["démodé"], "good": ["fine"]}
    words = "«Passé» good: touché".split()
    out = synonym_replacement(words, 5, source, seed=0)
    assert out == "«Démodé» fine: touché".split()
    inserted = random_insertion(["passé"], 2, source, seed=0)
    assert sorted(inserted) == ["démodé", "démodé", "passé"]


def test_random_swap_permutes():
    out = random_swap(WORDS, 3, seed=0)
    assert sorted(out) == sorted(WORDS) and out != WORDS
    # One swap changes exactly two positions.
    assert sum(a != b for a, b in zip(random_swap(WORDS, 1, seed=5), WORDS)) == 2
    assert random_swap(["alone"], 5, seed=0) == ["alone"]
    assert random_swap(WORDS, 3, seed=1) == random_swap(WORDS, 3, seed=1)


def test_random_deletion_rate_and_order():
    words = [f"w{i}" for i in range(4000)]
    out = random_deletion(words, 0.3, seed=0)
    # Binomial(4000, 0.7): the standard deviation of the kept fraction is 0.007.
    assert abs(len(out) / len(words) - 0.7) < 0.03
    positions = [int(w[1:]) for w in out]
    assert positions == sorted(positions)
    assert random_deletion(WORDS, 0.0, seed=0) == WORDS
    only = random_deletion(WORDS, 1.0, seed=0)
    assert len(only) == 1 and only[0] in WORDS


# === augment_texts ===


def test_augment_texts_count_order_and_determinism():
    out = augment_texts(TEXTS, num_aug=3, synonym_source=SYNONYMS, seed=7)
    assert len(out) == 12 and all(isinstance(t, str) and t for t in out)
    assert out == augment_texts(TEXTS, num_aug=3, synonym_source=SYNONYMS, seed=7)
    assert out != augment_texts(TEXTS, num_aug=3, synonym_source=SYNONYMS, seed=8)
    # A text's copies depend on its position and itself, not on other texts.
    changed = augment_texts(
        ["Something else entirely."] + TEXTS[1:], 3, synonym_source=SYNONYMS, seed=7
    )
    assert changed[3:] == out[3:]
    assert augment_texts(TEXTS, num_aug=0) == []


def test_augment_texts_alpha_zero_changes_nothing():
    out = augment_texts(TEXTS, num_aug=4, alpha=0.0, synonym_source=SYNONYMS)
    assert out == [text for text in TEXTS for _ in range(4)]


@pytest.mark.parametrize(
    "operation, check",
    [
        ("random_swap", lambda new, old: sorted(new) == sorted(old)),
        ("random_deletion", lambda new, old: 1 <= len(new) <= len(old)),
        ("random_insertion", lambda new, old: len(new) > len(old)),
        (
            "synonym_replacement",
            lambda new, old: len(new) == len(old) and new != old,
        ),
    ],
)
def test_augment_texts_single_operation(operation, check):
    text = "The good film was a good film and a fine good film indeed."
    copies = augment_texts(
        [text], num_aug=3, alpha=0.2, operations=(operation,), synonym_source=SYNONYMS
    )
    for copy in copies:
        assert check(copy.split(), text.split()), copy


def test_two_copies_use_two_operations():
    text = " ".join(["good"] * 20)
    # Insertion lengthens, replacement keeps the length: two copies differ
    # in length only if they used different operations.
    copies = augment_texts(
        [text] * 20,
        num_aug=2,
        alpha=0.2,
        operations=("random_insertion", "synonym_replacement"),
        synonym_source=SYNONYMS,
    )
    for first, second in zip(copies[::2], copies[1::2]):
        assert len(first.split()) != len(second.split())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(alpha=-0.1), r"alpha must be a number in \[0, 1\]. Received: alpha=-0.1"),
        (dict(alpha=1.5), "alpha=1.5"),
        (dict(alpha=True), "alpha=True"),
        (
            dict(num_aug=-1),
            "num_aug must be an integer >= 0. Received: num_aug=-1",
        ),
        (dict(num_aug=1.5), "num_aug=1.5"),
        (
            dict(operations=("shuffle",)),
            r"subset of .*Received: operations=\('shuffle',\)",
        ),
        (dict(operations=()), "non-empty subset"),
        (dict(synonym_source="wordnet"), "synonym_source must be one of .*'wordnet'"),
        (dict(synonym_source=3), "Received: synonym_source=3"),
        (dict(max_synonyms=0), "max_synonyms=0"),
        (dict(seed=-1), "seed=-1"),
    ],
)
def test_augment_texts_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        augment_texts(TEXTS, **{"synonym_source": SYNONYMS, **kwargs})


@pytest.mark.parametrize(
    "operation",
    [
        lambda words: random_swap(words, 1, seed=0),
        lambda words: random_deletion(words, 0.5, seed=0),
        lambda words: random_insertion(words, 1, SYNONYMS, seed=0),
        lambda words: synonym_replacement(words, 1, SYNONYMS, seed=0),
    ],
    ids=["swap", "deletion", "insertion", "replacement"],
)
def test_word_operations_refuse_one_string(operation):
    # A str would be read letter by letter; the operations take its words.
    with pytest.raises(ValueError, match=r"text.split\(\).*words='a good film'"):
        operation("a good film")
    with pytest.raises(ValueError, match=r"words\[1\]=3 \(int\)"):
        operation(["a", 3])


def test_augment_texts_bad_texts():
    with pytest.raises(ValueError, match=r"Received: texts\[1\]=''"):
        augment_texts(["fine", ""])
    with pytest.raises(ValueError, match=r"texts\[0\]='  '"):
        augment_texts(["  "])
    with pytest.raises(ValueError, match="not a single string"):
        augment_texts("a good film")
    with pytest.raises(ValueError, match=r"texts\[0\]=3 \(int\)"):
        augment_texts([3])


def test_callable_and_dict_synonym_sources():
    seen = []

    def source(word):
        seen.append(word)
        return ["fine", word] if word == "good" else []

    out = augment_texts(
        ["Good GOOD good"],
        num_aug=1,
        alpha=1.0,
        operations=("synonym_replacement",),
        synonym_source=source,
    )
    # The word itself is no synonym; the lookup is lowercased and cached.
    assert out == ["Fine FINE fine"]
    assert seen == ["good"]
    assert get_synonyms("GOOD", {"Good": ["fine", "good"]}) == ("fine",)
    with pytest.raises(ValueError, match="list of strings .*'fine' for 'good'"):
        get_synonyms("good", lambda word: "fine")


# === Synonym sources from real lexical data ===


def _roget_categories():
    """word -> set of categories, straight from the file."""
    categories = {}
    with bz2.open(roget_path(), "rt", encoding="utf-8") as f:
        for line in f:
            word, _, category = line.strip().rpartition(",")
            word = word.strip('"').lower()
            if word.isalpha() and word.isascii():
                categories.setdefault(word, set()).add(category)
    return categories


def test_roget_synonyms_rank_by_shared_categories():
    categories = _roget_categories()
    for word in ["film", "dull", "love"]:
        own = categories[word]
        scores = {
            other: len(own & theirs) / math.sqrt(len(own) * len(theirs))
            for other, theirs in categories.items()
            if other != word and own & theirs
        }
        expected = sorted(scores, key=lambda other: (-scores[other], other))[:5]
        assert get_synonyms(word, "roget", max_synonyms=5) == tuple(expected)
    assert get_synonyms("qwzx", "roget") == ()


def _embedding_table():
    from safetensors import safe_open

    path = os.path.join(embedded_checkpoint_dir(), "model.safetensors")
    with safe_open(path, framework="np") as f:
        table = f.get_tensor("embeddings.word_embeddings.weight").astype("float64")
    with open(embedded_vocabulary_path(), encoding="utf-8") as f:
        vocabulary = f.read().split("\n")[: len(table)]
    return vocabulary, table


def test_embedding_synonyms_are_cosine_neighbours_among_whole_words():
    vocabulary, table = _embedding_table()
    whole = [
        i
        for i, t in enumerate(vocabulary)
        if len(t) > 1 and t.isascii() and t.isalpha() and t.islower()
    ]
    unit = table[whole] / np.linalg.norm(table[whole], axis=1, keepdims=True)
    row = [vocabulary[i] for i in whole].index("film")
    order = [i for i in np.argsort(-(unit @ unit[row])) if i != row][:5]
    assert get_synonyms("film", "embedding") == tuple(
        vocabulary[whole[i]] for i in order
    )


def test_roget_plus_embedding_keeps_opposites_apart():
    categories = _roget_categories()
    vocabulary = set(_embedding_table()[0])
    synonyms = get_synonyms("good", "roget+embedding", max_synonyms=10)
    assert len(synonyms) == 10
    for synonym in synonyms:
        assert categories[synonym] & categories["good"] and synonym in vocabulary
    # The embedding table alone puts "bad" next to "good"; the thesaurus
    # ranking does not.
    assert "bad" in get_synonyms("good", "embedding")
    assert "bad" not in synonyms
    assert get_synonyms("filmic", "roget+embedding") == ()  # not a whole word


def test_embedding_synonyms_over_a_given_table():
    vocabulary = ["[PAD]", "good", "great", "bad", "##ly", "fine", "a1"]
    table = np.array(
        [[0, 0], [1, 0], [0.9, 0.1], [-1, 0.1], [1, 0], [0.6, 0.8], [1, 0]], "float32"
    )
    source = embedding_synonyms(vocabulary, table, max_synonyms=2)
    # "##ly" and "a1" (not whole words) are never synonyms, even when closest.
    assert get_synonyms("Good", source) == ("great", "fine")
    assert get_synonyms("a1", source) == ()
    with pytest.raises(
        ValueError, match=r"embeddings.shape=\(7, 2\), len\(vocabulary\)=3"
    ):
        embedding_synonyms(vocabulary[:3], table)


# === TextClassificationData and tf.data ===


def test_augment_classification_data():
    data = TextClassificationData(
        texts=TEXTS,
        labels=[1, 0, 1, 0],
        label_vocabulary=("negative", "positive"),
        groups=("a", "b", "c", "d"),
    )
    out = augment_classification_data(data, num_aug=2, synonym_source=SYNONYMS)
    copies = augment_texts(TEXTS, num_aug=2, synonym_source=SYNONYMS)
    assert len(out) == 12
    assert list(out.texts[::3]) == TEXTS
    assert list(out.texts[1::3]) == copies[::2]
    assert list(out.labels) == [1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0]
    assert out.groups[:4] == ("a", "a", "a", "b")
    only_copies = augment_classification_data(
        data, num_aug=2, synonym_source=SYNONYMS, include_original=False
    )
    assert list(only_copies.texts) == copies
    pairs = TextClassificationData(
        texts=["a"], labels=[0], label_vocabulary=("x", "y"), text_pairs=["b"]
    )
    with pytest.raises(ValueError, match="pairs is not supported"):
        augment_classification_data(pairs)
    with pytest.raises(ValueError, match="TextClassificationData.*list"):
        augment_classification_data(TEXTS)


def test_augment_dataset_matches_augment_texts():
    labels = [1, 0, 1, 0]
    dataset = tf.data.Dataset.from_tensor_slices((TEXTS, labels))
    out = list(augment_dataset(dataset, num_aug=2, synonym_source=SYNONYMS, seed=3))
    copies = augment_texts(TEXTS, num_aug=2, synonym_source=SYNONYMS, seed=3)
    expected = []
    for i, text in enumerate(TEXTS):
        expected += [(text, labels[i])] + [
            (c, labels[i]) for c in copies[2 * i : 2 * i + 2]
        ]
    assert [(t.numpy().decode(), int(y)) for t, y in out] == expected

    texts_only = augment_dataset(
        tf.data.Dataset.from_tensor_slices(TEXTS),
        num_aug=2,
        synonym_source=SYNONYMS,
        seed=3,
        include_original=False,
    )
    assert [t.numpy().decode() for t in texts_only] == copies


def test_augment_dataset_bad_input():
    with pytest.raises(ValueError, match="scalar strings"):
        augment_dataset(tf.data.Dataset.range(3))
    with pytest.raises(ValueError, match="scalar strings"):
        augment_dataset(tf.data.Dataset.from_tensor_slices(TEXTS).batch(2))
    with pytest.raises(ValueError, match="alpha"):
        augment_dataset(tf.data.Dataset.from_tensor_slices(TEXTS), alpha=2)
    empty = augment_dataset(
        tf.data.Dataset.from_tensor_slices(["fine", ""]), synonym_source=SYNONYMS
    )
    with pytest.raises(tf.errors.OpError, match="empty text.*element 1"):
        list(empty)


# === Back-translation ===


def test_back_translate_with_callables():
    calls = []

    def forward(batch):
        calls.append(list(batch))
        return [f"<{t}>" for t in batch]

    def backward(batch):
        return np.array([t[1:-1].upper().encode() for t in batch])

    texts = ["a", "b", "c", "d", "e"]
    assert back_translate(texts, forward, backward, batch_size=2) == list("ABCDE")
    assert calls == [["a", "b"], ["c", "d"], ["e"]]
    # An empty translation keeps the text it translated.
    assert back_translate(["a", "b"], lambda b: ["x", ""], lambda b: b) == ["x", "b"]


def test_back_translate_with_a_keras_layer():
    class Upper(keras.layers.Layer):
        def call(self, inputs):
            assert inputs.dtype == tf.string
            return tf.strings.upper(inputs)

    assert back_translate(["ab", "c"], Upper(), lambda b: b[::-1]) == ["C", "AB"]


def test_back_translate_bad_input():
    same = lambda batch: batch  # noqa: E731
    with pytest.raises(ValueError, match="one translation per text. Received: 1 .* 2"):
        back_translate(["a", "b"], lambda b: ["x"], same)
    with pytest.raises(ValueError, match="not one string"):
        back_translate(["a"], lambda b: "x", same)
    with pytest.raises(ValueError, match="backward must return strings.*None"):
        back_translate(["a"], same, lambda b: [None])
    with pytest.raises(ValueError, match="forward must be a callable"):
        back_translate(["a"], "es", same)
    with pytest.raises(ValueError, match=r"texts\[0\]=''"):
        back_translate([""], same, same)
    with pytest.raises(ValueError, match="batch_size=0"):
        back_translate(["a"], same, same, batch_size=0)


def test_seq2seq_translator_round_trip(tmp_path):
    vocabulary = ["[PAD]", "[UNK]", "[START]", "[END]", "a", "good", "film", "##s", "."]
    model = tiny_seq2seq_transformer(vocabulary)
    path = tmp_path / "model.keras"
    model.save(path)
    vocabulary_file = tmp_path / "vocabulary.txt"
    vocabulary_file.write_text("".join(t + "\n" for t in vocabulary))
    translate = seq2seq_translator(
        str(path), str(vocabulary_file), str(vocabulary_file), max_length=8
    )
    # "A good film." is [a, good, film, .]: ids 4, 5, 6, 8; "films" is 6, 7.
    decoded = model.greedy_decode(np.array([[4, 5, 6, 8], [6, 7, 0, 0]]), 2, 3, 8)
    expected = []
    for row in decoded.tolist():
        pieces = [vocabulary[i] for i in row[1 : (row + [3]).index(3)]]
        expected.append(" ".join(pieces).replace(" ##", "").removeprefix("##"))
    assert translate(["A good film.", "films"]) == expected
    direct = seq2seq_translator(model, vocabulary, vocabulary, max_length=8)
    texts = ["A good film.", "films", "unknown words here"]
    assert direct(texts) == translate(texts)
    assert len(back_translate(texts, translate, translate)) == 3
    with pytest.raises(ValueError, match=r"\[START\] and \[END\]"):
        seq2seq_translator(model, vocabulary, vocabulary[:3])
    with pytest.raises(ValueError, match="max_length=1"):
        seq2seq_translator(model, vocabulary, vocabulary, max_length=1)


def test_eda_operations_constant():
    assert EDA_OPERATIONS == (
        "synonym_replacement",
        "random_insertion",
        "random_swap",
        "random_deletion",
    )
