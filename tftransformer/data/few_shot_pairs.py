"""Sentence pairs from a few labelled examples, as SetFit builds them."""

import numpy as np

from tftransformer._arguments import check_int, check_strings
from tftransformer.data.folds import check_no_missing_labels
from tftransformer.data.text_pairs import TextPairs

__all__ = ["make_few_shot_pairs"]


def make_few_shot_pairs(texts, labels, num_iterations=20, seed=0):
    """Pairs of labelled texts with a similarity of 1 (same label) or 0.

    SetFit's sampling: in each of `num_iterations` rounds, every text is
    paired once with a random other text of its label (score 1) and once
    with a random text of another label (score 0). Train on them with
    `tftransformer.finetune.CosineSimilarityLoss`.

    Args:
        texts: sequence of str.
        labels: sequence of int labels, one per text (not NaN or None); at
            least two labels.
        num_iterations: int >= 1, rounds of sampling.
        seed: int, the sampling seed.

    Returns:
        A `TextPairs` with `scores`, `2 * num_iterations * len(texts)` pairs
        at most (a text alone in its label gets no positive pair).

    Example:
    ```python
    pairs = make_few_shot_pairs(["great", "awful", "fine", "bad"], [1, 0, 1, 0])
    ```
    """
    # One str would be read as one text per character.
    texts = check_strings("texts", texts)
    labels = np.asarray(labels)
    if labels.shape == (len(texts),):
        check_no_missing_labels(labels)
    if labels.shape != (len(texts),) or len(set(labels.tolist())) < 2:
        raise ValueError(
            "labels must hold one label per text, with at least two labels. "
            f"Received: {len(texts)} texts, labels={labels.tolist()!r:.120}"
        )
    num_iterations = check_int("num_iterations", num_iterations, 1)
    rng = np.random.default_rng(seed)
    anchors, others, scores = [], [], []
    for _ in range(num_iterations):
        for i, label in enumerate(labels):
            same = np.flatnonzero((labels == label) & (np.arange(len(texts)) != i))
            different = np.flatnonzero(labels != label)
            if len(same):
                anchors.append(texts[i])
                others.append(texts[rng.choice(same)])
                scores.append(1.0)
            anchors.append(texts[i])
            others.append(texts[rng.choice(different)])
            scores.append(0.0)
    return TextPairs(anchors, others, scores=scores, source="few-shot pairs")
