import math

import numpy as np

from tftransformer._arguments import check_int
from tftransformer.evaluation import _json_utils


class ClassificationReport(_json_utils.JsonReport):
    """Per-class and averaged classification metrics for single-label predictions.

    Every number except ROC-AUC follows from the confusion matrix, which is
    the report's source of truth (rows = true class, columns = predicted
    class). Usually built with `tftransformer.evaluation.classification_report`.

    Zero division gives 0.0, silently: precision of a class that is never
    predicted, recall of a class that is never present, and F1 when precision
    and recall are both 0. Macro averages include such classes (with their
    0.0 values); weighted averages weight each class by its support.

    ROC-AUC is one-vs-rest per class. It is NaN for a class with no positive
    or no negative examples; the macro and weighted ROC-AUC average the
    classes where it is defined (NaN when it is defined for none). With two
    classes both per-class values equal the binary ROC-AUC, and so do the
    averages.

    Args:
        confusion_matrix: non-negative integer array of shape
            `(num_classes, num_classes)`; rows are true classes, columns
            predicted classes.
        label_names: optional sequence of `num_classes` distinct names.
            Defaults to `"0"`, `"1"`, ...
        roc_auc_per_class: optional sequence of `num_classes` one-vs-rest
            ROC-AUC values in `[0, 1]`, NaN (or `None`) where undefined.
        calibration: optional dict of `tftransformer.evaluation.calibration_summary`:
            the temperature and the expected calibration error before and
            after temperature scaling.

    Example:
    ```python
    report = ClassificationReport([[2, 2], [1, 1]], label_names=["cat", "dog"])
    report.precision  # array([0.6667, 0.3333])
    report.accuracy  # 0.5
    print(report)
    ```
    """

    def __init__(
        self,
        confusion_matrix,
        label_names=None,
        roc_auc_per_class=None,
        calibration=None,
    ):
        matrix = np.asarray(confusion_matrix)
        if (
            matrix.ndim != 2
            or matrix.shape[0] != matrix.shape[1]
            or matrix.shape[0] < 1
        ):
            raise ValueError(
                "confusion_matrix must be a square 2-D array with at least one "
                f"class. Received: confusion_matrix.shape={matrix.shape}"
            )
        if matrix.dtype.kind not in "iuf" or not np.all(
            (matrix >= 0) & (matrix == np.round(matrix))
        ):
            raise ValueError(
                "confusion_matrix must hold non-negative integer counts. "
                f"Received: confusion_matrix={matrix.tolist()}"
            )
        self._matrix = matrix.astype(np.int64)
        num_classes = matrix.shape[0]

        if label_names is None:
            label_names = [str(i) for i in range(num_classes)]
        label_names = [str(name) for name in label_names]
        if len(label_names) != num_classes:
            raise ValueError(
                f"label_names must have one name per class ({num_classes}). "
                f"Received: label_names={label_names}"
            )
        if len(set(label_names)) != num_classes:
            raise ValueError(
                f"label_names must be distinct. Received: label_names={label_names}"
            )
        self._label_names = tuple(label_names)

        if roc_auc_per_class is not None:
            auc = np.array(
                [np.nan if v is None else v for v in roc_auc_per_class],
                dtype=np.float64,
            )
            defined = auc[~np.isnan(auc)]
            if auc.shape != (num_classes,) or np.any((defined < 0) | (defined > 1)):
                raise ValueError(
                    f"roc_auc_per_class must hold {num_classes} values in [0, 1] "
                    "(NaN where undefined). "
                    f"Received: roc_auc_per_class={list(roc_auc_per_class)}"
                )
            roc_auc_per_class = auc
        self._roc_auc = roc_auc_per_class
        check_calibration(calibration)
        self._calibration = calibration

    @property
    def confusion_matrix(self):
        """Counts, shape `(num_classes, num_classes)`; rows true, columns predicted."""
        return self._matrix.copy()

    @property
    def label_names(self):
        """The class names, as a tuple of strings."""
        return self._label_names

    @property
    def num_classes(self):
        """The number of classes."""
        return len(self._label_names)

    @property
    def support(self):
        """Number of true examples per class."""
        return self._matrix.sum(axis=1)

    @property
    def precision(self):
        """Per-class precision; 0.0 for a class that is never predicted."""
        return _safe_divide(np.diag(self._matrix), self._matrix.sum(axis=0))

    @property
    def recall(self):
        """Per-class recall; 0.0 for a class that is never present."""
        return _safe_divide(np.diag(self._matrix), self.support)

    @property
    def f1(self):
        """Per-class F1, the harmonic mean of precision and recall (0.0 if both 0)."""
        precision, recall = self.precision, self.recall
        return _safe_divide(2 * precision * recall, precision + recall)

    @property
    def accuracy(self):
        """Fraction of examples on the diagonal; 0.0 for an empty matrix."""
        total = self._matrix.sum()
        return float(np.trace(self._matrix) / total) if total else 0.0

    @property
    def averages(self):
        """`{"micro" | "macro" | "weighted": {"precision", "recall", "f1", "support"}}`.

        For single-label predictions the micro averages all equal the accuracy.
        """
        support = self.support
        total = int(support.sum())
        per_class = {"precision": self.precision, "recall": self.recall, "f1": self.f1}
        # Pooled over classes, every false positive of one class is a false
        # negative of another, so micro precision = micro recall = accuracy.
        accuracy = self.accuracy
        result = {
            "micro": {"precision": accuracy, "recall": accuracy, "f1": accuracy},
            "macro": {k: float(np.mean(v)) for k, v in per_class.items()},
            "weighted": {
                k: float(np.dot(v, support) / total) if total else 0.0
                for k, v in per_class.items()
            },
        }
        for values in result.values():
            values["support"] = total
        return result

    @property
    def roc_auc_per_class(self):
        """One-vs-rest ROC-AUC per class (NaN where undefined), or `None`."""
        return None if self._roc_auc is None else self._roc_auc.copy()

    @property
    def roc_auc_macro(self):
        """Unweighted mean of the defined per-class ROC-AUC values, or `None`."""
        if self._roc_auc is None:
            return None
        defined = ~np.isnan(self._roc_auc)
        if not defined.any():
            return math.nan
        return float(np.mean(self._roc_auc[defined]))

    @property
    def roc_auc_weighted(self):
        """Support-weighted mean of the defined per-class ROC-AUC values, or `None`."""
        if self._roc_auc is None:
            return None
        defined = ~np.isnan(self._roc_auc)
        weights = self.support[defined]
        if not defined.any() or weights.sum() == 0:
            return math.nan
        return float(np.dot(self._roc_auc[defined], weights) / weights.sum())

    @property
    def calibration(self):
        """The `calibration_summary` dict (temperature, ECE before and
        after), or `None`."""
        return self._calibration

    def to_dict(self):
        """Returns the report as a JSON-ready dict.

        Undefined ROC-AUC values appear as `None`, so the dict equals what
        `to_json` writes. The `"roc_auc"` entry is present only when the
        report has ROC-AUC values.

        Returns:
            A dict with keys `"label_names"`, `"per_class"` (name ->
            precision, recall, f1, support), `"accuracy"`, `"averages"`
            (micro, macro, weighted), `"confusion_matrix"` and optionally
            `"roc_auc"` (`{"per_class": {name: value}, "macro", "weighted"}`).
        """
        precision, recall, f1 = self.precision, self.recall, self.f1
        support = self.support
        result = {
            "label_names": list(self._label_names),
            "per_class": {
                name: {
                    "precision": float(precision[i]),
                    "recall": float(recall[i]),
                    "f1": float(f1[i]),
                    "support": int(support[i]),
                }
                for i, name in enumerate(self._label_names)
            },
            "accuracy": self.accuracy,
            "averages": self.averages,
            "confusion_matrix": _matrix_to_json(self._matrix),
        }
        if self._roc_auc is not None:
            result["roc_auc"] = {
                "per_class": {
                    name: _json_utils.nan_to_none(float(value))
                    for name, value in zip(self._label_names, self._roc_auc)
                },
                "macro": _json_utils.nan_to_none(self.roc_auc_macro),
                "weighted": _json_utils.nan_to_none(self.roc_auc_weighted),
            }
        if self._calibration is not None:
            result["calibration"] = self._calibration
        return result

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a report from the output of `to_dict()`.

        Args:
            config: a dict as returned by `to_dict()` or read from `to_json`.

        Returns:
            A `ClassificationReport`.
        """
        names = config["label_names"]
        roc_auc = config.get("roc_auc")
        per_class_auc = None
        if roc_auc is not None:
            per_class_auc = [roc_auc["per_class"][name] for name in names]
        return cls(
            _matrix_from_json(config["confusion_matrix"]),
            names,
            per_class_auc,
            calibration=config.get("calibration"),
        )

    def format(self, digits=4):
        """Returns a scikit-learn-style text table and the confusion matrix.

        Args:
            digits: number of decimals for the rates.

        Returns:
            A multi-line string.
        """
        digits = check_int("digits", digits, 0)
        has_auc = self._roc_auc is not None
        headers = ["precision", "recall", "f1-score", "support"]
        if has_auc:
            headers.append("roc-auc")
        row_names = list(self._label_names) + [
            "accuracy",
            "micro avg",
            "macro avg",
            "weighted avg",
        ]
        name_width = max(len(name) for name in row_names)
        col_width = max(max(len(h) for h in headers), digits + 2)

        def fmt(value):
            if value is None:
                return " " * col_width
            if isinstance(value, (int, np.integer)):
                return f"{value:>{col_width}d}"
            return f"{value:>{col_width}.{digits}f}"

        def row(name, values):
            return " ".join([f"{name:>{name_width}}"] + [fmt(v) for v in values])

        lines = [row("", []) + " " + " ".join(f"{h:>{col_width}}" for h in headers)]
        lines.append("")
        precision, recall, f1, support = (
            self.precision,
            self.recall,
            self.f1,
            self.support,
        )
        for i, name in enumerate(self._label_names):
            values = [precision[i], recall[i], f1[i], int(support[i])]
            if has_auc:
                values.append(self._roc_auc[i])
            lines.append(row(name, values))
        lines.append("")
        averages = self.averages
        total = int(support.sum())
        accuracy_row = [None, None, self.accuracy, total]
        lines.append(row("accuracy", accuracy_row + ([None] if has_auc else [])))
        auc_by_average = {
            "micro": None,
            "macro": self.roc_auc_macro,
            "weighted": self.roc_auc_weighted,
        }
        for kind in ("micro", "macro", "weighted"):
            avg = averages[kind]
            values = [avg["precision"], avg["recall"], avg["f1"], avg["support"]]
            if has_auc:
                values.append(auc_by_average[kind])
            lines.append(row(f"{kind} avg", values))
        lines.append("")
        if self._calibration is not None:
            lines.append(format_calibration(self._calibration))
            lines.append("")
        if self.num_classes <= MAX_PRINTED_CLASSES:
            lines.append("Confusion matrix (rows: true, columns: predicted):")
            lines.extend(_format_matrix(self._matrix, self._label_names))
        else:
            lines.append(
                f"Most frequent confusions ({self.num_classes} classes; the "
                "whole matrix is in report.json):"
            )
            lines.extend(_format_top_confusions(self._matrix, self._label_names))
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self):
        return self.format()

    def __repr__(self):
        return (
            f"<ClassificationReport num_classes={self.num_classes} "
            f"accuracy={self.accuracy:.4f} support={int(self.support.sum())}>"
        )


def check_calibration(calibration):
    """Raises unless `calibration` is `None` or a `calibration_summary` dict."""
    if calibration is not None and not (
        isinstance(calibration, dict)
        and {"temperature", "before", "after"} <= set(calibration)
    ):
        raise ValueError(
            "calibration must be a dict of calibration_summary (with "
            f"temperature, before, after). Received: calibration={calibration!r}"
        )


def format_calibration(calibration):
    """One line on a `calibration_summary`: temperature, ECE and NLL moves."""
    before, after = calibration["before"], calibration["after"]
    return (
        f"Calibration: temperature {calibration['temperature']:.3f}; expected "
        f"calibration error {before['ece']:.4f} -> {after['ece']:.4f} "
        f"({calibration['num_bins']} bins), NLL {before['nll']:.4f} -> "
        f"{after['nll']:.4f}"
    )


def _safe_divide(numerator, denominator):
    """Element-wise division that yields 0.0 where the denominator is 0."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape, dtype=np.float64)
    # `where=` skips the zero denominators, so NumPy emits no warning.
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


# Up to this many classes the report prints and stores the whole confusion
# matrix; beyond it, the text shows the top confusions and the JSON the
# matrix's non-zero cells (at most one per test example, where the dense
# matrix of 5,000 classes holds 25 million numbers).
MAX_PRINTED_CLASSES = 30
MAX_DENSE_CLASSES = 100
_TOP_CONFUSIONS = 20


def _matrix_to_json(matrix):
    if matrix.shape[0] <= MAX_DENSE_CLASSES:
        return matrix.tolist()
    rows, columns = np.nonzero(matrix)
    return {
        "shape": list(matrix.shape),
        "nonzero": [[int(i), int(j), int(matrix[i, j])] for i, j in zip(rows, columns)],
    }


def _matrix_from_json(value):
    if not isinstance(value, dict):
        return value
    matrix = np.zeros(value["shape"], dtype=np.int64)
    for i, j, count in value["nonzero"]:
        matrix[i, j] = count
    return matrix


def _format_top_confusions(matrix, label_names):
    off_diagonal = matrix.copy()
    np.fill_diagonal(off_diagonal, 0)
    rows, columns = np.nonzero(off_diagonal)
    counts = off_diagonal[rows, columns]
    order = np.argsort(-counts, kind="stable")[:_TOP_CONFUSIONS]
    if not len(order):
        return ["  none: every prediction is right"]
    return [
        f"  {counts[k]:>6d}  true {label_names[rows[k]]!r} predicted "
        f"{label_names[columns[k]]!r}"
        for k in order
    ]


def _format_matrix(matrix, label_names):
    name_width = max(len(name) for name in label_names)
    width = max(max(len(name) for name in label_names), len(str(matrix.max())))
    header = " " * name_width + " " + " ".join(f"{n:>{width}}" for n in label_names)
    lines = [header]
    for name, counts in zip(label_names, matrix):
        cells = " ".join(f"{int(c):>{width}d}" for c in counts)
        lines.append(f"{name:>{name_width}} {cells}")
    return lines
