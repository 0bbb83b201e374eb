"""The settings of a hyperparameter search over a text classifier."""

import dataclasses

from tftransformer.training import ClassificationConfig, ConfigError, setting
from tftransformer.training._classification_settings import ClassificationSettings
from tftransformer.training._settings import field_default
from tftransformer.training.classification_config import CLASSIFICATION_MONITORS
from tftransformer.tuning.text_classifier_hyper_model import DEFAULT_HYPERPARAMETERS
from tftransformer.tuning.tuners import ALGORITHMS

__all__ = ["SearchConfig"]

_CLASSIFICATION_DEFAULTS = {
    field.name: field_default(field)
    for field in dataclasses.fields(ClassificationConfig)
}

# The classification settings a trial trains with: its data (read and
# augmented as a run's; `calibrate` aside, which a trial does not do), the
# model, the strategy and the hyperparameters (searched, or fixed at the
# config's values). model_dir and export_dir have their own message.
_APPLIED_TO_TRIALS = (
    {field.name for field in dataclasses.fields(ClassificationSettings)} - {"calibrate"}
) | {
    "augment_copies",
    "augment_alpha",
    "synonym_source",
    "epochs",
    "seed",
    "preset",
    "max_length",
    "monitor",
    "distribution",
    "model_dir",
    "export_dir",
    *DEFAULT_HYPERPARAMETERS,
}


@dataclasses.dataclass
class SearchConfig(ClassificationConfig):
    """`ClassificationConfig` plus the search: its space, algorithm and budget.

    The data, preset, `max_length`, `epochs` (per trial), `seed` and
    `distribution` fields apply to every trial; the hyperparameters of the
    space (`--space_file` or `--hp`, else `DEFAULT_SEARCH_SPACE`) are
    searched, and the config's own values of the others
    (`DEFAULT_HYPERPARAMETERS`' names) stay fixed.

    Example:
    ```python
    config = SearchConfig(hp=["learning_rate=1e-5..1e-3:log"], max_trials=4)
    ```
    """

    monitor: str = setting(
        "val_accuracy",
        "The validation metric that ranks trials (val_loss: lowest best); "
        "best.json carries any other than val_accuracy.",
        choices=CLASSIFICATION_MONITORS,
    )
    space_file: str | None = setting(None, "JSON (or YAML) file of the search space.")
    hp: list[str] = setting(
        [],
        "One hyperparameter of the space, repeatable: name=LOW..HIGH, "
        "name=LOW..HIGH:log, name=A,B,C or name=VALUE.",
    )
    algorithm: str = setting("random", "Search algorithm.", choices=ALGORITHMS)
    max_trials: int = setting(
        10, "Trials in all, resumed runs included (not Hyperband).", minimum=1
    )
    epochs: int = setting(
        1, "Epochs per trial (Hyperband: the most epochs of a trial).", minimum=1
    )
    directory: str = setting("runs/tune", "Results directory.", run_setting=False)
    project_name: str = setting(
        "search", "Project folder in --directory.", run_setting=False
    )
    overwrite: bool = setting(
        False, "Start the project afresh instead of resuming it.", run_setting=False
    )
    evaluate_test: bool = setting(
        True, "Evaluate the best trial's model on the test split."
    )
    compare_default: bool = setting(
        False, "Also train the default configuration with the same data and epochs."
    )
    max_consecutive_failed_trials: int = setting(
        3, "Failures in a row that stop the search.", minimum=1
    )
    num_initial_points: int | None = setting(
        None, "Bayesian: random trials before the model.", minimum=1
    )
    run_eagerly: bool = setting(False, "Train eagerly, without tracing (debugging).")

    def validate(self):
        """Checks every field; refuses a space given both ways, and the
        output settings of a classification run, which a search does not
        write."""
        super().validate()
        written = {
            name: getattr(self, name)
            for name in ("model_dir", "export_dir")
            if getattr(self, name) != _CLASSIFICATION_DEFAULTS[name]
        }
        if written:
            raise ConfigError(
                "A search writes its trials and best.json under "
                "directory/project_name (--directory, --project_name); train "
                "and export the best configuration with classify.py "
                "--config=best.json and its own --model_dir, --export_dir. "
                f"Received: {', '.join(f'{k}={v!r}' for k, v in written.items())}"
            )
        ignored = {
            name: getattr(self, name)
            for name in _CLASSIFICATION_DEFAULTS
            if name not in _APPLIED_TO_TRIALS
            and getattr(self, name) != _CLASSIFICATION_DEFAULTS[name]
        }
        if ignored:
            raise ConfigError(
                "A search trains its trials with the data, preset, max_length, "
                "epochs, seed, distribution and the hyperparameters "
                f"{sorted(DEFAULT_HYPERPARAMETERS)} only: these settings would "
                "not apply to its trials, and best.json would then train a "
                "model the search never scored. Drop them from the search, and "
                "give them to classify.py --config=best.json if wanted. "
                f"Received: {', '.join(f'{k}={v!r}' for k, v in ignored.items())}"
            )
        if self.num_initial_points is not None and self.algorithm != "bayesian":
            raise ConfigError(
                "num_initial_points sets the random trials of a Bayesian "
                "search (algorithm='bayesian'); this search would ignore it. "
                f"Received: num_initial_points={self.num_initial_points}, "
                f"algorithm={self.algorithm!r}"
            )
        if self.space_file and self.hp:
            raise ConfigError(
                "Give the search space with space_file or with hp, not both. "
                f"Received: space_file={self.space_file!r}, hp={self.hp!r}"
            )
