r"""Fine-tunes a pretrained BERT-family encoder for text classification.

With no data flags it fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on
the embedded Rotten Tomatoes sentiment split, then prints and writes a test
report. Everything lands in `--model_dir`: the model (`model.keras`), the
report (`report.json`), the training history, checkpoints, TensorBoard logs
and, with matplotlib installed, PNG plots.

Usage:
```
python examples/classify.py --epochs=2 --freeze_layers=2
python examples/classify.py --train_file=train.csv --validation_file=dev.csv \
    --test_file=test.csv --text_column=review --label_column=sentiment
python examples/classify.py --train_file=tfds:imdb_reviews \
    --test_file=tfds:imdb_reviews:test --tfds_data_dir=~/tensorflow_datasets
python examples/classify.py --cv_folds=5 --max_train_examples=2000
python examples/classify.py --find_lr          # learning-rate range test only
python examples/classify.py --config=runs/tune/search/best.json --epochs=3
```

`--config` reads a JSON object of this script's flags (e.g. the `best.json`
of `examples/tune.py`); flags given on the command line win over the file.
"""

import inspect
import json
import numbers
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    preset="embedded",
    train_file=None,
    validation_file=None,
    test_file=None,
    text_column="text",
    text_pair_column=None,
    label_column="label",
    tfds_data_dir=None,
    on_bad_rows="error",
    freeze_layers=0,
    pooling="mean",
    extra_blocks=0,
    freeze_backbone=False,
    gradual_unfreeze=False,
    unfreeze_every_epochs=1,
    unfreeze_every_steps=0,
    head_warmup_steps=0,
    layer_decay=None,
    lora_rank=0,
    mixed_precision="none",
    jit_compile=False,
    epochs=3,
    batch_size=32,
    learning_rate=5e-5,
    weight_decay=0.01,
    warmup_fraction=0.1,
    dropout=0.1,
    label_smoothing=0.0,
    class_weighting=False,
    augment_copies=0,
    augment_alpha=0.1,
    synonym_source="roget+embedding",
    patience=2,
    max_length=128,
    model_dir="runs/classify",
    export_dir=None,
    distribution="auto",
    save_freq=None,
    cv_folds=0,
    find_lr=False,
    find_lr_steps=100,
    seed=0,
    max_train_examples=None,
    max_eval_examples=None,
    verbose=1,
):
    """Fine-tunes, evaluates and saves a text classifier; returns the results.

    Returns:
        A dict with `report` (the test `ClassificationReport`), `history`
        (per-epoch logs), `model_path`, `model`, `train_seconds` (of `fit`,
        summed over resumes), `export_path`, `num_train_examples`
        (augmented copies included) and, with `cv_folds`,
        `cross_validation` (a `CrossValidationResult`) instead. With
        `find_lr`, only the learning-rate range test runs (the model is
        built and compiled as for training, then restored), and the dict
        holds `lr_finder` (a `LearningRateFinderResult`) and `suggestion`;
        `model_dir` gets `lr_finder.json` and, with matplotlib,
        `lr_finder.png`.

    A run killed at any moment resumes when run again with the same
    arguments: from the checkpoint in `model_dir/backup`, written at every
    epoch's end and, with `save_freq`, every `save_freq` steps. A
    `model_dir` holding a run with other settings, or another task's
    `model.keras`, is refused before anything is written.
    """
    # The settings a resumed run must share with the run that checkpointed.
    run_config = {
        name: value
        for name, value in locals().items()
        if name
        not in (
            "verbose",
            "model_dir",
            "save_freq",
            "export_dir",
            "distribution",
            "find_lr",
            "find_lr_steps",
        )
    }
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    # Before any other TensorFlow call: strategies configure the devices.
    strategy = tft.distribute.get_strategy(distribution)
    chief = tft.distribute.is_chief(strategy)
    verbose = verbose if chief else 0
    _check_positive(epochs=epochs, batch_size=batch_size, max_length=max_length)
    _check_positive(learning_rate=learning_rate)
    if augment_copies < 0 or not 0.0 <= augment_alpha <= 1.0:
        raise ValueError(
            "augment_copies must be >= 0 and augment_alpha in [0, 1]. Received: "
            f"augment_copies={augment_copies}, augment_alpha={augment_alpha}"
        )
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            f"mixed_precision must be one of {MIXED_PRECISION}. "
            f"Received: mixed_precision={mixed_precision!r}"
        )
    strategy_options = dict(
        freeze_layers=freeze_layers,
        freeze_backbone=freeze_backbone,
        gradual_unfreeze=gradual_unfreeze,
        layer_decay=layer_decay,
        lora_rank=lora_rank or None,
        extra_blocks=extra_blocks,
        head_warmup_steps=head_warmup_steps,
    )
    # Refuse senseless combinations before loading anything.
    tft.finetune.check_strategy_options(
        **strategy_options,
        num_layers=None,
        unfreeze_every_epochs=unfreeze_every_epochs,
        unfreeze_every_steps=unfreeze_every_steps,
    )
    # `batch_size` is per replica.
    global_batch = tft.distribute.global_batch_size(batch_size, strategy)
    if save_freq is not None:
        _check_positive(save_freq=save_freq)
    subsets = dict(
        max_train_examples=max_train_examples, max_eval_examples=max_eval_examples
    )
    _check_positive(**{name: n for name, n in subsets.items() if n is not None})
    # Here, not only in training_callbacks: the training summary is written
    # before those are made.
    if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
        raise ValueError(
            f"patience must be an int >= 0. Received: patience={patience!r}"
        )
    if find_lr and (cv_folds or export_dir):
        raise ValueError(
            "find_lr runs the learning-rate range test alone: it takes no "
            f"cv_folds or export_dir. Received: cv_folds={cv_folds}, "
            f"export_dir={export_dir!r}"
        )
    if find_lr and (
        isinstance(find_lr_steps, bool)
        or not isinstance(find_lr_steps, int)
        or find_lr_steps < 3
    ):
        raise ValueError(
            "find_lr_steps must be an int >= 3. "
            f"Received: find_lr_steps={find_lr_steps!r}"
        )
    if cv_folds and export_dir:
        raise ValueError(
            "cv_folds trains one model per fold and exports none: train once "
            "without cv_folds to export. Received: "
            f"cv_folds={cv_folds}, export_dir={export_dir!r}"
        )
    if cv_folds and cv_folds < 2:
        raise ValueError(
            "cv_folds must be 0 (off) or an integer >= 2. "
            f"Received: cv_folds={cv_folds}"
        )
    # Here, not at the export: that comes after the whole training.
    if export_dir:
        tft.export.check_base_path(export_dir, name="export_dir")
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)

    train, validation, test = tft.data.load_text_classification_splits(
        train_file,
        validation_file,
        test_file,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        on_bad_rows=on_bad_rows,
        data_dir=tfds_data_dir,
        seed=seed,
    )
    if max_train_examples is not None:
        train = train.sample(max_train_examples, seed)
    if max_eval_examples is not None:
        validation = validation.sample(max_eval_examples, seed)
        test = test.sample(max_eval_examples, seed)
    labels = train.label_vocabulary
    if verbose:
        print(
            f"Data: {len(train)} train ({train.source}), {len(validation)} "
            f"validation, {len(test)} test; labels {list(labels)}"
        )
    # Refuse another run's output directory before writing anything.
    run_config["data_sha256"] = tft.training.fingerprint(
        train.texts, train.labels, train.text_pairs, validation.texts, validation.labels
    )
    run_dirs = [os.path.join(model_dir, f"fold_{i}") for i in range(cv_folds or 0)]
    for directory in [model_dir] + run_dirs:
        tft.training.check_run_directory(directory, run_config, list(labels))
    if chief:
        # Left by a run killed while saving model.keras.
        tft.training.remove_temporary_files(model_dir)

    def build_and_train(train_data, validation_data, run_dir):
        if augment_copies:
            # Inside each run, so cross-validation folds augment only their
            # training part.
            train_data = tft.data.augment_classification_data(
                train_data,
                num_aug=augment_copies,
                alpha=augment_alpha,
                synonym_source=synonym_source,
                seed=seed,
            )
        # Model, optimizer and metrics live in the strategy's scope.
        with strategy.scope():
            classifier, tokenizer, strategy_name, first_epoch = build_classifier(
                train_data
            )
        summary = tft.training.describe_training(
            classifier, classifier.optimizer, strategy_name
        )
        if chief:
            tft.training.write_training_summary(summary, run_dir)
        if verbose:
            print(tft.training.format_training_summary(summary))
        callbacks = tft.training.training_callbacks(
            run_dir,
            strategy,
            monitor="val_accuracy",
            mode="max",
            patience=patience,
            save_freq=save_freq or "epoch",
            run_config=run_config,
            keep_final_checkpoint=True,
        )
        resumable = next(
            c for c in callbacks if isinstance(c, tft.training.ResumableTraining)
        )
        # After the resume callback, so that they read the restored step.
        if gradual_unfreeze:
            callbacks.append(
                tft.finetune.GradualUnfreezing(
                    every_epochs=None
                    if unfreeze_every_steps
                    else unfreeze_every_epochs,
                    every_steps=unfreeze_every_steps or None,
                    verbose=bool(verbose),
                )
            )
        if head_warmup_steps:
            callbacks.append(
                tft.finetune.HeadWarmup(head_warmup_steps, verbose=bool(verbose))
            )
        history = classifier.fit(
            resumable.epoch_dataset(
                lambda epoch: (
                    first_epoch
                    if epoch == 0
                    else training_dataset(train_data, tokenizer, epoch)
                )
            ),
            validation_data=_dataset(
                validation_data, tokenizer, global_batch, max_length, False, seed
            ),
            epochs=epochs,
            class_weight=(
                tft.finetune.class_weights(train_data.labels, len(labels))
                if class_weighting
                else None
            ),
            callbacks=callbacks,
            verbose=verbose,
        )
        return (
            classifier,
            tokenizer,
            history.history,
            len(train_data),
            resumable.train_seconds,
        )

    def build_classifier(train_data):
        backbone, preprocessor = tft.presets.load_backbone(
            preset,
            sequence_length=max_length,
            dtype=None if mixed_precision == "none" else f"mixed_{mixed_precision}",
        )
        classifier = tft.models.TextClassifier(
            backbone,
            num_classes=len(labels),
            preprocessor=tft.models.TextClassifierPreprocessor(
                preprocessor.tokenizer, sequence_length=max_length
            ),
            pooling=pooling,
            dropout=dropout,
            num_extra_blocks=extra_blocks,
            label_names=list(labels),
        )
        strategy_name = tft.finetune.check_strategy_options(
            **strategy_options,
            num_layers=len(tft.finetune.encoder_layers(classifier)),
        )
        if lora_rank:
            tft.finetune.apply_lora(classifier, lora_rank)
        if freeze_backbone:
            tft.finetune.freeze_backbone(classifier)
        else:
            tft.finetune.freeze_layers(classifier, freeze_layers)
        # Length buckets each end with a partial batch: the schedule counts
        # the batches an epoch's dataset declares (the same every epoch).
        # The first epoch's dataset is kept for training: made once, it
        # tokenizes the texts once.
        first_epoch = training_dataset(train_data, preprocessor.tokenizer, 0)
        steps = tft.finetune.count_train_steps(first_epoch, epochs)
        optimizer = tft.finetune.create_optimizer(
            learning_rate,
            num_train_steps=steps,
            warmup_fraction=warmup_fraction,
            weight_decay=weight_decay,
            layer_decay=layer_decay,
            model=classifier,
        )
        if mixed_precision == "float16":
            # float16 needs loss scaling; bfloat16 has float32's range.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        classifier.compile(
            optimizer=optimizer,
            loss=tft.finetune.classification_loss(label_smoothing),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
            jit_compile=jit_compile,
        )
        return classifier, preprocessor.tokenizer, strategy_name, first_epoch

    def training_dataset(data, tokenizer, epoch):
        # Each epoch's order depends on (seed, epoch) only, so that a resumed
        # epoch sees the batches the interrupted one saw.
        return _dataset(
            data,
            tokenizer,
            global_batch,
            max_length,
            True,
            tft.training.epoch_seed(seed, epoch),
        )

    def evaluate(classifier, tokenizer, data):
        dataset = _dataset(data, tokenizer, global_batch, max_length, False, seed)
        report, _ = tft.evaluation.evaluate_classifier(
            classifier, dataset, data.labels, labels
        )
        return report

    if find_lr:
        return _find_learning_rate(
            build_classifier,
            strategy,
            train,
            global_batch,
            find_lr_steps,
            model_dir,
            chief,
            verbose,
            held_back=bool(gradual_unfreeze or head_warmup_steps),
        )
    if cv_folds:
        pool = train.concatenate(validation)

        def train_and_evaluate(fold, train_indices, val_indices):
            fold_dir = os.path.join(model_dir, f"fold_{fold}")
            classifier, tokenizer, *_ = build_and_train(
                pool.take(train_indices), pool.take(val_indices), fold_dir
            )
            # Only the chief's files stay: other workers' checkpoints and logs.
            tft.distribute.cleanup_write_dir(fold_dir, strategy)
            report = evaluate(classifier, tokenizer, pool.take(val_indices))
            return {
                "accuracy": report.accuracy,
                "macro_f1": report.averages["macro"]["f1"],
            }

        result = tft.evaluation.cross_validate(
            train_and_evaluate, labels=pool.labels, num_folds=cv_folds, seed=seed
        )
        if chief:
            result.to_json(os.path.join(model_dir, "cross_validation.json"))
        if verbose:
            print(result.format())
        return {"cross_validation": result}

    # Seconds of `fit`, summed over the resumes of a killed run.
    classifier, tokenizer, history, num_trained, train_seconds = build_and_train(
        train, validation, model_dir
    )
    report = evaluate(classifier, tokenizer, test)
    # Every worker saves (a collective operation); only the chief writes
    # into model_dir, the others into temporary directories.
    out_dir = tft.distribute.write_dir(model_dir, strategy)
    os.makedirs(out_dir, exist_ok=True)
    model_path = os.path.join(out_dir, "model.keras")
    # Atomic: a kill while saving must not leave a torn model.keras, which a
    # rerun's check of model_dir could not read.
    with tft.training.atomic_write(model_path) as temporary:
        classifier.save(temporary)
    tft.distribute.cleanup_write_dir(model_dir, strategy)
    export_path = None
    plots = ""
    if chief:
        report.to_json(os.path.join(model_dir, "report.json"))
        with open(os.path.join(model_dir, "history.json"), "w") as f:
            json.dump(
                {"history": _jsonable(history), "train_seconds": train_seconds},
                f,
                indent=2,
            )
        if lora_rank:
            tft.finetune.save_lora_weights(
                classifier, os.path.join(model_dir, "adapters.lora.h5")
            )
        if export_dir:
            pairs = test.text_pairs is not None
            warmup = (
                list(zip(test.texts[:4], test.text_pairs[:4]))
                if pairs
                else list(test.texts[:4])
            )
            export_path = tft.export.export_for_serving(
                classifier, export_dir, warmup_texts=warmup, text_pair=pairs
            )
        plots = _write_plots(report, history, model_dir)
    if verbose:
        print(f"\nTest results ({len(test)} examples, {test.source}):")
        print(report.format())
        print(f"Model, report and plots written to {model_dir}/ {plots}")
        if export_path:
            print(f"TF Serving model version written to {export_path}/")
    return {
        "report": report,
        "history": history,
        "model_path": model_path,
        "model": classifier,
        "train_seconds": train_seconds,
        "export_path": export_path,
        "num_train_examples": num_trained,
    }


MIXED_PRECISION = ("none", "bfloat16", "float16")


def _find_learning_rate(
    build_classifier,
    strategy,
    train,
    batch_size,
    num_steps,
    model_dir,
    chief,
    verbose,
    held_back,
):
    """The learning-rate range test on the model `run` would train.

    Gradual unfreezing and a head warmup hold backbone layers still only
    for a while; the peak learning rate must suit every layer the run ends
    up training, so the test trains those (`held_back` says so in the
    results).
    """
    from tftransformer.training import (
        describe_training,
    )
    from tftransformer.tuning import find_learning_rate

    with strategy.scope():
        classifier, _, strategy_name, dataset = build_classifier(train)
    # Counted as training_summary.json counts them.
    trainable = describe_training(classifier)["trainable_parameters"]
    measured = (
        "every layer the run trains once the schedule has released it"
        if held_back
        else "the strategy's trainable layers"
    )
    result = find_learning_rate(classifier, dataset, num_steps=num_steps)
    if chief:
        os.makedirs(model_dir, exist_ok=True)
        with open(os.path.join(model_dir, "lr_finder.json"), "w") as f:
            json.dump(
                {
                    "strategy": strategy_name,
                    "batch_size": batch_size,
                    "measured_with": measured,
                    "trainable_parameters": trainable,
                }
                | result.to_dict(),
                f,
                indent=2,
            )
        try:
            result.plot(os.path.join(model_dir, "lr_finder.png"))
        except ImportError:
            pass
    if verbose:
        heading = (
            f"Learning-rate range test ({result.num_steps} steps of "
            f"{batch_size} examples, {strategy_name}"
            + (f"; measured with {measured}" if held_back else "")
            + "): "
        )
        if result.suggestion is None:
            # The lowest smoothed loss came within the first two steps.
            print(
                heading + "no suggestion, the loss did not fall over the first "
                "steps.\nCurve written to "
                f"{model_dir}/lr_finder.json; try more --find_lr_steps."
            )
        else:
            print(
                heading
                + f"suggested learning rate {result.suggestion:.2e}"
                + (" (the loss diverged at the end)" if result.diverged else "")
                + f"\nCurve written to {model_dir}/lr_finder.json; train with "
                f"--learning_rate={result.suggestion:.2e}"
            )
    return {"lr_finder": result, "suggestion": result.suggestion}


def _check_positive(**values):
    for name, value in values.items():
        # `not value > 0` also refuses NaN; a string from a --config file is
        # named here rather than failing in a comparison.
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not value > 0
        ):
            raise ValueError(f"{name} must be positive. Received: {name}={value!r}")


def _dataset(data, tokenizer, batch_size, max_length, training, seed):
    from tftransformer.data import make_classification_dataset

    return make_classification_dataset(
        list(data.texts),
        data.labels,
        tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        shuffle=training,
        seed=seed,
        text_pairs=None if data.text_pairs is None else list(data.text_pairs),
    )


def _jsonable(history):
    return {k: [float(v) for v in values] for k, values in history.items()}


def _write_plots(report, history, model_dir):
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "(no plots: install the `plots` extra)"
    from tftransformer import evaluation

    evaluation.plot_confusion_matrix(
        report.confusion_matrix,
        report.label_names,
        os.path.join(model_dir, "confusion_matrix.png"),
    )
    evaluation.plot_training_curves(
        history, os.path.join(model_dir, "training_curves.png")
    )
    return "(plots: confusion_matrix.png, training_curves.png)"


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES
    from tftransformer.finetune import (
        define_strategy_flags,
    )

    flags.DEFINE_string(
        "preset",
        "embedded",
        "Backbone: 'embedded', a local "
        "directory, or a keras-hub preset name (needs network).",
    )
    flags.DEFINE_string(
        "train_file",
        None,
        "CSV/TSV/JSONL file or tfds:NAME[:SPLIT]; default: the embedded "
        "sentiment data.",
    )
    flags.DEFINE_string(
        "validation_file",
        None,
        "Validation data; default: the embedded split, or 10% of "
        "--train_file held out.",
    )
    flags.DEFINE_string(
        "test_file",
        None,
        "Test data; default: the embedded split, or the validation data.",
    )
    flags.DEFINE_string("text_column", "text", "Text column (or TFDS feature).")
    flags.DEFINE_string("text_pair_column", None, "Second text column for pairs.")
    flags.DEFINE_string("label_column", "label", "Label column (or TFDS feature).")
    flags.DEFINE_string("tfds_data_dir", None, "TensorFlow Datasets data_dir.")
    flags.DEFINE_enum(
        "on_bad_rows",
        "error",
        ["error", "skip"],
        "Rows with empty text or no label: refuse, or skip and count.",
    )
    define_strategy_flags(flags.FLAGS)
    flags.DEFINE_enum(
        "pooling", "mean", ["cls", "mean", "max"], "Pooling of the sequence output."
    )
    flags.DEFINE_enum(
        "mixed_precision", "none", list(MIXED_PRECISION), "Compute precision."
    )
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_integer("epochs", 3, "Training epochs.")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (AdamW).")
    flags.DEFINE_float(
        "weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm and biases)."
    )
    flags.DEFINE_float("warmup_fraction", 0.1, "Fraction of steps of linear warmup.")
    flags.DEFINE_float("dropout", 0.1, "Dropout of the classification head.")
    flags.DEFINE_float("label_smoothing", 0.0, "Label smoothing of the loss.")
    flags.DEFINE_bool("class_weighting", False, "Weight classes by inverse frequency.")
    flags.DEFINE_integer(
        "augment_copies", 0, "EDA-augmented copies of each training text (0: off)."
    )
    flags.DEFINE_float(
        "augment_alpha", 0.1, "EDA strength: share of words each operation edits."
    )
    flags.DEFINE_enum(
        "synonym_source",
        "roget+embedding",
        ["roget+embedding", "roget", "embedding"],
        "Synonyms of EDA's synonym replacement and insertion.",
    )
    flags.DEFINE_integer("patience", 2, "Early stopping patience (epochs).")
    flags.DEFINE_integer(
        "max_length",
        128,
        "Longest tokenized sequence; batches are "
        "padded to their longest example, up to this.",
    )
    flags.DEFINE_string("model_dir", "runs/classify", "Output directory.")
    flags.DEFINE_string(
        "export_dir",
        None,
        "TF Serving base path: writes a SavedModel to <export_dir>/<version>/.",
    )
    flags.DEFINE_enum(
        "distribution",
        "auto",
        list(STRATEGY_NAMES),
        "tf.distribute strategy; --batch_size is per replica.",
    )
    flags.DEFINE_integer(
        "save_freq",
        None,
        "Also checkpoint every N training steps (default: at each epoch's "
        "end only). Rerunning a killed command resumes from the last one.",
    )
    flags.DEFINE_integer(
        "cv_folds",
        0,
        "Stratified k-fold cross-validation on the "
        "training data instead of a single run (0: off).",
    )
    flags.DEFINE_bool(
        "find_lr",
        False,
        "Run the learning-rate range test on the configured model, print the "
        "suggested learning rate and exit.",
    )
    flags.DEFINE_integer("find_lr_steps", 100, "Steps of the learning-rate range test.")
    flags.DEFINE_string(
        "config",
        None,
        "JSON file of flag values (e.g. examples/tune.py's best.json); flags "
        "given on the command line win.",
    )
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")
    flags.DEFINE_integer(
        "max_train_examples", None, "Train on a seeded subset of this size."
    )
    flags.DEFINE_integer(
        "max_eval_examples", None, "Evaluate on a seeded subset of this size."
    )


def run_arguments(flag_values):
    """Returns `run`'s arguments from parsed flags, `--config` file applied.

    Args:
        flag_values: parsed `absl.flags.FlagValues` holding `define_flags()`.

    Returns:
        A dict of `run`'s argument names to values: each flag's value, then
        the `--config` file's values, except for flags given explicitly.
    """
    from tftransformer.tuning import load_run_config, merge_run_config

    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    values = {name: flag_values[name].value for name in names}
    if flag_values.config:
        config = load_run_config(flag_values.config, names)
        explicit = [name for name in names if flag_values[name].present]
        values = merge_run_config(values, config, explicit=explicit)
        print(
            f"Configuration from {flag_values.config}: "
            f"{json.dumps({k: values[k] for k in sorted(config)}, sort_keys=True)}"
            + (
                f" (command-line flags kept: {sorted(set(config) & set(explicit))})"
                if set(config) & set(explicit)
                else ""
            )
        )
    return values


def main(argv):
    del argv
    run(**run_arguments(FLAGS))


if __name__ == "__main__":
    define_flags()
    app.run(main)
