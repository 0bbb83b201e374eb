"""The learning-rate range test (Smith 2015, as popularized by fastai)."""

import json
import math
import numbers
import os

import keras
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_fraction, check_int
from tftransformer.data._autotune import without_autotuning
from tftransformer.training.training_summary import describe_training
from tftransformer.tuning.learning_rate_finder_result import (
    LearningRateFinderResult,
)

__all__ = ["find_learning_rate", "suggest_learning_rate"]


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def find_learning_rate(
    model,
    dataset,
    min_lr=1e-7,
    max_lr=1.0,
    num_steps=100,
    smoothing=0.98,
    divergence_factor=4.0,
):
    """Runs a learning-rate range test on a compiled model, then undoes it.

    The model trains for up to `num_steps` batches with its own optimizer
    (Adam moments, weight decay, clipping and all), the learning rate growing
    exponentially from `min_lr` to `max_lr`; the optimizer's own schedule is
    set aside meanwhile. Each step's loss is smoothed with a bias-corrected
    exponential moving average. The test stops early when the smoothed loss
    exceeds `divergence_factor` times its lowest value, or a loss is not
    finite. The suggestion is the learning rate where the smoothed loss falls
    fastest (the most negative slope against log learning rate), looking only
    at the steps up to the lowest smoothed loss, before the divergence.

    Afterwards every model variable (weights and random seed states), every
    optimizer variable (moments, iteration count, learning rate) and the
    optimizer's learning-rate schedule are restored exactly, and the train
    function is rebuilt, so training goes on as if the test never ran. An
    optimizer not built yet is built first, which is what `fit` would do.

    The loss should be non-negative (a cross-entropy, a squared error), since
    divergence is judged by a ratio.

    Args:
        model: a compiled, built `keras.Model`.
        dataset: a `tf.data.Dataset` of `(x, y)` or `(x, y, sample_weight)`
            batches, e.g. from `tftransformer.data.make_classification_dataset`;
            repeated if shorter than `num_steps`.
        min_lr: finite float > 0, the first learning rate.
        max_lr: finite float > `min_lr`, the last learning rate.
        num_steps: int >= 3, the number of steps (batches).
        smoothing: float in [0, 1), the moving average's decay; 0 keeps the
            raw losses.
        divergence_factor: float > 1, the rise over the lowest smoothed loss
            that stops the test.

    Returns:
        A `LearningRateFinderResult` with `learning_rates`, `losses`,
        `smoothed_losses`, `suggestion` and `diverged`.

    Raises:
        ValueError: if an argument is out of range, the model is not compiled
            or built, or `dataset` yields no batches.

    Example:
    ```python
    classifier.compile(optimizer=create_optimizer(5e-5, steps), loss=loss)
    result = find_learning_rate(classifier, train_ds, min_lr=1e-7, max_lr=1e-1)
    print(f"suggested learning rate: {result.suggestion:.2e}")
    result.plot("lr_finder.png")
    ```
    """
    if not _is_number(min_lr) or not min_lr > 0 or not math.isfinite(min_lr):
        raise ValueError(
            f"min_lr must be a finite number > 0. Received: min_lr={min_lr!r}"
        )
    if not _is_number(max_lr) or not max_lr > min_lr or not math.isfinite(max_lr):
        raise ValueError(
            f"max_lr must be a finite number > min_lr={min_lr}. "
            f"Received: max_lr={max_lr!r}"
        )
    num_steps = check_int("num_steps", num_steps, 3)
    check_fraction("smoothing", smoothing)
    if not _is_number(divergence_factor) or not divergence_factor > 1:
        raise ValueError(
            "divergence_factor must be a number > 1. Received: "
            f"divergence_factor={divergence_factor!r}"
        )
    if not isinstance(dataset, tf.data.Dataset):
        raise ValueError(
            "dataset must be a tf.data.Dataset of (x, y) batches. "
            f"Received: {type(dataset).__name__}"
        )
    if not getattr(model, "compiled", False) or model.optimizer is None:
        raise ValueError(
            "find_learning_rate needs a compiled model: call "
            "model.compile(optimizer=..., loss=...) first."
        )
    if not model.built or not model.trainable_variables:
        raise ValueError(
            "find_learning_rate needs a built model with trainable variables. "
            f"Received: model {model.name!r} with built={model.built} and "
            f"{len(model.trainable_variables)} trainable variables."
        )

    optimizer = model.optimizer
    if not optimizer.built:
        optimizer.build(model.trainable_variables)
    # A LossScaleOptimizer holds the learning rate in its inner optimizer.
    inner = getattr(optimizer, "inner_optimizer", optimizer)

    saved = [
        (variable, variable.numpy())
        for variable in [*model.variables, *optimizer.variables]
    ]
    saved_metrics = [(v, v.numpy()) for v in model.metrics_variables]
    # Keras has no public getter for the schedule object itself; the
    # `learning_rate` property evaluates it.
    original_learning_rate = inner._learning_rate
    if isinstance(original_learning_rate, keras.Variable):
        learning_rate = original_learning_rate  # restored with `saved`
    else:
        learning_rate = keras.Variable(
            min_lr, dtype="float32", trainable=False, name="lr_finder_learning_rate"
        )
        # The setter accepts a callable in place of a schedule.
        inner.learning_rate = lambda: learning_rate
        model.make_train_function(force=True)

    learning_rates = min_lr * (max_lr / min_lr) ** (
        np.arange(num_steps, dtype=np.float64) / (num_steps - 1)
    )
    tried, losses, smoothed = [], [], []
    diverged = False
    try:
        iterator = iter(without_autotuning(dataset.repeat()))
        average, best = 0.0, math.inf
        for step in range(num_steps):
            learning_rate.assign(learning_rates[step])
            try:
                batch = next(iterator)
            except StopIteration:
                # Only at the first step: a dataset with a batch repeats.
                raise ValueError(
                    "dataset yields no batches: find_learning_rate needs at "
                    "least one (x, y) batch."
                ) from None
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
            logs = model.train_on_batch(
                x, y, sample_weight=sample_weight, return_dict=True
            )
            loss = float(logs["loss"])
            tried.append(learning_rates[step])
            losses.append(loss)
            if not math.isfinite(loss):
                smoothed.append(math.nan)
                diverged = True
                break
            average = smoothing * average + (1 - smoothing) * loss
            smoothed.append(average / (1 - smoothing ** (step + 1)))
            if step > 0 and smoothed[-1] > divergence_factor * best:
                diverged = True
                break
            best = min(best, smoothed[-1])
    finally:
        for variable, value in saved:
            variable.assign(value)
        for variable, value in saved_metrics:
            variable.assign(value)
        if learning_rate is not original_learning_rate:
            inner.learning_rate = original_learning_rate
            model.make_train_function(force=True)

    usable = len(smoothed) - 1 if diverged else len(smoothed)
    suggestion = suggest_learning_rate(tried[:usable], smoothed[:usable])
    return LearningRateFinderResult(tried, losses, smoothed, suggestion, diverged)


def suggest_learning_rate(learning_rates, smoothed_losses):
    """Returns the learning rate where the smoothed loss falls fastest.

    Only the points before the lowest loss count: the lowest is where the
    loss stops falling, and its one-sided slope (often the steepest, as the
    loss turns) would suggest the rate at the edge of divergence. Nor do
    the first tenth of the points (at least the first, as fastai's
    `skip_start`): the moving average has seen few steps there, and the
    noise of a first step or two often made the steepest "fall" at the
    very first rate tried, too low to train. The slope is taken against
    the logarithm of the learning rate (`numpy.gradient` over the points
    up to the lowest).

    Args:
        learning_rates: increasing learning rates, all > 0.
        smoothed_losses: the (smoothed) loss at each learning rate.

    Returns:
        A float, or `None` when no point is left: fewer than 3 points up to
        the lowest loss, or the lowest among the first tenth.

    Example:
    ```python
    suggest_learning_rate([1e-4, 1e-3, 1e-2, 1e-1], [1.0, 0.9, 0.3, 0.25])  # 1e-3
    ```
    """
    learning_rates = np.asarray(learning_rates, dtype=np.float64)
    smoothed_losses = np.asarray(smoothed_losses, dtype=np.float64)
    if learning_rates.shape != smoothed_losses.shape or learning_rates.ndim != 1:
        raise ValueError(
            "learning_rates and smoothed_losses must be 1-D and of the same "
            f"length. Received: shapes {learning_rates.shape} and "
            f"{smoothed_losses.shape}"
        )
    if len(learning_rates) and (
        np.any(learning_rates <= 0) or np.any(np.diff(learning_rates) <= 0)
    ):
        raise ValueError(
            "learning_rates must be > 0 and increasing. Received: "
            f"{learning_rates.tolist()}"
        )
    if not np.all(np.isfinite(smoothed_losses)):
        raise ValueError(
            "smoothed_losses must be finite; cut the points after a divergence. "
            f"Received: {smoothed_losses.tolist()}"
        )
    if len(smoothed_losses) < 3:
        return None
    lowest = int(np.argmin(smoothed_losses))
    skipped = max(1, len(smoothed_losses) // 10)
    if lowest < 2 or lowest <= skipped:
        return None
    slopes = np.gradient(
        smoothed_losses[: lowest + 1], np.log(learning_rates[: lowest + 1])
    )
    return float(learning_rates[skipped + int(np.argmin(slopes[skipped:lowest]))])


def learning_rate_range_test(trainer, model, train, num_steps=100):
    """The learning-rate range test of the model a `Trainer` run would train.

    The model gets the run's recipe and optimizer (`trainer.compile`, if it
    is not compiled yet), then `find_learning_rate` runs on the run's first
    epoch of data (a copy: `fit` then reads its batches as if the test had
    not run, except from a `tf.data.Dataset` of your own that reshuffles at
    each reading) and restores everything. Gradual unfreezing and a head
    warmup hold backbone layers still only for a while; the peak learning
    rate must suit every layer the run ends up training, so the test trains
    those, and the results say so (`measured_with`). The chief writes
    `lr_finder.json` (with the strategy, the global batch size and the
    trainable parameter count) and, with matplotlib, `lr_finder.png` into
    the config's `model_dir`.

    Args:
        trainer: a `tftransformer.training.Trainer`.
        model: the task model, built in `trainer.scope()`.
        train: the training data as `Trainer.fit` takes it.
        num_steps: int >= 3, steps of the test.

    Returns:
        A `LearningRateFinderResult`.

    Example:
    ```python
    result = learning_rate_range_test(trainer, classifier, train, num_steps=100)
    print(result.suggestion)
    ```
    """
    num_steps = check_int("num_steps", num_steps, 3)
    config = trainer.config
    if not model.compiled:
        trainer.compile(model, train)
    strategy_name = trainer.apply_strategy(model)
    # A dataset of its own: reading the one `fit` will read would advance
    # its reshuffling, and the run would train on other batches.
    dataset = trainer.epoch_dataset(model, train, 0)
    held_back = bool(
        getattr(config, "gradual_unfreeze", False)
        or getattr(config, "head_warmup_steps", 0)
    )
    measured = (
        "every layer the run trains once the schedule has released it"
        if held_back
        else "the strategy's trainable layers"
    )
    trainable = describe_training(model)["trainable_parameters"]
    result = find_learning_rate(model, dataset, num_steps=num_steps)
    if trainer.chief:
        os.makedirs(config.model_dir, exist_ok=True)
        with open(os.path.join(config.model_dir, "lr_finder.json"), "w") as f:
            json.dump(
                {
                    "strategy": strategy_name,
                    "batch_size": trainer.global_batch_size,
                    "measured_with": measured,
                    "trainable_parameters": trainable,
                }
                | result.to_dict(),
                f,
                indent=2,
            )
        try:
            result.plot(os.path.join(config.model_dir, "lr_finder.png"))
        except ImportError:
            pass
    return result
