"""The seeded subsets every example collection of `tftransformer.data` takes."""

import numpy as np

__all__ = ["SeededSubsets"]


class SeededSubsets:
    """`sample` for a collection of examples that has `take(indices)`.

    Mixed into `TextClassificationData`, `MultiLabelData` and
    `RegressionData`, whose `take` keeps their own columns.
    """

    def sample(self, num_examples, seed=0):
        """Returns a seeded random subset of `num_examples`, in file order.

        Args:
            num_examples: int > 0; at least `len(self)` returns `self`.
            seed: the subset's seed.

        Returns:
            The same kind of collection, from `take`.
        """
        if isinstance(num_examples, bool) or not (
            isinstance(num_examples, int) and num_examples > 0
        ):
            raise ValueError(
                "num_examples must be a positive integer. "
                f"Received: num_examples={num_examples!r}"
            )
        if num_examples >= len(self):
            return self
        rng = np.random.default_rng(seed)
        return self.take(np.sort(rng.choice(len(self), num_examples, replace=False)))
