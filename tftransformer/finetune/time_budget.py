import numbers
import time

import keras


class TimeBudget(keras.callbacks.Callback):
    """Ends training at the epoch end after which another epoch would overrun.

    After each epoch it compares the time spent since training began plus
    the longest epoch so far with the budget, so a run stops before, not
    after, it goes over (the first epoch always runs).

    Args:
        minutes: float > 0, the training budget in minutes.

    Example:
    ```python
    model.fit(train, epochs=100, callbacks=[TimeBudget(12)])
    ```
    """

    def __init__(self, minutes):
        super().__init__()
        if (
            isinstance(minutes, bool)
            or not isinstance(minutes, numbers.Real)
            or not minutes > 0
        ):
            raise ValueError(
                f"minutes must be a number > 0. Received: minutes={minutes!r}"
            )
        self.minutes = float(minutes)

    def on_train_begin(self, logs=None):
        self.start = self.epoch_start = time.time()
        self.longest = 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.time()

    def on_epoch_end(self, epoch, logs=None):
        now = time.time()
        self.longest = max(self.longest, now - self.epoch_start)
        if now + self.longest - self.start > 60 * self.minutes:
            self.model.stop_training = True
