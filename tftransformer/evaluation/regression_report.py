"""`RegressionReport` and the evaluation of text regressors."""

import numpy as np

from tftransformer._arguments import check_real_array
from tftransformer.evaluation import _json_utils
from tftransformer.evaluation._task_kinds import refuse_other_task
from tftransformer.models.text_regressor import TextRegressor

__all__ = ["RegressionReport", "evaluate_regressor", "spearman_correlation"]


def _ranks(values):
    """Average ranks (ties share the mean of their ranks), 0-based."""
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return (sums / counts)[inverse]


def _pearson(x, y):
    x = x - x.mean()
    y = y - y.mean()
    denominator = np.sqrt((x * x).sum() * (y * y).sum())
    return float((x * y).sum() / denominator) if denominator else float("nan")


def spearman_correlation(x, y):
    """Spearman's rank correlation: Pearson's on average ranks.

    Args:
        x: 1-D array-like of finite numbers.
        y: 1-D array-like of finite numbers, the same length.

    Returns:
        A float in `[-1, 1]`; NaN when either side is constant.

    Raises:
        ValueError: for arrays that are not 1-D, differ in length, are empty
            or hold NaN or infinities.
    """
    x, y = check_real_array("x", x), check_real_array("y", y)
    if x.ndim != 1 or y.shape != x.shape or not len(x):
        raise ValueError(
            "x and y must be 1-D arrays of the same length, with at least one "
            f"value. Received: x.shape={x.shape}, y.shape={y.shape}"
        )
    return _pearson(_ranks(x), _ranks(y))


class RegressionReport:
    """Error and correlation of predicted against true targets, per target.

    RMSE, MAE, Pearson's and Spearman's correlation for each target (NaN
    correlation where either side is constant), plus the kept predictions
    for a predicted-vs-true plot.

    Args:
        y_true: float array `(num_examples, num_targets)` (or 1-D).
        y_pred: float array of the same shape.
        target_names: optional `num_targets` names.

    Example:
    ```python
    report = RegressionReport([[1.0], [2.0], [3.0]], [[1.1], [1.9], [3.2]])
    report.to_dict()["per_target"]["0"]["rmse"]
    ```
    """

    def __init__(self, y_true, y_pred, target_names=None):
        y_true = np.asarray(y_true, np.float64)
        y_pred = np.asarray(y_pred, np.float64)
        if y_true.ndim == 1:
            y_true = y_true[:, None]
        if y_pred.ndim == 1:
            y_pred = y_pred[:, None]
        if y_true.ndim != 2 or y_pred.shape != y_true.shape or not len(y_true):
            raise ValueError(
                "y_true and y_pred must have the same shape (num_examples, "
                f"num_targets), with at least one example. Received: "
                f"{y_true.shape} and {y_pred.shape}"
            )
        # A diverged model's NaN prediction, named.
        check_real_array("y_true", y_true)
        check_real_array("y_pred", y_pred)
        if target_names is None:
            target_names = [str(j) for j in range(y_true.shape[1])]
        target_names = [str(name) for name in target_names]
        if len(target_names) != y_true.shape[1]:
            raise ValueError(
                f"target_names must have one name per target ({y_true.shape[1]}). "
                f"Received: target_names={target_names}"
            )
        self.target_names = tuple(target_names)
        self.y_true, self.y_pred = y_true, y_pred
        error = y_pred - y_true
        self.rmse = np.sqrt(np.mean(error**2, axis=0))
        self.mae = np.mean(np.abs(error), axis=0)
        self.pearson = np.array(
            [_pearson(y_true[:, j], y_pred[:, j]) for j in range(y_true.shape[1])]
        )
        self.spearman = np.array(
            [
                spearman_correlation(y_true[:, j], y_pred[:, j])
                for j in range(y_true.shape[1])
            ]
        )

    def to_dict(self):
        """JSON-ready: `per_target` name -> rmse, mae, pearson, spearman."""
        return {
            "target_names": list(self.target_names),
            "num_examples": len(self.y_true),
            "per_target": {
                name: {
                    "rmse": float(self.rmse[j]),
                    "mae": float(self.mae[j]),
                    "pearson": _json_utils.nan_to_none(float(self.pearson[j])),
                    "spearman": _json_utils.nan_to_none(float(self.spearman[j])),
                }
                for j, name in enumerate(self.target_names)
            },
        }

    def to_json(self, path):
        """Writes `to_dict()` to `path` as strict JSON."""
        _json_utils.write_json(self.to_dict(), path)

    def format(self, digits=4):
        """A text table, one row per target."""
        headers = ["rmse", "mae", "pearson", "spearman"]
        width = max(digits + 3, max(len(h) for h in headers))
        name_width = max(len(name) for name in self.target_names)
        lines = [" " * name_width + " " + " ".join(f"{h:>{width}}" for h in headers)]
        for j, name in enumerate(self.target_names):
            values = (self.rmse[j], self.mae[j], self.pearson[j], self.spearman[j])
            lines.append(
                f"{name:>{name_width}} "
                + " ".join(f"{v:>{width}.{digits}f}" for v in values)
            )
        lines.append(f"({len(self.y_true)} examples)")
        return "\n".join(lines)

    def __str__(self):
        return self.format()


def evaluate_regressor(model, inputs, y_true, target_names=None):
    """Predicts with a `TextRegressor` (in target units) and reports.

    Args:
        model: a `TextRegressor` (or a model with `predict_targets`, else
            its `predict` is taken as target units; the library's other
            task models are refused, naming their evaluation function).
        inputs: what `model.predict` takes, in the order of `y_true`.
        y_true: float array `(num_examples, num_targets)`.
        target_names: optional names; defaults to `model.target_names`.

    Returns:
        `(RegressionReport, predictions)`.

    Example:
    ```python
    report, predictions = evaluate_regressor(model, test_ds, test.targets)
    ```
    """
    refuse_other_task(model, "evaluate_regressor", (TextRegressor,))
    predict = getattr(model, "predict_targets", None)
    predictions = predict(inputs) if predict else model.predict(inputs, verbose=0)
    report = RegressionReport(
        y_true, predictions, target_names or getattr(model, "target_names", None)
    )
    return report, np.asarray(predictions)
