import keras
from keras import ops

from tftransformer._arguments import check_int, check_positive_number, is_finite_number

__all__ = ["WarmupLinearDecay"]


@keras.saving.register_keras_serializable(package="tftransformer")
class WarmupLinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warmup from 0 to a peak learning rate, then linear decay.

    At global step `s` the rate is `peak_learning_rate * s / warmup_steps`
    during warmup (`s < warmup_steps`), then falls linearly from
    `peak_learning_rate` at `warmup_steps` to `end_learning_rate` at
    `num_train_steps`, and stays at `end_learning_rate` after that. This is
    the BERT fine-tuning schedule.

    Args:
        peak_learning_rate: float > 0, the rate at the end of warmup.
        warmup_steps: int in [0, num_train_steps], the warmup length; 0
            starts at the peak.
        num_train_steps: int > 0, the step at which `end_learning_rate` is
            reached.
        end_learning_rate: float in [0, peak_learning_rate], the final rate.
        steps_per_update: int >= 1, the optimizer's gradient accumulation
            steps. Keras calls a schedule with the count of batches, not of
            updates, when it accumulates gradients: the schedule divides it
            (rounding down), so that it counts updates.
        name: optional string, the name scope of the computation.

    Returns:
        Called with a step, a float32 scalar tensor: the learning rate.

    Example:
    ```python
    schedule = WarmupLinearDecay(
        peak_learning_rate=1e-3, warmup_steps=10, num_train_steps=110
    )
    float(schedule(5))  # 5e-4, halfway through warmup
    float(schedule(60))  # 5e-4, halfway through the decay
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    ```
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

    def __call__(self, step):
        with keras.name_scope(self.name or "WarmupLinearDecay"):
            step = ops.cast(step, "float32")
            if self.steps_per_update > 1:
                step = ops.floor(step / float(self.steps_per_update))
            peak = self.peak_learning_rate
            end = self.end_learning_rate
            warmup = float(self.warmup_steps)
            # max(..., 1) only guards the division: with no warmup the warmup
            # branch is never taken, and with warmup == num_train_steps the
            # decay branch only ever gives `end`.
            warmup_rate = peak * step / max(warmup, 1.0)
            decay_length = max(float(self.num_train_steps) - warmup, 1.0)
            progress = ops.clip((step - warmup) / decay_length, 0.0, 1.0)
            decay_rate = peak + (end - peak) * progress
            rate = ops.where(step < warmup, warmup_rate, decay_rate)
            return ops.where(step >= self.num_train_steps, end, rate)

    def get_config(self):
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "num_train_steps": self.num_train_steps,
            "end_learning_rate": self.end_learning_rate,
            "steps_per_update": self.steps_per_update,
            "name": self.name,
        }
