import re

import keras
import numpy as np
import tensorflow as tf
from keras import ops
from keras.src.utils.tracking import no_automatic_dependency_tracking

from tftransformer._arguments import check_int
from tftransformer.data.multi_task import TASK_ID_KEY
from tftransformer.data.tagging import IGNORE_LABEL
from tftransformer.models._task_base import (
    OPTIMIZER_VARIABLES_KEY,
    InMemoryBatches,
    build_optimizer,
    empty_predictions,
    is_in_memory,
    restore_frozen_layers,
    saved_frozen_layers,
    with_optimizer_variables,
)
from tftransformer.models.backbone_adapter import sequence_output
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_classifier_preprocessor import TextClassifierPreprocessor
from tftransformer.models.token_accuracy import TokenAccuracy
from tftransformer.models.token_classifier import TokenClassifier
from tftransformer.models.token_classifier_preprocessor import (
    TokenClassifierPreprocessor,
)

TASK_KINDS = ("classification", "token_classification")
# The head arguments a task spec may give, by kind: those of TextClassifier
# and TokenClassifier that keep the head a pooling and a dense layer.
_TASK_ARGUMENTS = {
    "classification": ("num_classes", "pooling", "dropout", "label_names"),
    "token_classification": ("num_tags", "dropout", "tag_names"),
}
_REQUIRED = {"classification": "num_classes", "token_classification": "num_tags"}
_TASK_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


@keras.saving.register_keras_serializable(package="tftransformer")
class MultiTaskModel(InMemoryBatches, keras.Model):
    """One shared encoder with a named head per task, trained on mixed batches.

    Each task is a classification head (pooling, dropout, dense: a
    `TextClassifier` head) or a token classification head (dropout, dense: a
    `TokenClassifier` head) over the backbone's sequence output. Calling the
    model runs the backbone once and every head (a head costs a pooling and
    a dense layer, little next to the backbone) and returns a dict of
    float32 logits by task name.

    Training takes batches that each belong to one task, tagged by an int32
    feature `"task_id"` of shape `(batch,)`: the task's position in
    `task_names` (`tftransformer.data.interleave_tasks` and
    `concatenate_tasks` build such streams). The train and test steps route
    a batch to its task: the loss is that head's loss times the task's
    loss weight (every head's loss is computed, the others' selected away),
    so labels may have a different shape per task and the other heads get
    an exactly zero gradient from the batch. (An Adam-type optimizer still
    moves an idle head by its momentum and weight decay, as for any zero
    gradient.) Labels are the batch's task's labels, as its head model takes
    them, or a dict with every task's labels.
    The logs hold the total `loss` and, per task, `<task>_loss` and the
    task's metrics, e.g. `sentiment_accuracy` and `ner_token_accuracy`,
    averaged over that task's batches (0 for a task with no batch).

    `head_model(task)` returns the task's own `TextClassifier` or
    `TokenClassifier`, which shares every weight with this model (the
    backbone and the head's layers are the same objects), so
    `tftransformer.export` serves it as is.

    Args:
        backbone: an encoder `keras.Model` taking a dict with `token_ids`,
            `padding_mask` (and `segment_ids` for BERT) and returning a dict
            with `sequence_output`, e.g. a keras-hub `BertBackbone`.
        tasks: dict mapping task names (letters, digits and `_`, starting
            with a letter) to specs: dicts with `"kind"`, one of
            `"classification"` (then `"num_classes"` and optionally
            `"pooling"`, `"dropout"`, `"label_names"`, as for
            `TextClassifier`) or `"token_classification"` (then `"num_tags"`
            and optionally `"dropout"`, `"tag_names"`, as for
            `TokenClassifier`).
        tokenizer: optional keras-hub tokenizer of the backbone's family
            (`load_backbone`'s `preprocessor.tokenizer`); with it, each
            head model gets a preprocessor, so it predicts and exports on raw
            strings.
        sequence_length: int, the head models' preprocessors' truncation
            length.
        frozen_backbone_layers: optional list of backbone layer names to
            freeze; the config records the layers frozen at save time (see
            `TextClassifier`).
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: dict with the backbone's inputs, each `(batch, seq)`; a
            `"task_id"` entry is ignored.
        training: bool, whether dropout is active.

    Returns:
        A dict mapping each task name to its float32 logits: `(batch,
        num_classes)` for classification, `(batch, seq, num_tags)` for token
        classification.

    Example:
    ```python
    backbone, preprocessor = tftransformer.presets.load_backbone("embedded")
    model = MultiTaskModel(
        backbone,
        tasks={
            "sentiment": {"kind": "classification", "num_classes": 2},
            "ner": {"kind": "token_classification", "num_tags": 21},
        },
        tokenizer=preprocessor.tokenizer,
    )
    model.compile(optimizer="adamw", loss_weights={"ner": 2.0})
    model.fit(
        interleave_tasks(
            {"sentiment": sentiment_batches, "ner": ner_batches},
            rule="temperature",
            task_names=model.task_names,
        ),
        epochs=2,
    )
    tftransformer.export.export_for_serving(model.head_model("sentiment"), "serving/s")
    ```
    """

    def __init__(
        self,
        backbone,
        tasks,
        tokenizer=None,
        sequence_length=128,
        frozen_backbone_layers=None,
        **kwargs,
    ):
        tasks = _check_tasks(tasks)
        sequence_length = check_int("sequence_length", sequence_length, 2)
        kwargs.setdefault("dtype", backbone.dtype_policy)
        super().__init__(**kwargs)

        # === Layers ===
        self.backbone = backbone
        self.tokenizer = tokenizer
        # Each head is a whole task model over the shared backbone, so that
        # `head_model` hands out a model that shares every weight.
        task_models = {}
        for name, spec in tasks.items():
            arguments = {key: value for key, value in spec.items() if key != "kind"}
            if spec["kind"] == "classification":
                model_cls, preprocessor_cls = TextClassifier, TextClassifierPreprocessor
            else:
                model_cls, preprocessor_cls = (
                    TokenClassifier,
                    TokenClassifierPreprocessor,
                )
            preprocessor = None
            if tokenizer is not None:
                preprocessor = preprocessor_cls(
                    tokenizer, sequence_length=sequence_length
                )
            task_models[name] = model_cls(
                backbone,
                preprocessor=preprocessor,
                name=name,
                compile=False,
                **arguments,
            )
        self.task_models = task_models

        # === Config ===
        self.tasks = tasks
        self.sequence_length = sequence_length
        self._feature_names = tuple(backbone.input)
        self._loss_weights = {name: 1.0 for name in tasks}
        self.build()

        restore_frozen_layers(self.backbone, frozen_backbone_layers)

    @property
    def task_names(self):
        """The task names, in order: a batch's `task_id` indexes this tuple."""
        return tuple(self.tasks)

    def build(self, input_shape=None):
        # The backbone and the task models are built at construction.
        self.built = True

    def fit(self, x=None, y=None, batch_size=None, **kwargs):
        """Keras' `fit`; in-memory rows of several tasks come in one-task batches.

        A batch belongs to one task (see the class). In-memory `x` (arrays
        with a `"task_id"` entry) of several tasks is read in the order
        given, `batch_size` rows (Keras' 32 by default) a batch: it needs
        `shuffle=False` and the rows laid out so that each batch holds one
        task; `validation_data` too. Otherwise a `ValueError` names the
        first mixed batch; a dataset from `interleave_tasks` or
        `concatenate_tasks` is the way to shuffle.
        """
        task_ids = _task_ids(x) if is_in_memory(x) else _task_ids(None)
        tasks = sorted(set(task_ids.tolist()))
        if len(tasks) > 1:
            if kwargs.get("shuffle", True) is not False:
                raise ValueError(
                    "MultiTaskModel.fit would shuffle in-memory rows of several "
                    "tasks into mixed batches. Pass shuffle=False with the rows "
                    "in one-task batches of batch_size, or a dataset from "
                    "tftransformer.data.interleave_tasks or concatenate_tasks. "
                    f"Received: x[{TASK_ID_KEY!r}] with tasks {tasks}"
                )
            if kwargs.get("validation_split"):
                raise ValueError(
                    "MultiTaskModel.fit takes no validation_split of in-memory "
                    "rows of several tasks (the split could cut a batch's "
                    "task); pass validation_data. Received: validation_split="
                    f"{kwargs['validation_split']!r}"
                )
            _check_one_task_batches(task_ids, batch_size, "x")
        validation = kwargs.get("validation_data")
        if isinstance(validation, (tuple, list)) and is_in_memory(validation[0]):
            _check_one_task_batches(
                _task_ids(validation[0]), batch_size, "validation_data"
            )
        return super().fit(x, y, batch_size, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Keras' `evaluate`; in-memory rows in one-task batches (see `fit`)."""
        if is_in_memory(x):
            _check_one_task_batches(_task_ids(x), batch_size, "x")
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def predict(self, x, *args, **kwargs):
        # Keras fails on an empty batch; the head models know their shapes.
        empty = {
            name: empty_predictions(model, x)
            for name, model in self.task_models.items()
        }
        if all(value is not None for value in empty.values()):
            return empty
        return super().predict(x, *args, **kwargs)

    def head_model(self, task):
        """Returns the task's standalone model, sharing every weight with this one.

        Args:
            task: a task name.

        Returns:
            The task's `TextClassifier` or `TokenClassifier` (with a
            preprocessor when this model has a tokenizer). Its outputs equal
            this model's `[task]` outputs; `tftransformer.export`'s
            functions export it.
        """
        if task not in self.tasks:
            raise ValueError(
                f"Unknown task {task!r}. This model's tasks: {list(self.task_names)}"
            )
        return self.task_models[task]

    def call(self, inputs, training=None):
        if not isinstance(inputs, dict) or any(
            name not in inputs for name in self._feature_names
        ):
            if isinstance(inputs, dict):
                received = f"a dict of {sorted(inputs)}"
            else:
                dtype = getattr(getattr(inputs, "dtype", None), "name", None)
                received = type(inputs).__name__ + (f" of {dtype}" if dtype else "")
            raise ValueError(
                f"MultiTaskModel takes a dict with {list(self._feature_names)} "
                "(raw texts: call model.head_model(task), whose preprocessor "
                f"tokenizes them). Received: {received}"
            )
        # Selected by name: a functional backbone given a dict with extra
        # keys matches its inputs by position.
        features = {name: inputs[name] for name in self._feature_names}
        # (batch, seq, hidden)
        sequence = sequence_output(self.backbone(features, training=training))
        outputs = {}
        for name, model in self.task_models.items():
            if isinstance(model, TextClassifier):
                x = model.pooler(sequence, padding_mask=features["padding_mask"])
            else:
                x = sequence
            x = model.output_dropout(x, training=training)
            # Logits stay float32 under mixed precision, as in the head models.
            outputs[name] = ops.cast(model.output_dense(x), "float32")
        return outputs

    # As keras.Model.compile: the metrics made here are listed by `metrics`,
    # not tracked as state (which is locked once the model is built).
    @no_automatic_dependency_tracking
    def compile(
        self,
        optimizer="auto",
        loss="auto",
        loss_weights=None,
        metrics="auto",
        **kwargs,
    ):
        """Configures training, with a loss, a weight and metrics per task.

        Args:
            optimizer: `"auto"` (AdamW, learning rate 5e-5) or any optimizer
                `keras.Model.compile` takes.
            loss: `"auto"`, or a dict mapping task names to losses (a Keras
                loss or its name); tasks left out get `"auto"`: sparse
                categorical cross-entropy on logits, ignoring label -100 for
                token classification.
            loss_weights: optional dict mapping task names to non-negative
                weights of their losses (default 1.0 each).
            metrics: `"auto"`, or a dict mapping task names to lists of
                `keras.metrics.Metric`s; tasks left out get `"auto"`:
                `accuracy` for classification, `token_accuracy` (positions
                labelled -100 left out) for token classification, and none
                for a task given a custom loss (its labels may not be label
                ids). Each is logged as `<task>_<metric name>`.
            **kwargs: passed to `keras.Model.compile` (e.g. `jit_compile`,
                `steps_per_execution`).
        """
        if "weighted_metrics" in kwargs:
            raise ValueError(
                "MultiTaskModel.compile does not take weighted_metrics; pass "
                "per-task metrics=."
            )
        losses = self._resolve_per_task("loss", loss, _check_loss)
        weights = self._resolve_per_task(
            "loss_weights", loss_weights or {}, _check_weight
        )
        metric_lists = self._resolve_per_task("metrics", metrics, _check_metrics)
        if isinstance(optimizer, str) and optimizer == "auto":
            optimizer = keras.optimizers.AdamW(5e-5)
        super().compile(optimizer=optimizer, loss=None, metrics=None, **kwargs)

        self._compile_arguments = {
            "loss": losses,
            "loss_weights": weights,
            "metrics": metric_lists,
            "kwargs": dict(kwargs),
        }
        self._task_losses = {}
        self._loss_weights = {}
        self._task_metrics = {}
        for name, spec in self.tasks.items():
            kind = spec["kind"]
            chosen = losses.get(name, "auto")
            self._task_losses[name] = (
                _default_loss(kind) if _is_auto(chosen) else _as_loss(chosen)
            )
            self._loss_weights[name] = float(weights.get(name, 1.0))
            chosen = metric_lists.get(name, "auto")
            if isinstance(chosen, str):
                # The default metrics read sparse label ids, as the default
                # loss does; a custom loss may take other labels.
                default_loss = _is_auto(losses.get(name, "auto"))
                chosen = _default_metrics(kind) if default_loss else []
            self._task_metrics[name] = [keras.metrics.Mean(name=f"{name}_loss")] + [
                _renamed(metric, f"{name}_{metric.name}") for metric in chosen
            ]
        self._task_metric_list = [m for ms in self._task_metrics.values() for m in ms]

    def _resolve_per_task(self, argument, value, check):
        if _is_auto(value):
            return {}
        if not isinstance(value, dict):
            raise ValueError(
                f"{argument} must be 'auto' or a dict mapping task names to values. "
                f"Received: {argument}={value!r}"
            )
        unknown = [name for name in value if name not in self.tasks]
        if unknown:
            raise ValueError(
                f"{argument} names tasks {unknown} this model does not have. "
                f"Its tasks: {list(self.task_names)}"
            )
        for name, item in value.items():
            check(argument, name, item)
        return dict(value)

    @property
    def metrics(self):
        # Keras resets and reports the metrics listed here.
        return super().metrics + list(getattr(self, "_task_metric_list", []))

    def _task_index(self, x):
        """The batch's task id as an int32 scalar, after checking the batch."""
        if not isinstance(x, dict) or TASK_ID_KEY not in x:
            if len(self.tasks) == 1:
                return ops.zeros((), "int32")
            raise ValueError(
                f"Training batches need a {TASK_ID_KEY!r} feature saying which "
                f"of the tasks {list(self.task_names)} they belong to; build them "
                "with tftransformer.data.interleave_tasks or concatenate_tasks."
            )
        task_ids = ops.cast(x[TASK_ID_KEY], "int32")
        first = task_ids[0]
        # XLA compiles assertions away: a jit-compiled step trusts the ids.
        checks = [
            tf.debugging.assert_equal(
                task_ids,
                first,
                message="Every example of a batch must belong to one task",
            ),
            tf.debugging.Assert(
                ops.logical_and(first >= 0, first < len(self.tasks)),
                [
                    f"{TASK_ID_KEY} must index the tasks {list(self.task_names)}; got",
                    first,
                ],
            ),
        ]
        with tf.control_dependencies(checks):
            return tf.identity(first)

    def _task_labels(self, name, y, logits, active):
        """The task's labels: as given in its own batches, zeros in others."""
        if isinstance(y, dict):
            if set(y) != set(self.task_names):
                raise ValueError(
                    "Labels given as a dict need one entry per task, "
                    f"{list(self.task_names)}. Received: a dict of "
                    f"{sorted(y)}"
                )
            labels = y[name]
        else:
            # Every task's loss is computed on every batch, so the labels are
            # shaped to what each head needs: unchanged for the batch's own
            # task, padded or cut for the others.
            if self.tasks[name]["kind"] == "classification":
                shape = ops.shape(logits)[:1]
            else:
                shape = ops.shape(logits)[:2]
            flat = ops.reshape(y, (-1,))
            size, needed = ops.shape(flat)[0], ops.prod(ops.stack(shape))
            check = tf.debugging.Assert(
                ops.logical_or(ops.logical_not(active), ops.equal(size, needed)),
                [
                    f"Task {name!r} got labels of a shape its head does not take; "
                    f"does the batch's {TASK_ID_KEY} index model.task_names? "
                    "Labels and logits:",
                    tf.shape(y),
                    tf.shape(logits),
                ],
            )
            with tf.control_dependencies([check]):
                flat = ops.pad(flat, [[0, ops.maximum(needed - size, 0)]])
            labels = ops.reshape(flat[:needed], shape)
        # Valid ids, so that the masked-out losses stay finite.
        return ops.where(active, labels, ops.zeros_like(labels))

    def _task_weights(self, name, sample_weight, logits):
        """The batch's sample weights shaped for the task's head.

        A batch's weights are its own task's: `(batch,)` for examples,
        `(batch, seq)` for a tagger's tokens. Every head's loss is computed
        on every batch (and a stream of several tasks' weights has no known
        rank), so each head gets them reshaped: a classification head one
        weight per row (the row's first), a tagger one per token (a row's
        weight on each of its tokens).
        """
        if sample_weight is None:
            return None
        rows = ops.reshape(
            ops.cast(sample_weight, "float32"), (ops.shape(logits)[0], -1)
        )
        if self.tasks[name]["kind"] == "classification":
            return rows[:, 0]
        return ops.broadcast_to(rows, ops.shape(logits)[:2])

    def _per_task(self, x, y, y_pred, sample_weight=None):
        """Yields `(name, active, labels, logits, weights)` for every task."""
        index = self._task_index(x)
        for position, name in enumerate(self.task_names):
            active = ops.equal(index, position)
            logits = y_pred[name]
            labels = self._task_labels(name, y, logits, active)
            weights = self._task_weights(name, sample_weight, logits)
            yield name, active, labels, logits, weights

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if not hasattr(self, "_task_losses"):
            raise ValueError("Call compile() before training or evaluating the model.")
        batch_size = ops.cast(ops.shape(next(iter(y_pred.values())))[0], "float32")
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        total = ops.zeros((), "float32")
        # Every head's loss, all but the batch's task's selected away: their
        # gradient is exactly zero. A select rather than a `switch`: TF 2.21
        # crashes taking gradients through a multi-branch switch under XLA.
        for name, active, labels, logits, weights in self._per_task(
            x, y, y_pred, sample_weight
        ):
            loss = ops.cast(self._task_losses[name](labels, logits, weights), "float32")
            loss = ops.where(active, loss, 0.0)
            # Loss objects divide by the replicas for the gradient sum.
            self._task_metrics[name][0].update_state(
                loss * replicas, sample_weight=ops.cast(active, "float32") * batch_size
            )
            total = total + self._loss_weights[name] * loss
        for extra in self.losses:
            total = total + ops.cast(ops.sum(extra), "float32")
        return total

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for name, active, labels, logits, weights in self._per_task(
            x, y, y_pred, sample_weight
        ):
            # Zero weights leave a metric as it was for other tasks' batches.
            if weights is None:
                weights = ops.ones(ops.shape(logits)[:1])
            weights = ops.cast(active, "float32") * weights
            for metric in self._task_metrics[name][1:]:
                metric.update_state(labels, logits, sample_weight=weights)
        return self.get_metrics_result()

    def get_compile_config(self):
        if not self.compiled or not hasattr(self, "_compile_arguments"):
            return {}
        arguments = self._compile_arguments
        config = {
            "optimizer": keras.saving.serialize_keras_object(self.optimizer),
            "loss": {
                name: keras.saving.serialize_keras_object(loss)
                for name, loss in arguments["loss"].items()
            },
            "loss_weights": arguments["loss_weights"],
            "metrics": {
                name: [keras.saving.serialize_keras_object(m) for m in metrics]
                for name, metrics in arguments["metrics"].items()
            },
            **arguments["kwargs"],
        }
        return with_optimizer_variables(self, config)

    def compile_from_config(self, config):
        config = dict(config)
        paths = config.pop(OPTIMIZER_VARIABLES_KEY, None)
        optimizer = keras.saving.deserialize_keras_object(config.pop("optimizer"))
        loss = {
            name: keras.saving.deserialize_keras_object(value)
            for name, value in config.pop("loss", {}).items()
        }
        metrics = {
            name: [keras.saving.deserialize_keras_object(m) for m in value]
            for name, value in config.pop("metrics", {}).items()
        }
        self.compile(
            optimizer=optimizer,
            loss=loss,
            loss_weights=config.pop("loss_weights", None),
            metrics=metrics,
            **config,
        )
        # Built now, so that the saved optimizer state loads into it.
        build_optimizer(self, paths)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "backbone": keras.layers.serialize(self.backbone),
                "tasks": {name: dict(spec) for name, spec in self.tasks.items()},
                "tokenizer": None
                if self.tokenizer is None
                else keras.layers.serialize(self.tokenizer),
                "sequence_length": self.sequence_length,
                "frozen_backbone_layers": saved_frozen_layers(self.backbone),
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.layers.deserialize(config["backbone"])
        if config.get("tokenizer") is not None:
            config["tokenizer"] = keras.layers.deserialize(config["tokenizer"])
        return cls(**config)


def _task_ids(x):
    """The `"task_id"` entries of in-memory `x`, as a NumPy vector."""
    if not isinstance(x, dict) or TASK_ID_KEY not in x:
        return np.zeros((0,), "int64")
    return np.asarray(x[TASK_ID_KEY]).reshape(-1)


def _check_one_task_batches(task_ids, batch_size, name):
    """Raises a `ValueError` naming the first batch of in-memory rows (their
    `task_ids`, see `_task_ids`) mixing tasks."""
    size = batch_size or 32
    for start in range(0, len(task_ids), size):
        batch = task_ids[start : start + size]
        if len(set(batch.tolist())) > 1:
            raise ValueError(
                "Every batch must belong to one task: batches of in-memory "
                "rows are read in order, batch_size rows each. Received: "
                f"{name}[{TASK_ID_KEY!r}][{start}:{start + len(batch)}] with "
                f"tasks {sorted(set(batch.tolist()))} (batch_size={size})"
            )


def _check_tasks(tasks):
    if not isinstance(tasks, dict) or not tasks:
        raise ValueError(
            "tasks must be a non-empty dict mapping task names to specs. "
            f"Received: tasks={tasks!r}"
        )
    checked = {}
    for name, spec in tasks.items():
        if not isinstance(name, str) or not _TASK_NAME.match(name):
            raise ValueError(
                "Task names must start with a letter and hold only letters, "
                f"digits and '_' (they name metrics). Received: {name!r}"
            )
        if not isinstance(spec, dict) or spec.get("kind") not in TASK_KINDS:
            raise ValueError(
                f"tasks[{name!r}] must be a dict with 'kind' one of {TASK_KINDS}. "
                f"Received: {spec!r}"
            )
        kind = spec["kind"]
        allowed = _TASK_ARGUMENTS[kind]
        unknown = [key for key in spec if key != "kind" and key not in allowed]
        if unknown or _REQUIRED[kind] not in spec:
            raise ValueError(
                f"tasks[{name!r}] ({kind}) needs {_REQUIRED[kind]!r} and may also "
                f"give {[a for a in allowed if a != _REQUIRED[kind]]}. "
                f"Received: {spec!r}"
            )
        spec = dict(spec)
        for key in ("label_names", "tag_names"):
            if spec.get(key) is not None and not isinstance(spec[key], str):
                spec[key] = [str(value) for value in spec[key]]
        checked[name] = spec
    return checked


def _is_auto(value):
    return isinstance(value, str) and value == "auto"


def _check_loss(argument, name, value):
    if _is_auto(value):
        return
    try:
        keras.losses.get(value)
    except (ValueError, TypeError) as e:
        raise ValueError(
            f"{argument}[{name!r}] must be 'auto', a Keras loss or its name. "
            f"Received: {value!r}"
        ) from e


def _check_weight(argument, name, value):
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not value >= 0
        or value == float("inf")
    ):
        raise ValueError(
            f"{argument}[{name!r}] must be a finite number >= 0. Received: {value!r}"
        )


def _check_metrics(argument, name, value):
    if _is_auto(value):
        return
    if not isinstance(value, (list, tuple)) or not all(
        isinstance(m, keras.metrics.Metric) for m in value
    ):
        raise ValueError(
            f"{argument}[{name!r}] must be 'auto' or a list of keras.metrics.Metric "
            f"objects. Received: {value!r}"
        )


def _default_loss(kind):
    if kind == "classification":
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    return keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=IGNORE_LABEL
    )


def _default_metrics(kind):
    if kind == "classification":
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    return [TokenAccuracy()]


def _as_loss(identifier):
    loss = keras.losses.get(identifier)
    if isinstance(loss, keras.losses.Loss):
        return loss
    # A loss function such as "mse": as a Loss, it takes sample weights.
    return _FunctionLoss(loss)


class _FunctionLoss(keras.losses.Loss):
    def __init__(self, function):
        super().__init__(name=getattr(function, "__name__", "loss"))
        self.function = function

    def call(self, y_true, y_pred):
        return self.function(y_true, y_pred)


def _renamed(metric, name):
    config = metric.get_config()
    config["name"] = name
    return type(metric).from_config(config)
