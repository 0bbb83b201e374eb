import json
import numbers
import os
import shutil
import time

import keras
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int, check_path
from tftransformer._warnings import warn
from tftransformer.data._autotune import without_autotuning
from tftransformer.models._task_base import build_optimizer_before_step
from tftransformer.training._workers import workers_agree
from tftransformer.training.checkpointing import (
    CHECKPOINT_FILE,
    read_checkpoint,
    remove_temporary_files,
    setting_differences,
    write_checkpoint,
)

__all__ = ["ResumableTraining"]


def _jsonable(config):
    return json.loads(json.dumps(config, default=repr))


def _numpy(variable):
    return np.array(keras.ops.convert_to_numpy(variable))


def _unwrapped(train_function):
    # A fit interrupted by an exception leaves its wrapper on the model.
    while hasattr(train_function, "wrapped"):
        train_function = train_function.wrapped
    return train_function


def _float_or_none(value):
    if value is None:
        return None
    return float(value)


class ResumableTraining(keras.callbacks.Callback):
    """Checkpoints the whole training state so a killed `fit` resumes exactly.

    A checkpoint (`directory/checkpoint.safetensors`) holds every model
    variable (weights and the dropout layers' random-seed states), every
    optimizer variable (its iteration counter, which drives the learning
    rate schedule, and its moments), the metrics' running totals, the epoch
    and step reached, the `history` so far, the training time so far
    (`train_seconds`) and, with `early_stopping`, that callback's best
    value, wait count and best weights. It is written
    atomically (see `tftransformer.training.checkpointing`) at every epoch's
    end and, with an integer `save_freq`, every `save_freq` steps.

    When `fit` starts and a checkpoint exists, everything is restored and
    `fit` continues from the epoch and step it holds: the batches of the
    current epoch that were already trained are drawn from the data and
    skipped, not trained on again. For the data order of a resumed epoch to
    be the one the interrupted run saw, pass the training data through
    `epoch_dataset`, which rebuilds the data of each epoch from its number.

    A step whose weights hold a NaN or infinity is never saved: the save
    raises `FloatingPointError` and the last good checkpoint stays.

    When `fit` ends, the checkpoint is deleted, or with
    `keep_final_checkpoint` replaced by one holding the final weights (after
    early stopping restored the best ones) and, unless it is `"weights"`,
    the optimizer state; a later `fit` with this callback then restores
    those and trains no further. `"weights"` keeps the run's footprint
    small: the optimizer's slots (twice the weights for Adam) are only
    needed to train on, which a finished run does not. For the same reason
    the checkpoint written at the end of the last epoch holds the slots only
    with `keep_final_checkpoint=True`: a `fit` resumed from it trains no
    further.

    During `fit` the callback wraps `model.train_function`, to skip the
    trained batches of a resumed epoch and to end each `epoch_dataset` epoch
    without a call on exhausted data; it puts the original back when `fit`
    ends.

    `train_seconds` is the wall time of the `fit` calls that trained this
    run, summed over resumes: the time of the current `fit` plus what the
    restored checkpoint holds (time after its last save, lost to a kill, is
    not counted). Rerunning a finished run keeps its original time.

    Place this callback after `early_stopping` in the callbacks list: it
    restores that callback's state after `EarlyStopping.on_train_begin` has
    reset it. `tftransformer.training.training_callbacks` does so. Place it
    also after callbacks that make Keras trace a new train step in
    `on_train_batch_begin`, which would replace its wrapper for that batch.

    Args:
        directory: str or path-like, where the checkpoint lives.
        save_freq: `"epoch"`, or an int > 0: also save every `save_freq`
            optimizer steps, so that a kill loses at most that many.
        early_stopping: optional `keras.callbacks.EarlyStopping` whose state
            is saved and restored.
        run_config: optional JSON-serialisable dict describing the run (its
            settings, a fingerprint of its data). A checkpoint written with
            another `run_config` is refused instead of resumed.
        keep_final_checkpoint: `False` deletes the checkpoint when `fit`
            ends; `True` replaces it by one of the final weights and
            optimizer state; `"weights"` by one of the final weights only.
        read_only: bool, restore from `directory` but never write or delete
            there (the non-chief workers of a multi-worker run).
        verbose: 0 or 1; 1 prints a line when resuming.

    Example:
    ```python
    early_stopping = keras.callbacks.EarlyStopping(restore_best_weights=True)
    resumable = ResumableTraining(
        "runs/sst2/backup", save_freq=100, early_stopping=early_stopping
    )
    train = resumable.epoch_dataset(
        lambda epoch: make_classification_dataset(
            texts, labels, tokenizer, 32, seed=epoch_seed(0, epoch)
        )
    )
    model.fit(train, epochs=3, callbacks=[early_stopping, resumable])
    # Killed? Run the same lines again: training resumes where it stopped.
    ```
    """

    def __init__(
        self,
        directory,
        save_freq="epoch",
        early_stopping=None,
        run_config=None,
        keep_final_checkpoint=False,
        read_only=False,
        verbose=1,
    ):
        super().__init__()
        if save_freq != "epoch":
            save_freq = check_int("save_freq", save_freq, 1, what=" (steps) or 'epoch'")
        if early_stopping is not None and not isinstance(
            early_stopping, keras.callbacks.EarlyStopping
        ):
            raise ValueError(
                "early_stopping must be None or a keras.callbacks.EarlyStopping. "
                f"Received: early_stopping={early_stopping!r}"
            )
        if keep_final_checkpoint not in (False, True, "weights"):
            raise ValueError(
                "keep_final_checkpoint must be False, True or 'weights'. "
                f"Received: keep_final_checkpoint={keep_final_checkpoint!r}"
            )
        if run_config is not None:
            if not isinstance(run_config, dict):
                raise ValueError(
                    f"run_config must be None or a dict. Received: {run_config!r}"
                )
            run_config = _jsonable(run_config)
        self.directory = check_path("directory", directory)
        self.path = os.path.join(self.directory, CHECKPOINT_FILE)
        self.save_freq = save_freq
        self.early_stopping = early_stopping
        self.run_config = run_config
        self.keep_final_checkpoint = keep_final_checkpoint
        self.read_only = read_only
        self.verbose = verbose
        self.history = {}
        # Training time of earlier `fit` calls of this run (restored), and
        # when the current one began.
        self._seconds_before = 0.0
        self._fit_start = None
        # The epoch `fit` is in, and its batches; `epoch_dataset` reads them.
        self._epoch = 0
        self._make_dataset = None
        self._first_dataset = None
        self._prepared = None
        self._reset_progress()

    @property
    def train_seconds(self):
        """Seconds of training so far in this run, summed over resumes."""
        if self._fit_start is None:
            return self._seconds_before
        return self._seconds_before + time.monotonic() - self._fit_start

    def _reset_progress(self):
        self._global_step = 0
        self._epoch_start_step = 0
        self._skip_epoch = None
        self._skip_steps = 0
        self._skip_remaining = 0
        self._train_function = None
        self._steps_drawn = 0
        self._epoch_batches = None
        self._saved_metrics = None
        self._saved_optimizer = None
        self._early_stopping_state = None
        self._finished = False

    # === Data ===

    def epoch_dataset(self, make_dataset):
        """Returns a dataset for `fit` whose every pass is one epoch's data.

        Each pass (one per epoch) yields `make_dataset(epoch)` for the epoch
        `fit` is in, so a function that seeds its shuffling with the epoch
        number (e.g. `checkpointing.epoch_seed(seed, epoch)`) gives a resumed
        run the same order as an uninterrupted one. Use it in a `fit` whose
        callbacks hold this callback.

        At each epoch's start this callback reads the whole epoch's batches
        into memory (as NumPy arrays: the tokenized data, not the texts),
        and the dataset hands them to `fit` through a Python generator, so
        no TensorFlow op runs inside the generator. Knowing the number of
        batches, the callback ends the epoch without calling Keras' train
        step once more on the exhausted data: that call would still apply
        AdamW's weight decay and count an optimizer step (the data read fails
        only after those ran).

        `make_dataset(0)` is called here, for the element structure, and
        its dataset is the one epoch 0 reads.

        Args:
            make_dataset: callable taking the epoch (int, 0-based) and
                returning a finite `tf.data.Dataset` of batches; the element
                structure must not depend on the epoch.

        Returns:
            A `tf.data.Dataset` to pass to `fit` with this callback.
        """
        if not callable(make_dataset):
            raise ValueError(
                f"make_dataset must be a callable. Received: {make_dataset!r}"
            )
        self._make_dataset = make_dataset
        # Made once for its element spec and kept as epoch 0's data: making
        # a dataset may tokenize all the texts.
        self._first_dataset = make_dataset(0)
        element_spec = self._first_dataset.element_spec

        def generate():
            prepared, self._prepared = self._prepared, None
            if prepared is not None and prepared[0] == self._epoch:
                yield from prepared[1]
            else:
                # A pass outside an epoch: Keras reading a first batch to
                # build the model under a distribution strategy.
                data = without_autotuning(self._epoch_data(self._epoch))
                yield from data.as_numpy_iterator()

        dataset = tf.data.Dataset.from_generator(
            generate, output_signature=element_spec
        )
        # Keras reads the length of the first epoch's data instead of learning
        # it at that epoch's end: `n/N` progress from the start, and no "ran
        # out of data" warning when this callback ends the epoch.
        batches = int(self._first_dataset.cardinality())
        if batches > 0:
            dataset = dataset.apply(tf.data.experimental.assert_cardinality(batches))
        # Keras deletes each epoch's iterator: see `without_autotuning`.
        return without_autotuning(dataset)

    def _epoch_data(self, epoch):
        if epoch == 0 and self._first_dataset is not None:
            return self._first_dataset
        return self._make_dataset(epoch)

    def _prepare_epoch(self, epoch):
        if self._make_dataset is None:
            return
        dataset = self._epoch_data(epoch)
        self._first_dataset = None
        # Read whole and its iterator deleted: see `without_autotuning`.
        batches = list(without_autotuning(dataset).as_numpy_iterator())
        self._prepared = (epoch, batches)
        self._epoch_batches = (epoch, len(batches))

    # === Saving ===

    def _state(self, epoch, step, finished=False, optimizer=True):
        state = {
            "epoch": epoch,
            "step": step,
            "global_step": self._global_step,
            "finished": finished,
            "stop_training": bool(getattr(self.model, "stop_training", False)),
            "history": self.history,
            "train_seconds": self.train_seconds,
            "run_config": self.run_config,
            "keras_version": keras.__version__,
        }
        arrays = {}

        def add(group, variables):
            names = []
            for i, variable in enumerate(variables):
                arrays[f"{group}/{i:05d}"] = _numpy(variable)
                names.append(getattr(variable, "path", None) or variable.name)
            state[f"{group}_variables"] = names

        add("model", self.model.variables)
        model_optimizer = self.model.optimizer
        if optimizer and model_optimizer is not None and model_optimizer.built:
            add("optimizer", model_optimizer.variables)
        if step:
            add("metrics", self.model.metrics_variables)
        if not finished:
            state["early_stopping"] = self._early_stopping_to_state(arrays)
        return arrays, state

    def _early_stopping_to_state(self, arrays):
        es = self.early_stopping
        if es is None:
            return None
        best_weights = es.best_weights
        if best_weights is not None:
            for i, weight in enumerate(best_weights):
                arrays[f"best/{i:05d}"] = np.asarray(weight)
        return {
            "best": _float_or_none(es.best),
            "wait": int(es.wait),
            "best_epoch": int(es.best_epoch),
            "stopped_epoch": int(es.stopped_epoch),
            "num_best_weights": None if best_weights is None else len(best_weights),
        }

    def _check_finite(self, arrays, state):
        for name, array in arrays.items():
            group, index = name.split("/")
            if group not in ("model", "optimizer") or not np.issubdtype(
                array.dtype, np.floating
            ):
                continue
            if not np.isfinite(array).all():
                where = (
                    f"epoch {state['epoch'] + 1}, batch {state['step']}"
                    if state["step"]
                    else f"end of epoch {state['epoch']}"
                )
                raise FloatingPointError(
                    f"Training produced a non-finite value in "
                    f"{state[group + '_variables'][int(index)]!r} by step "
                    f"{self._global_step} ({where}). Not saving it: the last "
                    f"good checkpoint stays in {self.path}. Lower the learning "
                    "rate or check the data, then rerun to resume from it."
                )

    def _save(self, epoch, step, finished=False, optimizer=True):
        arrays, state = self._state(epoch, step, finished, optimizer)
        # On read-only workers too: each must stop where the chief does (the
        # weights are the same on every worker, so the verdict is too).
        self._check_finite(arrays, state)
        if not self.read_only:
            write_checkpoint(self.path, arrays, state)

    # === Restoring ===

    def _assign(self, group, variables, arrays, state):
        variables = list(variables)
        saved = [arrays.get(f"{group}/{i:05d}") for i in range(len(variables))]
        count = len(state.get(f"{group}_variables", []))
        if count != len(variables):
            raise ValueError(
                f"The checkpoint {self.path} does not fit this model: it holds "
                f"{count} {group} variables, the model has {len(variables)}. "
                "Resume with the model it was written for, or delete "
                f"{self.directory} to start over."
            )
        for i, (variable, array) in enumerate(zip(variables, saved)):
            if tuple(array.shape) != tuple(variable.shape):
                raise ValueError(
                    f"The checkpoint {self.path} does not fit this model: "
                    f"{group} variable {i} ({state[f'{group}_variables'][i]!r}) "
                    f"has shape {tuple(array.shape)}, the model's "
                    f"{variable.path!r} has {tuple(variable.shape)}. Resume with "
                    f"the model it was written for, or delete {self.directory} "
                    "to start over."
                )
        for variable, array in zip(variables, saved):
            variable.assign(array.astype(variable.dtype, copy=False))

    def _restore(self):
        arrays, state = read_checkpoint(self.path)
        saved = state.get("run_config")
        if self.run_config is not None and saved is not None:
            changes = setting_differences(saved, self.run_config)
            if changes:
                raise ValueError(
                    f"The checkpoint {self.path} is of a run with other settings: "
                    f"{'; '.join(changes)}. Rerun with the same settings to "
                    f"resume, or delete {self.directory} to start over."
                )
        self._assign("model", self.model.variables, arrays, state)
        if "optimizer_variables" in state:
            self._saved_optimizer = (arrays, state)
        self.history = {k: list(v) for k, v in state["history"].items()}
        # Checkpoints written before this key existed: time unknown, from 0.
        self._seconds_before = float(state.get("train_seconds", 0.0))
        self.model.history.history = {k: list(v) for k, v in self.history.items()}
        self._global_step = state["global_step"]
        epoch, step = state["epoch"], state["step"]
        if state["finished"] or state["stop_training"]:
            # Training ended (or early stopping ended it) before the kill.
            self._finished = state["finished"]
            self.model._initial_epoch = self.params.get("epochs", epoch)
        else:
            # `fit` starts at `_initial_epoch` (as in BackupAndRestore).
            self.model._initial_epoch = epoch
        if step:
            self._skip_epoch, self._skip_steps = epoch, step
            self._saved_metrics = [
                arrays[f"metrics/{i:05d}"]
                for i in range(len(state.get("metrics_variables", [])))
            ]
        self._epoch = epoch
        es_state = state.get("early_stopping")
        if self.early_stopping is not None and es_state is not None:
            best_weights = None
            if es_state["num_best_weights"] is not None:
                best_weights = [
                    arrays[f"best/{i:05d}"] for i in range(es_state["num_best_weights"])
                ]
            self._early_stopping_state = dict(es_state, best_weights=best_weights)
            self._apply_early_stopping_state()
        if self.verbose:
            if state["finished"]:
                where = "training had finished"
            elif state["stop_training"]:
                where = "early stopping had ended training"
            else:
                where = f"epoch {epoch + 1}, step {step}"
            print(
                f"Resuming from {self.path}: {where} (global step {self._global_step})."
            )

    def _restore_optimizer(self):
        if self._saved_optimizer is None:
            return
        (arrays, state), self._saved_optimizer = self._saved_optimizer, None
        optimizer = self.model.optimizer
        if not optimizer.built:
            # What Keras would build at the first step.
            optimizer.build(self.model.trainable_variables)
        self._assign("optimizer", optimizer.variables, arrays, state)

    def _apply_early_stopping_state(self):
        es, saved = self.early_stopping, self._early_stopping_state
        if saved is None:
            return
        es.best = saved["best"]
        es.wait = saved["wait"]
        es.best_epoch = saved["best_epoch"]
        es.stopped_epoch = saved["stopped_epoch"]
        es.best_weights = saved["best_weights"]

    def _restore_metrics(self, data):
        """Puts back the metrics' totals of the interrupted epoch."""
        saved, self._saved_metrics = self._saved_metrics, None
        if not saved:
            return
        if len(self.model.metrics_variables) < len(saved):
            # Metrics create their variables on first use: feed them one
            # batch, then overwrite what it added.
            x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
            y_pred = self.model(x, training=False)
            self.model.compute_metrics(x, y, y_pred, sample_weight)
        variables = self.model.metrics_variables
        if len(variables) != len(saved) or any(
            tuple(v.shape) != a.shape for v, a in zip(variables, saved)
        ):
            warn(
                f"The metrics in {self.path} do not fit this model's; "
                "the training metrics of the resumed epoch count only the "
                "steps after the resume.",
            )
            return
        for variable, array in zip(variables, saved):
            variable.assign(array.astype(variable.dtype, copy=False))

    def _install_train_function(self):
        """Wraps `fit`'s train step: skips trained batches, stops at the end."""
        model = self.model
        train_function = _unwrapped(model.train_function)
        steps_per_execution = max(1, int(getattr(model, "steps_per_execution", 1)))

        def resumable_train_function(iterator):
            if self._skip_remaining:
                count = min(steps_per_execution, self._skip_remaining)
                if isinstance(iterator, (list, tuple)):
                    batches = list(iterator)[:count]  # drawn already (JAX, torch)
                else:
                    batches = [next(iterator) for _ in range(count)]
                self._skip_remaining -= count
                self._steps_drawn += count
                self._restore_metrics(batches[0])
                return model.get_metrics_result()
            known = self._epoch_batches
            if known and known[0] == self._epoch and self._steps_drawn >= known[1]:
                raise StopIteration
            self._steps_drawn += steps_per_execution
            build_optimizer_before_step(model)  # before the step's trace
            return train_function(iterator)

        resumable_train_function.wrapped = train_function
        self._train_function = resumable_train_function
        model.train_function = resumable_train_function

    # === Callback hooks ===

    def on_train_begin(self, logs=None):
        self._reset_progress()
        self._epoch = 0
        self.history = {}
        self._seconds_before = 0.0
        self._fit_start = time.monotonic()
        if not self.read_only:
            os.makedirs(self.directory, exist_ok=True)
            remove_temporary_files(self.directory)
        if os.path.isfile(self.path):
            self._restore()
        # Also a barrier: no worker goes on (and the chief, with nothing left
        # to train, deletes the checkpoint) before every worker has read it.
        resumed_at = [self._global_step, self.model._initial_epoch or 0]
        if not workers_agree(self.model.distribute_strategy, resumed_at):
            raise ValueError(
                "The workers of this run would resume from different points: "
                f"this one from global step {resumed_at[0]} (epoch "
                f"{resumed_at[1]}), read from {self.path!r}. Every worker must "
                "read the chief's checkpoint: put the run's directory on a "
                "file system all workers mount."
            )

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        # Restored now, after every callback's `on_train_begin`: one may build
        # the optimizer over more variables (GradualUnfreezing), an
        # EarlyStopping placed after this callback resets its state there.
        self._restore_optimizer()
        self._apply_early_stopping_state()
        self._early_stopping_state = None
        self._epoch_start_step = self._global_step
        self._steps_drawn = 0
        self._epoch_batches = None
        self._prepare_epoch(epoch)
        if self._skip_epoch == epoch:
            self._epoch_start_step -= self._skip_steps
            self._skip_remaining = self._skip_steps

    def on_train_batch_begin(self, batch, logs=None):
        # Installed per batch, as late as possible: a callback that makes
        # Keras trace a new train step (e.g. GradualUnfreezing) replaces it.
        if self.model.train_function is not self._train_function:
            self._install_train_function()

    def on_train_batch_end(self, batch, logs=None):
        if self._skip_epoch == self._epoch and batch < self._skip_steps:
            return
        steps_done = batch + 1
        previous = self._global_step
        self._global_step = self._epoch_start_step + steps_done
        if self.save_freq != "epoch" and (
            self._global_step // self.save_freq > previous // self.save_freq
        ):
            self._save(self._epoch, steps_done)

    def on_epoch_end(self, epoch, logs=None):
        self._skip_epoch = None
        if self._skip_remaining:
            warn(
                f"The resumed epoch {epoch + 1} ended after "
                f"{self._steps_drawn} batches, before the "
                f"{self._steps_drawn + self._skip_remaining} the checkpoint "
                f"{self.path} had trained: its data or batch size changed "
                "since. The next epoch starts from its first batch.",
            )
            self._skip_remaining = 0
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(
                float(value) if isinstance(value, (numbers.Real, np.generic)) else value
            )
        # After the last epoch, a resumed `fit` trains no further: the
        # optimizer's slots (twice the weights with Adam) are written only if
        # the final checkpoint keeps them.
        last = epoch + 1 >= self.params.get("epochs", float("inf"))
        self._save(
            epoch + 1, 0, optimizer=not last or self.keep_final_checkpoint is True
        )

    def on_train_end(self, logs=None):
        self._seconds_before = self.train_seconds
        self._fit_start = None
        self.model._initial_epoch = None
        self._prepared = None
        self._first_dataset = None
        # Training may have ended before any epoch ran (early stopping had
        # ended it): the optimizer still gets its state back.
        self._restore_optimizer()
        if self._train_function is not None and (
            self.model.train_function is self._train_function
        ):
            self.model.train_function = _unwrapped(self._train_function)
        if self._finished or self.read_only:
            return
        if self.keep_final_checkpoint:
            epoch = len(next(iter(self.history.values()), []))
            self._save(
                epoch, 0, finished=True, optimizer=self.keep_final_checkpoint is True
            )
        elif os.path.isfile(self.path):
            os.remove(self.path)
            remove_temporary_files(self.directory)
            if not os.listdir(self.directory):
                shutil.rmtree(self.directory, ignore_errors=True)
