"""The fine-tuning optimizer and the step count its schedule needs."""

import re

import keras
import tensorflow as tf

from tftransformer._arguments import (
    as_list,
    check_bool,
    check_choice,
    check_fraction,
    check_int,
    check_positive_number,
)
from tftransformer.finetune.fused_adamw import FusedAdamW, check_adamw_arguments
from tftransformer.finetune.layer_decay import check_decay, layer_decay_multipliers
from tftransformer.finetune.layerwise_adamw import LayerwiseAdamW
from tftransformer.finetune.warmup_cosine_decay import WarmupCosineDecay
from tftransformer.finetune.warmup_linear_decay import WarmupLinearDecay

__all__ = [
    "LEARNING_RATE_SCHEDULES",
    "WEIGHT_DECAY_EXCLUSIONS",
    "create_optimizer",
    "compute_train_steps",
    "count_train_steps",
]

# Variable names (the last part of a variable's path) left out of weight
# decay: LayerNormalization's `gamma` and `beta`, and every `bias`, as in BERT.
WEIGHT_DECAY_EXCLUSIONS = ("gamma", "beta", "bias")

# The shapes of the learning rate after warmup, for `create_optimizer`'s
# `schedule`: falling linearly (BERT's), along half a cosine, or constant.
LEARNING_RATE_SCHEDULES = ("linear", "cosine", "constant")


def _exact_name_pattern(name):
    # Keras searches the patterns in the variable's name, which on the
    # TensorFlow backend is the full path, e.g. "embeddings_layer_norm/gamma:0":
    # anchoring keeps "beta" from matching a layer called "alphabeta_dense".
    return rf"(?:^|/){re.escape(name)}(?::\d+)?$"


def create_optimizer(
    learning_rate,
    num_train_steps,
    warmup_fraction=0.1,
    warmup_steps=None,
    weight_decay=0.01,
    clipnorm=1.0,
    beta_1=0.9,
    beta_2=0.999,
    epsilon=1e-6,
    end_learning_rate=None,
    exclude_from_weight_decay=None,
    layer_decay=None,
    model=None,
    learning_rate_multipliers=None,
    fused=True,
    gradient_accumulation_steps=1,
    schedule="linear",
):
    """Returns AdamW with warmup and decay: by default BERT's fine-tuning recipe.

    Weight decay is decoupled (Keras applies `w -= w * weight_decay * lr`
    before the Adam update) and skipped for the variables named in
    `exclude_from_weight_decay`. The fused optimizers keep the exclusion in
    their config, so a model saved to `.keras` and loaded trains on with the
    same optimizer, state and schedule; Keras' `AdamW` (`fused=False`) does
    not: after loading, compile again with a new optimizer from here.

    Args:
        learning_rate: float > 0, the peak learning rate.
        num_train_steps: int > 0, the total number of optimizer steps (see
            `compute_train_steps`); the rate reaches `end_learning_rate` there.
        warmup_fraction: float in [0, 1), the fraction of `num_train_steps`
            spent warming up, rounded to the nearest step. Ignored when
            `warmup_steps` is given.
        warmup_steps: optional int in [0, num_train_steps], the warmup length.
        weight_decay: float >= 0, the decoupled weight decay rate.
        clipnorm: optional float > 0, Keras' `clipnorm`: each variable's
            gradient is clipped to this norm (BERT clips the global norm).
        beta_1: float, Adam's first-moment decay.
        beta_2: float, Adam's second-moment decay.
        epsilon: float, Adam's epsilon.
        end_learning_rate: optional float in [0, learning_rate], the final
            rate; defaults to 0 (to `learning_rate` for `"constant"`).
        exclude_from_weight_decay: optional list of variable names; a
            variable is excluded when its name, the last part of its path
            (`"gamma"` in `"embeddings_layer_norm/gamma"`), is one of them.
            Defaults to `WEIGHT_DECAY_EXCLUSIONS`, `("gamma", "beta",
            "bias")`; `[]` decays every variable.
        layer_decay: optional float in (0, 1], layer-wise learning-rate
            decay: encoder layer `l` of `L` trains at `decay ** (L - l)`
            times the rate, the embeddings at `decay ** (L + 1)`, the head
            at the full rate (see `layer_decay_multipliers`). Needs `model`.
        model: the built model to fine-tune; read only with `layer_decay`,
            for its variable paths.
        learning_rate_multipliers: optional dict mapping variable paths to
            multipliers >= 0, e.g. a new head's variables at 30 times the
            rate; they replace `layer_decay`'s for those paths. Needs
            `fused=True` (`LayerwiseAdamW`).
        fused: bool, whether the Adam update runs as TensorFlow's fused
            kernel (`FusedAdamW`, the same update in one pass over each
            variable) or as Keras' elementwise ops (`keras.optimizers.AdamW`,
            e.g. to compare). `layer_decay` needs `True`.
        gradient_accumulation_steps: int >= 1; with N > 1, Keras' gradient
            accumulation: the gradients of N batches are averaged before
            each update, which then equals one step on a batch N times
            larger (for a mean loss). `num_train_steps` counts updates.
        schedule: the rate after warmup, one of `LEARNING_RATE_SCHEDULES`:
            `"linear"` falls linearly to `end_learning_rate` (BERT's,
            `WarmupLinearDecay`), `"cosine"` along half a cosine
            (`WarmupCosineDecay`), `"constant"` stays at `learning_rate`.

    Returns:
        A `keras.optimizers.AdamW` whose learning rate is a
        `WarmupLinearDecay` schedule (`WarmupCosineDecay` for `"cosine"`;
        `"constant"` is a linear one ending at the peak): a `FusedAdamW`;
        with `layer_decay`, its subclass `LayerwiseAdamW` holding the
        per-variable multipliers (of `layer_decay` or
        `learning_rate_multipliers`); with `fused=False`, Keras' `AdamW`
        itself.

    Raises:
        ValueError: if an argument is out of range.

    Example:
    ```python
    steps = compute_train_steps(num_examples=8530, batch_size=32, epochs=3)
    optimizer = create_optimizer(learning_rate=2e-5, num_train_steps=steps)
    classifier.compile(optimizer=optimizer, loss=classification_loss())
    ```
    """
    check_adamw_arguments(learning_rate, weight_decay, beta_1, beta_2, epsilon)
    num_train_steps = check_int("num_train_steps", num_train_steps, 1)
    if warmup_steps is None:
        check_fraction("warmup_fraction", warmup_fraction)
        # round(), not ceil(): 0.1 * 30 is 3.0000000000000004 in floats.
        warmup_steps = round(warmup_fraction * num_train_steps)
    else:
        warmup_steps = check_int(
            "warmup_steps",
            warmup_steps,
            0,
            num_train_steps,
            what=" (at most num_train_steps)",
        )
    if clipnorm is not None:
        check_positive_number("clipnorm", clipnorm)
    # A list first: checking a generator would use it up. A lone string would
    # be split into one-letter patterns matching nearly every variable.
    exclude_from_weight_decay = as_list(exclude_from_weight_decay)
    if exclude_from_weight_decay is not None and (
        not isinstance(exclude_from_weight_decay, list)
        or not all(isinstance(name, str) for name in exclude_from_weight_decay)
    ):
        raise ValueError(
            "exclude_from_weight_decay must be None or a list of strings. "
            f"Received: exclude_from_weight_decay={exclude_from_weight_decay!r}"
        )
    fused = check_bool("fused", fused)
    schedule = check_choice("schedule", schedule, LEARNING_RATE_SCHEDULES)
    gradient_accumulation_steps = check_int(
        "gradient_accumulation_steps", gradient_accumulation_steps, 1
    )
    multipliers = None
    if layer_decay is not None:
        check_decay("layer_decay", layer_decay)
        if not fused:
            raise ValueError(
                "layer_decay needs the fused optimizer (LayerwiseAdamW). "
                f"Received: layer_decay={layer_decay!r}, fused=False"
            )
        if not isinstance(model, keras.Model):
            raise ValueError(
                "layer_decay needs the model, to find its layers. Received: "
                f"layer_decay={layer_decay!r}, model={model!r}"
            )
        multipliers = layer_decay_multipliers(model, layer_decay)
    if learning_rate_multipliers is not None and not isinstance(
        learning_rate_multipliers, dict
    ):
        raise ValueError(
            "learning_rate_multipliers must be a dict of variable path to "
            "multiplier. Received: "
            f"learning_rate_multipliers={learning_rate_multipliers!r:.100}"
        )
    if learning_rate_multipliers:
        if not fused:
            raise ValueError(
                "learning_rate_multipliers need the fused optimizer "
                "(LayerwiseAdamW). Received: fused=False"
            )
        multipliers = {**(multipliers or {}), **learning_rate_multipliers}
    rate_schedule = _warmup_schedule(
        schedule,
        peak_learning_rate=learning_rate,
        warmup_steps=warmup_steps,
        num_train_steps=num_train_steps,
        end_learning_rate=end_learning_rate,
        steps_per_update=gradient_accumulation_steps,
    )
    adamw_args = dict(
        learning_rate=rate_schedule,
        weight_decay=weight_decay,
        beta_1=beta_1,
        beta_2=beta_2,
        epsilon=epsilon,
        clipnorm=clipnorm,
        # Keras takes None (off) or an int >= 2.
        gradient_accumulation_steps=(
            gradient_accumulation_steps if gradient_accumulation_steps > 1 else None
        ),
    )
    if not fused:
        optimizer = keras.optimizers.AdamW(**adamw_args)
    elif multipliers is None:
        optimizer = FusedAdamW(**adamw_args)
    else:
        optimizer = LayerwiseAdamW(learning_rate_multipliers=multipliers, **adamw_args)
    if exclude_from_weight_decay is None:
        exclude_from_weight_decay = WEIGHT_DECAY_EXCLUSIONS
    optimizer.exclude_from_weight_decay(
        var_names=[_exact_name_pattern(name) for name in exclude_from_weight_decay]
    )
    return optimizer


def _warmup_schedule(schedule, end_learning_rate, **kwargs):
    if schedule == "constant":
        peak = kwargs["peak_learning_rate"]
        if end_learning_rate not in (None, peak):
            raise ValueError(
                'schedule="constant" keeps the rate at learning_rate='
                f"{peak!r} after warmup. Received: "
                f"end_learning_rate={end_learning_rate!r}"
            )
        return WarmupLinearDecay(end_learning_rate=peak, **kwargs)
    if end_learning_rate is None:
        end_learning_rate = 0.0
    if schedule == "cosine":
        return WarmupCosineDecay(end_learning_rate=end_learning_rate, **kwargs)
    return WarmupLinearDecay(end_learning_rate=end_learning_rate, **kwargs)


def compute_train_steps(num_examples, batch_size, epochs):
    """Returns the number of optimizer steps of a training run.

    Each epoch takes `ceil(num_examples / batch_size)` steps, the last batch
    being partial; with `drop_remainder=True` batching it would be the floor.
    Length-bucketed datasets have more batches: use `count_train_steps`.

    Args:
        num_examples: int > 0, the training examples per epoch.
        batch_size: int > 0.
        epochs: int > 0.

    Returns:
        An int, steps per epoch times `epochs`.

    Example:
    ```python
    compute_train_steps(num_examples=100, batch_size=32, epochs=3)  # 12
    ```
    """
    num_examples = check_int("num_examples", num_examples, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    epochs = check_int("epochs", epochs, 1)
    steps_per_epoch = -(-num_examples // batch_size)
    return steps_per_epoch * epochs


def count_train_steps(dataset, epochs):
    """Returns the number of optimizer steps of `epochs` passes over `dataset`.

    The batches of one pass are counted, by iterating the dataset when its
    cardinality is unknown (which also fills a `cache()` in it). Use it for
    length-bucketed datasets such as `tftransformer.data`'s training ones:
    each bucket ends with a partial batch, so an epoch has more batches than
    `compute_train_steps`' `ceil(num_examples / batch_size)`, and a schedule
    sized by that would reach its end a few steps early. The count does not
    depend on the shuffling order. (Keras' `fit` counts one optimizer step
    more per pass over data of unknown length, at the call that finds it
    exhausted; `ResumableTraining.epoch_dataset` avoids that call.)

    Args:
        dataset: a finite, batched `tf.data.Dataset`, one epoch of training.
        epochs: int > 0.

    Returns:
        An int, batches per pass times `epochs`.

    Raises:
        ValueError: if `epochs` is not a positive int, or the dataset is
            infinite or empty.

    Example:
    ```python
    train = make_classification_dataset(texts, labels, tokenizer, batch_size=32)
    steps = count_train_steps(train, epochs=3)
    optimizer = create_optimizer(5e-5, num_train_steps=steps)
    ```
    """
    epochs = check_int("epochs", epochs, 1)
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            "dataset must be a batched tf.data.Dataset (for in-memory data, "
            "compute_train_steps(num_examples, batch_size, epochs)). "
            f"Received: dataset={dataset!r:.100} (a {type(dataset).__name__})"
        )
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "dataset must be finite: one epoch of training batches. Received an "
            "infinite dataset (e.g. one with `repeat()`)."
        )
    if cardinality == tf.data.UNKNOWN_CARDINALITY:
        cardinality = int(dataset.reduce(0, lambda count, _: count + 1))
    if cardinality == 0:
        raise ValueError("dataset must yield at least one batch. Received: none.")
    return cardinality * int(epochs)
