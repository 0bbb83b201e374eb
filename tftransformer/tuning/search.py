"""A whole hyperparameter search of a text classifier, from a `SearchConfig`."""

import dataclasses
import json
import os
import time

from tftransformer.evaluation import evaluate_classifier
from tftransformer.finetune import encoder_layers
from tftransformer.presets import load_backbone
from tftransformer.training import (
    ClassificationConfig,
    Trainer,
    load_classification_splits,
)
from tftransformer.training._settings import field_default
from tftransformer.training._several_models import trains_several_models
from tftransformer.training.checkpointing import fingerprint
from tftransformer.tuning.run_config import save_run_config
from tftransformer.tuning.search_space import DEFAULT_SEARCH_SPACE, SearchSpace
from tftransformer.tuning.text_classifier_hyper_model import (
    DEFAULT_HYPERPARAMETERS,
    TextClassifierHyperModel,
)
from tftransformer.tuning.tuners import best_run_config, create_tuner, trial_records

__all__ = ["search_space_of", "search_text_classifier"]


def search_space_of(config):
    """The `SearchSpace` a `SearchConfig` names: its file, its `hp` strings,
    or `DEFAULT_SEARCH_SPACE`."""
    if config.space_file:
        return SearchSpace.from_file(config.space_file)
    if config.hp:
        return SearchSpace.from_strings(config.hp)
    return SearchSpace(DEFAULT_SEARCH_SPACE)


def _run_settings_of_the_search(config):
    """The search config's settings of a classification run that differ
    from `ClassificationConfig`'s defaults (its data, preset, epochs,
    monitor, fixed hyperparameters, ...): not where a run writes."""
    settings = {}
    for field in dataclasses.fields(ClassificationConfig):
        if not field.metadata.get("run_setting", True):
            continue
        value = getattr(config, field.name)
        if value != field_default(field):
            settings[field.name] = value
    return settings


@trains_several_models
def search_text_classifier(config, verbose=1):
    """Runs (or resumes) a KerasTuner search; returns the trials and the best.

    Each trial fine-tunes the pretrained backbone again with one set of
    hyperparameters and is scored by `config.monitor` on the validation
    split (`val_accuracy`, `val_macro_f1` or `val_loss`, the last one
    lowest best). The search state lives in
    `config.directory/config.project_name`: the same call again resumes,
    running only the missing trials; other data, space, epochs, preset,
    monitor or seed are refused (`overwrite` starts afresh). A failed trial
    is recorded in `failed_trials.json` and the search goes on. The chief
    writes the best trial's settings to `best.json`, a `--config` file of
    `examples/classify.py` that trains that trial again: the best values,
    and every setting of the search that is not a classification run's
    default (data, preset, `max_length`, `epochs`, `monitor`, the fixed
    hyperparameters, ...); and the result to `search_report.json`.

    Args:
        config: a `SearchConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A dict with `tuner`, `trials` (`trial_records`), `objective`
        (`config.monitor`), `best_config` (the values written to
        `best.json`), `best_config_path`, `best_<objective>` (e.g.
        `best_val_accuracy`: the best trial's score), `search_seconds`,
        `space` and, with `evaluate_test`, `best_test_accuracy` and
        `best_test_macro_f1` (the best trial's model on the test split);
        with `compare_default`, `default_<objective>`,
        `default_test_accuracy` and `default_test_macro_f1` of the config's
        own hyperparameters trained on the same data for the same epochs.

    Raises:
        ValueError: for a bad space or settings, before any trial; or when
            no trial completed, naming the first failure.
    """
    # The strategy first: it configures the devices. Its seed and checks too.
    trainer = Trainer(config, verbose=verbose)
    strategy, chief = trainer.strategy, trainer.chief
    verbose = trainer.verbose
    space = search_space_of(config)
    train, validation, test = load_classification_splits(config)
    labels = list(train.label_vocabulary)

    # The space must fit the backbone: refuse it now, not trial by trial.
    backbone, _ = load_backbone(config.preset, sequence_length=config.max_length)
    num_layers = len(encoder_layers(backbone))
    del backbone
    if "freeze_layers" in space and space.bounds("freeze_layers")[1] > num_layers:
        raise ValueError(
            f"freeze_layers goes up to {space.bounds('freeze_layers')[1]}, but "
            f"{config.preset!r} has {num_layers} encoder layers. Received: "
            f"freeze_layers={space.to_dict()['freeze_layers']}"
        )
    trainer.print_splits(train, validation, test, f"labels {labels}")
    if verbose:
        print(f"Search space: {space.to_dict()}")

    hypermodel = TextClassifierHyperModel(
        space,
        num_classes=len(labels),
        preset=config.preset,
        max_length=config.max_length,
        # The config's values of the hyperparameters outside the space.
        fixed_values={name: getattr(config, name) for name in DEFAULT_HYPERPARAMETERS},
        label_names=labels,
        seed=config.seed,
        verbose=0,
        run_eagerly=config.run_eagerly,
        monitor=config.monitor,
    )
    tuner = create_tuner(
        hypermodel,
        algorithm=config.algorithm,
        directory=config.directory,
        project_name=config.project_name,
        max_trials=config.max_trials,
        max_epochs=config.epochs,
        seed=config.seed,
        overwrite=config.overwrite,
        max_consecutive_failed_trials=config.max_consecutive_failed_trials,
        num_initial_points=config.num_initial_points,
        objective=config.monitor,
        direction=config.monitor_mode,
        distribution_strategy=strategy,
        # Resuming the project with other data or epochs would rank scores
        # of different searches together: refused.
        search_settings={
            "epochs": config.epochs,
            "data_sha256": fingerprint(
                list(train.texts),
                train.labels,
                list(validation.texts),
                validation.labels,
            ),
        },
    )
    start = time.time()
    tuner.search(
        train, validation_data=validation, epochs=config.epochs, verbose=verbose
    )
    search_seconds = time.time() - start

    records = trial_records(tuner)
    searched = best_run_config(tuner)  # Refuses a search of no completed trial.
    # best.json runs the best trial again: the search's data, preset,
    # epochs, monitor and fixed hyperparameters, then the best trial's
    # values of the space (a conditional one it left out, `freeze_layers`
    # in a LoRA trial, as the trial used it: the config's own would not).
    best_trial = tuner.oracle.get_best_trials(1)[0]
    used = hypermodel.trial_values(best_trial.hyperparameters.copy())
    best_config = {
        **_run_settings_of_the_search(config),
        **{name: used[name] for name in space.names},
        **searched,
    }
    best_config_path = os.path.join(tuner.project_dir, "best.json")
    if chief:
        save_run_config(best_config, best_config_path)
    result = {
        "tuner": tuner,
        "trials": records,
        "space": space.to_dict(),
        "best_config": best_config,
        "best_config_path": best_config_path,
        "objective": config.monitor,
        f"best_{config.monitor}": float(tuner.oracle.get_best_trials(1)[0].score),
        "search_seconds": search_seconds,
    }

    def add_test_scores(model, prefix):
        report, _ = evaluate_classifier(
            model, trainer.dataset(test, model), test.labels, labels
        )
        result[f"{prefix}_test_accuracy"] = float(report.accuracy)
        result[f"{prefix}_test_macro_f1"] = float(report.averages["macro"]["f1"])

    if config.evaluate_test:
        add_test_scores(tuner.get_best_models(1)[0], "best")
    if config.compare_default:
        fixed = {
            name: spec["value"]
            for name, spec in space.to_dict().items()
            if "value" in spec
        }
        default = {**hypermodel.defaults, **fixed}
        trial_hp = hypermodel.hyperparameters_for(
            {name: default[name] for name in space.names}
        )
        with strategy.scope():
            model = hypermodel.build(trial_hp)
        history = hypermodel.fit(
            trial_hp, model, train, validation_data=validation, epochs=config.epochs
        )
        best = max if config.monitor_mode == "max" else min
        result[f"default_{config.monitor}"] = float(
            best(history.history[config.monitor])
        )
        add_test_scores(model, "default")

    if chief:
        summary = {k: v for k, v in result.items() if k not in ("tuner", "trials")}
        with open(os.path.join(tuner.project_dir, "search_report.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return result
