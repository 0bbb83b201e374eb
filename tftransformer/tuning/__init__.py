"""tftransformer.tuning: hyperparameter search and the learning-rate range test.

`search_text_classifier(SearchConfig(...))` runs (or resumes) a whole search
of a text classifier and writes the best values as a `--config` file.

The search runs on KerasTuner (random search, Bayesian optimization,
Hyperband) over a validated `SearchSpace`, with a `TextClassifierHyperModel`
that starts every trial from the pretrained weights. `find_learning_rate`
runs the learning-rate range test on a compiled model and restores it.
"""

from tftransformer.tuning.learning_rate_finder import (
    find_learning_rate,
    learning_rate_range_test,
    suggest_learning_rate,
)
from tftransformer.tuning.learning_rate_finder_result import (
    LearningRateFinderResult,
)
from tftransformer.tuning.run_config import (
    load_run_config,
    merge_run_config,
    save_run_config,
)
from tftransformer.tuning.search import search_space_of, search_text_classifier
from tftransformer.tuning.search_config import SearchConfig
from tftransformer.tuning.search_space import (
    DEFAULT_SEARCH_SPACE,
    SEARCHABLE_PARAMETERS,
    SearchSpace,
)
from tftransformer.tuning.text_classifier_hyper_model import (
    DEFAULT_HYPERPARAMETERS,
    TextClassifierHyperModel,
)
from tftransformer.tuning.tuners import (
    ALGORITHMS,
    FAILED_TRIALS_FILE,
    SEARCH_SETTINGS_FILE,
    TRIALS_FILE,
    best_run_config,
    create_tuner,
    format_trial_table,
    trial_records,
)

__all__ = [
    "ALGORITHMS",
    "DEFAULT_HYPERPARAMETERS",
    "DEFAULT_SEARCH_SPACE",
    "FAILED_TRIALS_FILE",
    "LearningRateFinderResult",
    "SEARCHABLE_PARAMETERS",
    "SEARCH_SETTINGS_FILE",
    "SearchConfig",
    "SearchSpace",
    "TRIALS_FILE",
    "TextClassifierHyperModel",
    "best_run_config",
    "create_tuner",
    "find_learning_rate",
    "learning_rate_range_test",
    "format_trial_table",
    "load_run_config",
    "merge_run_config",
    "save_run_config",
    "search_space_of",
    "search_text_classifier",
    "suggest_learning_rate",
    "trial_records",
]
