import math

import keras
from keras import ops

from tftransformer.finetune._warmup_decay import WarmupDecay

__all__ = ["WarmupCosineDecay"]


@keras.saving.register_keras_serializable(package="tftransformer")
class WarmupCosineDecay(WarmupDecay):
    """Linear warmup from 0 to a peak learning rate, then cosine decay.

    As `WarmupLinearDecay`, but after warmup the rate follows half a cosine
    from `peak_learning_rate` at `warmup_steps` to `end_learning_rate` at
    `num_train_steps`: `end + (peak - end) * (1 + cos(pi * p)) / 2` at the
    fraction `p` of the decay. It stays near the peak longer and eases into
    the end. This is Keras' `CosineDecay` with `warmup_target` (and
    Hugging Face's `"cosine"` schedule), counting optimizer updates under
    gradient accumulation and allowing a warmup over every step.

    Args:
        peak_learning_rate: float > 0, the rate at the end of warmup.
        warmup_steps: int in [0, num_train_steps], the warmup length; 0
            starts at the peak.
        num_train_steps: int > 0, the step at which `end_learning_rate` is
            reached.
        end_learning_rate: float in [0, peak_learning_rate], the final rate.
        steps_per_update: int >= 1, the optimizer's gradient accumulation
            steps (as `WarmupLinearDecay`'s).
        name: optional string, the name scope of the computation.

    Returns:
        Called with a step, a float32 scalar tensor: the learning rate.

    Example:
    ```python
    schedule = WarmupCosineDecay(
        peak_learning_rate=1e-3, warmup_steps=10, num_train_steps=110
    )
    float(schedule(5))  # 5e-4, halfway through warmup
    float(schedule(60))  # 5e-4, halfway through the decay
    float(schedule(35))  # 8.5e-4: a quarter of the way, still near the peak
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    ```
    """

    def decayed(self, progress):
        peak, end = self.peak_learning_rate, self.end_learning_rate
        return end + (peak - end) * 0.5 * (1.0 + ops.cos(math.pi * progress))
