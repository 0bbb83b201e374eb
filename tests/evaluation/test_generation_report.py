import json

import pytest

from tftransformer.evaluation import GenerationReport, corpus_bleu, corpus_rouge

GENERATIONS = ["The cat sat on the mat.", "A dog, barking loudly", "hello there"]
REFERENCES = ["the cat sat on a mat .", "a dog barking", "hello there"]


def test_scores_are_the_corpus_scores_of_the_split_words(tmp_path):
    report = GenerationReport(GENERATIONS, REFERENCES)
    hypotheses = ["the cat sat on the mat .", "a dog , barking loudly", "hello there"]
    assert report.bleu == corpus_bleu(hypotheses, REFERENCES)
    assert report.rouge == corpus_rouge(hypotheses, REFERENCES)
    assert 0 < report.bleu["bleu"] < 100
    summary = report.to_dict()
    assert summary["num_examples"] == 3
    assert summary["bleu"] == report.bleu["bleu"]
    assert set(summary["rouge"]) == {"rouge1", "rouge2", "rougeL"}
    report.to_json(tmp_path / "report.json")
    assert json.loads((tmp_path / "report.json").read_text()) == summary
    text = report.format()
    assert text.splitlines()[0] == "examples 3"
    assert f"bleu     {report.bleu['bleu']:.2f}" in text
    assert f"rougeL   {report.rouge['rougeL']:.4f}" in text


def test_identical_texts_score_full_marks():
    texts = ["the quick brown fox jumps over the lazy dog"]
    report = GenerationReport(texts, [text.upper() for text in texts])
    assert report.bleu["bleu"] == pytest.approx(100.0)
    assert report.rouge["rougeL"] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "generations, references, message",
    [
        (["a"], ["a", "b"], "1 generations and 2 references"),
        ([], [], "0 generations and 0 references"),
        (["a", None], ["a", "b"], "`generations` must be a list of strings"),
        (["a"], "a", "`references` must be a list of strings"),
    ],
)
def test_bad_inputs_are_refused(generations, references, message):
    with pytest.raises(ValueError, match=message):
        GenerationReport(generations, references)
