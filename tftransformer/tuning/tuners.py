"""KerasTuner tuners that record their trials, and the search's results."""

import contextlib
import json
import math
import numbers
import os
import re
import warnings

import keras_tuner

from tftransformer._arguments import check_choice, check_int, is_int
from tftransformer.distribute import is_chief
from tftransformer.finetune import restart_lora_adapters
from tftransformer.training.checkpointing import setting_differences

__all__ = [
    "ALGORITHMS",
    "FAILED_TRIALS_FILE",
    "SEARCH_SETTINGS_FILE",
    "TRIALS_FILE",
    "best_run_config",
    "create_tuner",
    "format_trial_table",
    "trial_records",
]

ALGORITHMS = ("random", "bayesian", "hyperband")
TRIALS_FILE = "trials.json"
FAILED_TRIALS_FILE = "failed_trials.json"
SEARCH_SETTINGS_FILE = "search_settings.json"
# Values KerasTuner's Hyperband adds to each trial's hyperparameters.
_HYPERBAND_PREFIX = "tuner/"


@contextlib.contextmanager
def _without_optimizer_state():
    # A trial's checkpoint (`model.save_weights`) holds its optimizer's
    # slots; a model KerasTuner loads it into has a new optimizer, unbuilt,
    # which Keras leaves as it is, warning "Skipping variable loading for
    # optimizer". That is the intended load: the weights, not the state.
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
        yield


class _RecordingTuner:
    """Writes `trials.json` and `failed_trials.json` after every trial,
    loads a trial's checkpoint without a warning about its optimizer, and
    ranks tied trials in the order they ran."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # A reloaded oracle holds its trials in the order the file system
        # lists their folders, and KerasTuner's best-first sort is stable:
        # of trials with the same score, a rerun of a finished search
        # wrote another one to best.json. In trial id order (zero-padded
        # numbers, as they ran), the first of a tie wins everywhere.
        self.oracle.trials = dict(sorted(self.oracle.trials.items()))

    def load_model(self, trial):
        with _without_optimizer_state():
            return super().load_model(trial)

    def on_trial_end(self, trial):
        try:
            super().on_trial_end(trial)
        finally:
            # Also when KerasTuner stops the search after too many
            # consecutive failures: the records then name every failure.
            _write_records(self)


class _RandomSearch(_RecordingTuner, keras_tuner.RandomSearch):
    pass


class _BayesianOptimization(_RecordingTuner, keras_tuner.BayesianOptimization):
    pass


class _Hyperband(_RecordingTuner, keras_tuner.Hyperband):
    def _build_hypermodel(self, hp):
        with _without_optimizer_state():
            model = super()._build_hypermodel(hp)
        if _HYPERBAND_PREFIX + "trial_id" in hp.values:
            # A continuation trial: KerasTuner loaded an earlier trial's
            # weights, which Keras loads into LoRA layers as merged kernels
            # and all-zero adapters, which would never train.
            restart_lora_adapters(model)
        return model


def create_tuner(
    hypermodel,
    algorithm="random",
    directory="runs/tune",
    project_name="search",
    max_trials=10,
    max_epochs=3,
    objective=None,
    direction=None,
    seed=0,
    overwrite=False,
    max_consecutive_failed_trials=3,
    num_initial_points=None,
    hyperband_factor=3,
    distribution_strategy=None,
    search_settings=None,
):
    """Returns a KerasTuner tuner for `hypermodel`, resumable from `directory`.

    The tuner keeps KerasTuner's own state under `directory/project_name`
    (the oracle, one folder per trial with its values, score and best
    weights). With `overwrite=False`, a new tuner on an existing project
    reloads that state: finished trials are kept, a trial cut short by a
    crash runs again, and `search` runs only the trials still missing from
    `max_trials`. After every trial it also writes `trials.json` (every
    trial's status, score and values) and `failed_trials.json` (each failed
    trial's values and reason) there.

    A project is resumed only with the settings it was started with:
    KerasTuner would reload the old search space and rank scores of
    different searches together. The algorithm, objective, Hyperband's
    epochs and factor, the hypermodel's `search_settings()` (a
    `TextClassifierHyperModel`'s space, fixed values, labels, preset, length
    and seed) and `search_settings` are written to `search_settings.json`,
    and a project whose file differs is refused (`max_trials` may change:
    raising it extends the search).

    A trial that raises is recorded as failed (KerasTuner's `FAILED` status,
    with the error in `trial.message`) and the search goes on, unless
    `max_consecutive_failed_trials` fail in a row.

    Args:
        hypermodel: a `keras_tuner.HyperModel`, e.g. a
            `TextClassifierHyperModel`.
        algorithm: `"random"` (random search), `"bayesian"` (Gaussian-process
            Bayesian optimization; needs scikit-learn, the `tuning` extra) or
            `"hyperband"` (successive halving over epochs: continuation
            trials resume from an earlier trial's best weights with a new
            optimizer, as KerasTuner's do, LoRA adapters folded in and
            started again by `tftransformer.finetune.restart_lora_adapters`).
        directory: the results directory.
        project_name: the project's folder name in `directory`.
        max_trials: int >= 1, the number of trials, over all runs of the
            project (random and Bayesian; Hyperband sets its own from
            `max_epochs` and `hyperband_factor`).
        max_epochs: int >= 1, Hyperband's largest number of epochs per trial.
        objective: the logged metric to optimize, on the validation split,
            or `None` for the hypermodel's `monitor` (a
            `TextClassifierHyperModel`'s), else `"val_accuracy"`.
        direction: `"max"`, `"min"`, or `None` to infer it (`"min"` for
            names containing `"loss"`, else `"max"`).
        seed: int, the seed of the search algorithm.
        overwrite: bool, whether to delete an existing project instead of
            resuming it.
        max_consecutive_failed_trials: int >= 1, failures in a row that stop
            the search with a `RuntimeError`.
        num_initial_points: Bayesian optimization's random trials before it
            fits its Gaussian process; `None` for KerasTuner's default (3 per
            hyperparameter).
        hyperband_factor: int >= 2, Hyperband's reduction factor.
        distribution_strategy: a `tf.distribute.Strategy` (e.g. from
            `tftransformer.distribute.get_strategy`) every trial builds and
            trains its model in, or `None` for the current one. In a
            multi-worker cluster only the chief reports results.
        search_settings: optional JSON-serialisable dict of more settings
            the scores depend on, e.g. a fingerprint of the data and the
            number of epochs (`examples/tune.py` passes both).

    Returns:
        A `keras_tuner.Tuner`; call `search(train, validation_data=..., epochs=...)`.

    Raises:
        ValueError: for a bad argument, or an existing project started with
            other settings (naming each difference).

    Example:
    ```python
    tuner = create_tuner(hypermodel, "bayesian", directory="runs/tune", max_trials=12)
    tuner.search(train, validation_data=validation, epochs=1)
    print(format_trial_table(trial_records(tuner)))
    save_run_config(best_run_config(tuner), "best.json")
    ```
    """
    check_choice("algorithm", algorithm, ALGORITHMS)
    max_trials = check_int("max_trials", max_trials, 1)
    max_epochs = check_int("max_epochs", max_epochs, 1)
    max_consecutive_failed_trials = check_int(
        "max_consecutive_failed_trials", max_consecutive_failed_trials, 1
    )
    hyperband_factor = check_int("hyperband_factor", hyperband_factor, 2)
    if num_initial_points is not None:
        num_initial_points = check_int(
            "num_initial_points", num_initial_points, 1, what=" or None"
        )
    if objective is None:
        objective = getattr(hypermodel, "monitor", None) or "val_accuracy"
    if not isinstance(objective, str) or not objective:
        raise ValueError(
            f"objective must be a metric name. Received: objective={objective!r}"
        )
    direction = _direction(objective, direction)
    if not isinstance(project_name, str) or not project_name or "/" in project_name:
        raise ValueError(
            "project_name must be a non-empty folder name. Received: "
            f"project_name={project_name!r}"
        )
    settings = _search_settings(
        hypermodel, algorithm, objective, direction, search_settings
    )
    if algorithm == "hyperband":
        settings.update(max_epochs=max_epochs, hyperband_factor=hyperband_factor)
    project_dir = os.path.join(os.fspath(directory), project_name)
    if not overwrite:
        _check_search_settings(project_dir, settings)
    common = dict(
        hypermodel=hypermodel,
        objective=keras_tuner.Objective(objective, direction=direction),
        directory=os.fspath(directory),
        project_name=project_name,
        overwrite=overwrite,
        seed=seed,
        max_retries_per_trial=0,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        distribution_strategy=distribution_strategy,
    )
    if algorithm == "random":
        tuner = _RandomSearch(max_trials=max_trials, **common)
    elif algorithm == "bayesian":
        try:
            import sklearn  # noqa: F401
        except ImportError as e:
            raise ImportError(
                "algorithm='bayesian' needs scikit-learn: "
                '`pip install "tftransformer[tuning]"`.'
            ) from e
        tuner = _BayesianOptimization(
            max_trials=max_trials, num_initial_points=num_initial_points, **common
        )
    else:
        tuner = _Hyperband(max_epochs=max_epochs, factor=hyperband_factor, **common)
    # After the tuner: `overwrite` has deleted the old project by now.
    if _is_chief(distribution_strategy):
        _write_json(os.path.join(tuner.project_dir, SEARCH_SETTINGS_FILE), settings)
    return tuner


def _search_settings(hypermodel, algorithm, objective, direction, extra):
    settings = {"algorithm": algorithm, "objective": objective, "direction": direction}
    describe = getattr(hypermodel, "search_settings", None)
    if callable(describe):
        settings.update(describe())
    if extra is not None:
        if not isinstance(extra, dict):
            raise ValueError(
                "search_settings must be None or a dict. Received: "
                f"{type(extra).__name__}"
            )
        settings.update(extra)
    # As read back from the file: tuples become lists, keys strings.
    return json.loads(json.dumps(settings, default=repr))


def _check_search_settings(project_dir, settings):
    """Refuses to resume a project started with other settings."""
    path = os.path.join(project_dir, SEARCH_SETTINGS_FILE)
    if not os.path.isfile(path):
        # A new project, or one started without recorded settings.
        return
    try:
        with open(path, encoding="utf-8") as f:
            saved = json.load(f)
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path} is not readable ({e}); pass overwrite=True (--overwrite) "
            "to start the project afresh, or choose another project_name."
        ) from None
    changes = setting_differences(saved, settings) if isinstance(saved, dict) else []
    if changes:
        raise ValueError(
            f"The tuning project {project_dir!r} was started with other "
            f"settings: {'; '.join(changes)}. Resume it with the same settings, "
            "pass overwrite=True (--overwrite) to start it afresh, or choose "
            "another project_name (--project_name)."
        )


def _is_chief(strategy):
    if strategy is None:
        return True
    return is_chief(strategy)


def trial_records(tuner):
    """Returns one dict per trial of a tuner, in the order they were created.

    Args:
        tuner: a KerasTuner tuner.

    Returns:
        A list of dicts with `trial_id`, `status` (`"COMPLETED"`, `"FAILED"`,
        `"RUNNING"`, ...), `score` (the best objective value, or `None`),
        `values` (the hyperparameters, Hyperband's `tuner/...` bookkeeping
        included) and, for failed trials, `reason` (the error's last line)
        and `message` (the whole traceback).
    """
    records = []
    oracle = tuner.oracle
    order = list(oracle.start_order) + sorted(
        set(oracle.trials) - set(oracle.start_order)
    )
    for trial_id in order:
        trial = oracle.trials[trial_id]
        score = trial.score
        record = {
            "trial_id": trial_id,
            "status": str(trial.status),
            "score": None
            if score is None or not math.isfinite(score)
            else float(score),
            "values": _plain_values(trial.hyperparameters.values),
        }
        if trial.status == "FAILED":
            message = (trial.message or "").strip()
            record["reason"] = _reason(message)
            record["message"] = message
        records.append(record)
    return records


def best_run_config(tuner):
    """Returns the best completed trial's values, named as `classify.run()`'s.

    Hyperband's bookkeeping values are dropped, except `tuner/epochs`, which
    becomes `epochs`.

    Args:
        tuner: a KerasTuner tuner that completed at least one trial.

    Returns:
        A dict of argument names to values, ready for `save_run_config`.

    Raises:
        ValueError: if no trial completed, naming the first failure.
    """
    records = trial_records(tuner)
    if not any(r["status"] == "COMPLETED" and r["score"] is not None for r in records):
        # The space's settings failed every trial (a learning rate that
        # diverges, a batch that does not fit): one line for the user.
        failed = [r for r in records if r["status"] == "FAILED"]
        raise ValueError(
            f"No trial of the search in {tuner.project_dir!r} completed "
            f"({len(failed)} failed, recorded in "
            f"{os.path.join(tuner.project_dir, FAILED_TRIALS_FILE)!r})"
            + (f"; the first: {failed[0]['reason']}" if failed else "")
            + ". Expected a search space whose trials can train."
        )
    best = tuner.oracle.get_best_trials(1)[0]
    values = _plain_values(best.hyperparameters.values)
    config = {k: v for k, v in values.items() if not k.startswith(_HYPERBAND_PREFIX)}
    if _HYPERBAND_PREFIX + "epochs" in values:
        config["epochs"] = int(values[_HYPERBAND_PREFIX + "epochs"])
    return config


def _direction(objective, direction):
    """`direction`, or inferred from the objective's name as KerasTuner's."""
    if direction is None:
        direction = "min" if "loss" in objective else "max"
    if direction not in ("min", "max"):
        raise ValueError(
            f"direction must be 'min', 'max' or None. Received: direction={direction!r}"
        )
    return direction


def format_trial_table(records, objective="val_accuracy", direction=None):
    """Formats trial records as a Markdown table, best score first.

    Args:
        records: the list `trial_records` returns.
        objective: the score column's title.
        direction: `"max"`, `"min"`, or `None` to infer it from `objective`
            as `create_tuner` does (`"min"` for names containing `"loss"`):
            which end of the scores is best.

    Returns:
        A string.
    """
    sign = 1.0 if _direction(objective, direction) == "min" else -1.0
    names = []
    for record in records:
        for name in record["values"]:
            if name not in names and not name.startswith(_HYPERBAND_PREFIX):
                names.append(name)
    if any(_HYPERBAND_PREFIX + "epochs" in r["values"] for r in records):
        names.append(_HYPERBAND_PREFIX + "epochs")

    def sort_key(record):
        score = record["score"]
        return (score is None, sign * (score or 0.0))

    lines = [
        "| trial | status | " + objective + " | " + " | ".join(names) + " |",
        "| --- | --- | --- | " + " | ".join("---" for _ in names) + " |",
    ]
    for record in sorted(records, key=sort_key):
        score = "" if record["score"] is None else f"{record['score']:.4f}"
        cells = [_format_value(record["values"].get(name)) for name in names]
        status = record["status"]
        if record.get("reason"):
            status += f": {record['reason'][:60]}"
        lines.append(
            f"| {record['trial_id']} | {status} | {score} | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def _reason(message):
    """The error's last line, its class named without the module path."""
    if not message:
        return ""
    last = message.splitlines()[-1]
    name, sep, text = last.partition(": ")
    if sep and re.fullmatch(r"[\w.]+", name):
        return f"{name.rsplit('.', 1)[-1]}: {text}"
    return last


def _format_value(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def _plain_values(values):
    plain = {}
    for name, value in values.items():
        if is_int(value):
            value = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        plain[name] = value
    return plain


def _write_records(tuner):
    records = trial_records(tuner)
    failed = [
        {k: r[k] for k in ("trial_id", "values", "reason", "message")}
        for r in records
        if r["status"] == "FAILED"
    ]
    for name, content in ((TRIALS_FILE, records), (FAILED_TRIALS_FILE, failed)):
        _write_json(os.path.join(tuner.project_dir, name), content)


def _write_json(path, content):
    # Whole or not at all: a crash never leaves half a file.
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(content, f, indent=2)
    os.replace(path + ".tmp", path)
