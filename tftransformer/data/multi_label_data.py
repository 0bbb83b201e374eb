"""The in-memory result of loading a multi-label text classification data set."""

import dataclasses

import numpy as np

from tftransformer.data._example_columns import ExampleColumns


@dataclasses.dataclass(frozen=True, eq=False)
class MultiLabelData(ExampleColumns):
    """Texts (or text pairs), each with a set of labels out of a vocabulary.

    Args:
        texts: tuple of `str`, one per example.
        labels: int32 0/1 array `(num_examples, num_labels)`: `labels[i, j]`
            is 1 when example `i` has label `label_vocabulary[j]`. A row of
            zeros is an example with no label.
        label_vocabulary: tuple of `str`, the label names, in column order.
        text_pairs: `None`, or a tuple of `str`, the second text of each
            example for pair tasks.
        source: where the data came from, for messages.
        skipped_rows: how many bad rows were skipped while loading.

    Example:
    ```python
    data = MultiLabelData(["a", "b"], [[1, 0], [1, 1]], ("x", "y"))
    data.label_sets()  # [("x",), ("x", "y")]
    ```
    """

    texts: tuple
    labels: np.ndarray
    label_vocabulary: tuple
    text_pairs: tuple | None = None
    source: str = ""
    skipped_rows: int = 0

    def __post_init__(self):
        self._freeze_texts_and_names()
        labels = np.asarray(self.labels)
        if labels.ndim != 2 or labels.shape != (len(self.texts), self.num_labels):
            raise ValueError(
                "labels must have shape (len(texts), len(label_vocabulary)) = "
                f"({len(self.texts)}, {self.num_labels}). "
                f"Received: labels.shape={labels.shape}"
            )
        if not np.all((labels == 0) | (labels == 1)):
            raise ValueError(
                "labels must hold 0 or 1. Received values "
                f"{sorted(set(np.unique(labels).tolist()) - {0, 1})[:5]}"
            )
        labels = labels.astype("int32")
        labels.flags.writeable = False
        object.__setattr__(self, "labels", labels)
        self._freeze_optional_columns()

    @property
    def num_labels(self):
        """The number of label names."""
        return len(self.label_vocabulary)

    def label_sets(self):
        """Each example's labels, as a tuple of names in vocabulary order."""
        return [
            tuple(self.label_vocabulary[j] for j in np.flatnonzero(row))
            for row in self.labels
        ]
