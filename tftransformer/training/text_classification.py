"""Text classification runs from a `ClassificationConfig`: data, folds."""

import dataclasses
import os

from tftransformer import distribute
from tftransformer.data.augment import augment_classification_data
from tftransformer.data.loaders import load_text_classification_splits
from tftransformer.evaluation.cross_validation import cross_validate
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.training._settings import ConfigError
from tftransformer.training.trainer import Trainer

__all__ = ["cross_validate_classifier", "load_classification_splits"]


def load_classification_splits(config):
    """The train, validation and test data a `ClassificationConfig` names.

    Reads `train_file`, `validation_file` and `test_file` (the embedded
    sentiment data without them) with the config's columns and
    `on_bad_rows`, draws the seeded subsets of `max_train_examples` and
    `max_eval_examples`, and adds `augment_copies` EDA copies of each
    training text.

    Returns:
        `(train, validation, test)`, each a `TextClassificationData`.
    """
    train, validation, test = load_text_classification_splits(
        config.train_file,
        config.validation_file,
        config.test_file,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        label_column=config.label_column,
        on_bad_rows=config.on_bad_rows,
        data_dir=config.tfds_data_dir,
        seed=config.seed,
    )
    if config.max_train_examples:
        train = train.sample(config.max_train_examples, config.seed)
    if config.max_eval_examples:
        validation = validation.sample(config.max_eval_examples, config.seed)
        test = test.sample(config.max_eval_examples, config.seed)
    if config.augment_copies:
        train = augment_classification_data(
            train,
            num_aug=config.augment_copies,
            alpha=config.augment_alpha,
            synonym_source=config.synonym_source,
            seed=config.seed,
        )
    return train, validation, test


def cross_validate_classifier(
    config, build_model, data, num_folds, loss=None, metrics=None, verbose=1
):
    """Stratified k-fold cross-validation, one resumable `Trainer` run a fold.

    Fold `i` trains in `config.model_dir/fold_i` (resumable like any run) on
    the other folds and is scored on its own examples. `augment_copies`
    applies to each fold's training part only.

    Args:
        config: a `ClassificationConfig`.
        build_model: callable `() -> model`, a fresh model from the
            pretrained weights (called in the trainer's scope); each fold's
            `Trainer.fit` compiles it with the config's optimizer.
        data: a `TextClassificationData`, e.g. the training and validation
            data joined.
        num_folds: int >= 2.
        loss, metrics: for the compile (`None`: the task's defaults).
        verbose: 0 or 1.

    Returns:
        A `CrossValidationResult` of accuracy and macro F1; the chief also
        writes it to `model_dir/cross_validation.json`.

    Example:
    ```python
    result = cross_validate_classifier(config, build, train, num_folds=5)
    print(result.format())
    ```
    """
    if isinstance(num_folds, bool) or not isinstance(num_folds, int) or num_folds < 2:
        raise ConfigError(
            f"num_folds must be an integer >= 2. Received: num_folds={num_folds!r}"
        )
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
        fold_train = data.take(train_indices)
        if config.augment_copies:
            fold_train = augment_classification_data(
                fold_train,
                num_aug=config.augment_copies,
                alpha=config.augment_alpha,
                synonym_source=config.synonym_source,
                seed=config.seed,
            )
        fold_validation = data.take(val_indices)
        with trainer.scope():
            model = build_model()
        trainer.fit(model, fold_train, fold_validation, loss=loss, metrics=metrics)
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
