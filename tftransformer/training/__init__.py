"""tftransformer.training: the training core a user's own script calls.

- Configs: `TrainingConfig` (optimizer, schedule, precision, distribution,
  run directory, budget), `FinetuneConfig` (plus the pretrained backbone and
  the transfer recipe) and task configs such as `ClassificationConfig`; each
  field defined once with `setting(...)`.
- `run(ConfigClass, main)`: the config's fields as absl flags plus
  `--config=FILE.json`, and one clear error line for bad data or settings.
- `apply_strategy(model, config)`: the transfer recipe every caller uses.
- `Trainer`: a resumable, chief-only, atomically saved `model.fit` run.
- The callbacks it is made of (`training_callbacks`, `ResumableTraining`,
  `TimeBudget`, ...), for a script that calls `fit` itself.
"""

from tftransformer.training._settings import ConfigError, setting
from tftransformer.training.apply_strategy import apply_strategy, strategy_callbacks
from tftransformer.training.callbacks import training_callbacks
from tftransformer.training.checkpointing import check_run_directory
from tftransformer.training.classification_config import ClassificationConfig
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.config_flags import (
    config_from_flags,
    define_flags,
    load_config_file,
    run,
)
from tftransformer.training.epoch_weights_checkpoint import EpochWeightsCheckpoint
from tftransformer.training.finetune_config import FinetuneConfig, TrainingConfig
from tftransformer.training.multi_label_config import MultiLabelConfig
from tftransformer.training.multi_label_training import (
    build_multi_label_classifier,
    fit_decision_rule,
    load_multi_label_data,
    train_multi_label_classifier,
)
from tftransformer.training.regression_config import RegressionConfig
from tftransformer.training.regression_training import (
    build_text_regressor,
    load_regression_data,
    train_text_regressor,
)
from tftransformer.training.resumable_training import ResumableTraining
from tftransformer.training.stop_on_non_finite_loss import StopOnNonFiniteLoss
from tftransformer.training.text_classification import (
    build_text_classifier,
    calibrate_classifier,
    cross_validate_classifier,
    load_classification_splits,
    train_text_classifier,
)
from tftransformer.training.time_budget import TimeBudget
from tftransformer.training.trainer import Trainer
from tftransformer.training.training_result import TrainingResult
from tftransformer.training.training_summary import (
    describe_training,
    format_training_summary,
    write_training_summary,
)

__all__ = [
    "MultiLabelConfig",
    "RegressionConfig",
    "build_multi_label_classifier",
    "build_text_regressor",
    "fit_decision_rule",
    "load_multi_label_data",
    "load_regression_data",
    "train_multi_label_classifier",
    "train_text_regressor",
    "ClassificationConfig",
    "ClassificationRun",
    "ConfigError",
    "EpochWeightsCheckpoint",
    "FinetuneConfig",
    "ResumableTraining",
    "StopOnNonFiniteLoss",
    "TimeBudget",
    "Trainer",
    "TrainingConfig",
    "TrainingResult",
    "apply_strategy",
    "build_text_classifier",
    "calibrate_classifier",
    "check_run_directory",
    "config_from_flags",
    "cross_validate_classifier",
    "define_flags",
    "describe_training",
    "format_training_summary",
    "load_classification_splits",
    "load_config_file",
    "run",
    "setting",
    "strategy_callbacks",
    "train_text_classifier",
    "training_callbacks",
    "write_training_summary",
]
