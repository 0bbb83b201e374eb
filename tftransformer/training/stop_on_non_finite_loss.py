import math

import keras

__all__ = ["StopOnNonFiniteLoss"]


class StopOnNonFiniteLoss(keras.callbacks.Callback):
    """Stops training at the first step whose loss is NaN or infinite.

    Keras' `TerminateOnNaN` stops quietly, and the callbacks that run at the
    end of training (saving, restoring best weights) then act on broken
    weights. This callback raises `FloatingPointError` at once instead,
    naming the step, so nothing after it runs: checkpoints written so far
    (e.g. by `ResumableTraining`) keep the last good weights. Place it
    before the callbacks that save.

    Args:
        monitor: the logged value to check after each training batch.

    Example:
    ```python
    model.fit(train, epochs=3, callbacks=[StopOnNonFiniteLoss(), resumable])
    # FloatingPointError: The loss is nan at step 113 (epoch 2, batch 12) ...
    ```
    """

    def __init__(self, monitor="loss"):
        super().__init__()
        if not isinstance(monitor, str) or not monitor:
            raise ValueError(
                f"monitor must be a non-empty string. Received: monitor={monitor!r}"
            )
        self.monitor = monitor
        self._epoch = 0
        self._epoch_start_step = 0

    def on_train_begin(self, logs=None):
        optimizer = getattr(self.model, "optimizer", None)
        self._iterations = optimizer.iterations if optimizer is not None else None

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            return
        value = float(value)
        if math.isfinite(value):
            return
        # The optimizer's counter is the global step, also after a resume.
        # Through NumPy: under a distribution strategy the counter is a
        # MirroredVariable, which int() refuses.
        step = (
            int(keras.ops.convert_to_numpy(self._iterations))
            if self._iterations is not None
            else None
        )
        raise FloatingPointError(
            f"The {self.monitor} is {value} at step {step} (epoch "
            f"{self._epoch + 1}, batch {batch + 1}); training stopped there. "
            "Checkpoints written before this step hold finite weights. Lower "
            "the learning rate, raise gradient clipping or check the data "
            "for extreme values."
        )
