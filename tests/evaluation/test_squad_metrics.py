"""SQuAD scoring on hand cases, each value derived by hand from the rules of
the official evaluation script (evaluate-v2.0.py)."""

import json

import pytest

from tftransformer.evaluation import (
    SquadReport,
    normalize_answer,
    score_squad,
    squad_exact_match,
    squad_f1,
)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The  Denver Broncos!", "denver broncos"),
        # Punctuation goes before articles: "a," is an article once bare.
        ("an apple, a day", "apple day"),
        # Articles only as whole words.
        ("theater and anthem", "theater and anthem"),
        ("Saint-Denis", "saintdenis"),
        ("  \tMixed\nCASE ", "mixed case"),
        ("the", ""),
    ],
)
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize(
    "gold, prediction, exact, f1",
    [
        ("Denver Broncos", "the denver broncos.", 1, 1.0),
        # precision 1/1, recall 1/2
        ("the Denver Broncos", "Broncos", 0, 2 / 3),
        # precision 2/3, recall 2/2
        ("Denver Broncos", "Denver Broncos won", 0, 0.8),
        # shared tokens count with multiplicity: min(2, 3) of "y"
        ("x y y", "y y y", 0, 2 / 3),
        ("Denver", "Carolina", 0, 0.0),
        # no answer on one side only
        ("Denver", "", 0, 0.0),
        ("", "Denver", 0, 0.0),
        ("", "", 1, 1.0),
        # None is no answer, as "".
        (None, "Denver", 0, 0.0),
        ("Denver", None, 0, 0.0),
        (None, "", 1, 1.0),
    ],
)
def test_exact_match_and_f1(gold, prediction, exact, f1):
    assert squad_exact_match(gold, prediction) == exact
    assert squad_f1(gold, prediction) == pytest.approx(f1)


def test_score_squad_takes_the_best_gold_answer_and_splits_no_answers():
    gold = {
        "q1": ["Denver Broncos", "Broncos"],  # "Broncos" matches exactly
        "q2": ["the Denver Broncos"],  # F1 2/3
        "q3": [],  # no answer, predicted none: 1
        "q4": [],  # no answer, predicted one: 0
        # Gold answers that normalize to nothing count as no answer.
        "q5": ["the", "."],
    }
    predictions = {"q1": "Broncos", "q2": "Broncos", "q3": "", "q4": "Denver", "q5": ""}
    report = score_squad(gold, predictions)
    assert report.total == 5
    assert report.exact == pytest.approx(100 * 3 / 5)
    assert report.f1 == pytest.approx(100 * (1 + 2 / 3 + 1 + 0 + 1) / 5)
    # q5 has answers in the file, so it is a "has answer" question.
    assert report.has_answer_total == 3
    assert report.has_answer_exact == pytest.approx(100 * 2 / 3)
    assert report.has_answer_f1 == pytest.approx(100 * (1 + 2 / 3 + 1) / 3)
    assert report.no_answer_total == 2
    assert report.no_answer_exact == pytest.approx(50.0)
    assert report.no_answer_f1 == pytest.approx(50.0)
    keys = set(report.to_dict())
    assert {"exact", "f1", "total", "HasAns_exact", "NoAns_f1"} <= keys
    assert "has answer" in report.format()


def test_report_of_answerable_questions_only_has_no_no_answer_keys(tmp_path):
    report = score_squad({"q1": ["Denver"]}, {"q1": "Denver"})
    report.to_json(tmp_path / "report.json")
    written = json.loads((tmp_path / "report.json").read_text())
    assert written == {
        "exact": 100.0,
        "f1": 100.0,
        "total": 1,
        "HasAns_exact": 100.0,
        "HasAns_f1": 100.0,
        "HasAns_total": 1,
    }
    assert isinstance(report, SquadReport)


@pytest.mark.parametrize(
    "gold, predictions, match",
    [
        ({"q1": ["a"]}, {}, r"no prediction for \['q1'\]"),
        ({"q1": ["a"]}, {"q1": "a", "q9": "b"}, r"unknown ids \['q9'\]"),
        ({"q1": ["a"]}, {"q1": None}, "predictions must be strings"),
        ({"q1": "Denver"}, {"q1": "Denver"}, "list of strings"),
        ([["a"]], ["a"], r"gold_answers must be a dict mapping each question id"),
        ({"q1": ["a"]}, ["a"], r"predictions must be a dict .*predictions=\['a'\]"),
    ],
)
def test_score_squad_refuses_bad_input(gold, predictions, match):
    with pytest.raises(ValueError, match=match):
        score_squad(gold, predictions)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: normalize_answer(3), "text=3 of type int"),
        (lambda: squad_exact_match(3, "a"), "gold=3 of type int"),
        (lambda: squad_exact_match("a", ["a"]), r"prediction=\['a'\]"),
        (lambda: squad_f1("a", 3), "prediction=3 of type int"),
    ],
)
def test_answers_must_be_strings_or_none(call, match):
    with pytest.raises(ValueError, match="must be an answer string.*" + match):
        call()
    assert normalize_answer(None) == ""
