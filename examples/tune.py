r"""Searches fine-tuning hyperparameters with KerasTuner, then saves the best.

Each trial fine-tunes the pretrained backbone again from its pretrained
weights with one configuration and is scored by its validation accuracy.
The search state lives in `--directory/--project_name`: run the same command
again after a crash and it resumes, running only the missing trials (a
larger `--max_trials` extends the search; other data, space, epochs, preset
or seed are refused: `--overwrite` starts afresh). A trial
that fails (non-finite loss, out of memory) is recorded in
`failed_trials.json` and the search goes on. The best configuration is
printed and written to `best.json`, whose keys are `examples/classify.py`
arguments:

```
python examples/tune.py --max_trials=8 --max_train_examples=800 --epochs=1
python examples/tune.py --algorithm=bayesian --space_file=space.json
python examples/tune.py --hp=learning_rate=1e-5..1e-3:log --hp=batch_size=16,32 \
    --hp=freeze_layers=0..3 --hp=pooling=cls
python examples/classify.py --config=runs/tune/search/best.json
```

A space file is a JSON (or YAML) object, e.g.
`{"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
"batch_size": [16, 32], "dropout": 0.1}`; see
`tftransformer.tuning.SearchSpace`. With neither `--space_file` nor `--hp`,
`tftransformer.tuning.DEFAULT_SEARCH_SPACE` is searched.
"""

import inspect
import json
import os
import time
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    preset="embedded",
    train_file=None,
    validation_file=None,
    test_file=None,
    text_column="text",
    label_column="label",
    on_bad_rows="error",
    space_file=None,
    hp=None,
    algorithm="random",
    max_trials=10,
    epochs=1,
    max_length=128,
    directory="runs/tune",
    project_name="search",
    overwrite=False,
    seed=0,
    max_train_examples=None,
    max_eval_examples=None,
    evaluate_test=True,
    compare_default=False,
    max_consecutive_failed_trials=3,
    num_initial_points=None,
    run_eagerly=False,
    distribution="auto",
    verbose=1,
):
    """Runs (or resumes) a search; returns the trials and the best values.

    Returns:
        A dict with `tuner`, `trials` (`trial_records`), `best_config` (the
        values written to `best.json`), `best_config_path`,
        `best_val_accuracy` and, with `evaluate_test`, `best_test_accuracy`
        (the best trial's model on the test split); with `compare_default`,
        `default_val_accuracy` and `default_test_accuracy` of the default
        configuration trained on the same data for the same epochs.
    """
    import keras

    from tftransformer import data, distribute, finetune, presets, training, tuning
    from tftransformer._arguments import check_int

    # Before any other TensorFlow call: strategies configure the devices.
    strategy = distribute.get_strategy(distribution)
    chief = distribute.is_chief(strategy)
    verbose = verbose if chief else 0
    if space_file and hp:
        raise ValueError(
            "Give the search space with space_file or with hp, not both. "
            f"Received: space_file={space_file!r}, hp={hp!r}"
        )
    if space_file:
        space = tuning.SearchSpace.from_file(space_file)
    elif hp:
        space = tuning.SearchSpace.from_strings(hp)
    else:
        space = tuning.SearchSpace(tuning.DEFAULT_SEARCH_SPACE)
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs must be an int >= 1. Received: epochs={epochs!r}")
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)

    train, validation, test = data.load_text_classification_splits(
        train_file,
        validation_file,
        test_file,
        text_column=text_column,
        label_column=label_column,
        on_bad_rows=on_bad_rows,
        seed=seed,
    )
    if max_train_examples:
        train = train.sample(max_train_examples, seed)
    if max_eval_examples:
        validation = validation.sample(max_eval_examples, seed)
        test = test.sample(max_eval_examples, seed)
    labels = list(train.label_vocabulary)

    # The space must fit the backbone: refuse it now, not trial by trial.
    backbone, _ = presets.load_backbone(preset, sequence_length=max_length)
    num_layers = len(finetune.encoder_layers(backbone))
    del backbone
    if "freeze_layers" in space and space.bounds("freeze_layers")[1] > num_layers:
        raise ValueError(
            f"freeze_layers goes up to {space.bounds('freeze_layers')[1]}, but "
            f"{preset!r} has {num_layers} encoder layers. Received: "
            f"freeze_layers={space.to_dict()['freeze_layers']}"
        )
    if verbose:
        print(
            f"Data: {len(train)} train, {len(validation)} validation, "
            f"{len(test)} test; labels {labels}\nSearch space: {space.to_dict()}"
        )

    hypermodel = tuning.TextClassifierHyperModel(
        space,
        num_classes=len(labels),
        preset=preset,
        max_length=max_length,
        label_names=labels,
        seed=seed,
        verbose=0,
        run_eagerly=run_eagerly,
    )
    tuner = tuning.create_tuner(
        hypermodel,
        algorithm=algorithm,
        directory=directory,
        project_name=project_name,
        max_trials=max_trials,
        max_epochs=epochs,
        seed=seed,
        overwrite=overwrite,
        max_consecutive_failed_trials=max_consecutive_failed_trials,
        num_initial_points=num_initial_points,
        distribution_strategy=strategy,
        # Resuming the project with other data or epochs would rank scores
        # of different searches together: refused.
        search_settings={
            "epochs": epochs,
            "data_sha256": training.checkpointing.fingerprint(
                list(train.texts),
                train.labels,
                list(validation.texts),
                validation.labels,
            ),
        },
    )
    start = time.time()
    tuner.search(train, validation_data=validation, epochs=epochs, verbose=verbose)
    search_seconds = time.time() - start

    records = tuning.trial_records(tuner)
    best_config = tuning.best_run_config(tuner)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    # Only the chief writes the search's files.
    best_config_path = os.path.join(tuner.project_dir, "best.json")
    if chief:
        tuning.save_run_config(best_config, best_config_path)
    result = {
        "tuner": tuner,
        "trials": records,
        "best_config": best_config,
        "best_config_path": best_config_path,
        "best_val_accuracy": float(best_trial.score),
        "search_seconds": search_seconds,
    }

    def test_accuracy(model):
        from tftransformer import evaluation

        dataset = data.make_classification_dataset(
            list(test.texts),
            test.labels,
            model.preprocessor.tokenizer,
            batch_size=64,
            max_length=max_length,
            shuffle=False,
        )
        report, _ = evaluation.evaluate_classifier(model, dataset, test.labels, labels)
        return float(report.accuracy)

    if evaluate_test:
        with warnings.catch_warnings():
            # The trial's checkpoint holds its optimizer, which is not needed.
            warnings.filterwarnings("ignore", "Skipping variable loading for optimizer")
            best_model = tuner.get_best_models(1)[0]
        result["best_test_accuracy"] = test_accuracy(best_model)
    if compare_default:
        fixed = {
            name: spec["value"]
            for name, spec in space.to_dict().items()
            if "value" in spec
        }
        default = {**tuning.DEFAULT_HYPERPARAMETERS, **fixed}
        trial_hp = hypermodel.hyperparameters_for(
            {name: default[name] for name in space.names}
        )
        with strategy.scope():
            model = hypermodel.build(trial_hp)
        history = hypermodel.fit(
            trial_hp, model, train, validation_data=validation, epochs=epochs
        )
        result["default_val_accuracy"] = float(max(history.history["val_accuracy"]))
        result["default_test_accuracy"] = test_accuracy(model)

    summary = {k: v for k, v in result.items() if k not in ("tuner", "trials")}
    if chief:
        with open(os.path.join(tuner.project_dir, "search_report.json"), "w") as f:
            json.dump(summary, f, indent=2)
    if verbose:
        print("\n" + tuning.format_trial_table(records))
        failed = [r for r in records if r["status"] == "FAILED"]
        print(
            f"\n{len(records)} trials ({len(failed)} failed) in {search_seconds:.0f} s."
            f"\nBest validation accuracy {result['best_val_accuracy']:.4f} with "
            f"{json.dumps(best_config, sort_keys=True)}"
        )
        if evaluate_test:
            print(f"Best trial's test accuracy: {result['best_test_accuracy']:.4f}")
        if compare_default:
            print(
                "Default configuration: validation accuracy "
                f"{result['default_val_accuracy']:.4f}, test accuracy "
                f"{result['default_test_accuracy']:.4f}"
            )
        print(
            f"Best configuration written to {best_config_path}; use it with\n"
            f"  python examples/classify.py --config={best_config_path}"
        )
    return result


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES

    flags.DEFINE_string(
        "preset", "embedded", "Backbone: 'embedded', a local directory, or a preset."
    )
    flags.DEFINE_string(
        "train_file", None, "CSV/TSV/JSONL file or tfds:NAME; default: embedded data."
    )
    flags.DEFINE_string(
        "validation_file", None, "Validation data (the search's objective)."
    )
    flags.DEFINE_string("test_file", None, "Test data, for the final report.")
    flags.DEFINE_string("text_column", "text", "Text column (or TFDS feature).")
    flags.DEFINE_string("label_column", "label", "Label column (or TFDS feature).")
    flags.DEFINE_enum(
        "on_bad_rows",
        "error",
        ["error", "skip"],
        "Rows with empty text or no label: refuse, or skip and count.",
    )
    flags.DEFINE_string("space_file", None, "JSON (or YAML) file of the search space.")
    flags.DEFINE_multi_string(
        "hp",
        None,
        "One hyperparameter of the space, repeatable: name=LOW..HIGH, "
        "name=LOW..HIGH:log, name=A,B,C or name=VALUE.",
    )
    flags.DEFINE_enum(
        "algorithm", "random", ["random", "bayesian", "hyperband"], "Search algorithm."
    )
    flags.DEFINE_integer(
        "max_trials", 10, "Trials in all, resumed runs included (not Hyperband)."
    )
    flags.DEFINE_integer(
        "epochs", 1, "Epochs per trial (Hyperband: the most epochs of a trial)."
    )
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_string("directory", "runs/tune", "Results directory.")
    flags.DEFINE_string("project_name", "search", "Project folder in --directory.")
    flags.DEFINE_bool(
        "overwrite", False, "Start the project afresh instead of resuming it."
    )
    flags.DEFINE_integer("seed", 0, "Seed of the search, weights and subsets.")
    flags.DEFINE_integer(
        "max_train_examples", None, "Train on a seeded subset of this size."
    )
    flags.DEFINE_integer(
        "max_eval_examples", None, "Validate and test on seeded subsets of this size."
    )
    flags.DEFINE_bool(
        "evaluate_test", True, "Evaluate the best trial's model on the test split."
    )
    flags.DEFINE_bool(
        "compare_default",
        False,
        "Also train the default configuration with the same data and epochs.",
    )
    flags.DEFINE_integer(
        "max_consecutive_failed_trials", 3, "Failures in a row that stop the search."
    )
    flags.DEFINE_integer(
        "num_initial_points", None, "Bayesian: random trials before the model."
    )
    flags.DEFINE_bool(
        "run_eagerly", False, "Train eagerly, without tracing (debugging)."
    )
    flags.DEFINE_enum(
        "distribution",
        "auto",
        list(STRATEGY_NAMES),
        "tf.distribute strategy each trial trains in; batch sizes are per replica.",
    )


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
