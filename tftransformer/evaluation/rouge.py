"""ROUGE-1, ROUGE-2 and ROUGE-L (Lin, 2004), as the `rouge-score` package
computes them.

Each text is lowercased, every run of characters other than `a-z` and `0-9`
becomes a space (accented and non-Latin letters too, as in rouge-score's
default tokenizer), and the text is split on spaces. ROUGE-N compares the
n-gram counts of a prediction and its reference; ROUGE-L their longest
common subsequence of tokens. Each pair gets a precision, a recall and their
harmonic mean (the F-measure); `corpus_rouge` averages them over the pairs.
"""

import collections
import re

from tftransformer._arguments import refuse_one_string

__all__ = ["ROUGE_TYPES", "corpus_rouge", "rouge_scores", "rouge_tokens"]

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")

_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def rouge_tokens(text, stemmer=None):
    """Splits a text into ROUGE tokens, as rouge-score's default tokenizer.

    Args:
        text: str.
        stemmer: None (no stemming, rouge-score's default), or a callable
            from a token to its stem, applied to tokens longer than 3
            characters as rouge-score does (e.g. nltk's
            `PorterStemmer("ORIGINAL_ALGORITHM").stem` for its
            `use_stemmer=True`).

    Returns:
        A list of str tokens.

    Example:
    ```python
    rouge_tokens("The cat's mat, 2 €!")  # ["the", "cat", "s", "mat", "2"]
    ```
    """
    if not isinstance(text, str):
        raise TypeError(
            f"Each prediction and reference must be a str. Received: {text!r}"
        )
    tokens = _NON_ALPHANUMERIC.sub(" ", text.lower()).split()
    if stemmer is not None:
        tokens = [stemmer(t) if len(t) > 3 else t for t in tokens]
    return tokens


def _scores(matches, prediction_count, reference_count):
    precision = matches / max(prediction_count, 1)
    recall = matches / max(reference_count, 1)
    fmeasure = (
        2 * precision * recall / (precision + recall) if precision + recall else 0.0
    )
    return {"precision": precision, "recall": recall, "fmeasure": fmeasure}


def _longest_common_subsequence(a, b):
    # One row of the dynamic-programming table at a time: (len(b) + 1,)
    previous = [0] * (len(b) + 1)
    for token in a:
        row = [0]
        for j, other in enumerate(b):
            row.append(
                previous[j] + 1 if token == other else max(previous[j + 1], row[j])
            )
        previous = row
    return previous[-1]


def _ngrams(tokens, n):
    return collections.Counter(
        tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)
    )


def _pair_scores(prediction, reference, rouge_types):
    scores = {}
    for rouge_type in rouge_types:
        if rouge_type == "rougeL":
            if not prediction or not reference:
                matches = 0
            else:
                matches = _longest_common_subsequence(reference, prediction)
            scores[rouge_type] = _scores(matches, len(prediction), len(reference))
        else:
            n = int(rouge_type[len("rouge") :])
            predicted, expected = _ngrams(prediction, n), _ngrams(reference, n)
            matches = sum((predicted & expected).values())
            scores[rouge_type] = _scores(
                matches, sum(predicted.values()), sum(expected.values())
            )
    return scores


def _check_rouge_types(rouge_types):
    rouge_types = tuple(rouge_types)
    for rouge_type in rouge_types:
        valid = rouge_type == "rougeL" or (
            isinstance(rouge_type, str)
            and rouge_type.startswith("rouge")
            and rouge_type[len("rouge") :].isdigit()
            and int(rouge_type[len("rouge") :]) >= 1
        )
        if not valid:
            raise ValueError(
                "rouge_types must hold 'rougeL' or 'rougeN' with N a positive "
                f"int, e.g. {ROUGE_TYPES}. Received: rouge_types={rouge_types!r}"
            )
    if not rouge_types:
        raise ValueError("rouge_types must not be empty. Received: rouge_types=()")
    return rouge_types


def rouge_scores(predictions, references, rouge_types=ROUGE_TYPES, stemmer=None):
    """ROUGE scores of each prediction against its reference or references.

    With several references for a prediction, each ROUGE type takes the
    reference with the highest F-measure, as rouge-score's `score_multi`.

    Args:
        predictions: list of str.
        references: list with, for each prediction, a str or a non-empty
            list of str.
        rouge_types: `"rougeL"` and `"rougeN"` names (N >= 1). Defaults to
            `("rouge1", "rouge2", "rougeL")`.
        stemmer: see `rouge_tokens`; None (the default) does not stem.

    Returns:
        A list with, per prediction, a dict from each ROUGE type to a dict
        of `"precision"`, `"recall"` and `"fmeasure"` (0 to 1).

    Example:
    ```python
    rouge_scores(["the cat sat"], ["the cat sat down"])[0]["rouge1"]["recall"]
    # 0.75
    ```
    """
    rouge_types = _check_rouge_types(rouge_types)
    refuse_one_string("predictions", predictions, "a list of strings")
    refuse_one_string("references", references, "a list of strings")
    predictions, references = list(predictions), list(references)
    if len(predictions) != len(references):
        raise ValueError(
            "predictions and references must have the same length. Received: "
            f"{len(predictions)} predictions and {len(references)} references"
        )
    results = []
    for index, (prediction, reference) in enumerate(zip(predictions, references)):
        prediction = rouge_tokens(prediction, stemmer)
        candidates = [reference] if isinstance(reference, str) else list(reference)
        if not candidates:
            raise ValueError(
                f"Prediction {index} has an empty list of references; each "
                "needs at least one. Received: []"
            )
        scored = [
            _pair_scores(prediction, rouge_tokens(r, stemmer), rouge_types)
            for r in candidates
        ]
        results.append(
            {
                rouge_type: max(
                    (s[rouge_type] for s in scored), key=lambda s: s["fmeasure"]
                )
                for rouge_type in rouge_types
            }
        )
    return results


def corpus_rouge(predictions, references, rouge_types=ROUGE_TYPES, stemmer=None):
    """The mean ROUGE F-measures (0 to 1) of predictions against references.

    The mean over pairs of each pair's F-measure (what rouge-score's
    `BootstrapAggregator` estimates as its `mid` value, without resampling).
    Arguments as `rouge_scores`.

    Returns:
        A dict from each ROUGE type to its mean F-measure, 0 to 1.

    Example:
    ```python
    corpus_rouge(["the cat sat", "a dog"], ["the cat sat", "the dog"])
    # {"rouge1": 0.75, "rouge2": 0.5, "rougeL": 0.75}
    ```
    """
    scores = rouge_scores(predictions, references, rouge_types, stemmer)
    if not scores:
        raise ValueError("predictions must not be empty. Received: predictions=[]")
    return {
        rouge_type: sum(s[rouge_type]["fmeasure"] for s in scores) / len(scores)
        for rouge_type in scores[0]
    }
