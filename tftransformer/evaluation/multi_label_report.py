"""`MultiLabelReport`: the metrics of a multi-label classifier on a data set."""

import math

import numpy as np

from tftransformer.evaluation import _json_utils
from tftransformer.evaluation.classification_report import format_calibration
from tftransformer.evaluation.metrics import roc_auc


def _divide(numerator, denominator):
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.zeros(np.broadcast(numerator, denominator).shape)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


def _f1(precision, recall):
    return _divide(2 * precision * recall, precision + recall)


def _check_matrix(name, values, shape=None):
    values = np.asarray(values)
    if values.ndim != 2 or (shape is not None and values.shape != shape):
        expected = "(num_examples, num_labels)" if shape is None else shape
        raise ValueError(
            f"{name} must have shape {expected}. Received: {name}.shape={values.shape}"
        )
    return values


class MultiLabelReport:
    """Per-label and averaged metrics of multi-label predictions.

    Each label is a yes/no decision: precision, recall and F1 per label
    (0.0 where undefined), averaged three ways: micro (counts pooled over
    labels), macro (the mean over labels) and samples (per example, then
    the mean over examples; an example with no true and no predicted label
    scores 1). Subset accuracy is the share of examples whose predicted set
    is exactly right; the Hamming loss the share of wrong (example, label)
    decisions. ROC-AUC is per label, NaN for a label with no positive or no
    negative example, and its macro mean over the labels where it is
    defined.

    Args:
        y_true: 0/1 array `(num_examples, num_labels)`.
        y_pred: 0/1 array of the same shape, the predicted labels.
        y_score: optional scores of the same shape (probabilities), for
            ROC-AUC.
        label_names: optional `num_labels` names.
        thresholds: optional per-label decision thresholds, kept in the
            report.
        calibration: optional `calibration_summary(..., multi_label=True)`.

    Example:
    ```python
    report = MultiLabelReport([[1, 0], [1, 1]], [[1, 0], [0, 1]], None, ["a", "b"])
    report.subset_accuracy  # 0.5
    ```
    """

    def __init__(
        self,
        y_true,
        y_pred,
        y_score=None,
        label_names=None,
        thresholds=None,
        calibration=None,
    ):
        y_true = _check_matrix("y_true", y_true)
        y_pred = _check_matrix("y_pred", y_pred, y_true.shape)
        for name, values in (("y_true", y_true), ("y_pred", y_pred)):
            if not np.all((values == 0) | (values == 1)):
                raise ValueError(f"{name} must hold 0 or 1 only.")
        if not len(y_true):
            raise ValueError("MultiLabelReport needs at least one example. Received: 0")
        num_labels = y_true.shape[1]
        if label_names is None:
            label_names = [str(j) for j in range(num_labels)]
        label_names = [str(name) for name in label_names]
        if len(label_names) != num_labels:
            raise ValueError(
                f"label_names must have one name per label ({num_labels}). "
                f"Received: label_names={label_names}"
            )
        truth, predicted = y_true.astype(bool), y_pred.astype(bool)
        true_positives = (truth & predicted).sum(axis=0)
        support = truth.sum(axis=0)
        predicted_count = predicted.sum(axis=0)
        precision = _divide(true_positives, predicted_count)
        recall = _divide(true_positives, support)
        micro_precision = float(_divide(true_positives.sum(), predicted_count.sum()))
        micro_recall = float(_divide(true_positives.sum(), support.sum()))
        # Per example: an empty true and predicted set is a perfect answer.
        example_tp = (truth & predicted).sum(axis=1)
        example_true, example_pred = truth.sum(axis=1), predicted.sum(axis=1)
        both_empty = (example_true == 0) & (example_pred == 0)
        sample_precision = np.where(both_empty, 1.0, _divide(example_tp, example_pred))
        sample_recall = np.where(both_empty, 1.0, _divide(example_tp, example_true))
        sample_f1 = np.where(
            both_empty, 1.0, _divide(2 * example_tp, example_true + example_pred)
        )
        self._label_names = tuple(label_names)
        self._per_label = {
            "precision": precision,
            "recall": recall,
            "f1": _f1(precision, recall),
            "support": support.astype(np.int64),
        }
        self._averages = {
            "micro": {
                "precision": micro_precision,
                "recall": micro_recall,
                "f1": float(_f1(micro_precision, micro_recall)),
            },
            "macro": {
                key: float(np.mean(self._per_label[key]))
                for key in ("precision", "recall", "f1")
            },
            "samples": {
                "precision": float(np.mean(sample_precision)),
                "recall": float(np.mean(sample_recall)),
                "f1": float(np.mean(sample_f1)),
            },
        }
        self._subset_accuracy = float(np.mean(np.all(truth == predicted, axis=1)))
        self._hamming_loss = float(np.mean(truth != predicted))
        self._num_examples = len(y_true)
        self._roc_auc = None
        if y_score is not None:
            y_score = _check_matrix("y_score", y_score, y_true.shape)
            self._roc_auc = np.array(
                [roc_auc(y_true[:, j], y_score[:, j]) for j in range(num_labels)]
            )
        self._thresholds = (
            None if thresholds is None else [float(t) for t in thresholds]
        )
        self._calibration = calibration

    @property
    def label_names(self):
        return self._label_names

    @property
    def per_label(self):
        """`{"precision", "recall", "f1", "support"}`, each an array per label."""
        return {key: value.copy() for key, value in self._per_label.items()}

    @property
    def averages(self):
        """`{"micro" | "macro" | "samples": {"precision", "recall", "f1"}}`."""
        return {key: dict(value) for key, value in self._averages.items()}

    @property
    def subset_accuracy(self):
        """Share of examples whose predicted label set is exactly right."""
        return self._subset_accuracy

    @property
    def hamming_loss(self):
        """Share of wrong (example, label) decisions."""
        return self._hamming_loss

    @property
    def roc_auc_per_label(self):
        """ROC-AUC per label (NaN where undefined), or `None`."""
        return None if self._roc_auc is None else self._roc_auc.copy()

    @property
    def roc_auc_macro(self):
        """Mean of the defined per-label ROC-AUC values (NaN if none), or `None`."""
        if self._roc_auc is None:
            return None
        defined = self._roc_auc[~np.isnan(self._roc_auc)]
        return float(np.mean(defined)) if len(defined) else math.nan

    @property
    def thresholds(self):
        return None if self._thresholds is None else list(self._thresholds)

    @property
    def calibration(self):
        return self._calibration

    def to_dict(self):
        """The report as a JSON-ready dict (undefined ROC-AUC as `None`)."""
        result = {
            "label_names": list(self._label_names),
            "num_examples": self._num_examples,
            "per_label": {
                name: {
                    "precision": float(self._per_label["precision"][j]),
                    "recall": float(self._per_label["recall"][j]),
                    "f1": float(self._per_label["f1"][j]),
                    "support": int(self._per_label["support"][j]),
                }
                for j, name in enumerate(self._label_names)
            },
            "averages": self.averages,
            "subset_accuracy": self._subset_accuracy,
            "hamming_loss": self._hamming_loss,
        }
        if self._roc_auc is not None:
            result["roc_auc"] = {
                "per_label": {
                    name: _json_utils.nan_to_none(float(value))
                    for name, value in zip(self._label_names, self._roc_auc)
                },
                "macro": _json_utils.nan_to_none(self.roc_auc_macro),
            }
        if self._thresholds is not None:
            result["thresholds"] = dict(zip(self._label_names, self._thresholds))
        if self._calibration is not None:
            result["calibration"] = self._calibration
        return result

    def to_json(self, path):
        """Writes `to_dict()` to `path` as strict JSON."""
        _json_utils.write_json(self.to_dict(), path)

    def format(self, digits=4):
        """A text table: per label, then the averages and set metrics."""
        headers = ["precision", "recall", "f1-score", "support", "roc-auc", "threshold"]
        rows = list(self._label_names) + ["micro avg", "macro avg", "samples avg"]
        name_width = max(len(name) for name in rows)
        width = max(max(len(h) for h in headers), digits + 2)

        def cell(value):
            if value is None or (isinstance(value, float) and math.isnan(value)):
                return " " * width
            if isinstance(value, (int, np.integer)):
                return f"{value:>{width}d}"
            return f"{value:>{width}.{digits}f}"

        lines = [" " * name_width + " " + " ".join(f"{h:>{width}}" for h in headers)]
        for j, name in enumerate(self._label_names):
            values = [self._per_label[key][j] for key in ("precision", "recall", "f1")]
            values.append(int(self._per_label["support"][j]))
            values.append(None if self._roc_auc is None else float(self._roc_auc[j]))
            values.append(None if self._thresholds is None else self._thresholds[j])
            lines.append(f"{name:>{name_width}} " + " ".join(cell(v) for v in values))
        lines.append("")
        total = int(self._per_label["support"].sum())
        for kind in ("micro", "macro", "samples"):
            average = self._averages[kind]
            values = [average["precision"], average["recall"], average["f1"], total]
            values.append(self.roc_auc_macro if kind == "macro" else None)
            lines.append(
                f"{kind + ' avg':>{name_width}} " + " ".join(cell(v) for v in values)
            )
        lines.append("")
        lines.append(
            f"subset accuracy {self._subset_accuracy:.{digits}f}, Hamming loss "
            f"{self._hamming_loss:.{digits}f} ({self._num_examples} examples)"
        )
        if self._calibration is not None:
            lines.append(format_calibration(self._calibration))
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self):
        return self.format()
