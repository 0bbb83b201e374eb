import math

import numpy as np

from tftransformer._arguments import check_int
from tftransformer.evaluation import _json_utils


class CrossValidationResult(_json_utils.JsonReport):
    """Per-fold metrics of a cross-validation run, with their mean and spread.

    The spread is the sample standard deviation (`ddof=1`, dividing by
    `num_folds - 1`): the folds are a sample of the possible splits. It is NaN
    for a single fold. A metric that is NaN in some fold (e.g. an undefined
    ROC-AUC) has a NaN mean and standard deviation.

    Args:
        fold_metrics: non-empty sequence of dicts, one per fold, each mapping
            the same metric names to real numbers.

    Example:
    ```python
    result = CrossValidationResult(
        [{"accuracy": 0.8}, {"accuracy": 0.9}, {"accuracy": 0.7}]
    )
    result.mean["accuracy"]  # 0.8
    result.std["accuracy"]  # 0.1
    print(result)
    ```
    """

    #: Delta degrees of freedom of the reported standard deviation.
    STD_DDOF = 1

    def __init__(self, fold_metrics):
        fold_metrics = list(fold_metrics)
        if not fold_metrics:
            raise ValueError(
                "fold_metrics must hold at least one fold. "
                f"Received: fold_metrics={fold_metrics}"
            )
        names = None
        checked = []
        for fold_index, metrics in enumerate(fold_metrics):
            metrics = _check_fold_metrics(metrics, fold_index, names)
            names = tuple(metrics)
            checked.append(metrics)
        self._fold_metrics = checked
        self._names = names

    @property
    def fold_metrics(self):
        """A list with one `{metric name: float}` dict per fold."""
        return [dict(metrics) for metrics in self._fold_metrics]

    @property
    def metric_names(self):
        """The metric names, in the order the first fold returned them."""
        return self._names

    @property
    def num_folds(self):
        """The number of folds."""
        return len(self._fold_metrics)

    def values(self, name):
        """Returns one metric's per-fold values as a float64 array.

        Args:
            name: a metric name from `metric_names`.

        Returns:
            An array of shape `(num_folds,)`.
        """
        if name not in self._names:
            raise ValueError(
                f"name must be one of {list(self._names)}. Received: name={name!r}"
            )
        return np.array([m[name] for m in self._fold_metrics], dtype=np.float64)

    @property
    def mean(self):
        """`{metric name: mean over folds}`."""
        return {name: float(np.mean(self.values(name))) for name in self._names}

    @property
    def std(self):
        """`{metric name: sample standard deviation over folds}`.

        NaN for one fold, and for a metric some fold scored NaN or infinite
        (a diverged fold has no spread to tell).
        """
        if self.num_folds <= self.STD_DDOF:
            return {name: math.nan for name in self._names}
        spreads = {}
        for name in self._names:
            values = self.values(name)
            # NumPy's std of an infinity is NaN too, with a RuntimeWarning.
            spreads[name] = (
                float(np.std(values, ddof=self.STD_DDOF))
                if np.all(np.isfinite(values))
                else math.nan
            )
        return spreads

    def to_dict(self):
        """Returns the result as a JSON-ready dict (NaN written as `None`).

        Returns:
            A dict with keys `"num_folds"`, `"metric_names"`, `"folds"` (a
            list of `{"fold_index", "metrics"}`), `"mean"`, `"std"` and
            `"std_ddof"`.
        """

        def clean(metrics):
            return {k: _json_utils.nan_to_none(v) for k, v in metrics.items()}

        return {
            "num_folds": self.num_folds,
            "metric_names": list(self._names),
            "folds": [
                {"fold_index": i, "metrics": clean(metrics)}
                for i, metrics in enumerate(self._fold_metrics)
            ],
            "mean": clean(self.mean),
            "std": clean(self.std),
            "std_ddof": self.STD_DDOF,
        }

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a result from the output of `to_dict()`.

        Args:
            config: a dict as returned by `to_dict()` or read from `to_json`.

        Returns:
            A `CrossValidationResult`.
        """
        return cls(
            [
                {k: _json_utils.none_to_nan(v) for k, v in fold["metrics"].items()}
                for fold in config["folds"]
            ]
        )

    def format(self, digits=4):
        """Returns a table: one row per metric with mean, std and each fold.

        Args:
            digits: number of decimals.

        Returns:
            A multi-line string.
        """
        digits = check_int("digits", digits, 0)
        headers = ["mean", "std"] + [f"fold {i}" for i in range(self.num_folds)]
        name_width = max(len("metric"), *(len(name) for name in self._names))
        mean, std = self.mean, self.std
        rows = {
            name: [mean[name], std[name]] + list(self.values(name))
            for name in self._names
        }
        cells = {
            name: [f"{v:.{digits}f}" for v in values] for name, values in rows.items()
        }
        col_width = max(
            max(len(h) for h in headers),
            max(len(c) for row in cells.values() for c in row),
        )
        lines = [
            f"Cross-validation over {self.num_folds} folds "
            f"(std: sample standard deviation, ddof={self.STD_DDOF})",
            "  ".join(
                [f"{'metric':<{name_width}}"] + [f"{h:>{col_width}}" for h in headers]
            ),
        ]
        for name in self._names:
            lines.append(
                "  ".join(
                    [f"{name:<{name_width}}"]
                    + [f"{c:>{col_width}}" for c in cells[name]]
                )
            )
        return "\n".join(lines)

    def __str__(self):
        return self.format()

    def __repr__(self):
        return (
            f"<CrossValidationResult num_folds={self.num_folds} "
            f"metric_names={list(self._names)}>"
        )


def _check_fold_metrics(metrics, fold_index, expected_names=None):
    """Validates one fold's metrics dict and converts its values to floats.

    Args:
        metrics: the dict returned for the fold.
        fold_index: the fold's index, for error messages.
        expected_names: optional metric names every fold must match.

    Returns:
        A new `{name: float}` dict in the input's key order.
    """
    if not isinstance(metrics, dict) or not metrics:
        raise TypeError(
            "Each fold's metrics must be a non-empty dict of metric name -> "
            f"number. Received for fold {fold_index}: {metrics!r}"
        )
    converted = {}
    for name, value in metrics.items():
        if not isinstance(name, str):
            raise TypeError(
                f"Metric names must be strings. Received for fold {fold_index}: "
                f"{name!r}"
            )
        try:
            array = np.asarray(value)
            if array.shape != () or array.dtype.kind not in "biuf":
                raise TypeError
            converted[name] = float(array)
        except (TypeError, ValueError):
            raise TypeError(
                f"Metric values must be real scalars. Received for fold "
                f"{fold_index}: {name}={value!r}"
            ) from None
    if expected_names is not None and tuple(converted) != tuple(expected_names):
        if set(converted) == set(expected_names):
            # Same metrics in another order: keep the first fold's order.
            converted = {name: converted[name] for name in expected_names}
        else:
            raise ValueError(
                f"Every fold must return the same metrics. Fold 0 returned "
                f"{sorted(expected_names)}; fold {fold_index} returned "
                f"{sorted(converted)}"
            )
    return converted
