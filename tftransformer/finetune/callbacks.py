"""The callbacks of a fine-tuning run: early stopping, checkpoints, logs, resume."""

import numbers
import os

import keras

__all__ = ["training_callbacks"]


def training_callbacks(
    model_dir, monitor="val_accuracy", mode="max", patience=2, tensorboard=True
):
    """Returns the callbacks for `fit`, writing everything under `model_dir`.

    - `keras.callbacks.BackupAndRestore` backing up to `model_dir/backup` at
      every epoch's end, so that a `fit` interrupted and run again with the
      same callbacks resumes from the last finished epoch. The backup is
      deleted when `fit` finishes. The early-stopping state is not backed
      up: after a resume it restarts counting.
    - `keras.callbacks.EarlyStopping(restore_best_weights=True)`: training
      stops after `patience` epochs without improvement of `monitor`, and the
      model ends with the weights of its best epoch.
    - `keras.callbacks.ModelCheckpoint` writing the weights after every epoch
      to `model_dir/checkpoints/epoch_{epoch:03d}.weights.h5` (1-based).
    - with `tensorboard`, `keras.callbacks.TensorBoard` logging to
      `model_dir/logs`.

    Args:
        model_dir: path of the run's directory; created if missing.
        monitor: the logged metric early stopping watches, e.g.
            `"val_accuracy"` (needs `metrics=["accuracy"]` and validation
            data) or `"val_loss"`.
        mode: `"max"` if a larger `monitor` is better, `"min"` if smaller,
            `"auto"` to let Keras infer it from the name.
        patience: int >= 0, epochs without improvement before stopping.
        tensorboard: bool, whether to add the TensorBoard callback.

    Returns:
        A list of `keras.callbacks.Callback`.

    Raises:
        ValueError: if `mode` or `patience` is invalid.

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
    if mode not in ("min", "max", "auto"):
        raise ValueError(
            f"mode must be one of 'min', 'max', 'auto'. Received: mode={mode!r}"
        )
    if (
        isinstance(patience, bool)
        or not isinstance(patience, numbers.Integral)
        or patience < 0
    ):
        raise ValueError(
            f"patience must be an int >= 0. Received: patience={patience!r}"
        )
    model_dir = os.fspath(model_dir)
    checkpoint_dir = os.path.join(model_dir, "checkpoints")
    os.makedirs(checkpoint_dir, exist_ok=True)
    callbacks = [
        keras.callbacks.BackupAndRestore(backup_dir=os.path.join(model_dir, "backup")),
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=patience,
            restore_best_weights=True,
        ),
        keras.callbacks.ModelCheckpoint(
            os.path.join(checkpoint_dir, "epoch_{epoch:03d}.weights.h5"),
            save_weights_only=True,
            save_freq="epoch",
        ),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=os.path.join(model_dir, "logs"))
        )
    return callbacks
