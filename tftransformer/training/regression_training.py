"""Text regression runs from a `RegressionConfig`."""

import os

import numpy as np

from tftransformer.data.target_loaders import load_regression_splits
from tftransformer.evaluation.plots import write_classification_plots
from tftransformer.evaluation.regression_report import evaluate_regressor
from tftransformer.models.text_regressor import TextRegressor
from tftransformer.training._subsets import sample_splits
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.trainer import Trainer

__all__ = ["build_text_regressor", "load_regression_data", "train_text_regressor"]


def load_regression_data(config):
    """The train, validation and test `RegressionData` a config names."""
    train, validation, test = load_regression_splits(
        config.train_file,
        config.validation_file,
        config.test_file,
        text_column=config.text_column,
        target_columns=config.target_column_names(),
        text_pair_column=config.text_pair_column,
        on_bad_rows=config.on_bad_rows,
        seed=config.seed,
    )
    return sample_splits(config, train, validation, test)


def build_text_regressor(config, train):
    """The `TextRegressor` a config describes, standardizing with `train`'s
    target mean and deviation; build it in `trainer.scope()`."""
    std = train.targets.std(axis=0)
    return TextRegressor.from_preset(
        config.preset,
        num_targets=train.num_targets,
        sequence_length=config.max_length,
        dtype=config.dtype,
        pooling=config.pooling,
        dropout=config.dropout,
        num_extra_blocks=config.extra_blocks,
        target_names=list(train.target_names),
        target_mean=train.targets.mean(axis=0).tolist(),
        # A constant target keeps a deviation of 1 (nothing to scale).
        target_std=np.where(std > 0, std, 1.0).tolist(),
        loss=config.loss,
    )


def train_text_regressor(config, verbose=1):
    """Fine-tunes, evaluates and reports a text regressor.

    A `Trainer` run in `config.model_dir` (resumable) on targets
    standardized with the training split's mean and deviation (saved in
    the model), then the test split's `RegressionReport` (RMSE, MAE,
    Pearson, Spearman, in target units) in `report.json`, with
    `predicted_vs_true.png` and `training_curves.png`.

    Args:
        config: a `RegressionConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `ClassificationRun` (its `report` a `RegressionReport`).

    Example:
    ```python
    run = train_text_regressor(RegressionConfig(epochs=1))
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = load_regression_data(config)
    trainer.print_splits(train, validation, test, f"targets {list(train.target_names)}")
    with trainer.scope():
        model = build_text_regressor(config, train)
    # The model standardizes the targets itself (see `TextRegressor`).
    training = trainer.fit(model, train, validation)
    report, _ = evaluate_regressor(model, trainer.dataset(test, model), test.targets)
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
        write_classification_plots(report, config.model_dir, history=training.history)
    return ClassificationRun(model, training, report, train, validation, test, trainer)
