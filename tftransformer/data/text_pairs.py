import dataclasses

import numpy as np

from tftransformer._arguments import check_int, check_real_array


@dataclasses.dataclass(frozen=True)
class TextPairs:
    """Groups of texts for contrastive training: anchor, positive[, negative].

    Attributes:
        anchors: tuple of str.
        positives: tuple of str, the text that goes with each anchor (or the
            second text of a scored pair).
        negatives: optional tuple of str, a hard negative for each anchor.
        scores: optional float32 array, a target similarity per pair (for
            `CosineSimilarityLoss`).
        source: str, where the data came from (a path or a description).

    Example:
    ```python
    pairs = TextPairs(("a cat",), ("a kitten",))
    len(pairs), pairs.texts_per_example  # 1, 2
    ```
    """

    anchors: tuple
    positives: tuple
    negatives: tuple | None = None
    scores: np.ndarray | None = None
    source: str = "memory"

    def __post_init__(self):
        for name in ("anchors", "positives", "negatives"):
            value = getattr(self, name)
            if value is None:
                continue
            if isinstance(value, str) or not all(isinstance(t, str) for t in value):
                raise ValueError(
                    f"{name} must be a sequence of strings. Received: "
                    f"{name}={value!r:.120}"
                )
            object.__setattr__(self, name, tuple(value))
        if self.scores is not None:
            # A NaN target made the loss NaN; the file loader refuses it too.
            scores = check_real_array(
                "scores", self.scores, what=" (one per pair)", dtype="float32"
            )
            if scores.ndim != 1:
                raise ValueError(
                    "scores must hold one number per pair (1-D). Received: "
                    f"scores of shape {scores.shape}"
                )
            object.__setattr__(self, "scores", scores)
        sizes = {
            name: len(getattr(self, name))
            for name in ("anchors", "positives", "negatives", "scores")
            if getattr(self, name) is not None
        }
        if len(set(sizes.values())) != 1:
            raise ValueError(
                f"Every field must hold one entry per pair. Received: {sizes}"
            )

    def __len__(self):
        return len(self.anchors)

    @property
    def texts_per_example(self):
        """2 for pairs, 3 with hard negatives."""
        return 2 if self.negatives is None else 3

    def columns(self):
        """The texts as a list of `texts_per_example` tuples."""
        found = [self.anchors, self.positives, self.negatives]
        return [column for column in found if column is not None]

    def sample(self, count, seed=0):
        """A seeded subset of `count` pairs (all of them if fewer)."""
        count = check_int("count", count, 0)
        if count >= len(self):
            return self
        keep = np.sort(np.random.default_rng(seed).permutation(len(self))[:count])
        return self.select(keep)

    def select(self, indices):
        """The pairs at `indices`, in that order."""

        def pick(values):
            if values is None:
                return None
            if isinstance(values, np.ndarray):
                return values[indices]
            return tuple(values[i] for i in indices)

        return TextPairs(
            pick(self.anchors),
            pick(self.positives),
            pick(self.negatives),
            pick(self.scores),
            self.source,
        )
