"""tftransformer.training: the training core a user's own script calls.

- Configs: `TrainingConfig` (optimizer, schedule, precision, distribution,
  run directory, budget), `FinetuneConfig` (plus the pretrained backbone and
  the transfer recipe), `FromScratchConfig` (the shape of a Transformer of
  random weights), `PretrainedGeneratorConfig` (that, or a pretrained
  generator preset with its recipe) and task configs such as
  `ClassificationConfig`; each field defined once with `setting(...)`.
- `run(ConfigClass, main)`: the config's fields as absl flags plus
  `--config=FILE.json`, and one clear error line for bad data or settings.
- `apply_strategy(model, config)`: the transfer recipe every caller uses.
- `Trainer`: a resumable, chief-only, atomically saved `model.fit` run.
- Whole runs, each a `Trainer` run from its config: `train_text_classifier`,
  `cross_validate_classifier`, `train_multi_label_classifier`,
  `train_text_regressor`, `train_token_classifier`,
  `train_multi_task_model`, `train_long_document_classifiers`,
  `train_few_shot_classifier`, `compare_augmentation`, `shrink_classifier`,
  `distill_classifier`, `continue_pretraining`,
  `train_classifier_from_scratch`, `train_causal_lm`, `train_translator`.
- For a saved model: `predict_to_file` (a file of texts, predicted) and
  `evaluate_saved_model` (a labelled file, scored as a run scores its test
  split); for a generator run's, `generation_settings` (its tokenizers,
  special token ids and lengths, as the run generated).
- The callbacks it is made of (`training_callbacks`, `ResumableTraining`,
  `TimeBudget`, ...), for a script that calls `fit` itself.
"""

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.apply_strategy import apply_strategy, strategy_callbacks
from tftransformer.training.augmentation_comparison import AugmentationComparison
from tftransformer.training.callbacks import training_callbacks
from tftransformer.training.checkpointing import check_run_directory
from tftransformer.training.classification_config import ClassificationConfig
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.compare_augmentation import compare_augmentation
from tftransformer.training.config_flags import (
    config_from_flags,
    define_flags,
    load_config_file,
    run,
)
from tftransformer.training.continued_pretraining import continue_pretraining
from tftransformer.training.distillation import (
    distill_classifier,
    format_distill_report,
)
from tftransformer.training.epoch_weights_checkpoint import EpochWeightsCheckpoint
from tftransformer.training.evaluation_config import EvaluationConfig
from tftransformer.training.few_shot import (
    calibrate_logistic_head,
    train_few_shot_classifier,
    train_logistic_head,
)
from tftransformer.training.few_shot_config import FewShotConfig
from tftransformer.training.few_shot_run import FewShotRun
from tftransformer.training.file_evaluation import evaluate_saved_model
from tftransformer.training.file_predictions import predict_to_file
from tftransformer.training.finetune_config import FinetuneConfig, TrainingConfig
from tftransformer.training.from_scratch_classification import (
    train_classifier_from_scratch,
)
from tftransformer.training.from_scratch_classification_config import (
    FromScratchClassificationConfig,
)
from tftransformer.training.from_scratch_config import FromScratchConfig
from tftransformer.training.generation_settings import generation_settings
from tftransformer.training.language_model import train_causal_lm
from tftransformer.training.language_model_config import LanguageModelConfig
from tftransformer.training.language_model_run import LanguageModelRun
from tftransformer.training.long_document_config import LongDocumentConfig
from tftransformer.training.long_document_run import LongDocumentRun
from tftransformer.training.long_documents import (
    chunk_statistics,
    train_long_document_classifiers,
)
from tftransformer.training.multi_label_config import MultiLabelConfig
from tftransformer.training.multi_label_training import (
    build_multi_label_classifier,
    fit_decision_rule,
    load_multi_label_data,
    train_multi_label_classifier,
)
from tftransformer.training.multi_task import (
    load_multi_task_data,
    train_multi_task_model,
)
from tftransformer.training.multi_task_config import MultiTaskConfig
from tftransformer.training.multi_task_run import MultiTaskRun
from tftransformer.training.prediction_config import PredictionConfig
from tftransformer.training.pretrained_generator_config import (
    PretrainedGeneratorConfig,
)
from tftransformer.training.pretraining_config import PretrainingConfig
from tftransformer.training.pretraining_run import PretrainingRun
from tftransformer.training.question_answering import (
    build_question_answerer,
    load_squad_splits,
    train_question_answerer,
)
from tftransformer.training.question_answering_config import QuestionAnsweringConfig
from tftransformer.training.question_answering_run import QuestionAnsweringRun
from tftransformer.training.regression_config import RegressionConfig
from tftransformer.training.regression_training import (
    build_text_regressor,
    load_regression_data,
    train_text_regressor,
)
from tftransformer.training.resumable_training import ResumableTraining
from tftransformer.training.shrinking import format_shrink_report, shrink_classifier
from tftransformer.training.stop_on_non_finite_loss import StopOnNonFiniteLoss
from tftransformer.training.text_classification import (
    build_text_classifier,
    calibrate_classifier,
    cross_validate_classifier,
    load_classification_pool,
    load_classification_splits,
    train_text_classifier,
)
from tftransformer.training.time_budget import TimeBudget
from tftransformer.training.token_classification import (
    build_token_classifier,
    load_tagging_splits,
    train_token_classifier,
)
from tftransformer.training.token_classification_config import (
    TokenClassificationConfig,
)
from tftransformer.training.token_classification_run import TokenClassificationRun
from tftransformer.training.trainer import Trainer
from tftransformer.training.training_result import TrainingResult
from tftransformer.training.training_summary import (
    describe_training,
    format_training_summary,
    write_training_summary,
)
from tftransformer.training.translation import train_translator
from tftransformer.training.translation_config import TranslationConfig
from tftransformer.training.translation_run import TranslationRun

__all__ = [
    "QuestionAnsweringConfig",
    "QuestionAnsweringRun",
    "build_question_answerer",
    "load_squad_splits",
    "train_question_answerer",
    "AugmentationComparison",
    "ClassificationConfig",
    "ClassificationRun",
    "ConfigError",
    "EpochWeightsCheckpoint",
    "EvaluationConfig",
    "FewShotConfig",
    "FewShotRun",
    "FinetuneConfig",
    "generation_settings",
    "FromScratchClassificationConfig",
    "FromScratchConfig",
    "PredictionConfig",
    "PretrainedGeneratorConfig",
    "LanguageModelConfig",
    "LanguageModelRun",
    "LongDocumentConfig",
    "LongDocumentRun",
    "MultiLabelConfig",
    "MultiTaskConfig",
    "MultiTaskRun",
    "PretrainingConfig",
    "PretrainingRun",
    "RegressionConfig",
    "ResumableTraining",
    "StopOnNonFiniteLoss",
    "TimeBudget",
    "TokenClassificationConfig",
    "TokenClassificationRun",
    "Trainer",
    "TrainingConfig",
    "TrainingResult",
    "TranslationConfig",
    "TranslationRun",
    "apply_strategy",
    "build_multi_label_classifier",
    "build_text_classifier",
    "build_text_regressor",
    "build_token_classifier",
    "calibrate_classifier",
    "calibrate_logistic_head",
    "check_run_directory",
    "chunk_statistics",
    "compare_augmentation",
    "config_from_flags",
    "continue_pretraining",
    "cross_validate_classifier",
    "define_flags",
    "describe_training",
    "distill_classifier",
    "evaluate_saved_model",
    "fit_decision_rule",
    "format_distill_report",
    "format_shrink_report",
    "format_training_summary",
    "load_classification_pool",
    "load_classification_splits",
    "load_config_file",
    "load_multi_label_data",
    "load_multi_task_data",
    "load_regression_data",
    "load_tagging_splits",
    "predict_to_file",
    "run",
    "setting",
    "shrink_classifier",
    "strategy_callbacks",
    "train_causal_lm",
    "train_classifier_from_scratch",
    "train_few_shot_classifier",
    "train_logistic_head",
    "train_long_document_classifiers",
    "train_multi_label_classifier",
    "train_multi_task_model",
    "train_text_classifier",
    "train_text_regressor",
    "train_token_classifier",
    "train_translator",
    "training_callbacks",
    "write_training_summary",
]
