import numbers

import keras
import tensorflow as tf

from tftransformer._arguments import (
    check_bool,
    check_fraction,
    check_positive_number,
)


def check_adamw_arguments(learning_rate, weight_decay, beta_1, beta_2, epsilon):
    """Refuses AdamW settings that would not train or would train to NaN
    (Keras' `AdamW` takes a negative rate or a `beta_1` of 2). A schedule or
    a callable learning rate passes."""
    if isinstance(learning_rate, numbers.Number) or isinstance(learning_rate, str):
        check_positive_number("learning_rate", learning_rate)
    check_positive_number("weight_decay", weight_decay, allow_zero=True)
    check_fraction("beta_1", beta_1)
    check_fraction("beta_2", beta_2)
    check_positive_number("epsilon", epsilon)


@keras.saving.register_keras_serializable(package="tftransformer")
class FusedAdamW(keras.optimizers.AdamW):
    """`keras.optimizers.AdamW` with the Adam update as one fused kernel.

    It equals Keras' `AdamW` for dense gradients of variables that train from
    the first step; on purpose it sums an embedding's sparse gradient slices
    before the update and counts Adam's bias correction per variable (both
    below). For those gradients the update is Keras' AdamW: decoupled weight
    decay, then
    `m += (g - m) * (1 - beta_1)`, `v += (g**2 - v) * (1 - beta_2)` and
    `w -= lr * sqrt(1 - beta_2**t) / (1 - beta_1**t) * m / (sqrt(v) + epsilon)`.
    Keras writes that as a dozen elementwise ops, each a pass over the
    variable's size in memory; TensorFlow's `ResourceApplyAdam` does it in one
    pass. For BERT-sized models the optimizer is a visible share of a CPU
    training step: on all-MiniLM-L6-v2's 22.7M parameters (embeddings
    included) one update took 47 ms against Keras' 87 ms on 2 CPU cores.
    TensorFlow has the kernel for CPU and GPU and compiles it under XLA
    (`jit_compile=True`). The config is AdamW's plus the names excluded with
    `exclude_from_weight_decay(var_names=...)`, so a model loaded from a
    `.keras` file decays the same variables (variables excluded by
    `var_list` are not kept: they are objects, not names).

    Adam's bias correction counts each variable's own updates, as PyTorch's
    AdamW does, where Keras' counts the optimizer's steps: a layer that
    starts training late (`GradualUnfreezing`, `HeadWarmup`) has zero
    moments, and corrected by the optimizer's step count its updates would
    be off by the head start (after 1,000 steps of the head alone, 2.5 to 5
    times the learning rate for a steady gradient). The optimizer holds one
    int64 step counter per variable, beside AdamW's slots. When every
    variable trains from the first step the counters equal `iterations` and
    the update is Keras' AdamW's.

    Under a distribution strategy with clipping (`clipnorm`,
    `global_clipnorm`, `clipvalue`), the replicas' gradients are summed
    before the clip, so the update is the one a single device makes; Keras'
    own optimizers clip each replica's share before the sum.

    Sparse gradients (an embedding lookup's: one slice per occurrence of a
    token) are summed into a dense gradient before clipping and the update,
    so a token seen twice in a batch is clipped and updated by its summed
    gradient, as PyTorch's AdamW does. Keras' `AdamW` squares and clips the
    occurrences' slices one by one instead, so its second moment for a
    repeated token differs. `amsgrad=True` takes Keras' update (the kernel
    has no AMSGrad), with the dense gradient and Keras' bias correction.

    Args:
        learning_rate: float, a `keras.optimizers.schedules.LearningRateSchedule`
            or a callable.
        weight_decay: float >= 0, the decoupled weight decay rate.
        **kwargs: the other arguments of `keras.optimizers.AdamW` (`beta_1`,
            `beta_2`, `epsilon`, `clipnorm`, ...).

    Example:
    ```python
    optimizer = FusedAdamW(learning_rate=5e-5, weight_decay=0.01, clipnorm=1.0)
    classifier.compile(optimizer=optimizer, loss=classification_loss())
    ```
    """

    def __init__(
        self,
        learning_rate=0.001,
        weight_decay=0.004,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-7,
        amsgrad=False,
        **kwargs,
    ):
        check_adamw_arguments(learning_rate, weight_decay, beta_1, beta_2, epsilon)
        super().__init__(
            learning_rate=learning_rate,
            weight_decay=weight_decay,
            beta_1=beta_1,
            beta_2=beta_2,
            epsilon=epsilon,
            amsgrad=check_bool("amsgrad", amsgrad),
            **kwargs,
        )

    def build(self, var_list):
        if self.built:
            return
        super().build(var_list)
        if self.amsgrad:
            return  # Keras' update, with Keras' bias correction
        self._variable_steps = [
            self.add_variable(
                shape=(),
                initializer="zeros",
                dtype="int64",
                name=f"{variable.name}_step",
            )
            for variable in var_list
        ]

    def _clip_gradients(self, grads):
        # One slice per occurrence of an index: the norm and the update must
        # see their sum, the gradient itself.
        grads = [
            tf.convert_to_tensor(g) if isinstance(g, tf.IndexedSlices) else g
            for g in grads
        ]
        if self._sums_before_clipping():
            # Keras clips each replica's share of the gradient and sums the
            # shares afterwards (`_all_reduce_sum_gradients`), so the clip
            # would act on 1/N of the gradient. Clip the sum, as one device
            # does; the later sum is skipped.
            grads = tf.distribute.get_replica_context().all_reduce(
                tf.distribute.ReduceOp.SUM, grads
            )
        return super()._clip_gradients(grads)

    def _all_reduce_sum_gradients(self, grads_and_vars):
        # Keras calls this after `_clip_gradients` in the same step.
        if self._sums_before_clipping():
            return grads_and_vars
        return super()._all_reduce_sum_gradients(grads_and_vars)

    def _sums_before_clipping(self):
        # Decided from settings alone, not state: the replicas of a mirrored
        # step run these methods in threads of their own.
        context = tf.distribute.get_replica_context()
        clips = self.clipnorm or self.global_clipnorm or self.clipvalue
        return bool(clips) and context is not None and context.num_replicas_in_sync > 1

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad:
            return super().update_step(gradient, variable, learning_rate)
        if isinstance(variable, keras.Variable):
            variable = variable.value
        dtype = variable.dtype
        index = self._get_variable_index(variable)
        # On the handle, as the slots below: under a distribution strategy it
        # resolves to the replica being updated.
        counter = self._variable_steps[index].value.handle
        tf.raw_ops.AssignAddVariableOp(resource=counter, value=tf.constant(1, tf.int64))
        step = tf.cast(
            tf.raw_ops.ReadVariableOp(resource=counter, dtype=tf.int64), dtype
        )
        beta_1 = tf.cast(self.beta_1, dtype)
        beta_2 = tf.cast(self.beta_2, dtype)
        # Under a distribution strategy `variable` is one replica's and the
        # slots' handles resolve to the same replica inside its update.
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle,
            m=self._momentums[index].value.handle,
            v=self._velocities[index].value.handle,
            beta1_power=tf.pow(beta_1, step),
            beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype),
            beta1=beta_1,
            beta2=beta_2,
            epsilon=tf.cast(self.epsilon, dtype),
            grad=tf.cast(gradient, dtype),
        )

    def get_config(self):
        config = super().get_config()
        pattern = getattr(self, "_exclude_from_weight_decay_pattern", None)
        if pattern is not None:
            config["exclude_from_weight_decay_pattern"] = pattern.pattern
        return config

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        pattern = config.pop("exclude_from_weight_decay_pattern", None)
        optimizer = super().from_config(config, custom_objects=custom_objects)
        if pattern is not None:
            optimizer.exclude_from_weight_decay(var_names=[pattern])
        return optimizer
