"""What every in-memory example collection of `tftransformer.data` shares."""

import dataclasses

import numpy as np

from tftransformer._arguments import as_list, check_int, check_strings, class_names

__all__ = ["ExampleColumns"]


class ExampleColumns:
    """Length, `take` and seeded `sample` for a frozen dataclass of examples.

    Mixed into `TextClassificationData`, `MultiLabelData` and
    `RegressionData`. Each has a `texts` tuple, one array of per-example
    targets named by `_TARGETS`, a tuple of target names named by `_NAMES`,
    and optional per-example tuples named by
    `_OPTIONAL_COLUMNS` (`None` when absent).
    """

    _TARGETS = "labels"
    _NAMES = "label_vocabulary"
    _OPTIONAL_COLUMNS = ("text_pairs",)

    def _freeze_texts_and_names(self):
        """Makes the texts and the target names tuples, checked: each text
        a str, the names distinct non-empty strings (numbers become
        strings), as reports and exported models read them."""
        texts = check_strings("texts", self.texts)
        object.__setattr__(self, "texts", tuple(texts))
        names = as_list(getattr(self, self._NAMES))
        count = len(names) if isinstance(names, list) else 0
        names = class_names(self._NAMES, names, count)
        object.__setattr__(self, self._NAMES, tuple(names))

    def _freeze_optional_columns(self):
        """Makes each optional column a tuple with one entry per text."""
        for name in self._OPTIONAL_COLUMNS:
            value = getattr(self, name)
            if value is None:
                continue
            value = tuple(value)
            object.__setattr__(self, name, value)
            if len(value) != len(self.texts):
                raise ValueError(
                    f"{name} must have one entry per text. Received: "
                    f"len({name})={len(value)}, len(texts)={len(self.texts)}"
                )
        if getattr(self, "text_pairs", None) is not None:
            check_strings("text_pairs", self.text_pairs)

    def __len__(self):
        return len(self.texts)

    def take(self, indices):
        """Returns the examples at `indices`, in that order.

        Args:
            indices: 1-D array-like of example positions.

        Returns:
            The same kind of collection, with the same vocabulary or names.
        """
        indices = np.asarray(indices, dtype="int64").reshape(-1)

        def pick(values):
            return None if values is None else tuple(values[i] for i in indices)

        columns = {name: pick(getattr(self, name)) for name in self._OPTIONAL_COLUMNS}
        columns[self._TARGETS] = getattr(self, self._TARGETS)[indices]
        return dataclasses.replace(self, texts=pick(self.texts), **columns)

    def sample(self, num_examples, seed=0):
        """Returns a seeded random subset of `num_examples`, in file order.

        Args:
            num_examples: int > 0; at least `len(self)` returns `self`.
            seed: the subset's seed.

        Returns:
            The same kind of collection, from `take`.
        """
        num_examples = check_int("num_examples", num_examples, 1)
        if num_examples >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.take(np.sort(rng.choice(len(self), num_examples, replace=False)))
