import math

import pytest

from tftransformer.evaluation.bleu import corpus_bleu, ngram_counts

# Values printed once by sacrebleu 2.6.0 (a throwaway venv, not a project
# dependency): `sacrebleu.corpus_bleu(hypotheses, references,
# tokenize="none", smooth_method=...)`, with `.score`, `.bp`, `.counts` and
# `.totals`. References are in sacrebleu's layout: a list of streams.
MULTI_REFERENCE = (
    [
        "it is a guide to action which ensures that the military always obeys "
        "the commands of the party",
        "he read the book because he was interested in world history",
    ],
    [
        [
            "it is a guide to action that ensures that the military will forever "
            "heed party commands",
            "he was interested in world history because he read the book",
        ],
        [
            "it is the guiding principle which guarantees the military forces "
            "always being under the command of the party",
            "he read the book because he is interested in world history",
        ],
        [
            "it is the practical guide for the army always to heed the directions "
            "of the party",
            "because he read the book he was interested in history of the world",
        ],
    ],
)
SACREBLEU_CASES = {
    # (hypotheses, references, smooth_method): (score, bp, counts, totals)
    "papineni_unigram_exp": (
        ["the the the the the the the"],
        [["the cat is on the mat"]],
        "exp",
        (7.809849842300637, 1.0, [2, 0, 0, 0], [7, 6, 5, 4]),
    ),
    "papineni_unigram_floor": (
        ["the the the the the the the"],
        [["the cat is on the mat"]],
        "floor",
        (3.9281465090051304, 1.0, [2, 0, 0, 0], [7, 6, 5, 4]),
    ),
    "corpus": (
        [
            "the cat sat on the mat",
            "there is a dog in the garden",
            "he reads a book every night",
        ],
        [
            [
                "the cat sat on a mat",
                "a dog is in the garden",
                "every night he reads a good book",
            ]
        ],
        "exp",
        (35.27634826843117, 1.0, [17, 9, 4, 1], [19, 16, 13, 10]),
    ),
    "short": (
        ["the cat", "a dog is in the garden"],
        [["the cat sat on the mat", "a dog is in the garden today"]],
        "exp",
        (53.52614285189905, 0.5352614285189903, [8, 6, 4, 3], [8, 6, 4, 3]),
    ),
    "multi_reference": (
        *MULTI_REFERENCE,
        "exp",
        (65.72224950780698, 1.0, [28, 20, 15, 10], [29, 27, 25, 23]),
    ),
    "no_fourgram_match_exp": (
        ["a b c d e", "f g h"],
        [["a b c x e", "f g y"]],
        "exp",
        (39.12711450183219, 1.0, [6, 3, 1, 0], [8, 6, 4, 2]),
    ),
    "no_fourgram_match_floor": (
        ["a b c d e", "f g h"],
        [["a b c x e", "f g y"]],
        "floor",
        (26.165878484802636, 1.0, [6, 3, 1, 0], [8, 6, 4, 2]),
    ),
    "punctuation_tokens": (
        ["y dijo dios : sea la luz : y fué la luz ."],
        [["y dijo dios : sea la luz : y fue la luz ."]],
        "exp",
        (76.11606003349888, 1.0, [12, 10, 8, 6], [13, 12, 11, 10]),
    ),
    "closest_length_tie": (
        ["a b c d e"],
        [["a b c d e f"], ["a b c d"]],
        "exp",
        (100.0, 1.0, [5, 4, 3, 2], [5, 4, 3, 2]),
    ),
    "empty_hypothesis": (
        ["", "a b c d"],
        [["x y", "a b c d"]],
        "exp",
        (60.653065971263366, 0.6065306597126334, [4, 3, 2, 1], [4, 3, 2, 1]),
    ),
    # No match of any order: 0, whatever the smoothing.
    "no_match_exp": (
        ["x y z w"],
        [["a b c d"]],
        "exp",
        (0.0, 1.0, [0, 0, 0, 0], [4, 3, 2, 1]),
    ),
    "no_match_floor": (
        ["x y z w"],
        [["a b c d"]],
        "floor",
        (0.0, 1.0, [0, 0, 0, 0], [4, 3, 2, 1]),
    ),
    # None: the first sentence has one reference; "" is an empty reference.
    "missing_reference": (
        ["a b c d", "p q r"],
        [["a b c d e f g h", "p q r"], [None, "p q r s t"]],
        "exp",
        (56.47181220077595, 0.5647181220077593, [7, 5, 3, 1], [7, 5, 3, 1]),
    ),
    "empty_reference": (
        ["a b c d"],
        [["a b c d e f g h"], [""]],
        "exp",
        (100.00000000000004, 1.0, [4, 3, 2, 1], [4, 3, 2, 1]),
    ),
}


@pytest.mark.parametrize("name", sorted(SACREBLEU_CASES))
def test_matches_sacrebleu(name):
    hypotheses, references, smooth, expected = SACREBLEU_CASES[name]
    score, bp, counts, totals = expected
    result = corpus_bleu(hypotheses, references, smooth_method=smooth)
    assert result["bleu"] == pytest.approx(score, rel=1e-12, abs=1e-12)
    assert result["brevity_penalty"] == pytest.approx(bp, rel=1e-12)
    assert result["matches"] == counts
    assert result["totals"] == totals


def test_hand_computed_sentence():
    # Matches: unigrams 5/6 ("the" is clipped to its one reference
    # occurrence), bigrams 3/5, trigrams 2/4, 4-grams 1/3; equal lengths.
    result = corpus_bleu(["the cat sat on the mat"], ["the cat sat on a mat"])
    assert result["matches"] == [5, 3, 2, 1]
    assert result["totals"] == [6, 5, 4, 3]
    expected = 100 * (5 / 6 * 3 / 5 * 2 / 4 * 1 / 3) ** 0.25
    assert result["bleu"] == pytest.approx(expected, rel=1e-12)
    assert result["bleu"] == pytest.approx(53.7284965911771, rel=1e-12)


def test_papineni_modified_unigram_precision():
    # Papineni et al.'s example: "the" appears twice in the reference, so 2
    # of the 7 candidate words count.
    result = corpus_bleu(
        ["the the the the the the the"], ["the cat is on the mat"], max_order=1
    )
    assert result["precisions"] == pytest.approx([100 * 2 / 7])
    assert result["bleu"] == pytest.approx(100 * 2 / 7)


def test_brevity_penalty_by_hand():
    # 2 hypothesis tokens against 6 reference tokens: exp(1 - 6 / 2).
    result = corpus_bleu(["the cat"], ["the cat sat on the mat"], max_order=2)
    assert result["brevity_penalty"] == pytest.approx(math.exp(-2.0))
    assert result["bleu"] == pytest.approx(100 * math.exp(-2.0))
    assert result["length_ratio"] == pytest.approx(2 / 6)


def test_corpus_level_is_not_the_mean_of_sentence_scores():
    hypotheses, references = ["a b c d", "e f g h"], ["a b c d", "e f x h"]
    corpus = corpus_bleu(hypotheses, references)["bleu"]
    sentences = [corpus_bleu([h], [r])["bleu"] for h, r in zip(hypotheses, references)]
    # Sentence 2 alone has no 3- or 4-gram match; pooled, the corpus has.
    # Corpus: unigrams 7/8, bigrams 4/6, trigrams 2/4, 4-grams 1/2.
    assert corpus == pytest.approx(100 * (7 / 8 * 4 / 6 * 2 / 4 * 1 / 2) ** 0.25)
    assert corpus != pytest.approx(sum(sentences) / 2)


def test_no_smoothing_gives_zero_without_four_gram_matches():
    result = corpus_bleu(["a b c d e"], ["a b c x e"], smooth_method="none")
    assert result["matches"][3] == 0
    assert result["bleu"] == 0.0


def test_identical_corpus_scores_100_and_single_stream_equals_list_of_one():
    sentences = ["in the beginning god created the heavens", "jesus wept ."]
    assert corpus_bleu(sentences, sentences)["bleu"] == pytest.approx(100.0)
    assert corpus_bleu(sentences, [sentences]) == corpus_bleu(sentences, sentences)


def test_ngram_counts():
    counts = ngram_counts(["the", "cat", "the"], max_order=2)
    assert counts == {
        ("the",): 2,
        ("cat",): 1,
        ("the", "cat"): 1,
        ("cat", "the"): 1,
    }
    with pytest.raises(ValueError, match="single string .*tokens='abc'"):
        ngram_counts("abc")


@pytest.mark.parametrize(
    "kwargs, error, message",
    [
        ({"max_order": 0}, ValueError, "max_order=0"),
        ({"smooth_method": "add-k"}, ValueError, "smooth_method='add-k'"),
        ({"smooth_method": "floor", "smooth_value": 0}, ValueError, "smooth_value=0"),
        ({"references": ["a b"]}, ValueError, "2 hypotheses"),
        ({"hypotheses": [["a", "b"], "c"]}, TypeError, r"\['a', 'b'\]"),
        ({"hypotheses": []}, ValueError, "hypotheses=\\[\\]"),
        ({"references": [["a b", None], ["c", None]]}, ValueError, "Hypothesis 1"),
        # One str would be read as one sentence per character.
        (
            {"hypotheses": "a b c d", "references": "a b c d"},
            ValueError,
            "list of strings, not a single string .*Received: hypotheses='a b c d'",
        ),
        ({"references": "a b"}, ValueError, "Received: references='a b'"),
    ],
)
def test_rejects_bad_arguments(kwargs, error, message):
    arguments = {"hypotheses": ["a b", "c"], "references": ["a b", "c"], **kwargs}
    with pytest.raises(error, match=message):
        corpus_bleu(**arguments)
