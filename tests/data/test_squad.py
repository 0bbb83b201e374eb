"""SQuAD JSON loading and question-answering windows with character offsets."""

import json

import keras_hub
import numpy as np
import pytest

from tftransformer.data import (
    DataError,
    SquadExample,
    context_pieces,
    load_squad,
    make_question_answering_windows,
)
from tftransformer.presets import embedded_tokenizer
from tftransformer.testing import write_tiny_preset

CONTEXT = (
    "the quick brown fox jumped over the lazy dog. john smith lives in new "
    "york city, and the movie was great."
)


def squad_file(path, qas, context=CONTEXT, version="v2.0"):
    data = {
        "version": version,
        "data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}],
    }
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def qa(qid, answer=None, start=None, **extra):
    answers = [] if answer is None else [{"text": answer, "answer_start": start}]
    return {"id": qid, "question": "where does john smith live?", "answers": answers}


def test_load_squad_reads_v1_and_v2_records(tmp_path):
    start = CONTEXT.index("new york city")
    path = squad_file(
        tmp_path / "squad.json",
        [
            qa("q1", "new york city", start),
            {**qa("q2"), "is_impossible": True, "plausible_answers": []},
        ],
    )
    first, second = load_squad(path)
    assert first == SquadExample(
        "q1",
        "where does john smith live?",
        CONTEXT,
        ("new york city",),
        (start,),
        "t",
    )
    assert not first.is_impossible
    assert second.is_impossible and second.answers == ()


@pytest.mark.parametrize(
    "qas, match",
    [
        ([qa("q1", "new york", 3)], r"answer 'new york' is not at its answer_start 3"),
        ([{"id": "q1", "answers": []}], "missing key 'question'"),
        ([{**qa("q1"), "answers": [{"text": "dog"}]}], "missing key 'answer_start'"),
        ([qa("q1", "dog", "40")], "'answer_start' must be of type int"),
        ([qa("q1")], "has no answers; expected at least one"),
        ([{**qa("q1", "dog", 41), "is_impossible": True}], "is_impossible but has"),
        ([qa("q1", "dog", 41), qa("q1", "dog", 41)], "'q1' is repeated"),
        ([], "no questions"),
    ],
)
def test_load_squad_names_the_bad_record(tmp_path, qas, match):
    path = squad_file(tmp_path / "bad.json", qas)
    with pytest.raises(DataError, match=match) as error:
        load_squad(path)
    assert "bad.json" in str(error.value)


def test_load_squad_refuses_a_paragraph_without_context_and_non_json(tmp_path):
    path = tmp_path / "no_context.json"
    path.write_text(json.dumps({"data": [{"paragraphs": [{"qas": []}]}]}))
    with pytest.raises(DataError, match=r"paragraphs\[0\]: missing key 'context'"):
        load_squad(path)
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="not valid JSON"):
        load_squad(tmp_path / "broken.json")
    with pytest.raises(DataError, match="no such file"):
        load_squad(tmp_path / "missing.json")
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes('{\n"data": [{"title": "café"}]}'.encode("latin-1"))
    with pytest.raises(
        DataError, match=r"latin1.json, line 2: the file is not valid UTF-8 \(byte 0xe9"
    ):
        load_squad(latin1)
    with pytest.raises(ValueError, match="path=None"):
        load_squad(None)


def _answer_text(windows, examples, row):
    start, end = windows.labels[row]
    offsets = windows.offsets[row]
    context = examples[windows.example_index[row]].context
    return context[offsets[start][0] : offsets[end][1]]


def test_windows_map_the_gold_span_back_to_the_answer_text_word_piece():
    context = "Café Müller opened in São Paulo in 1990, near the river. " * 3
    examples = [
        SquadExample(
            "q1", "where did it open?", context, ("São Paulo",), (context.index("São"),)
        ),
        SquadExample("q2", "when?", context, ("1990",), (context.rindex("1990"),)),
        SquadExample("q3", "why?", context),
    ]
    windows = make_question_answering_windows(
        examples, embedded_tokenizer(), sequence_length=24, doc_stride=6
    )
    # Each context is longer than a window: several overlapping windows each.
    assert len(windows) > len(examples)
    assert windows.features["token_ids"].shape == (len(windows), 24)
    for index, example in enumerate(examples):
        rows = [r for r in range(len(windows)) if windows.example_index[r] == index]
        labelled = [r for r in rows if windows.labels[r][0] > 0]
        if example.is_impossible:
            assert not labelled
            continue
        assert labelled, f"no window holds the answer of {example.id}"
        for row in labelled:
            assert _answer_text(windows, examples, row) == example.answers[0]
            start, end = windows.labels[row]
            assert windows.features["segment_ids"][row][start] == 1
            assert windows.features["padding_mask"][row][end] == 1
        # Windows that cut the answer off are labelled with the start token.
        assert len(labelled) < len(rows)


@pytest.mark.parametrize("family", ["roberta", "xlm_roberta"])
def test_windows_map_the_gold_span_back_on_other_tokenizers(tmp_path, family):
    preset = write_tiny_preset(family, tmp_path / family)
    tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    start = CONTEXT.index("new york city")
    examples = [SquadExample("q1", "where?", CONTEXT, ("new york city",), (start,))]
    windows = make_question_answering_windows(
        examples, tokenizer, sequence_length=40, doc_stride=8, pair_separators=2
    )
    labelled = [r for r in range(len(windows)) if windows.labels[r][0] > 0]
    assert labelled
    for row in labelled:
        assert _answer_text(windows, examples, row) == "new york city"
    # The question is followed by two end tokens, as RoBERTa pairs are.
    ids = windows.features["token_ids"][0].tolist()
    end = tokenizer.end_token_id
    assert ids[0] == tokenizer.start_token_id
    assert [end, end] in [ids[i : i + 2] for i in range(len(ids) - 1)]


@pytest.mark.parametrize(
    "context, words",
    [
        ("don't stop, 3.5km", ["don", "'", "t", "stop", ",", "3", ".", "5km"]),
        # Combining marks belong to their word: vowel signs, a virama and
        # accents written apart were single-mark "words".
        (
            "\u0939\u093f\u0928\u094d\u0926\u0940 \u092d\u093e\u0937\u093e",
            ["हिन्दी", "भाषा"],
        ),
        ("cafe\u0301 du ve\u0301lo!", ["cafe\u0301", "du", "ve\u0301lo", "!"]),
    ],
)
def test_context_pieces_are_words_and_punctuation(context, words):
    pieces = context_pieces(context)
    assert [text.strip() for text, _, _ in pieces] == words
    assert all(context[begin:end] == text.strip() for text, begin, end in pieces)


@pytest.mark.parametrize("family", ["roberta", "xlm_roberta", "albert", "deberta_v3"])
def test_a_window_holds_the_tokens_of_the_whole_context(tmp_path, family):
    # Punctuation and word parts glued to a word: SentencePiece marked each
    # tokenized alone as a word start, a "▁" the family never reads there.
    preset = write_tiny_preset(family, tmp_path / family)
    tokenizer = keras_hub.models.Tokenizer.from_preset(preset)
    context = "the earth is round, isn't it? (yes) the sun,too"
    windows = make_question_answering_windows(
        [SquadExample("q", "is it?", context)], tokenizer, sequence_length=64
    )
    row = windows.features["token_ids"][0]
    in_context = windows.features["segment_ids"][0] == 1
    assert row[in_context][:-1].tolist() == np.asarray(tokenizer(context)).tolist()


@pytest.mark.parametrize(
    "arguments, match",
    [
        ({"sequence_length": 4}, "sequence_length must be an integer >= 8"),
        ({"doc_stride": 0}, "doc_stride must be an integer >= 1"),
        ({"pair_separators": 3}, "pair_separators must be 1 or 2"),
        ({"sequence_length": 8, "max_question_length": 6}, "leaves no room"),
    ],
)
def test_windows_refuse_bad_lengths(arguments, match):
    examples = [SquadExample("q1", "where does john smith live now?", CONTEXT)]
    with pytest.raises(ValueError, match=match):
        make_question_answering_windows(examples, embedded_tokenizer(), **arguments)
