"""The outcome of a learning-rate range test."""

import json
import math
import os

import numpy as np


class LearningRateFinderResult:
    """The learning rates tried, their losses, and a suggested learning rate.

    Args:
        learning_rates: the learning rate of each step, increasing.
        losses: the training loss of each step (of its batch, before the
            step's update).
        smoothed_losses: the bias-corrected exponential moving average of
            `losses`.
        suggestion: the suggested learning rate, or `None` when too few steps
            ran before the loss diverged.
        diverged: whether the test stopped because the smoothed loss exceeded
            `divergence_factor` times its minimum, or a loss was not finite.
            The last step is then the one that diverged.

    Example:
    ```python
    result = find_learning_rate(classifier, train_ds)
    print(result.suggestion)
    result.plot("lr_finder.png")
    ```
    """

    def __init__(self, learning_rates, losses, smoothed_losses, suggestion, diverged):
        self.learning_rates = np.asarray(learning_rates, dtype=np.float64)
        self.losses = np.asarray(losses, dtype=np.float64)
        self.smoothed_losses = np.asarray(smoothed_losses, dtype=np.float64)
        if not (
            self.learning_rates.shape == self.losses.shape
            and self.losses.shape == self.smoothed_losses.shape
            and self.learning_rates.ndim == 1
        ):
            raise ValueError(
                "learning_rates, losses and smoothed_losses must be 1-D and of "
                f"the same length. Received: lengths {self.learning_rates.shape}, "
                f"{self.losses.shape}, {self.smoothed_losses.shape}"
            )
        self.suggestion = None if suggestion is None else float(suggestion)
        self.diverged = bool(diverged)

    @property
    def num_steps(self):
        """How many steps the test ran."""
        return len(self.learning_rates)

    def to_dict(self):
        """Returns the result as a JSON-ready dict (non-finite losses as None)."""

        def floats(values):
            return [float(v) if math.isfinite(v) else None for v in values]

        return {
            "suggestion": self.suggestion,
            "diverged": self.diverged,
            "learning_rates": floats(self.learning_rates),
            "losses": floats(self.losses),
            "smoothed_losses": floats(self.smoothed_losses),
        }

    def to_json(self, path):
        """Writes `to_dict()` to `path` and returns `path`."""
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.to_dict(), f, indent=2)
        return path

    def plot(self, path, title="Learning-rate range test"):
        """Writes a PNG of the loss against the learning rate (log scale).

        Needs matplotlib (the `plots` extra).

        Args:
            path: the PNG file to write; missing parent directories are
                created.
            title: the figure title.

        Returns:
            `path`.
        """
        try:
            from matplotlib.backends.backend_agg import FigureCanvasAgg
            from matplotlib.figure import Figure
        except ImportError as e:
            raise ImportError(
                "Plotting needs matplotlib. Install it with "
                '`pip install "tftransformer[plots]"`.'
            ) from e
        figure = Figure(figsize=(6.5, 4.0))
        FigureCanvasAgg(figure)
        axes = figure.add_subplot(1, 1, 1)
        finite = np.isfinite(self.losses)
        axes.plot(
            self.learning_rates[finite],
            self.losses[finite],
            color="0.75",
            linewidth=1,
            label="loss",
        )
        axes.plot(
            self.learning_rates,
            self.smoothed_losses,
            color="C0",
            linewidth=2,
            label="smoothed loss",
        )
        if self.suggestion is not None:
            axes.axvline(
                self.suggestion,
                color="C3",
                linestyle="--",
                label=f"suggestion {self.suggestion:.2e}",
            )
        axes.set_xscale("log")
        axes.set_xlabel("learning rate")
        axes.set_ylabel("training loss")
        axes.set_title(title)
        axes.legend()
        figure.tight_layout()
        path = os.fspath(path)
        parent = os.path.dirname(path)
        if parent:
            os.makedirs(parent, exist_ok=True)
        figure.savefig(path, format="png", dpi=100)
        return path

    def __repr__(self):
        suggestion = "None" if self.suggestion is None else f"{self.suggestion:.3g}"
        return (
            f"LearningRateFinderResult(num_steps={self.num_steps}, "
            f"suggestion={suggestion}, diverged={self.diverged})"
        )
