"""tftransformer.evaluation: classification metrics, cross-validation, plots."""

from tftransformer.evaluation.attention_map import AttentionMap
from tftransformer.evaluation.attention_maps import (
    attention_maps,
    plot_attention_map,
    write_attention_map,
)
from tftransformer.evaluation.bleu import corpus_bleu, ngram_counts
from tftransformer.evaluation.calibration import (
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
)
from tftransformer.evaluation.classification_report import ClassificationReport
from tftransformer.evaluation.continuations import sample_continuations
from tftransformer.evaluation.cross_validation import (
    cross_validate,
    k_fold,
    stratified_k_fold,
)
from tftransformer.evaluation.cross_validation_result import CrossValidationResult
from tftransformer.evaluation.entity_f1_callback import EntityF1Callback
from tftransformer.evaluation.entity_metrics import entity_report, extract_entities
from tftransformer.evaluation.entity_report import EntityReport
from tftransformer.evaluation.generated_texts import generate_texts
from tftransformer.evaluation.generation_report import GenerationReport
from tftransformer.evaluation.inference_speed import compare_inference_speed
from tftransformer.evaluation.label_predictions import predict_labels
from tftransformer.evaluation.metrics import (
    classification_report,
    confusion_matrix,
    roc_auc,
)
from tftransformer.evaluation.multi_label_predictions import (
    evaluate_multi_label_classifier,
    sigmoid_probabilities,
    tune_thresholds,
)
from tftransformer.evaluation.multi_label_report import MultiLabelReport
from tftransformer.evaluation.plots import (
    plot_confusion_matrix,
    plot_predicted_vs_true,
    plot_reliability_diagram,
    plot_training_curves,
    write_classification_plots,
)
from tftransformer.evaluation.prediction_columns import predict_columns
from tftransformer.evaluation.predictions import (
    evaluate_classifier,
    logits_to_probabilities,
)
from tftransformer.evaluation.question_answering_predictions import (
    evaluate_question_answerer,
)
from tftransformer.evaluation.regression_report import (
    RegressionReport,
    evaluate_regressor,
    spearman_correlation,
)
from tftransformer.evaluation.retrieval_report import (
    RetrievalReport,
    evaluate_retrieval,
)
from tftransformer.evaluation.rouge import corpus_rouge, rouge_scores, rouge_tokens
from tftransformer.evaluation.squad_metrics import (
    normalize_answer,
    score_squad,
    squad_exact_match,
    squad_f1,
)
from tftransformer.evaluation.squad_report import SquadReport
from tftransformer.evaluation.tagging_predictions import (
    evaluate_tagger,
    predict_entities,
    predict_tags,
)
from tftransformer.models.sparse_f1_score import SparseF1Score
from tftransformer.models.token_accuracy import TokenAccuracy

__all__ = [
    "AttentionMap",
    "ClassificationReport",
    "CrossValidationResult",
    "EntityF1Callback",
    "EntityReport",
    "GenerationReport",
    "MultiLabelReport",
    "RegressionReport",
    "RetrievalReport",
    "SparseF1Score",
    "SquadReport",
    "TokenAccuracy",
    "attention_maps",
    "calibration_summary",
    "classification_report",
    "compare_inference_speed",
    "confusion_matrix",
    "corpus_bleu",
    "corpus_rouge",
    "cross_validate",
    "entity_report",
    "evaluate_classifier",
    "evaluate_multi_label_classifier",
    "evaluate_question_answerer",
    "evaluate_regressor",
    "evaluate_retrieval",
    "evaluate_tagger",
    "expected_calibration_error",
    "extract_entities",
    "fit_temperature",
    "generate_texts",
    "k_fold",
    "logits_to_probabilities",
    "ngram_counts",
    "normalize_answer",
    "plot_attention_map",
    "plot_confusion_matrix",
    "plot_predicted_vs_true",
    "plot_reliability_diagram",
    "plot_training_curves",
    "predict_entities",
    "predict_columns",
    "predict_labels",
    "predict_tags",
    "reliability_bins",
    "roc_auc",
    "rouge_scores",
    "rouge_tokens",
    "sample_continuations",
    "score_squad",
    "sigmoid_probabilities",
    "spearman_correlation",
    "squad_exact_match",
    "squad_f1",
    "stratified_k_fold",
    "tune_thresholds",
    "write_attention_map",
    "write_classification_plots",
]
