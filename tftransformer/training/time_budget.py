import time

import keras

from tftransformer._arguments import check_positive_number
from tftransformer.training._workers import any_worker
from tftransformer.training.resumable_training import ResumableTraining


class TimeBudget(keras.callbacks.Callback):
    """Ends training at the epoch end after which another epoch would overrun.

    After each epoch it compares the training time spent plus the longest
    epoch of this `fit` so far with the budget, so a run stops before, not
    after, it goes over (the first epoch of a `fit` always runs).

    With `resumable`, the budget covers the whole run, summed over resumes:
    the time spent is that `ResumableTraining`'s `train_seconds`, which
    counts the killed `fit` calls of the run (up to their last checkpoint)
    and the current one, so a killed and resumed run does not get a fresh
    budget. The next epoch is then also estimated from the whole run, as its
    mean epoch (`train_seconds` over the epochs done), when that is longer:
    a resumed `fit` has seen few epochs, the first of them maybe only the
    rest of an epoch checkpointed midway. Without `resumable`, the time
    spent is that of the current `fit`.

    Place it before the `ResumableTraining` in the callbacks list, as
    `EarlyStopping` is: the epoch-end checkpoint then records the stop, and
    a run killed right after that checkpoint resumes as stopped. Either
    order reads the restored time: it is read at each epoch's end, after
    every callback's `on_train_begin` (where the resume restores it).
    `training_callbacks(max_train_minutes=...)` places it there.

    Under `tf.distribute.MultiWorkerMirroredStrategy` the workers decide
    together: each worker measures its own clock, and when any of them
    would stop, all stop after the same epoch (a worker that stopped alone
    would fail the others' next collective).

    Args:
        minutes: float > 0, the training budget in minutes.
        resumable: optional `ResumableTraining` of the same `fit`.

    Example:
    ```python
    # A 12-minute budget for a plain `fit`:
    model.fit(train, epochs=100, callbacks=[TimeBudget(12)])
    # The same budget for a resumable run, killed and restarted or not:
    callbacks = training_callbacks("runs/lm", max_train_minutes=12)
    model.fit(train, epochs=100, callbacks=callbacks)
    ```
    """

    def __init__(self, minutes, resumable=None):
        super().__init__()
        check_positive_number("minutes", minutes)
        if resumable is not None and not isinstance(resumable, ResumableTraining):
            raise ValueError(
                "resumable must be None or a ResumableTraining. "
                f"Received: resumable={resumable!r}"
            )
        self.minutes = float(minutes)
        self.resumable = resumable

    def _spent(self, now):
        # Read here, not at train begin: a resume restores the time in its
        # own on_train_begin, which may run after this callback's.
        if self.resumable is not None:
            return self.resumable.train_seconds
        return now - self.start

    def on_train_begin(self, logs=None):
        # Monotonic, as ResumableTraining's clock: a wall-clock jump must not
        # end (or prolong) training.
        self.start = self.epoch_start = time.monotonic()
        self.longest = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        now = time.monotonic()
        self.longest = max(self.longest, now - self.epoch_start)
        spent = self._spent(now)
        next_epoch = self.longest
        if self.resumable is not None:
            # `epoch` counts from the run's start, resumes included.
            next_epoch = max(next_epoch, spent / (epoch + 1))
        stop = spent + next_epoch > 60 * self.minutes
        if any_worker(self.model.distribute_strategy, stop):
            self.model.stop_training = True
