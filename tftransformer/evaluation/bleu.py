"""Corpus BLEU (Papineni et al., 2002) on pre-tokenized text.

The score matches sacrebleu's `corpus_bleu(..., tokenize="none")`: n-gram
counts up to 4 are summed over the whole corpus before the precisions are
formed, the brevity penalty compares the total hypothesis length with the
total length of the closest reference of each sentence, and the score is on
a 0-100 scale. Tokens are the whitespace-separated pieces of each string,
compared exactly: tokenize and lowercase before scoring if wanted.
"""

import collections
import math

from tftransformer._arguments import (
    check_choice,
    check_int,
    check_positive_number,
    check_strings,
    refuse_one_string,
)

SMOOTH_METHODS = ("exp", "none", "floor")


def _tokens(text, what):
    if not isinstance(text, str):
        raise TypeError(
            f"Each {what} must be a string of space-separated tokens. "
            f"Received: {text!r}"
        )
    return text.split()


def ngram_counts(tokens, max_order=4):
    """Counts the n-grams of `tokens` for n = 1 to `max_order`.

    Args:
        tokens: a list of str tokens.
        max_order: positive int, the longest n-gram.

    Returns:
        A `collections.Counter` from n-gram tuples to their counts.

    Example:
    ```python
    ngram_counts(["the", "cat", "the"], max_order=2)
    # Counter({("the",): 2, ("cat",): 1, ("the", "cat"): 1, ("cat", "the"): 1})
    ```
    """
    # A str would be counted letter by letter: tokens are `text.split()`.
    tokens = check_strings("tokens", tokens)
    counts = collections.Counter()
    for n in range(1, max_order + 1):
        for start in range(len(tokens) - n + 1):
            counts[tuple(tokens[start : start + n])] += 1
    return counts


def corpus_bleu(
    hypotheses, references, max_order=4, smooth_method="exp", smooth_value=0.1
):
    """Returns the corpus BLEU of hypotheses against one or more references.

    For each order `n`, the clipped matches (each hypothesis n-gram counts at
    most as often as in the reference where it is most frequent) and the
    hypothesis n-grams are summed over the corpus; their ratio is the
    modified precision `p_n`. BLEU is `BP * exp(mean_n log p_n)`, where the
    brevity penalty `BP = min(1, exp(1 - r / c))` compares the hypothesis
    length `c` with the reference length `r`, the sum over sentences of the
    reference length closest to the hypothesis length (the shorter on ties).

    When some order has no match, Papineni's BLEU is 0 (`smooth_method=
    "none"`). sacrebleu's default, `"exp"`, gives the k-th such order the
    precision `1 / (2**k * total_n)` instead; `"floor"` gives it
    `smooth_value / total_n`. Orders where the corpus has no n-gram at all
    (every hypothesis shorter than n) then make the score 0 in every method,
    and so does a corpus without a single matching n-gram (no smoothing
    then: every precision is 0), as in sacrebleu.

    Args:
        hypotheses: list of str, each a whitespace-tokenized sentence.
        references: the references, either one str per hypothesis, or
            several: a list of reference streams, each a list with one str
            per hypothesis (sacrebleu's layout). `None` in a stream marks a
            missing reference (a sentence with fewer references than the
            others) and is skipped, as in sacrebleu; `""` is an empty one.
        max_order: positive int, the longest n-gram. Defaults to 4.
        smooth_method: one of `"exp"`, `"none"`, `"floor"`.
        smooth_value: float > 0, the numerator of `"floor"` smoothing.

    Returns:
        A dict with `"bleu"` (0 to 100), `"precisions"` (the `max_order`
        modified precisions, 0 to 100, after smoothing), `"brevity_penalty"`,
        `"length_ratio"` (`c / r`), `"hypothesis_length"` (`c`),
        `"reference_length"` (`r`), `"matches"` and `"totals"` (the per-order
        clipped match and n-gram counts).

    Example:
    ```python
    corpus_bleu(["the cat sat on the mat"], ["the cat sat on the mat"])["bleu"]
    # 100.0
    corpus_bleu(
        ["the cat sat on a mat", "hello"],
        [["the cat sat on the mat", "hi"], ["a cat sat on a mat", "hello"]],
    )
    ```
    """
    max_order = check_int("max_order", max_order, 1)
    check_choice("smooth_method", smooth_method, SMOOTH_METHODS)
    if smooth_method == "floor":
        check_positive_number("smooth_value", smooth_value)
    refuse_one_string("hypotheses", hypotheses, "a list of strings")
    refuse_one_string("references", references, "a list")
    hypotheses = list(hypotheses)
    references = list(references)
    if not hypotheses:
        raise ValueError("hypotheses must not be empty. Received: hypotheses=[]")
    # One stream of references (a str per hypothesis), or several streams
    # (each a list with a str per hypothesis).
    streams = (
        references
        if references and not isinstance(references[0], str)
        else [references]
    )
    for index, stream in enumerate(streams):
        if isinstance(stream, str) or len(stream) != len(hypotheses):
            length = "a str" if isinstance(stream, str) else len(stream)
            raise ValueError(
                "references must hold one reference per hypothesis, or be a "
                "list of such reference streams. Received: "
                f"{len(hypotheses)} hypotheses and reference stream {index} "
                f"of length {length}"
            )

    matches = [0] * max_order
    totals = [0] * max_order
    hypothesis_length = 0
    reference_length = 0
    for i, hypothesis in enumerate(hypotheses):
        hypothesis = _tokens(hypothesis, "hypothesis")
        # As in sacrebleu, None marks a missing reference, for sentences
        # with fewer references than the others.
        sentence_references = [
            _tokens(s[i], "reference") for s in streams if s[i] is not None
        ]
        if not sentence_references:
            raise ValueError(
                f"Hypothesis {i} has no reference: each needs at least one "
                f"(None marks a missing one). Received: {[s[i] for s in streams]!r}"
            )
        hypothesis_length += len(hypothesis)
        reference_length += min(
            (len(r) for r in sentence_references),
            key=lambda length: (abs(length - len(hypothesis)), length),
        )
        maximum_counts = collections.Counter()
        for reference in sentence_references:
            maximum_counts |= ngram_counts(reference, max_order)
        for ngram, count in ngram_counts(hypothesis, max_order).items():
            order = len(ngram) - 1
            totals[order] += count
            matches[order] += min(count, maximum_counts[ngram])

    precisions = [0.0] * max_order
    # Without a single match, sacrebleu's score is 0 before any smoothing:
    # smoothing would otherwise give a wholly wrong output a positive score.
    no_match = not any(matches)
    smooth_exponent = 1.0
    for n in range(max_order):
        if totals[n] == 0 or no_match:
            precisions[n] = 0.0
        elif matches[n] > 0:
            precisions[n] = 100.0 * matches[n] / totals[n]
        elif smooth_method == "exp":
            smooth_exponent *= 2
            precisions[n] = 100.0 / (smooth_exponent * totals[n])
        elif smooth_method == "floor":
            precisions[n] = 100.0 * smooth_value / totals[n]

    if hypothesis_length == 0 or reference_length == 0:
        brevity_penalty = 0.0 if hypothesis_length == 0 else 1.0
    elif hypothesis_length < reference_length:
        brevity_penalty = math.exp(1.0 - reference_length / hypothesis_length)
    else:
        brevity_penalty = 1.0
    if min(precisions) <= 0.0 or hypothesis_length == 0:
        bleu = 0.0
    else:
        log_mean = sum(math.log(p / 100.0) for p in precisions) / max_order
        bleu = 100.0 * brevity_penalty * math.exp(log_mean)
    return {
        "bleu": bleu,
        "precisions": precisions,
        "brevity_penalty": brevity_penalty,
        "length_ratio": (
            hypothesis_length / reference_length if reference_length else 0.0
        ),
        "hypothesis_length": hypothesis_length,
        "reference_length": reference_length,
        "matches": matches,
        "totals": totals,
    }
