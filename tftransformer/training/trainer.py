"""`Trainer`: a fine-tuning run around a plain `model.fit`."""

import json
import os

import keras
from absl import logging

from tftransformer import distribute
from tftransformer.data.classification_dataset import make_classification_dataset
from tftransformer.data.multi_label_data import MultiLabelData
from tftransformer.data.regression_data import RegressionData
from tftransformer.data.text_classification_data import TextClassificationData
from tftransformer.data.unknown_pieces import (
    unknown_piece_share,
    unknown_share_warning,
)
from tftransformer.finetune.lora import save_lora_weights
from tftransformer.finetune.losses import class_weights
from tftransformer.finetune.optimizers import count_train_steps, create_optimizer
from tftransformer.models.backbone_adapter import (
    adapter_for,
    preprocessor_pair_separators,
)
from tftransformer.training._settings import ConfigError
from tftransformer.training.apply_strategy import apply_strategy, strategy_callbacks
from tftransformer.training.callbacks import training_callbacks
from tftransformer.training.checkpointing import (
    atomic_write,
    check_run_directory,
    epoch_seed,
    fingerprint,
    remove_temporary_files,
    save_model_file,
)
from tftransformer.training.finetune_config import FinetuneConfig
from tftransformer.training.resumable_training import ResumableTraining
from tftransformer.training.training_result import TrainingResult
from tftransformer.training.training_summary import (
    describe_packing,
    describe_training,
    format_training_summary,
    write_training_summary,
)

__all__ = ["Trainer"]

# In-memory data `Trainer.dataset` tokenizes: texts (and pairs) with labels.
_TEXT_DATA = (TextClassificationData, MultiLabelData, RegressionData)

# In `model_dir`: every field of the run's config, as `--config` reads it.
RUN_CONFIG_FILE = "run_config.json"

# Set on a model by `Trainer` once its recipe is applied.
_STRATEGY_ATTRIBUTE = "_tftransformer_strategy_name"


class Trainer:
    """Runs `model.fit` as a fine-tuning run, from a user's own script.

    The trainer owns what every run needs and no script should repeat:

    - the `tf.distribute` strategy of `config.distribution`, made first
      (build the model inside `trainer.scope()`); `batch_size` is per
      replica;
    - the transfer recipe (`apply_strategy`) and the optimizer (AdamW with
      warmup and linear decay, layer-wise decay, loss scaling for float16,
      gradient accumulation) when the model is not compiled yet;
    - the run directory: a directory holding another run (other run
      settings, other data, another task's `model.keras`) is refused before
      anything is written, and files torn by a killed save are cleared;
    - resume: rerunning a killed script resumes from the last checkpoint in
      `model_dir/backup` (weights, optimizer, epoch and step, early
      stopping, history, random state), with the same data order;
    - early stopping on `config.monitor` with the best epoch's weights, a
      stop at the first non-finite loss, the time budget, per-epoch weight
      files (bounded by `keep_checkpoints`), TensorBoard logs;
    - chief-only writes under any strategy, atomic saves of `model.keras`,
      `run_config.json` (every field of the config, a `--config` file to
      run it again), `training_summary.json` and `history.json`.

    Underneath it is a plain `model.fit` with callbacks: pass your own in
    `callbacks`.

    Args:
        config: a `TrainingConfig`; a `FinetuneConfig` (or a task config
            subclassing it) also applies its transfer recipe.
        strategy: optional `tf.distribute.Strategy`; defaults to
            `distribute.get_strategy(config.distribution)`.
        verbose: 0 or 1; only the chief prints.

    Example:
    ```python
    config = tft.training.ClassificationConfig(epochs=1, model_dir="runs/demo")
    trainer = tft.training.Trainer(config)
    with trainer.scope():
        model = tft.models.TextClassifier.from_preset("embedded", num_classes=2)
    result = trainer.fit(model, splits.train, splits.validation)
    ```
    """

    def __init__(self, config, strategy=None, verbose=1):
        if not hasattr(config, "run_settings"):
            raise ConfigError(
                "config must be a TrainingConfig or a subclass of it. "
                f"Received: config={config!r}"
            )
        config.validate()
        self.config = config
        # Before any other TensorFlow call: strategies configure the devices.
        self.strategy = strategy or distribute.get_strategy(config.distribution)
        self.chief = distribute.is_chief(self.strategy)
        replicas = self.strategy.num_replicas_in_sync
        if config.gradient_accumulation_steps > 1 and replicas > 1:
            # Keras accumulates inside a conditional, where tf.distribute
            # cannot aggregate the replicas' gradients (merge_call).
            raise ConfigError(
                "gradient_accumulation_steps > 1 runs on one replica only: "
                "Keras' accumulation cannot aggregate gradients across "
                f"{replicas} replicas. Raise batch_size instead. Received: "
                f"gradient_accumulation_steps={config.gradient_accumulation_steps}, "
                f"distribution={config.distribution!r}"
            )
        self.verbose = verbose if self.chief else 0
        keras.utils.set_random_seed(config.seed)

    def scope(self):
        """The strategy's scope: build and compile models inside it."""
        return self.strategy.scope()

    @property
    def global_batch_size(self):
        """`config.batch_size` times the strategy's replicas."""
        return distribute.global_batch_size(self.config.batch_size, self.strategy)

    def print_splits(self, train, validation, test, details="", unit=""):
        """Prints a run's split sizes, on the chief when `verbose`.

        `Data: 900 train (rotten_tomatoes), 100 validation, 100 test;
        labels ['neg', 'pos']`.

        Args:
            train: the training split; its `source`, where it has one
                (the data classes of `tftransformer.data` do), is named.
            validation: the validation split.
            test: the test split.
            details: what follows the sizes, after a semicolon.
            unit: the examples' name after the test count ("sentences").
        """
        if not self.verbose:
            return
        source = getattr(train, "source", None)
        line = f"Data: {len(train)} train"
        line += f" ({source})" if source else ""
        line += f", {len(validation)} validation, {len(test)} test"
        line += f" {unit}" if unit else ""
        if len(test) and _same_examples(validation, test):
            # Without a test file, the loaders test on the validation split,
            # which picked the epoch: the score is optimistic.
            line += " (the validation examples: give a test file for an unbiased score)"
        print(line + (f"; {details}" if details else ""))

    # === Data ===

    def dataset(self, data, model, training=False, epoch=0):
        """A batched, tokenized `tf.data.Dataset` of classification data.

        Args:
            data: a `tftransformer.data.TextClassificationData`,
                `MultiLabelData` (0/1 label rows) or `RegressionData`
                (float targets).
            model: the task model whose preprocessor's tokenizer is used.
            training: shuffle, with a seed of `(config.seed, epoch)`, so a
                resumed epoch sees the batches the interrupted one saw; and
                pack several texts per row with `config.pack_sequences`.
            epoch: the epoch, for the shuffling seed.
        """
        self._check_sequence_length(model)
        tokenizer = model.preprocessor.tokenizer
        pack = training and getattr(self.config, "pack_sequences", False)
        if pack:
            # Refused before any text is tokenized, naming the family.
            adapter_for(model).check_recipe("sequence packing")
        return make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=self.global_batch_size,
            max_length=self.config.max_length,
            shuffle=training,
            seed=epoch_seed(self.config.seed, epoch) if training else self.config.seed,
            text_pairs=None if data.text_pairs is None else list(data.text_pairs),
            # Pairs packed as the model's preprocessor packs them.
            pair_separators=preprocessor_pair_separators(model.preprocessor),
            pack=pack,
        )

    def _check_sequence_length(self, model):
        """Refuses a model whose preprocessor reads texts at another length
        than the config's `max_length`, which tokenizes its text data: the
        texts would train at one length and be predicted and exported at
        another (or run past the position table)."""
        length = getattr(getattr(model, "preprocessor", None), "sequence_length", None)
        if length is not None and length != self.config.max_length:
            raise ValueError(
                f"The model's preprocessor reads texts of {length} tokens, but "
                f"the config's max_length={self.config.max_length} would "
                "tokenize its training data: make the model with "
                "`from_preset(..., sequence_length=config.max_length)`. "
                f"Received: sequence_length={length}, "
                f"max_length={self.config.max_length}"
            )

    def epoch_dataset(self, model, train, epoch):
        """The training data of `epoch` (0-based), in the order `fit` reads it.

        A new dataset each call (for text data and a function of the
        epoch): reading it leaves the data `fit` reads as it was (the first
        epoch's dataset `compile` made reshuffles at each reading). A
        `tf.data.Dataset` of your own is returned as given.

        Args:
            model: the task model (its preprocessor tokenizes texts).
            train: the training data as `fit` takes it.
            epoch: the epoch, for the shuffling seed.
        """
        return self._epoch_maker(model, train)(epoch)

    def _epoch_maker(self, model, train):
        if isinstance(train, _TEXT_DATA):
            return lambda epoch: self.dataset(train, model, training=True, epoch=epoch)
        if callable(train):
            return train
        return lambda epoch: train

    def _epoch_datasets(self, model, train):
        cached_train, cached = getattr(self, "_first_epoch", (None, None))
        make = self._epoch_maker(model, train)
        if cached_train is not train:
            return make
        # Epoch 0's dataset made by `compile`: it tokenized the texts once.
        return lambda epoch: cached if epoch == 0 else make(epoch)

    # === Model ===

    def compile(
        self,
        model,
        train=None,
        num_train_steps=None,
        loss=None,
        metrics=None,
        head_layers=None,
        **kwargs,
    ):
        """Applies the recipe and compiles `model` with the config's optimizer.

        AdamW with linear warmup and decay over the run's optimizer steps
        (`tftransformer.finetune.create_optimizer`), layer-wise decay with
        `layer_decay`, the new head's own peak rate with a config's
        `head_learning_rate`, loss scaling for float16, gradient accumulation.

        Args:
            model: the task model, built in `trainer.scope()`.
            train: the training data as `fit` takes it, to count the run's
                batches (epoch 0's dataset is kept for `fit`); or give
                `num_train_steps`.
            num_train_steps: batches of the whole run, for the schedule.
            loss, metrics: passed to `model.compile`; `None` leaves the
                task's defaults (a keras-hub task's `"auto"`).
            head_layers: optional layers newly added on the backbone (e.g.
                `[tagger.output_dense]`); with a config whose
                `head_learning_rate` is set, their variables train at that
                peak rate (over layer-wise decay's 1.0), as new layers from
                random weights often need more than the backbone.
            **kwargs: more `model.compile` arguments.
        """
        config = self.config
        self.apply_strategy(model)
        if num_train_steps is None:
            if train is None:
                raise ValueError("compile needs train or num_train_steps.")
            first_epoch = self._epoch_datasets(model, train)(0)
            self._first_epoch = (train, first_epoch)
            num_train_steps = count_train_steps(first_epoch, config.epochs)
        steps = max(1, -(-num_train_steps // config.gradient_accumulation_steps))
        with self.scope():
            optimizer = create_optimizer(
                config.learning_rate,
                num_train_steps=steps,
                warmup_fraction=config.warmup_fraction,
                schedule=config.learning_rate_schedule,
                weight_decay=config.weight_decay,
                layer_decay=getattr(config, "layer_decay", None),
                model=model,
                learning_rate_multipliers=_head_multipliers(config, head_layers),
                gradient_accumulation_steps=config.gradient_accumulation_steps,
            )
            if config.mixed_precision == "float16":
                # float16 needs loss scaling; bfloat16 has float32's range.
                optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
            given = {"loss": loss, "metrics": metrics}
            model.compile(
                optimizer=optimizer,
                jit_compile=config.jit_compile,
                **{name: value for name, value in given.items() if value is not None},
                **kwargs,
            )

    def apply_strategy(self, model):
        """Applies the config's recipe to `model` once; returns its name."""
        name = getattr(model, _STRATEGY_ATTRIBUTE, None)
        if name is None:
            # A from-scratch config may have a recipe too (a language
            # model fine-tuned from a preset).
            if _strategy_options(self.config) is not None:
                name = apply_strategy(model, self.config)
            else:
                name = "training every layer"
            setattr(model, _STRATEGY_ATTRIBUTE, name)
        return name

    # === Training ===

    def fit(
        self,
        model,
        train,
        validation=None,
        *,
        label_names=None,
        run_config=None,
        callbacks=(),
        class_weight=None,
        loss=None,
        metrics=None,
        head_layers=None,
        evaluation_callbacks=(),
        final_model=None,
    ):
        """Trains `model` as a resumable run in `config.model_dir`.

        Args:
            model: a task model built in `trainer.scope()`. Unless it was
                compiled with an optimizer of its own (by `trainer.compile`
                or the user), it is compiled here with the config's
                optimizer, and `loss` and `metrics`.
            train: the training data: a `TextClassificationData`,
                `MultiLabelData` or `RegressionData` (tokenized
                with the model's preprocessor, shuffled each epoch by
                `(seed, epoch)`), a callable taking the epoch and returning
                that epoch's `tf.data.Dataset`, or one `tf.data.Dataset` for
                every epoch.
            validation: optional data of the same kinds (a dataset or a
                `TextClassificationData`).
            label_names: optional label names (default: the model's
                `label_names`); a `model_dir` whose `model.keras` has other
                labels is refused.
            run_config: optional dict of more settings the resumed run must
                share (e.g. a fingerprint of data given as a dataset).
            callbacks: more Keras callbacks, run after the trainer's.
            class_weight: optional dict of class id to loss weight; `None`
                with a config whose `class_weighting` is set weights classes
                by inverse frequency.
            loss, metrics, head_layers: for the compile here (see
                `compile`); `None` keeps the task's defaults.
            evaluation_callbacks: callbacks that add scores to each epoch's
                logs (e.g. `EntityF1Callback`'s `val_entity_f1`); they run
                before the trainer's, so that early stopping and the best
                checkpoint can watch what they add (`config.monitor`).
            final_model: optional model written to `model.keras` at the end
                instead of `model`: the part of a training model that is
                used afterwards (e.g. the `TextEmbedder` a
                `ContrastiveEmbedder` trains), so that the run directory
                holds its weights once.

        Returns:
            A `TrainingResult`.
        """
        config = self.config
        model_dir = os.fspath(config.model_dir)
        if final_model is not None and not isinstance(final_model, keras.Model):
            raise ValueError(
                "final_model must be a Keras model (or None). Received: "
                f"final_model={final_model!r}"
            )
        if isinstance(train, _TEXT_DATA) or isinstance(validation, _TEXT_DATA):
            self._check_sequence_length(model)
        # A recipe the backbone cannot take is refused before any write.
        strategy_name = self.apply_strategy(model)
        if not model.trainable_weights:
            # Keras would only warn, and every epoch would change nothing.
            raise ValueError(
                f"The recipe ({strategy_name}) leaves {type(model).__name__} "
                "no trainable weight: nothing would train. A model with no "
                "head of its own (e.g. a few-shot run's embedder) trains "
                "only its encoder layers."
            )
        settings = dict(config.run_settings())
        # A checkpoint's position counts batches of this size: on another
        # number of replicas, a resume would skip other examples.
        settings["global_batch_size"] = self.global_batch_size
        # The labels a saved model.keras in model_dir must have.
        label_names = label_names or getattr(model, "label_names", None)
        if isinstance(train, _TEXT_DATA):
            parts = [train.texts, train.labels, train.text_pairs]
            if isinstance(validation, _TEXT_DATA):
                parts += [validation.texts, validation.labels]
            settings["data_sha256"] = fingerprint(*parts)
            if (
                class_weight is None
                and getattr(config, "class_weighting", False)
                and isinstance(train, TextClassificationData)
            ):
                class_weight = class_weights(train.labels, len(train.label_vocabulary))
        settings.update(run_config or {})
        _check_model_dir(model_dir)
        check_run_directory(model_dir, settings, label_names)
        if self.chief:
            # Left by a run killed while saving.
            remove_temporary_files(model_dir)

        make_dataset = self._epoch_datasets(model, train)
        if isinstance(validation, _TEXT_DATA):
            validation = self.dataset(validation, model)
        monitor = config.monitor if validation is not None else "loss"
        mode = config.monitor_mode if validation is not None else "min"
        run_callbacks = training_callbacks(
            model_dir,
            self.strategy,
            monitor=monitor,
            mode=mode,
            patience=config.patience,
            tensorboard=config.tensorboard,
            save_freq=config.save_freq or "epoch",
            run_config=settings,
            # A finished run keeps its final weights (a rerun trains no
            # further), not the optimizer's slots: 3x smaller with Adam.
            keep_final_checkpoint="weights",
            max_train_minutes=config.max_train_minutes,
            keep_checkpoints=config.keep_checkpoints,
        )
        (resumable,) = [c for c in run_callbacks if isinstance(c, ResumableTraining)]
        # The dataset of epoch 0 is made once, for the element structure
        # and the step count; the resumable dataset reads it again.
        epochs_data = resumable.epoch_dataset(make_dataset)
        compile_here = not model.compiled or getattr(
            model, "compiled_with_default_optimizer", False
        )
        num_train_steps = None
        if compile_here or getattr(config, "head_warmup_steps", 0):
            # May read the first epoch's data once (a bucketed dataset).
            num_train_steps = count_train_steps(resumable._epoch_data(0), config.epochs)
            _check_head_warmup(config, num_train_steps)
        if compile_here:
            self.compile(
                model,
                num_train_steps=num_train_steps,
                loss=loss,
                metrics=metrics,
                head_layers=head_layers,
            )
        strategy_name = self.apply_strategy(model)
        summary = describe_training(model, model.optimizer, strategy_name)
        schedule = _schedule(config)
        if schedule:
            summary["schedule"] = schedule
        if isinstance(train, TextClassificationData):
            # Text the checkpoint cannot read shows before any step.
            summary.update(_unknown_pieces(model, train))
        if getattr(config, "pack_sequences", False):
            # How many texts a batch of rows holds, before any step.
            summary.update(describe_packing(resumable._epoch_data(0)))
        if self.chief:
            write_training_summary(summary, model_dir)
            # Every setting of the run, as `--config` reads it back.
            _write_json(os.path.join(model_dir, RUN_CONFIG_FILE), config.to_dict())
        if self.verbose:
            print(format_training_summary(summary))
        if isinstance(config, FinetuneConfig):
            run_callbacks += strategy_callbacks(config, verbose=self.verbose)
        history = model.fit(
            epochs_data,
            validation_data=validation,
            epochs=config.epochs,
            # Each epoch's dataset is already in its (seed, epoch) order.
            shuffle=False,
            class_weight=class_weight,
            callbacks=list(evaluation_callbacks) + run_callbacks + list(callbacks),
            verbose=self.verbose,
        )
        model_path = self.save(model if final_model is None else final_model)
        history = {
            k: [float(v) for v in values] for k, values in history.history.items()
        }
        best_epoch = _best_epoch(history.get(monitor, []), mode)
        if self.chief:
            _write_json(
                os.path.join(model_dir, "history.json"),
                {
                    "history": history,
                    "train_seconds": resumable.train_seconds,
                    "best_epoch": best_epoch,
                },
            )
            if getattr(config, "lora_rank", 0):
                save_lora_weights(model, os.path.join(model_dir, "adapters.lora.h5"))
        return TrainingResult(
            history=history,
            train_seconds=resumable.train_seconds,
            model_path=model_path,
            strategy=strategy_name,
            summary=summary,
            best_epoch=best_epoch,
        )

    def save(self, model):
        """Writes `model` to `model_dir/model.keras`, atomically, chief only.

        `fit` calls it at the end; call it again after changing the trained
        model (e.g. a fitted `temperature`). Every worker must call it.

        Returns:
            The path of `model.keras` in `model_dir`.
        """
        # Every worker saves (a collective operation); only the chief writes
        # into model_dir, the others into temporary directories.
        model_dir = os.fspath(self.config.model_dir)
        out_dir = distribute.write_dir(model_dir, self.strategy)
        # Atomic: a kill while saving must not leave a torn model.keras,
        # which a rerun's check of model_dir could not read. Weights and
        # config only: the optimizer's state is in backup/.
        save_model_file(model, os.path.join(out_dir, "model.keras"))
        distribute.cleanup_write_dir(model_dir, self.strategy)
        return os.path.join(model_dir, "model.keras")


def _head_multipliers(config, head_layers):
    """Variable path to `head_learning_rate / learning_rate` for the head."""
    head_rate = getattr(config, "head_learning_rate", None)
    if not head_layers or head_rate is None or head_rate == config.learning_rate:
        return None
    return {
        variable.path: head_rate / config.learning_rate
        for layer in head_layers
        for variable in layer.weights
    }


def _strategy_options(config):
    options = getattr(config, "strategy_options", None)
    return None if options is None else options()


def _same_examples(first, second):
    """Whether two splits hold the same examples (the same object, or equal
    texts or sentences)."""
    if first is second:
        return True
    for name in ("texts", "words"):
        a, b = getattr(first, name, None), getattr(second, name, None)
        if a is not None and b is not None:
            return len(a) == len(b) and tuple(a) == tuple(b)
    return False


def _check_model_dir(model_dir):
    """Refuses a `model_dir` that cannot be a directory, before any work."""
    if "://" in model_dir:
        return
    if os.path.exists(model_dir) and not os.path.isdir(model_dir):
        raise ConfigError(
            "model_dir exists and is not a directory. "
            f"Received: model_dir={model_dir!r}"
        )
    try:
        os.makedirs(model_dir, exist_ok=True)
    except OSError as error:
        raise ConfigError(
            f"model_dir cannot be created: {error.strerror}. "
            f"Received: model_dir={model_dir!r}"
        ) from None
    if not os.access(model_dir, os.W_OK):
        raise ConfigError(
            f"model_dir is not writable. Received: model_dir={model_dir!r}"
        )


def _schedule(config):
    """What the recipe's callbacks train when, or None: the summary's counts
    are of the layers trainable once they are all unfrozen."""
    if getattr(config, "gradual_unfreeze", False):
        every = (
            f"{config.unfreeze_every_steps} steps"
            if config.unfreeze_every_steps
            else f"{config.unfreeze_every_epochs} epoch(s)"
        )
        return (
            f"the head alone for the first {every}, then one more encoder "
            f"layer from the top every {every}, the embeddings last"
        )
    steps = getattr(config, "head_warmup_steps", 0)
    if steps:
        return f"the head alone for the first {steps} steps"
    return None


def _write_json(path, value):
    with atomic_write(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(value, f, indent=2, default=str)


def _unknown_pieces(model, train):
    """`{"unknown_piece_share": float or None}` of the training text; logs a
    warning when the checkpoint's vocabulary misses much of it."""
    tokenizer = getattr(getattr(model, "preprocessor", None), "tokenizer", None)
    if tokenizer is None:
        return {}
    share = unknown_piece_share(tokenizer, train.texts)
    warning = unknown_share_warning(share)
    if warning:
        logging.warning(warning)
    return {"unknown_piece_share": share}


def _best_epoch(values, mode):
    """The epoch (from 1) Keras' `EarlyStopping(restore_best_weights=True)`
    restores from the monitored `values`: the first epoch, then each
    strict improvement on the best so far (nothing improves on a NaN)."""
    if not values:
        return None
    best, epoch = values[0], 1
    for index, value in enumerate(values[1:], 2):
        if value < best if mode == "min" else value > best:
            best, epoch = value, index
    return epoch


def _check_head_warmup(config, num_train_steps):
    """Refuses a head warmup as long as the run: the backbone would never
    train, while the summary lists it as trainable."""
    warmup = getattr(config, "head_warmup_steps", 0)
    accumulation = getattr(config, "gradient_accumulation_steps", 1)
    optimizer_steps = -(-num_train_steps // accumulation)
    if warmup and warmup >= optimizer_steps:
        raise ConfigError(
            f"head_warmup_steps must be fewer than the run's {optimizer_steps} "
            f"optimizer steps ({num_train_steps} batches over {config.epochs} "
            "epochs): the backbone would never train. Use fewer steps, or "
            f"freeze_backbone for a linear probe. Received: "
            f"head_warmup_steps={warmup}"
        )
