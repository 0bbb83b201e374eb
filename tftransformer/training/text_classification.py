"""Text classification runs from a `ClassificationConfig`: data, folds."""

import dataclasses
import os

import numpy as np

from tftransformer import distribute
from tftransformer._arguments import check_int
from tftransformer.data.augment import augment_classification_data
from tftransformer.data.loaders import load_text_classification_splits
from tftransformer.data.tagging import IGNORE_LABEL
from tftransformer.evaluation.calibration import fit_temperature
from tftransformer.evaluation.cross_validation import cross_validate
from tftransformer.evaluation.plots import write_classification_plots
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.finetune.losses import classification_loss
from tftransformer.models._task_base import predict_batch
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.training._settings import ConfigError
from tftransformer.training._several_models import (
    refuse_export_dir,
    trains_several_models,
)
from tftransformer.training._subsets import sample_splits
from tftransformer.training.classification_config import monitored_metrics
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.trainer import Trainer

__all__ = [
    "build_text_classifier",
    "calibrate_classifier",
    "cross_validate_classifier",
    "load_classification_pool",
    "load_classification_splits",
    "train_text_classifier",
]


def load_classification_splits(config):
    """The train, validation and test data a `ClassificationConfig` (or
    `FromScratchClassificationConfig`) names.

    Reads `train_file`, `validation_file` and `test_file` (the embedded
    sentiment data without them) with the config's columns and
    `on_bad_rows`, draws the seeded subsets of `max_train_examples` and
    `max_eval_examples`, and adds `augment_copies` EDA copies of each
    training text (a config with that field).

    Returns:
        `(train, validation, test)`, each a `TextClassificationData`.
    """
    train, validation, test = _sampled_splits(config, config.test_file)
    return _augmented(config, train), validation, test


def load_classification_pool(config):
    """Every labelled example a `ClassificationConfig` names, pooled: the
    data `cross_validate_classifier` splits into its folds.

    The training data joined with the validation data (`validation_file`,
    or the embedded data's validation split), cut to `max_train_examples`
    and `max_eval_examples` as `load_classification_splits` cuts them. A
    training file without a validation file pools whole: no 10% is held
    out, so a small file (fewer than 10 examples of a label) pools too. No
    augmentation: cross-validation augments each fold's training part.

    Returns:
        A `TextClassificationData`.

    Example:
    ```python
    pool = load_classification_pool(config)
    result = cross_validate_classifier(config, pool, num_folds=5)
    ```
    """
    train, validation, _ = _sampled_splits(config, None, hold_out=False)
    return train.concatenate(validation)


def _sampled_splits(config, test_file, hold_out=True):
    """The config's splits (`load_text_classification_splits`), cut to its
    subset sizes."""
    splits = load_text_classification_splits(
        config.train_file,
        config.validation_file,
        test_file,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        label_column=config.label_column,
        on_bad_rows=config.on_bad_rows,
        data_dir=config.tfds_data_dir,
        seed=config.seed,
        hold_out=hold_out,
    )
    return sample_splits(config, *splits)


def _augmented(config, train):
    """`train` with the config's `augment_copies` EDA copies of each text."""
    if not getattr(config, "augment_copies", 0):
        return train
    return augment_classification_data(
        train,
        num_aug=config.augment_copies,
        alpha=config.augment_alpha,
        synonym_source=config.synonym_source,
        seed=config.seed,
    )


def build_text_classifier(config, label_names):
    """The `TextClassifier` a `ClassificationConfig` describes, on its preset.

    Build it in `trainer.scope()`.
    """
    return TextClassifier.from_preset(
        config.preset,
        num_classes=len(label_names),
        sequence_length=config.max_length,
        dtype=config.dtype,
        pooling=config.pooling,
        dropout=config.dropout,
        num_extra_blocks=config.extra_blocks,
        label_names=list(label_names),
    )


def classifier_loss_and_metrics(config, num_classes):
    """The `loss` and `metrics` a classification run compiles with (build
    them under the strategy's scope): the config's label smoothing, and
    what logs its `monitor`."""
    return {
        "loss": classification_loss(config.label_smoothing),
        "metrics": monitored_metrics(config.monitor, num_classes),
    }


def train_text_classifier(config, verbose=1):
    """Fine-tunes, evaluates and reports a text classifier, as a `Trainer` run.

    Loads the config's data (`load_classification_splits`), builds the
    classifier on its preset, trains it in `config.model_dir` (resumable,
    refusing another run's directory; see `Trainer`), evaluates it on the
    test split, and has the chief write `report.json` and, with matplotlib,
    `confusion_matrix.png`, `training_curves.png` and
    `reliability_diagram.png`. With `config.calibrate`, a softmax
    temperature is fitted on the validation split after training
    (`calibrate_classifier`), saved in `model.keras` and applied by exports;
    the report's `calibration` gives the test split's expected calibration
    error before and after.

    It writes no TF Serving export: `config.export_dir` is for the script
    that exports the run's model (`tftransformer.export` sits above the
    training layer), as `examples/classify.py` does with
    `export_for_serving`, shown below.

    Args:
        config: a `ClassificationConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `ClassificationRun`.

    Example:
    ```python
    config = ClassificationConfig(epochs=1, export_dir="serving/sst2")
    run = train_text_classifier(config)
    print(run.report.format())
    if run.trainer.chief:
        tftransformer.export.export_for_serving(run.model, config.export_dir)
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = load_classification_splits(config)
    trainer.print_splits(
        train, validation, test, f"labels {list(train.label_vocabulary)}"
    )
    with trainer.scope():
        model = build_text_classifier(config, train.label_vocabulary)
        # Metrics make their variables when made: under the strategy too.
        loss_and_metrics = classifier_loss_and_metrics(
            config, len(train.label_vocabulary)
        )
    training = trainer.fit(model, train, validation, **loss_and_metrics)
    return finish_classification_run(trainer, model, training, train, validation, test)


def finish_classification_run(trainer, model, training, train, validation, test):
    """The end of a text classification run, after `trainer.fit`.

    With `calibrate` set in the trainer's config, fits the softmax
    temperature on `validation` and saves the model again; evaluates on
    `test`; the chief writes `report.json` and the plots.

    Returns:
        A `ClassificationRun`.
    """
    config = trainer.config
    if config.calibrate:
        calibrate_classifier(
            model, trainer.dataset(validation, model), validation.labels
        )
        trainer.save(model)
        if trainer.verbose:
            print(f"Temperature fitted on validation data: {model.temperature:.3f}")
    report, _ = evaluate_classifier(
        model, trainer.dataset(test, model), test.labels, train.label_vocabulary
    )
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
        write_classification_plots(report, config.model_dir, history=training.history)
    return ClassificationRun(model, training, report, train, validation, test, trainer)


def calibrate_classifier(model, inputs, labels=None):
    """Fits `model.temperature` on held-out data (temperature scaling).

    Sets the temperature minimizing the NLL of `softmax(logits / T)` on
    `inputs` (see `tftransformer.evaluation.fit_temperature`). Predicted
    classes do not change; probabilities move toward the accuracy they
    claim. Fit it on data the model did not train on, e.g. the validation
    split, and judge it on another (the test split).

    A tagger (`TokenClassifier`) is calibrated over tokens: one temperature
    for the per-token softmax over tags, fitted on the labelled positions
    of its batches (a word's first piece); positions labelled
    `IGNORE_LABEL` (-100: padding, `[CLS]`, `[SEP]`, later pieces) are
    left out.

    Args:
        model: a trained classifier with a `temperature` (`TextClassifier`,
            `TokenClassifier`, `LongDocumentClassifier`).
        inputs: what `model.predict` takes, in the order of `labels`; or,
            without `labels`, batches of `(features, labels)` (a
            `tf.data.Dataset` as the model trains on; a tagger's
            `(batch, seq)` labels may change length from batch to batch).
        labels: 1-D int array of class ids, or `None` to read them from
            `inputs`.

    Returns:
        The fitted temperature (a float), also set on `model`.

    Example:
    ```python
    calibrate_classifier(model, trainer.dataset(validation, model), validation.labels)
    calibrate_classifier(tagger, make_tagging_dataset(words, tag_ids, tokenizer, 16))
    ```
    """
    if not hasattr(model, "temperature"):
        raise ValueError(
            "calibrate_classifier needs a model with a `temperature` attribute "
            f"(e.g. a TextClassifier). Received: {type(model).__name__}"
        )
    if labels is not None:
        logits = model.predict(inputs, verbose=0)
    else:
        logits, labels = [], []
        for batch in inputs:
            if not isinstance(batch, tuple) or len(batch) != 2:
                raise ValueError(
                    "Without `labels`, `inputs` must yield (features, labels) "
                    f"batches. Received a batch of type {type(batch).__name__}"
                )
            features, batch_labels = batch
            batch_labels = np.asarray(batch_labels)
            # Only labelled positions: batches may differ in sequence length.
            kept = batch_labels != IGNORE_LABEL
            logits.append(predict_batch(model, features)[kept])
            labels.append(batch_labels[kept])
        if not logits:
            raise ValueError("calibrate_classifier received no batches.")
        logits, labels = np.concatenate(logits), np.concatenate(labels)
    model.temperature = fit_temperature(logits, labels)
    return model.temperature


@trains_several_models
def cross_validate_classifier(config, data, num_folds, verbose=1):
    """Stratified k-fold cross-validation, one resumable `Trainer` run a fold.

    Fold `i` trains in `config.model_dir/fold_i` (resumable like any run) on
    the other folds and is scored on its own examples, which no choice of
    its run saw: it trains without validation data, so early stopping and
    the kept epoch follow the training loss, never the scored examples.
    `augment_copies` applies to each fold's training part only.

    Each fold trains a fresh `build_text_classifier(config, ...)` from the
    pretrained weights.

    Args:
        config: a `ClassificationConfig`.
        data: a `TextClassificationData`, e.g. `load_classification_pool`'s
            (the training and validation data joined).
        num_folds: int >= 2.
        verbose: 0 or 1.

    Returns:
        A `CrossValidationResult` of accuracy and macro F1; the chief also
        writes it to `model_dir/cross_validation.json`.

    Example:
    ```python
    result = cross_validate_classifier(config, load_classification_pool(config), 5)
    print(result.format())
    ```
    """
    try:
        num_folds = check_int("num_folds", num_folds, 2)
    except ValueError as error:
        raise ConfigError(str(error)) from None
    refuse_export_dir(config, "cross_validate_classifier", "one classifier a fold")
    strategy = None
    chief = True

    def train_and_evaluate(fold, train_indices, val_indices):
        nonlocal strategy, chief
        fold_dir = os.path.join(config.model_dir, f"fold_{fold}")
        trainer = Trainer(
            dataclasses.replace(config, model_dir=fold_dir),
            strategy=strategy,
            verbose=verbose,
        )
        strategy, chief = trainer.strategy, trainer.chief
        fold_train = _augmented(config, data.take(train_indices))
        fold_validation = data.take(val_indices)
        with trainer.scope():
            model = build_text_classifier(config, data.label_vocabulary)
            loss_and_metrics = classifier_loss_and_metrics(
                config, len(data.label_vocabulary)
            )
        # No validation data: picking the epoch on the examples the fold is
        # scored on would bias its score upwards.
        trainer.fit(model, fold_train, **loss_and_metrics)
        # Only the chief's files stay.
        distribute.cleanup_write_dir(fold_dir, trainer.strategy)
        report, _ = evaluate_classifier(
            model,
            trainer.dataset(fold_validation, model),
            fold_validation.labels,
            data.label_vocabulary,
        )
        return {"accuracy": report.accuracy, "macro_f1": report.averages["macro"]["f1"]}

    result = cross_validate(
        train_and_evaluate, labels=data.labels, num_folds=num_folds, seed=config.seed
    )
    if chief:
        os.makedirs(config.model_dir, exist_ok=True)
        result.to_json(os.path.join(config.model_dir, "cross_validation.json"))
    return result
