"""The in-memory result of loading a text classification data set."""

import dataclasses

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int, first_bad_entry, is_int
from tftransformer.data._example_columns import ExampleColumns


@dataclasses.dataclass(frozen=True, eq=False)
class TextClassificationData(ExampleColumns):
    """Texts (or text pairs) with integer labels and their label names.

    Every loader of this package returns this type, so the training and
    evaluation code does not depend on where the data came from.

    Args:
        texts: tuple of `str`, one per example.
        labels: int32 NumPy array of shape `(num_examples,)`; label ids index
            `label_vocabulary`.
        label_vocabulary: tuple of `str`, the label names; the label id of an
            example is the position of its label in this tuple.
        text_pairs: `None`, or a tuple of `str` holding the second text of
            each example for pair tasks (entailment, paraphrase, ...).
        groups: `None`, or a tuple of `str` naming the group of each example
            (e.g. the movie a review is about); a group never spans splits.
        source: a short description of where the data came from, used in
            messages.
        skipped_rows: how many bad rows were skipped while loading.

    Example:

    ```python
    data = load_text_classification_file("train.csv")
    data.label_vocabulary  # ("negative", "positive")
    dataset = data.to_dataset()  # yields (text, label) pairs
    ```
    """

    _OPTIONAL_COLUMNS = ("text_pairs", "groups")

    texts: tuple
    labels: np.ndarray
    label_vocabulary: tuple
    text_pairs: tuple | None = None
    groups: tuple | None = None
    source: str = ""
    skipped_rows: int = 0

    def __post_init__(self):
        self._freeze_texts_and_names()
        labels = self._label_ids()
        # Freeze the array too: the object is shared by cached loaders.
        labels.flags.writeable = False
        object.__setattr__(self, "labels", labels)
        if len(labels) != len(self.texts):
            raise ValueError(
                "texts and labels must have the same length. Received: "
                f"len(texts)={len(self.texts)}, len(labels)={len(labels)}"
            )
        self._freeze_optional_columns()
        if len(labels) and (labels.min() < 0 or labels.max() >= self.num_classes):
            raise ValueError(
                "labels must be ids in [0, len(label_vocabulary)). Received: "
                f"labels in [{labels.min()}, {labels.max()}] with "
                f"label_vocabulary={self.label_vocabulary}"
            )

    def _label_ids(self):
        """`labels` as a 1-D int32 array; whole floats are read as ids (a
        pandas column with a missing value), anything else is refused."""
        raw = self.labels
        try:
            labels = np.asarray(raw).reshape(-1)
        except ValueError:  # Rows of different lengths.
            labels = np.asarray(raw, dtype=object).reshape(-1)
        if labels.dtype.kind == "f":
            bad = ~(np.isfinite(labels) & (labels == np.floor(labels)))
        elif labels.dtype.kind in "iub":
            bad = np.zeros(labels.shape, bool)
        else:  # Names, or ids mixed with None.
            bad = np.array([not is_int(label) for label in labels], bool)
        if bad.any():
            raise ValueError(
                "labels must be class ids, integers indexing label_vocabulary "
                f"{self.label_vocabulary!r:.200} (map each label name to its "
                "position there). Received: "
                f"{first_bad_entry('labels', labels, bad)}"
            )
        return labels.astype("int32")

    @property
    def num_classes(self):
        """The number of label names."""
        return len(self.label_vocabulary)

    def sample_per_class(self, examples_per_class, seed=0):
        """Returns a seeded random subset of `examples_per_class` of each label.

        A label with fewer examples keeps all of them. The examples come
        grouped by label id, each label's in seeded random order.

        Args:
            examples_per_class: int > 0.
            seed: the subset's seed.

        Returns:
            A `TextClassificationData` with the same label vocabulary.

        Example:
        ```python
        few = data.sample_per_class(8, seed=0)  # 8 examples of each label
        ```
        """
        examples_per_class = check_int("examples_per_class", examples_per_class, 1)
        rng = np.random.default_rng(seed)
        keep = [
            rng.permutation(np.flatnonzero(self.labels == label))[:examples_per_class]
            for label in range(self.num_classes)
        ]
        return self.take(np.concatenate(keep))

    def concatenate(self, other):
        """Returns these examples followed by `other`'s.

        Args:
            other: a `TextClassificationData` with the same label vocabulary.

        Returns:
            A `TextClassificationData`.
        """
        if other.label_vocabulary != self.label_vocabulary:
            raise ValueError(
                "Both data sets must share one label vocabulary. Received: "
                f"{self.label_vocabulary} and {other.label_vocabulary}"
            )

        def join(a, b):
            return None if a is None or b is None else tuple(a) + tuple(b)

        return dataclasses.replace(
            self,
            texts=self.texts + other.texts,
            labels=np.concatenate([self.labels, other.labels]),
            text_pairs=join(self.text_pairs, other.text_pairs),
            groups=join(self.groups, other.groups),
            source=f"{self.source}+{other.source}",
        )

    def to_dataset(self):
        """Returns a labelled `tf.data.Dataset` of the examples, in order.

        Returns:
            A `tf.data.Dataset` of `(text, label)` pairs: `text` a scalar
            `tf.string`, or for pair data a dict `{"text", "text_pair"}` of
            scalar strings; `label` a scalar `tf.int32`.

        Example:

        ```python
        for text, label in data.to_dataset().take(2):
            print(text.numpy(), label.numpy())
        ```
        """
        texts = tf.constant(self.texts, dtype=tf.string, shape=[len(self)])
        if self.text_pairs is not None:
            pairs = tf.constant(self.text_pairs, dtype=tf.string, shape=[len(self)])
            features = {"text": texts, "text_pair": pairs}
        else:
            features = texts
        labels = tf.constant(self.labels, dtype=tf.int32, shape=[len(self)])
        return tf.data.Dataset.from_tensor_slices((features, labels))
