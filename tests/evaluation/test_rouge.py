import pytest

from tftransformer.evaluation.rouge import corpus_rouge, rouge_scores, rouge_tokens

# Each expected value is worked out by hand in the comment above it, from
# rouge-score's definitions: precision = matches / prediction n-grams, recall
# = matches / reference n-grams (each at least 1), F = 2PR / (P + R) or 0;
# ROUGE-L's matches are the longest common subsequence of tokens.
HAND_CASES = {
    # Prediction "the cat sat on mat" (5 tokens), reference "the cat was
    # sitting on the mat" (7). Unigrams: the, cat, on, mat match (the
    # reference's second "the" has no partner): P = 4/5, R = 4/7, F = 2/3.
    # Bigrams: (the cat) only: P = 1/4, R = 1/6, F = 1/5. LCS: the cat on
    # mat = 4, as for unigrams.
    "partial": (
        "the cat sat on mat",
        "the cat was sitting on the mat",
        {
            "rouge1": (4 / 5, 4 / 7, 2 / 3),
            "rouge2": (1 / 4, 1 / 6, 1 / 5),
            "rougeL": (4 / 5, 4 / 7, 2 / 3),
        },
    ),
    # Reordered: "b a c" against "a b c". Unigrams all match: 1. Bigrams
    # (b a), (a c) against (a b), (b c): none. LCS: "a c" or "b c" = 2, so
    # P = R = F = 2/3.
    "reordered": (
        "b a c",
        "a b c",
        {
            "rouge1": (1.0, 1.0, 1.0),
            "rouge2": (0.0, 0.0, 0.0),
            "rougeL": (2 / 3, 2 / 3, 2 / 3),
        },
    ),
    # Clipped repeats: "the the the" against "the cat": one "the" matches,
    # P = 1/3, R = 1/2, F = 2/5. Bigrams (the the) x2 against (the cat): 0.
    # LCS = 1, as for unigrams.
    "repeats": (
        "the the the",
        "the cat",
        {
            "rouge1": (1 / 3, 1 / 2, 2 / 5),
            "rouge2": (0.0, 0.0, 0.0),
            "rougeL": (1 / 3, 1 / 2, 2 / 5),
        },
    ),
    # Tokenizer: lowercased, punctuation and "é" become spaces, so the
    # prediction is "hello world caf" and the reference "hello world caf
    # ok": unigrams P = 1, R = 3/4, F = 6/7; bigrams 2 of 2 and of 3: P = 1,
    # R = 2/3, F = 4/5; LCS = 3 as unigrams.
    "tokenizer": (
        "Hello, WORLD! Café",
        "hello world -- café ok",
        {
            "rouge1": (1.0, 3 / 4, 6 / 7),
            "rouge2": (1.0, 2 / 3, 4 / 5),
            "rougeL": (1.0, 3 / 4, 6 / 7),
        },
    ),
    # An empty prediction (only punctuation) scores 0 everywhere.
    "empty": (
        "?!",
        "a b",
        {t: (0.0, 0.0, 0.0) for t in ("rouge1", "rouge2", "rougeL")},
    ),
}


@pytest.mark.parametrize("name", sorted(HAND_CASES))
def test_rouge_scores_match_hand_derived_values(name):
    prediction, reference, expected = HAND_CASES[name]
    scores = rouge_scores([prediction], [reference])[0]
    assert set(scores) == set(expected)
    for rouge_type, (precision, recall, fmeasure) in expected.items():
        got = scores[rouge_type]
        assert got["precision"] == pytest.approx(precision), rouge_type
        assert got["recall"] == pytest.approx(recall), rouge_type
        assert got["fmeasure"] == pytest.approx(fmeasure), rouge_type


def test_tokens_follow_rouge_score_default_tokenizer():
    assert rouge_tokens("The cat's mat, 2 €!") == ["the", "cat", "s", "mat", "2"]
    # A stemmer applies only to tokens longer than 3 characters.
    assert rouge_tokens("cats sat", stemmer=lambda t: t[:-1]) == ["cat", "sat"]


def test_multiple_references_take_the_best_per_type():
    # Against "a b c d", "a c" has unigram F = 2*(1)*(1/2)/(3/2) = 2/3 and
    # LCS 2, F = 2/3; against "a c", F = 1 for both: the best is taken.
    # Bigram: (a c) matches only "a c": F = 1.
    scores = rouge_scores(["a c"], [["a b c d", "a c"]])[0]
    assert scores["rouge1"]["fmeasure"] == pytest.approx(1.0)
    assert scores["rouge2"]["fmeasure"] == pytest.approx(1.0)
    one = rouge_scores(["a c"], [["a b c d"]])[0]
    assert one["rouge1"]["fmeasure"] == pytest.approx(2 / 3)
    assert one["rouge2"]["fmeasure"] == pytest.approx(0.0)


def test_corpus_rouge_averages_f_measures():
    # Pair 1 is exact (1, 1, 1). Pair 2, "a dog" against "the dog": unigram
    # F = 1/2, bigram 0, LCS 1 so F = 1/2. Means: 3/4, 1/2, 3/4.
    result = corpus_rouge(["the cat sat", "a dog"], ["the cat sat", "the dog"])
    assert result == pytest.approx({"rouge1": 0.75, "rouge2": 0.5, "rougeL": 0.75})
    # rouge3 of "the cat sat" against itself: one trigram, F = 1; of "a
    # dog": no trigram on either side, F = 0.
    assert corpus_rouge(
        ["the cat sat", "a dog"], ["the cat sat", "the dog"], rouge_types=["rouge3"]
    ) == pytest.approx({"rouge3": 0.5})


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: rouge_scores(["a"], ["a", "b"]), "1 predictions and 2 references"),
        (lambda: rouge_scores(["a"], ["a"], rouge_types=["rougeX"]), "rougeX"),
        (lambda: rouge_scores(["a"], ["a"], rouge_types=["rouge0"]), "rouge0"),
        (lambda: rouge_scores(["a"], [[]]), "Prediction 0"),
        (lambda: rouge_scores([3], ["a"]), "Received: 3"),
        (lambda: corpus_rouge([], []), "predictions=[]"),
        # One str would be read as one text per character.
        (lambda: corpus_rouge("a b", "a b"), "predictions='a b'"),
        (lambda: rouge_scores(["a b"], "a b"), "references='a b'"),
    ],
)
def test_bad_input_is_refused(call, message):
    with pytest.raises((ValueError, TypeError), match=message.replace("[", r"\[")):
        call()
