"""The same classifier trained with and without EDA copies, side by side."""

import dataclasses
import os

import keras

from tftransformer.training._settings import ConfigError, field_default
from tftransformer.training._several_models import (
    refuse_export_dir,
    trains_several_models,
)
from tftransformer.training.augmentation_comparison import AugmentationComparison
from tftransformer.training.classification_config import (
    EDA_SETTINGS,
    ClassificationConfig,
)
from tftransformer.training.text_classification import train_text_classifier

__all__ = ["compare_augmentation"]


@trains_several_models
def compare_augmentation(config, same_steps=True, verbose=1):
    """Fine-tunes the config's classifier with and without EDA copies.

    Each run is a `train_text_classifier` run from the pretrained weights
    with the same seed, in its own `config.model_dir/<name>`, scored on the
    same test split:

    - `baseline`: the training data alone (`augment_copies=0`);
    - `eda`: plus `augment_copies` EDA copies of each text;
    - `baseline_same_steps` (with `same_steps`): the data alone for
      `(1 + augment_copies) * epochs` epochs, about as many optimizer steps
      as `eda` takes, so that a gain of `eda` cannot come from more updates
      alone.

    Each run keeps its best epoch by the config's `monitor` (early
    stopping); its `best_epoch` says which, as a run may be scored before
    its last step.

    Args:
        config: a `ClassificationConfig` with `augment_copies >= 1`.
        same_steps: whether to add the `baseline_same_steps` run.
        verbose: 0 or 1.

    Returns:
        An `AugmentationComparison`; the chief also writes it to
        `model_dir/augment_compare.json`.

    Example:
    ```python
    config = ClassificationConfig(max_train_examples=500, augment_copies=2)
    print(compare_augmentation(config).format())
    ```
    """
    refuse_export_dir(
        config, "compare_augmentation", "classifiers with and without EDA copies"
    )
    if config.augment_copies < 1:
        # 0 copies would make the `eda` run the baseline again.
        raise ConfigError(
            "augment_copies must be >= 1 to compare with the baseline. "
            f"Received: augment_copies={config.augment_copies}"
        )
    copies = config.augment_copies
    runs = [("baseline", 0, config.epochs), ("eda", copies, config.epochs)]
    if same_steps:
        # The augmented run's number of steps, up to rounding of the last
        # batch of each epoch.
        runs.append(("baseline_same_steps", 0, config.epochs * (1 + copies)))
    results = {}
    examples = []
    # The baselines do not augment: the EDA settings are left at their
    # defaults there (a config refuses them without copies).
    no_eda = {
        field.name: field_default(field)
        for field in dataclasses.fields(config)
        if field.name in EDA_SETTINGS
    }
    # Each run from the config's `ClassificationConfig` settings: a script's
    # subclass may constrain them (`augment_copies >= 1`) in ways the
    # baselines must leave.
    settings = {
        field.name: getattr(config, field.name)
        for field in dataclasses.fields(ClassificationConfig)
        if field.init
    }
    for name, augment_copies, epochs in runs:
        run_settings = {
            **settings,
            **({} if augment_copies else no_eda),
            "augment_copies": augment_copies,
            "epochs": epochs,
            "model_dir": os.path.join(config.model_dir, name),
            "export_dir": None,
        }
        run = train_text_classifier(
            ClassificationConfig(**run_settings), verbose=verbose
        )
        optimizer = run.model.optimizer
        report = run.report
        results[name] = {
            "train_examples": len(run.train),
            "epochs": epochs,
            # Length bucketing makes a few more batches than a count of
            # examples over the batch size; this is what ran.
            "steps": int(optimizer.iterations),
            "schedule_steps": int(optimizer._learning_rate.num_train_steps),
            # The epoch scored: early stopping restores the best one (the
            # first of a tie), which may come before the steps above ended.
            "best_epoch": run.training.best_epoch,
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "roc_auc": report.roc_auc_macro,
            "train_seconds": run.training.train_seconds,
        }
        if augment_copies:
            texts = run.train.texts
            examples = list(zip(texts[:: 1 + copies][:3], texts[1 :: 1 + copies][:3]))
        test_examples = len(run.test)
        chief = run.trainer.chief
        if verbose and chief:
            print(f"{name}: test accuracy {report.accuracy:.4f}")
        keras.backend.clear_session()
    comparison = AugmentationComparison(
        config.to_dict(), test_examples, results, examples
    )
    if chief:
        comparison.to_json(os.path.join(config.model_dir, "augment_compare.json"))
    return comparison
