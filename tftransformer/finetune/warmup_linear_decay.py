import keras

from tftransformer.finetune._warmup_decay import WarmupDecay

__all__ = ["WarmupLinearDecay"]


@keras.saving.register_keras_serializable(package="tftransformer")
class WarmupLinearDecay(WarmupDecay):
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

    def decayed(self, progress):
        peak = self.peak_learning_rate
        return peak + (self.end_learning_rate - peak) * progress
