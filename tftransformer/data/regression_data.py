"""The in-memory result of loading a text regression data set."""

import dataclasses

import numpy as np

from tftransformer._arguments import FLOAT32_MAX
from tftransformer.data._example_columns import ExampleColumns


@dataclasses.dataclass(frozen=True, eq=False)
class RegressionData(ExampleColumns):
    """Texts (or text pairs), each with one or more real-valued targets.

    Args:
        texts: tuple of `str`, one per example.
        targets: float32 array `(num_examples, num_targets)` of finite values.
        target_names: tuple of `str`, the targets' names, in column order.
        text_pairs: `None`, or a tuple of `str`, the second text of each
            example (e.g. sentence similarity).
        source: where the data came from, for messages.
        skipped_rows: how many bad rows were skipped while loading.

    Example:
    ```python
    data = RegressionData(["good", "bad"], [[2.8], [1.2]], ("pleasantness",))
    ```
    """

    _TARGETS = "targets"
    _NAMES = "target_names"

    texts: tuple
    targets: np.ndarray
    target_names: tuple
    text_pairs: tuple | None = None
    source: str = ""
    skipped_rows: int = 0

    def __post_init__(self):
        self._freeze_texts_and_names()
        targets = np.asarray(self.targets)
        if targets.ndim == 1:
            targets = targets[:, None]
        if targets.shape != (len(self.texts), len(self.target_names)):
            raise ValueError(
                "targets must have shape (len(texts), len(target_names)) = "
                f"({len(self.texts)}, {len(self.target_names)}). "
                f"Received: targets.shape={targets.shape}"
            )
        if targets.dtype.kind in "iuf":
            with np.errstate(over="ignore"):
                # Checked in float32: a finite float64 may overflow to inf.
                converted = targets.astype("float32")
        if targets.dtype.kind not in "iuf" or not np.all(np.isfinite(converted)):
            raise ValueError(
                "targets must hold finite float32 numbers (at most "
                f"{FLOAT32_MAX:.4g} in magnitude). Received: "
                f"{targets.reshape(-1)[:5].tolist()} ..."
            )
        targets = converted
        targets.flags.writeable = False
        object.__setattr__(self, "targets", targets)
        self._freeze_optional_columns()

    @property
    def labels(self):
        """The targets, under the name `Trainer.dataset` reads."""
        return self.targets

    @property
    def num_targets(self):
        """The number of target columns."""
        return len(self.target_names)
