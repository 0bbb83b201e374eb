"""tftransformer.evaluation: classification metrics, cross-validation, plots."""

from tftransformer.evaluation.classification_report import ClassificationReport
from tftransformer.evaluation.cross_validation import (
    cross_validate,
    k_fold,
    stratified_k_fold,
)
from tftransformer.evaluation.cross_validation_result import CrossValidationResult
from tftransformer.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    roc_auc,
)
from tftransformer.evaluation.plots import (
    plot_confusion_matrix,
    plot_training_curves,
)
from tftransformer.evaluation.predictions import (
    evaluate_classifier,
    logits_to_probabilities,
)

__all__ = [
    "ClassificationReport",
    "CrossValidationResult",
    "classification_report",
    "confusion_matrix",
    "cross_validate",
    "evaluate_classifier",
    "k_fold",
    "logits_to_probabilities",
    "plot_confusion_matrix",
    "plot_training_curves",
    "roc_auc",
    "stratified_k_fold",
]
