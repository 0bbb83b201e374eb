"""The in-memory result of loading a sequence tagging (NER) data set."""

import dataclasses

import numpy as np

from tftransformer._arguments import check_int


@dataclasses.dataclass(frozen=True, eq=False)
class TaggingData:
    """Pre-split sentences with one BIO (IOB2) tag per word.

    Every tagging loader of this package returns this type. Tags are kept as
    strings; `tag_ids` maps them through `tag_vocabulary`.

    Args:
        words: tuple of sentences, each a tuple of `str` words.
        tags: tuple of sentences, each a tuple of `str` tags (`"O"`,
            `"B-TYPE"` or `"I-TYPE"`), one per word.
        tag_vocabulary: tuple of `str`, the tag names; a tag's id is its
            position in this tuple. Every tag of `tags` must be in it.
        source: a short description of where the data came from, used in
            messages.
        lines: `None`, or a tuple with the 1-based line of each sentence's
            first word in its file, used in messages.

    Example:

    ```python
    data = load_tagging_file("train.conll")
    data.words[0], data.tags[0]  # (("EU", "rejects"), ("B-ORG", "O"))
    data.tag_vocabulary  # ("O", "B-ORG", "I-ORG", ...)
    ```
    """

    words: tuple
    tags: tuple
    tag_vocabulary: tuple
    source: str = ""
    lines: tuple | None = None

    def __post_init__(self):
        words = tuple(tuple(sentence) for sentence in self.words)
        tags = tuple(tuple(sentence) for sentence in self.tags)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "tags", tags)
        object.__setattr__(self, "tag_vocabulary", tuple(self.tag_vocabulary))
        if len(words) != len(tags):
            raise ValueError(
                "words and tags must hold the same number of sentences. "
                f"Received: len(words)={len(words)}, len(tags)={len(tags)}"
            )
        for index, (sentence, sentence_tags) in enumerate(zip(words, tags)):
            if len(sentence) != len(sentence_tags):
                raise ValueError(
                    f"Sentence {index} has {len(sentence)} words but "
                    f"{len(sentence_tags)} tags; expected one tag per word. "
                    f"Received: words={sentence}, tags={sentence_tags}"
                )
        known = set(self.tag_vocabulary)
        unknown = sorted({tag for sentence in tags for tag in sentence} - known)
        if unknown:
            raise ValueError(
                f"tags {unknown} are not in tag_vocabulary={self.tag_vocabulary}."
            )
        if self.lines is not None:
            lines = tuple(self.lines)
            object.__setattr__(self, "lines", lines)
            if len(lines) != len(words):
                raise ValueError(
                    "lines must have one entry per sentence. Received: "
                    f"len(lines)={len(lines)}, len(words)={len(words)}"
                )

    def __len__(self):
        return len(self.words)

    @property
    def num_tags(self):
        """The number of tag names."""
        return len(self.tag_vocabulary)

    @property
    def num_words(self):
        """The number of words over all sentences."""
        return sum(len(sentence) for sentence in self.words)

    @property
    def entity_types(self):
        """The sorted entity types named by `tag_vocabulary`."""
        return tuple(
            sorted({tag[2:] for tag in self.tag_vocabulary if tag[:2] in ("B-", "I-")})
        )

    @property
    def tag_ids(self):
        """The tags as ids: a tuple of int32 arrays, one per sentence."""
        index = {tag: i for i, tag in enumerate(self.tag_vocabulary)}
        return tuple(
            np.array([index[tag] for tag in sentence], dtype="int32")
            for sentence in self.tags
        )

    def take(self, indices):
        """Returns the sentences at `indices`, in that order.

        Args:
            indices: 1-D array-like of sentence positions.

        Returns:
            A `TaggingData` with the same tag vocabulary.
        """
        indices = np.asarray(indices, dtype="int64").reshape(-1)
        return dataclasses.replace(
            self,
            words=tuple(self.words[i] for i in indices),
            tags=tuple(self.tags[i] for i in indices),
            lines=None if self.lines is None else tuple(self.lines[i] for i in indices),
        )

    def sample(self, num_sentences, seed=0):
        """Returns a seeded random subset of `num_sentences`, in file order.

        Args:
            num_sentences: int > 0; at least `len(self)` returns `self`.
            seed: the subset's seed.

        Returns:
            A `TaggingData`.
        """
        num_sentences = check_int("num_sentences", num_sentences, 1)
        if num_sentences >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.take(np.sort(rng.choice(len(self), num_sentences, replace=False)))
