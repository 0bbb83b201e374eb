import keras
from keras import ops

from tftransformer._arguments import check_int, check_positive_number, is_finite_number


class WarmupDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to a peak rate, then a decay to an end rate.

    The base of `WarmupLinearDecay` and `WarmupCosineDecay`: a subclass
    gives the decay's shape with `decayed(progress)`, the rate at a
    fraction `progress` in [0, 1] of the decay. Arguments and config as
    `WarmupLinearDecay`'s.
    """

    def __init__(
        self,
        peak_learning_rate,
        warmup_steps,
        num_train_steps,
        end_learning_rate=0.0,
        steps_per_update=1,
        name=None,
    ):
        super().__init__()
        check_positive_number("peak_learning_rate", peak_learning_rate)
        num_train_steps = check_int("num_train_steps", num_train_steps, 1)
        warmup_steps = check_int(
            "warmup_steps",
            warmup_steps,
            0,
            num_train_steps,
            what=" (at most num_train_steps)",
        )
        if (
            not is_finite_number(end_learning_rate)
            or not 0 <= end_learning_rate <= peak_learning_rate
        ):
            raise ValueError(
                "end_learning_rate must be between 0 and peak_learning_rate="
                f"{peak_learning_rate}. Received: "
                f"end_learning_rate={end_learning_rate!r}"
            )
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.num_train_steps = int(num_train_steps)
        self.end_learning_rate = float(end_learning_rate)
        self.steps_per_update = check_int("steps_per_update", steps_per_update, 1)
        self.name = name

    def decayed(self, progress):
        """The rate at `progress` (a float32 tensor in [0, 1]) of the decay."""
        raise NotImplementedError

    def __call__(self, step):
        with keras.name_scope(self.name or type(self).__name__):
            step = ops.cast(step, "float32")
            if self.steps_per_update > 1:
                step = ops.floor(step / float(self.steps_per_update))
            warmup = float(self.warmup_steps)
            # max(..., 1) only guards the division: with no warmup the warmup
            # branch is never taken, and with warmup == num_train_steps the
            # decay branch only ever gives `end`.
            warmup_rate = self.peak_learning_rate * step / max(warmup, 1.0)
            decay_length = max(float(self.num_train_steps) - warmup, 1.0)
            progress = ops.clip((step - warmup) / decay_length, 0.0, 1.0)
            rate = ops.where(step < warmup, warmup_rate, self.decayed(progress))
            return ops.where(step >= self.num_train_steps, self.end_learning_rate, rate)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "num_train_steps": self.num_train_steps,
            "end_learning_rate": self.end_learning_rate,
            "steps_per_update": self.steps_per_update,
            "name": self.name,
        }
