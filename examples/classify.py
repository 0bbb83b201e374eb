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
```
"""

import inspect
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
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
    epochs=3,
    batch_size=32,
    learning_rate=5e-5,
    weight_decay=0.01,
    warmup_fraction=0.1,
    dropout=0.1,
    label_smoothing=0.0,
    class_weighting=False,
    patience=2,
    max_length=128,
    model_dir="runs/classify",
    cv_folds=0,
    seed=0,
    max_train_examples=None,
    max_eval_examples=None,
    verbose=1,
):
    """Fine-tunes, evaluates and saves a text classifier; returns the results.

    Returns:
        A dict with `report` (the test `ClassificationReport`), `history`
        (per-epoch logs), `model_path`, `model` and, with `cv_folds`,
        `cross_validation` (a `CrossValidationResult`) instead.
    """
    import keras

    import tftransformer as tft
    import tftransformer.presets  # noqa: F401

    _check_positive(epochs=epochs, batch_size=batch_size, max_length=max_length)
    _check_positive(learning_rate=learning_rate)
    if cv_folds and cv_folds < 2:
        raise ValueError(
            "cv_folds must be 0 (off) or an integer >= 2. "
            f"Received: cv_folds={cv_folds}"
        )
    keras.utils.set_random_seed(seed)
    os.makedirs(model_dir, exist_ok=True)

    train, validation, test = _load_splits(
        train_file,
        validation_file,
        test_file,
        text_column=text_column,
        text_pair_column=text_pair_column,
        label_column=label_column,
        tfds_data_dir=tfds_data_dir,
        on_bad_rows=on_bad_rows,
        seed=seed,
    )
    if max_train_examples:
        train = train.sample(max_train_examples, seed)
    if max_eval_examples:
        validation = validation.sample(max_eval_examples, seed)
        test = test.sample(max_eval_examples, seed)
    labels = train.label_vocabulary
    if verbose:
        print(
            f"Data: {len(train)} train ({train.source}), {len(validation)} "
            f"validation, {len(test)} test; labels {list(labels)}"
        )

    def build_and_train(train_data, validation_data, run_dir):
        backbone, preprocessor = tft.presets.load_backbone(
            preset, sequence_length=max_length
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
        frozen = tft.finetune.freeze_layers(classifier, freeze_layers)
        steps = tft.finetune.compute_train_steps(len(train_data), batch_size, epochs)
        classifier.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate,
                num_train_steps=steps,
                warmup_fraction=warmup_fraction,
                weight_decay=weight_decay,
            ),
            loss=tft.finetune.classification_loss(label_smoothing),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
        if verbose:
            trainable = sum(int(np.prod(w.shape)) for w in classifier.trainable_weights)
            print(
                f"Model: {preset} backbone, {len(frozen)} layers frozen, "
                f"{trainable:,} trainable parameters, {steps} steps"
            )
        tokenizer = preprocessor.tokenizer
        history = classifier.fit(
            _dataset(train_data, tokenizer, batch_size, max_length, True, seed),
            validation_data=_dataset(
                validation_data, tokenizer, batch_size, max_length, False, seed
            ),
            epochs=epochs,
            class_weight=(
                tft.finetune.class_weights(train_data.labels, len(labels))
                if class_weighting
                else None
            ),
            callbacks=tft.finetune.training_callbacks(
                run_dir, monitor="val_accuracy", mode="max", patience=patience
            ),
            verbose=verbose,
        )
        return classifier, tokenizer, history.history

    def evaluate(classifier, tokenizer, data):
        dataset = _dataset(data, tokenizer, batch_size, max_length, False, seed)
        report, _ = tft.evaluation.evaluate_classifier(
            classifier, dataset, data.labels, labels
        )
        return report

    if cv_folds:
        pool = train.concatenate(validation)

        def train_and_evaluate(fold, train_indices, val_indices):
            fold_dir = os.path.join(model_dir, f"fold_{fold}")
            classifier, tokenizer, _ = build_and_train(
                pool.take(train_indices), pool.take(val_indices), fold_dir
            )
            report = evaluate(classifier, tokenizer, pool.take(val_indices))
            return {
                "accuracy": report.accuracy,
                "macro_f1": report.averages["macro"]["f1"],
            }

        result = tft.evaluation.cross_validate(
            train_and_evaluate, labels=pool.labels, num_folds=cv_folds, seed=seed
        )
        result.to_json(os.path.join(model_dir, "cross_validation.json"))
        if verbose:
            print(result.format())
        return {"cross_validation": result}

    start = time.time()
    classifier, tokenizer, history = build_and_train(train, validation, model_dir)
    train_seconds = time.time() - start
    report = evaluate(classifier, tokenizer, test)
    report.to_json(os.path.join(model_dir, "report.json"))
    with open(os.path.join(model_dir, "history.json"), "w") as f:
        json.dump(
            {"history": _jsonable(history), "train_seconds": train_seconds}, f, indent=2
        )
    model_path = os.path.join(model_dir, "model.keras")
    classifier.save(model_path)
    plots = _write_plots(report, history, model_dir)
    if verbose:
        print(f"\nTest results ({len(test)} examples, {test.source}):")
        print(report.format())
        print(f"Model, report and plots written to {model_dir}/ {plots}")
    return {
        "report": report,
        "history": history,
        "model_path": model_path,
        "model": classifier,
        "train_seconds": train_seconds,
    }


def _check_positive(**values):
    for name, value in values.items():
        if value is None or value <= 0:
            raise ValueError(f"{name} must be positive. Received: {name}={value}")


def _load_splits(
    train_file, validation_file, test_file, seed, tfds_data_dir, **columns
):
    from tftransformer import data

    if train_file is None:
        if validation_file or test_file:
            raise ValueError(
                "validation_file and test_file need a train_file. Received: "
                f"validation_file={validation_file!r}, test_file={test_file!r}"
            )
        return (
            data.load_rotten_tomatoes("train"),
            data.load_rotten_tomatoes("validation"),
            data.load_rotten_tomatoes("test"),
        )

    def load(source, split, vocabulary=None):
        return data.load_text_classification(
            source,
            split=split,
            label_vocabulary=vocabulary,
            data_dir=tfds_data_dir,
            **columns,
        )

    train = load(train_file, "train")
    if validation_file:
        validation = load(validation_file, "validation", train.label_vocabulary)
    else:
        # Hold out a stratified 10% of the training data.
        from tftransformer.evaluation import stratified_k_fold

        train_idx, val_idx = stratified_k_fold(train.labels, 10, seed=seed)[0]
        train, validation = train.take(train_idx), train.take(val_idx)
    test = load(test_file, "test", train.label_vocabulary) if test_file else validation
    return train, validation, test


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
    flags.DEFINE_integer(
        "freeze_layers", 0, "Freeze the embeddings and the first N encoder layers."
    )
    flags.DEFINE_enum(
        "pooling", "mean", ["cls", "mean", "max"], "Pooling of the sequence output."
    )
    flags.DEFINE_integer(
        "extra_blocks", 0, "New encoder blocks on top of the backbone."
    )
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
    flags.DEFINE_integer("patience", 2, "Early stopping patience (epochs).")
    flags.DEFINE_integer(
        "max_length",
        128,
        "Longest tokenized sequence; batches are "
        "padded to their longest example, up to this.",
    )
    flags.DEFINE_string("model_dir", "runs/classify", "Output directory.")
    flags.DEFINE_integer(
        "cv_folds",
        0,
        "Stratified k-fold cross-validation on the "
        "training data instead of a single run (0: off).",
    )
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")
    flags.DEFINE_integer(
        "max_train_examples", None, "Train on a seeded subset of this size."
    )
    flags.DEFINE_integer(
        "max_eval_examples", None, "Evaluate on a seeded subset of this size."
    )


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
