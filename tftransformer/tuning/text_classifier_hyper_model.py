"""A KerasTuner `HyperModel` fine-tuning a pretrained text classifier."""

import inspect
import math
import numbers
import os

import keras
import keras_tuner
import numpy as np
import tensorflow as tf

from tftransformer import data, finetune, models, presets, training
from tftransformer._arguments import check_choice, check_int
from tftransformer.models.backbone_adapter import preprocessor_pair_separators
from tftransformer.training.classification_config import (
    CLASSIFICATION_MONITORS,
    monitored_metrics,
)
from tftransformer.tuning.search_space import SEARCHABLE_PARAMETERS, SearchSpace
from tftransformer.tuning.tuners import _HYPERBAND_PREFIX

__all__ = ["DEFAULT_HYPERPARAMETERS", "TextClassifierHyperModel"]

# The defaults of `examples/classify.py`; `layer_decay=None` and
# `lora_rank=0` switch those strategies off.
DEFAULT_HYPERPARAMETERS = {
    "learning_rate": 5e-5,
    "batch_size": 32,
    "freeze_layers": 0,
    "layer_decay": None,
    "lora_rank": 0,
    "dropout": 0.1,
    "warmup_fraction": 0.1,
    "learning_rate_schedule": "linear",
    "weight_decay": 0.01,
    "label_smoothing": 0.0,
    "pooling": "mean",
}


class TextClassifierHyperModel(keras_tuner.HyperModel):
    """Builds and fine-tunes a `TextClassifier` for one set of hyperparameters.

    `build` loads the pretrained backbone again for every trial, so each
    trial starts from the pretrained weights (and from the same seed), then
    applies the trial's LoRA rank (`tftransformer.finetune.apply_lora`, which
    freezes the rest of the backbone) or its `freeze_layers`, never both
    (see `SearchSpace.declare`). `fit` builds the
    tokenized datasets with the trial's batch size, compiles with
    `create_optimizer` (with the trial's `layer_decay`), and trains. A trial
    whose training loss becomes NaN or infinite (caught by
    `keras.callbacks.TerminateOnNaN`) or that runs out of memory raises
    `keras_tuner.errors.FailedTrialError`, so the tuner records it as failed
    and goes on.

    Hyperparameters not in `search_space` take their value from
    `fixed_values`, else from `DEFAULT_HYPERPARAMETERS` (the defaults of
    `examples/classify.py`).

    Args:
        search_space: a `SearchSpace`, or a dict `SearchSpace` accepts.
        num_classes: int >= 2.
        preset: what `tftransformer.presets.load_backbone` takes.
        max_length: int >= 2, the longest tokenized sequence.
        fixed_values: optional dict of values for hyperparameters outside
            the space (names of `SEARCHABLE_PARAMETERS`).
        label_names: optional list of label names, kept in the model.
        seed: int, the seed of weights initialization, dropout and shuffling,
            the same for every trial.
        verbose: `fit`'s verbosity.
        run_eagerly: bool, whether to train without compiling a graph:
            slower per step, but skips tracing, which dominates for tiny
            models and few steps (tests, debugging).
        name: the hypermodel's name.
        monitor: the validation metric that ranks the trials:
            `"val_accuracy"`, `"val_macro_f1"` (the model then also logs
            `macro_f1`, a `tftransformer.evaluation.SparseF1Score`) or
            `"val_loss"`. `create_tuner` takes it as its objective.

    Example:
    ```python
    hypermodel = TextClassifierHyperModel(
        SearchSpace({"learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"}}),
        num_classes=2,
    )
    tuner = create_tuner(hypermodel, "random", directory="runs/tune", max_trials=8)
    tuner.search(train, validation_data=validation, epochs=1)
    ```
    """

    def __init__(
        self,
        search_space,
        num_classes,
        preset="embedded",
        max_length=128,
        fixed_values=None,
        label_names=None,
        seed=0,
        verbose=0,
        run_eagerly=False,
        name="text_classifier",
        monitor="val_accuracy",
    ):
        if isinstance(search_space, dict):
            search_space = SearchSpace(search_space)
        if not isinstance(search_space, SearchSpace):
            raise ValueError(
                "search_space must be a SearchSpace or a dict of specifications. "
                f"Received: {type(search_space).__name__}"
            )
        num_classes = check_int("num_classes", num_classes, 2)
        max_length = check_int("max_length", max_length, 2)
        check_choice("monitor", monitor, CLASSIFICATION_MONITORS)
        fixed_values = dict(fixed_values or {})
        for key in fixed_values:
            if key not in SEARCHABLE_PARAMETERS:
                raise ValueError(
                    f"fixed_values names an unknown hyperparameter {key!r}. "
                    f"Expected names among: {sorted(SEARCHABLE_PARAMETERS)}"
                )
        checked = {k: v for k, v in fixed_values.items() if v is not None}
        if checked:
            SearchSpace(checked)  # Checks each value against its domain.
        super().__init__(name=name)
        self.search_space = search_space
        self.num_classes = int(num_classes)
        self.preset = preset
        self.max_length = int(max_length)
        self.defaults = {**DEFAULT_HYPERPARAMETERS, **fixed_values}
        self.label_names = None if label_names is None else list(label_names)
        self.seed = seed
        self.verbose = verbose
        self.run_eagerly = bool(run_eagerly)
        self.monitor = monitor
        _check_strategies_available(search_space, self.defaults)

    def search_settings(self):
        """Returns what every trial's score depends on, besides the data.

        `create_tuner` records it with the project and refuses to resume the
        project with other settings: KerasTuner would reload the old space
        and mix scores of different searches.

        Returns:
            A JSON-serialisable dict: the space, the fixed values, the
            number of classes and their names, the preset, `max_length` and
            the seed.
        """
        preset = self.preset
        if isinstance(preset, os.PathLike):
            preset = os.fspath(preset)
        return {
            "search_space": self.search_space.to_dict(),
            "fixed_values": self.defaults,
            "num_classes": self.num_classes,
            "label_names": self.label_names,
            "preset": preset if isinstance(preset, str) else repr(preset),
            "max_length": self.max_length,
            "seed": self.seed,
        }

    def declare_hyperparameters(self, hp):
        """Declares the search space on `hp` (KerasTuner calls this)."""
        self.search_space.declare(hp)

    def trial_values(self, hp):
        """Returns every hyperparameter's value for a trial.

        Args:
            hp: a `keras_tuner.HyperParameters`.

        Returns:
            A dict with every name of `DEFAULT_HYPERPARAMETERS`.
        """
        return {**self.defaults, **self.search_space.declare(hp)}

    def hyperparameters_for(self, values):
        """Returns a `keras_tuner.HyperParameters` set to the given values.

        For training one configuration outside a search, e.g. the default
        one for comparison, or a finished trial's again: `build(hp)` then
        `fit(hp, model, ...)`.

        Each value must be one the search can draw (`SearchSpace.check_value`),
        or the hypermodel's default for that hyperparameter (from
        `fixed_values`, else `DEFAULT_HYPERPARAMETERS`), so that the default
        configuration can be compared with the search's. A conditional value
        (`freeze_layers` when the space also has `lora_rank`) is only taken
        when its condition holds: `freeze_layers` above 0 with a `lora_rank`
        above 0 is refused, as the trial would not freeze anything.
        KerasTuner's Hyperband bookkeeping values (`tuner/epochs`, ...), as
        in a trial's `hyperparameters.values`, are ignored.

        Args:
            values: dict of values of hyperparameters of the space; those
                missing from it take the space's defaults (a range's
                minimum, a choice's first value).

        Returns:
            A `keras_tuner.HyperParameters`.

        Raises:
            ValueError: if `values` names a hyperparameter outside the space,
                gives a value the search cannot draw (and not the default),
                or a conditional value whose condition does not hold.

        Example:
        ```python
        best = tuner.oracle.get_best_trials(1)[0]
        hp = hypermodel.hyperparameters_for(best.hyperparameters.values)
        model = hypermodel.build(hp)
        hypermodel.fit(hp, model, train, validation_data=validation, epochs=3)
        ```
        """
        if not isinstance(values, dict):
            raise ValueError(
                "values must be a dict of hyperparameter names to values. "
                f"Received: {type(values).__name__}"
            )
        values = {
            name: value
            for name, value in values.items()
            if not (isinstance(name, str) and name.startswith(_HYPERBAND_PREFIX))
        }
        outside = sorted(set(values) - set(self.search_space.names), key=str)
        if outside:
            raise ValueError(
                f"values names hyperparameters outside the search space: {outside}; "
                "give those to the hypermodel as fixed_values. Expected names "
                f"among: {list(self.search_space.names)}"
            )
        checked = {}
        for name, value in values.items():
            default = self.defaults.get(name)
            if _is_default(value, default):
                checked[name] = default
            else:
                checked[name] = self.search_space.check_value(name, value)
        hp = keras_tuner.HyperParameters()
        self.search_space.declare(hp)
        for name, value in checked.items():
            condition = self.search_space.condition(name)
            if condition is not None:
                parent, parent_values = condition
                parent_value = checked.get(parent, hp.values.get(parent))
                if parent_value not in parent_values:
                    if value == 0:
                        # What `trial_values` gives for it in such a trial.
                        continue
                    raise ValueError(
                        f"{name}={value!r} only applies when {parent} is one of "
                        f"{list(parent_values)}; received {parent}="
                        f"{parent_value!r}. Expected {name} left out (or 0)."
                    )
            hp.values[name] = value
        return hp

    def build(self, hp):
        """Returns a new classifier on freshly loaded pretrained weights."""
        values = self.trial_values(hp)
        keras.utils.set_random_seed(self.seed)
        backbone, preprocessor = presets.load_backbone(
            self.preset, sequence_length=self.max_length
        )
        classifier = models.TextClassifier(
            backbone,
            num_classes=self.num_classes,
            preprocessor=models.TextClassifierPreprocessor(
                preprocessor.tokenizer, sequence_length=self.max_length
            ),
            pooling=values["pooling"],
            dropout=values["dropout"],
            label_names=self.label_names,
        )
        # The recipe every run applies, so that best.json runs the same way
        # in a `ClassificationConfig` run.
        training.apply_strategy(
            classifier,
            training.FinetuneConfig(
                freeze_layers=values["freeze_layers"],
                layer_decay=values["layer_decay"],
                lora_rank=values["lora_rank"],
            ),
        )
        return classifier

    def fit(
        self,
        hp,
        model,
        x,
        validation_data=None,
        epochs=1,
        initial_epoch=0,
        callbacks=None,
        verbose=None,
        **kwargs,
    ):
        """Compiles and trains `model` with the trial's hyperparameters.

        Args:
            hp: the trial's `keras_tuner.HyperParameters`.
            model: the model `build(hp)` returned.
            x: the training data: a `tftransformer.data.TextClassificationData`,
                or a `(texts, labels)` tuple.
            validation_data: the validation data, same types as `x`.
            epochs: int >= 1, the last epoch (Hyperband sets it per trial).
            initial_epoch: int, the epoch to start from.
            callbacks: list of callbacks (the tuner adds its own).
            verbose: `fit`'s verbosity; defaults to the hypermodel's.
            **kwargs: more arguments of `keras.Model.fit`.

        Returns:
            The `keras.callbacks.History` of the run.

        Raises:
            keras_tuner.errors.FailedTrialError: on a non-finite training loss
                or when out of memory.
        """
        values = self.trial_values(hp)
        # `batch_size` is per replica, as in examples/classify.py.
        strategy = model.distribute_strategy
        batch_size = int(values["batch_size"]) * strategy.num_replicas_in_sync
        train = _texts_and_labels(x, "x")
        validation = (
            None
            if validation_data is None
            else _texts_and_labels(validation_data, "validation_data")
        )
        tokenizer = model.preprocessor.tokenizer
        # Pairs packed as the model's preprocessor packs them.
        separators = preprocessor_pair_separators(model.preprocessor)

        def dataset(split, training):
            texts, labels, pairs = split
            return data.make_classification_dataset(
                texts,
                labels,
                tokenizer,
                batch_size=batch_size,
                max_length=self.max_length,
                shuffle=training,
                seed=self.seed,
                text_pairs=pairs,
                pair_separators=separators,
            )

        train_dataset = dataset(train, True)
        # Length buckets each end with a partial batch: count the batches.
        steps = finetune.count_train_steps(
            train_dataset, max(1, int(epochs) - int(initial_epoch))
        )
        # The optimizer and metrics live in the strategy the model was built in.
        with strategy.scope():
            model.compile(
                optimizer=_create_optimizer(model, values, steps),
                loss=finetune.classification_loss(values["label_smoothing"]),
                metrics=monitored_metrics(self.monitor, self.num_classes),
                run_eagerly=self.run_eagerly,
            )
        guard = _NonFiniteLossGuard()
        try:
            history = model.fit(
                train_dataset,
                validation_data=None
                if validation is None
                else dataset(validation, False),
                epochs=epochs,
                initial_epoch=initial_epoch,
                callbacks=[*(callbacks or []), guard],
                verbose=self.verbose if verbose is None else verbose,
                **kwargs,
            )
        except (tf.errors.ResourceExhaustedError, MemoryError) as e:
            message = str(getattr(e, "message", e)).strip().splitlines()
            raise keras_tuner.errors.FailedTrialError(
                f"Out of memory with batch_size={batch_size}, "
                f"max_length={self.max_length}: {message[0] if message else e!r}"
            ) from e
        if guard.failure is not None:
            epoch, batch, loss = guard.failure
            raise keras_tuner.errors.FailedTrialError(
                f"Non-finite training loss ({loss}) at epoch {epoch + 1}, batch "
                f"{batch + 1}, with learning_rate={values['learning_rate']}"
            )
        return history


class _NonFiniteLossGuard(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that remembers where the loss stopped being finite."""

    def __init__(self):
        super().__init__()
        self.failure = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is not None and self.failure is None:
            loss = float(np.asarray(loss))
            if not math.isfinite(loss):
                self.failure = (self._epoch, batch, loss)
        super().on_batch_end(batch, logs)


def _is_default(value, default):
    """Whether `value` is the hypermodel's default (`None` only for `None`)."""
    if value is None or default is None:
        return value is None and default is None
    if isinstance(value, str) or isinstance(default, str):
        return value == default
    return (
        isinstance(value, numbers.Real)
        and isinstance(default, numbers.Real)
        and not isinstance(value, bool)
        and value == default
    )


def _texts_and_labels(split, name):
    if hasattr(split, "texts") and hasattr(split, "labels"):
        pairs = getattr(split, "text_pairs", None)
        return (
            list(split.texts),
            np.asarray(split.labels),
            None if pairs is None else list(pairs),
        )
    if isinstance(split, tuple) and len(split) == 2:
        texts, labels = split
        return list(texts), np.asarray(labels), None
    raise ValueError(
        f"{name} must be a TextClassificationData or a (texts, labels) tuple. "
        f"Received: {type(split).__name__}"
    )


def _create_optimizer(model, values, num_train_steps):
    kwargs = dict(
        learning_rate=float(values["learning_rate"]),
        num_train_steps=num_train_steps,
        warmup_fraction=float(values["warmup_fraction"]),
        schedule=values["learning_rate_schedule"],
        weight_decay=float(values["weight_decay"]),
    )
    if values["layer_decay"] is not None:
        parameters = inspect.signature(finetune.create_optimizer).parameters
        kwargs["layer_decay"] = float(values["layer_decay"])
        if "model" in parameters:
            kwargs["model"] = model
    return finetune.create_optimizer(**kwargs)


def _check_strategies_available(search_space, defaults):
    """Refuses, before any trial, strategies this version does not have."""
    if not ("lora_rank" in search_space and "freeze_layers" in search_space):
        # Otherwise the space makes freeze_layers conditional on no LoRA.
        highest = {
            name: search_space.bounds(name)[1]
            if name in search_space
            else defaults[name] or 0
            for name in ("lora_rank", "freeze_layers")
        }
        if highest["lora_rank"] > 0 and highest["freeze_layers"] > 0:
            raise ValueError(
                "lora_rank and freeze_layers cannot both be above 0: LoRA already "
                "freezes the whole backbone but its adapters. Received: up to "
                f"lora_rank={highest['lora_rank']} and "
                f"freeze_layers={highest['freeze_layers']}"
            )

    def used(name, off):
        if name in search_space:
            low, high = search_space.bounds(name)
            return not (low == high == off)
        return defaults.get(name) not in (None, off)

    if used("lora_rank", 0) and not hasattr(finetune, "apply_lora"):
        raise ValueError(
            "lora_rank needs tftransformer.finetune.apply_lora, which this "
            "version does not have. Remove lora_rank from the search space."
        )
    if used("layer_decay", None) and (
        "layer_decay" not in inspect.signature(finetune.create_optimizer).parameters
    ):
        raise ValueError(
            "layer_decay needs tftransformer.finetune.create_optimizer("
            "layer_decay=...), which this version does not have. Remove "
            "layer_decay from the search space."
        )
