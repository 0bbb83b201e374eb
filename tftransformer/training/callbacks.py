"""The callbacks of a fine-tuning run: early stopping, checkpoints, logs, resume."""

import os

import keras

from tftransformer import distribute
from tftransformer._arguments import check_choice, check_int
from tftransformer.training.checkpointing import BACKUP_DIR
from tftransformer.training.epoch_weights_checkpoint import EpochWeightsCheckpoint
from tftransformer.training.resumable_training import ResumableTraining
from tftransformer.training.stop_on_non_finite_loss import StopOnNonFiniteLoss
from tftransformer.training.time_budget import TimeBudget

__all__ = ["training_callbacks"]


def training_callbacks(
    model_dir,
    strategy=None,
    monitor="val_accuracy",
    mode="max",
    patience=2,
    tensorboard=True,
    save_freq="epoch",
    run_config=None,
    keep_final_checkpoint=False,
    max_train_minutes=None,
    keep_checkpoints=None,
):
    """Returns the callbacks for `fit`, writing everything under `model_dir`.

    In this order:

    - `StopOnNonFiniteLoss`: a NaN or infinite loss stops training at once
      with `FloatingPointError` naming the step; nothing is saved after it.
    - `keras.callbacks.EarlyStopping(restore_best_weights=True)`: training
      stops after `patience` epochs without improvement of `monitor`, and the
      model ends with the weights of its best epoch.
    - with `max_train_minutes`, a `TimeBudget` for the whole run: training
      ends at the epoch end after which another epoch would overrun the
      budget, counting the time of earlier, killed `fit` calls of the run.
    - `EpochWeightsCheckpoint` writing the weights after every epoch to
      `model_dir/checkpoints/epoch_{epoch:03d}.weights.h5` (1-based),
      atomically.
    - `ResumableTraining` checkpointing to `model_dir/backup` at every
      epoch's end (and every `save_freq` steps): weights, optimizer state,
      epoch and step, early-stopping state, history and random-seed states,
      written atomically. A `fit` killed and run again with the same
      callbacks resumes where the last checkpoint left it. To see the same
      data order after a resume, pass the training data through its
      `epoch_dataset`. It comes after the epoch's weights file, so every
      epoch a checkpoint covers has its file; a kill between the two trains
      that epoch again and rewrites the file.
    - with `tensorboard`, `keras.callbacks.TensorBoard` logging to
      `model_dir/logs`.

    Under `tf.distribute`, only the chief writes into `model_dir`. On any
    other worker of a multi-worker run, checkpoints and logs go to
    `distribute.write_dir(model_dir)`, and the `ResumableTraining` callback
    restores from the chief's `model_dir/backup` but never writes or deletes
    there. When the whole cluster restarts after a failure, every worker
    resumes from the chief's last checkpoint; this needs a `model_dir` on a
    file system all workers mount (NFS, a mounted bucket). The workers
    share one time budget: when any worker's clock says stop, all stop
    after the same epoch. A multi-worker run takes `save_freq="epoch"`
    only: a checkpoint within an epoch reads the metrics, which all workers
    must read together.

    Args:
        model_dir: path of the run's directory; created if missing.
        strategy: a `tf.distribute.Strategy`; defaults to the current one.
        monitor: the logged metric early stopping watches, e.g.
            `"val_accuracy"` (needs `metrics=["accuracy"]` and validation
            data) or `"val_loss"`.
        mode: `"max"` if a larger `monitor` is better, `"min"` if smaller,
            `"auto"` to let Keras infer it from the name.
        patience: int >= 0, epochs without improvement before stopping.
        tensorboard: bool, whether to add the TensorBoard callback.
        save_freq: `"epoch"`, or an int > 0 to also checkpoint every
            `save_freq` steps.
        run_config: optional JSON-serialisable dict of the run's settings; a
            checkpoint written with other settings is refused.
        keep_final_checkpoint: when `fit` ends, `True` keeps a checkpoint
            of the final weights and optimizer state (a rerun then trains no
            further), `"weights"` one of the final weights only, `False`
            deletes the checkpoint.
        max_train_minutes: `None` (no limit) or a number > 0, the training
            budget of the whole run in minutes, resumes included.
        keep_checkpoints: `None` keeps every epoch's weights file; an int
            >= 0 keeps that many most recent ones plus the best epoch's by
            `monitor` (0: the best only).

    Returns:
        A list of `keras.callbacks.Callback`.

    Raises:
        ValueError: if `mode`, `patience`, `save_freq` or
            `max_train_minutes` is invalid, or for an integer `save_freq` in
            a multi-worker run.

    Example:
    ```python
    classifier.fit(
        train_ds,
        validation_data=val_ds,
        epochs=3,
        callbacks=training_callbacks("runs/sst2"),
    )
    ```
    """
    check_choice("mode", mode, ("min", "max", "auto"))
    patience = check_int("patience", patience, 0)
    if distribute.task_type(strategy) is not None and save_freq != "epoch":
        raise ValueError(
            "A multi-worker run checkpoints at epoch ends only: a checkpoint "
            "within an epoch reads the metrics, which every worker must read "
            "at the same time, and only the chief saves. Received: "
            f"save_freq={save_freq!r}"
        )
    chief = distribute.is_chief(strategy)
    backup_dir = os.path.join(os.fspath(model_dir), BACKUP_DIR)
    # Other workers write their (discarded) files into a directory of their
    # own and restore from the chief's checkpoint.
    model_dir = distribute.write_dir(model_dir, strategy)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor,
        mode=mode,
        patience=patience,
        restore_best_weights=True,
    )
    resumable = ResumableTraining(
        backup_dir,
        save_freq=save_freq,
        early_stopping=early_stopping,
        run_config=run_config,
        keep_final_checkpoint=keep_final_checkpoint,
        read_only=not chief,
    )
    # Both before the ResumableTraining, whose epoch-end checkpoint then
    # records their stop: a run killed right after it resumes as stopped.
    callbacks = [StopOnNonFiniteLoss(), early_stopping]
    if max_train_minutes is not None:
        callbacks.append(TimeBudget(max_train_minutes, resumable=resumable))
    # The epoch's weights file before the checkpoint that skips the epoch on
    # a resume: the other way round, a kill between them lost the file.
    callbacks += [
        EpochWeightsCheckpoint(
            os.path.join(
                # The path is a format template: braces in model_dir are text.
                os.fspath(model_dir).replace("{", "{{").replace("}", "}}"),
                "checkpoints",
                "epoch_{epoch:03d}.weights.h5",
            ),
            keep=keep_checkpoints,
            monitor=monitor,
            mode=_resolved_mode(monitor, mode),
        ),
        resumable,
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=os.path.join(model_dir, "logs"))
        )
    return callbacks


def _resolved_mode(monitor, mode):
    """`mode`, with `"auto"` resolved as `keras.callbacks.EarlyStopping` does."""
    if mode != "auto":
        return mode
    better_larger = monitor.endswith(("acc", "accuracy", "auc"))
    return "max" if better_larger else "min"
