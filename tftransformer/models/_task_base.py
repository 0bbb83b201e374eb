"""What the task models share beyond Keras and keras-hub (private).

Mixins and helpers of `TextClassifier`, `TokenClassifier`, `MultiTaskModel`,
`LongDocumentClassifier`, `TextEmbedder` and the from-scratch models:
`from_preset` through `preprocessor_cls`; in-memory data batched without
tf.data autotuning, `fit` drawing it in a new order every epoch; a compile
config that a loaded model replays with its
optimizer; `predict` on an empty batch; packed rows' losses, metrics and
predictions per text; the backbone freeze a config records and restores;
backbone layers the head does not read left untrained; new encoder blocks on
top. Most work around what Keras 3 and keras-hub do not do for these models;
each part says why.
"""

import copy
import functools
import inspect
import json
import math
import numbers
import os
import tempfile
import weakref

import h5py
import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    TASK_KEYWORDS,
    check_int,
    check_model_keywords,
    check_strings,
    first_bad_entry,
    is_int,
)
from tftransformer.data._autotune import without_autotuning
from tftransformer.data.text_packing import holds_packed_texts, is_packed_batch
from tftransformer.layers.masking import block_diagonal_attention_mask
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock
from tftransformer.models._weight_layout import weight_mismatches
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.freezing import freeze_layers_by_name, frozen_layer_names
from tftransformer.models.text_classifier_preprocessor import trim_to_longest
from tftransformer.presets import EMBEDDED_PRESET, embedded_preset_path, load_backbone

# === from preset ===


class FromPreset:
    """Gives a task model `from_preset`, building its `preprocessor_cls`.

    A task class sets `preprocessor_cls`, as keras-hub's tasks do; the
    backbone and tokenizer come from `tftransformer.presets.load_backbone`,
    which also reads the embedded checkpoint and local Hugging Face
    directories (keras-hub's own `Task.from_preset` reads keras-hub presets
    only).
    """

    preprocessor_cls = None

    def compile(self, optimizer="auto", *args, **kwargs):
        # keras-hub tasks compile with their defaults when made; a trainer
        # reads this to put its own optimizer in their place.
        self.compiled_with_default_optimizer = (
            isinstance(optimizer, str) and optimizer == "auto"
        )
        super().compile(optimizer, *args, **kwargs)

    def save_task_weights(self, filepath):
        """Saves the weights not in the backbone (`save_to_preset` calls it).

        As keras-hub's, without the optimizer's variables: keras-hub's also
        writes the optimizer's slots for every weight, the backbone's too
        (twice the model's size after a `fit`), which a preset loaded for
        inference or a new fine-tune never reads.
        """
        _check_weights_file(filepath)
        if not self.has_task_weights():
            raise ValueError(
                f"Task {self} has no weights not in the `backbone`. "
                "`save_task_weights()` has nothing to save."
            )
        keras.saving.save_weights(
            self, filepath=filepath, objects_to_skip=self._not_task_weights()
        )

    def load_task_weights(self, filepath):
        """Loads the weights not in the backbone, leaving the optimizer as
        it is (a file keras-hub's `save_task_weights` wrote holds the saved
        optimizer's variables; Keras would warn that they do not fit a
        newly compiled one)."""
        _check_weights_file(filepath)
        keras.saving.load_weights(
            self, filepath, objects_to_skip=self._not_task_weights()
        )

    def _not_task_weights(self):
        skipped = list(self.backbone._flatten_layers())
        if getattr(self, "optimizer", None) is not None:
            skipped.append(self.optimizer)
        return skipped

    @classmethod
    def from_preset(cls, preset="embedded", sequence_length=None, dtype=None, **kwargs):
        """Builds the task on a pretrained backbone and its tokenizer, or
        loads a task saved with `save_to_preset`.

        A local preset directory that `save_to_preset` wrote for this class
        (or a subclass) gives the task back as saved, head weights
        included, as keras-hub's `from_preset` does for its own tasks;
        passing the head's size (`num_classes`, `num_labels`, `num_tags`,
        `num_targets`) builds a new head on its backbone instead.

        Args:
            preset: what `tftransformer.presets.load_backbone` takes:
                `"embedded"`, a local keras-hub preset or Hugging Face
                directory, or a keras-hub preset name (downloaded).
            sequence_length: int, the longest tokenized sequence the
                preprocessor produces; defaults to 128, or the preset's
                longest sequence when that is shorter (a saved task: its
                preprocessor's).
            dtype: optional dtype policy name, e.g. `"mixed_bfloat16"`.
            **kwargs: the task's other arguments (`num_classes`, `num_tags`,
                `pooling`, `dropout`, ...) and its preprocessor's
                (`truncate`, `pad_to_multiple_of`, `dynamic_padding`,
                `pair_separators`, ...), each passed to the one that takes it.

        Example:
        ```python
        classifier = TextClassifier.from_preset("embedded", num_classes=2)
        tagger = TokenClassifier.from_preset("embedded", num_tags=5)
        ```
        """

        accepted = inspect.signature(cls.preprocessor_cls.__init__).parameters
        preprocessor_kwargs = {
            name: kwargs.pop(name)
            for name in list(kwargs)
            if name in accepted
            and accepted[name].kind is not accepted[name].VAR_KEYWORD
        }
        # A misspelt argument is refused before the preset is read.
        named = _named_init_arguments(cls)
        check_model_keywords(
            cls, {k: v for k, v in kwargs.items() if k not in named}, TASK_KEYWORDS
        )
        saved = saved_task(cls, preset, kwargs)
        if saved is not None:
            return load_saved_task(
                *saved, sequence_length, dtype, preprocessor_kwargs, kwargs
            )
        backbone, preprocessor = load_backbone(
            preset, sequence_length=sequence_length, dtype=dtype
        )
        return cls(
            backbone,
            preprocessor=cls.preprocessor_cls(
                preprocessor.tokenizer,
                sequence_length=preprocessor.sequence_length,
                **preprocessor_kwargs,
            ),
            **kwargs,
        )


# keras-hub's files for a task in a preset directory (`Task.save_to_preset`):
# its config (backbone and preprocessor configs inside) and the weights of
# its layers outside the backbone.
TASK_CONFIG_FILE = "task.json"
TASK_WEIGHTS_FILE = "task.weights.h5"


def saved_task(cls, preset, kwargs):
    """`(task class, task config, directory)` when `preset` is a local
    directory holding a task that `save_to_preset` wrote for `cls` or a
    subclass, and `kwargs` names none of the arguments `cls` requires (the
    head's size: a new head is asked for); else None.

    keras-hub's own `Task.from_preset` finds a task only for a class bound
    to one backbone family; these tasks take every family.
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or _required_arguments(cls) & set(kwargs):
        return None
    directory = embedded_preset_path() if preset == EMBEDDED_PRESET else preset
    path = os.path.join(os.path.expanduser(directory), TASK_CONFIG_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    registered = config.get("registered_name") if isinstance(config, dict) else None
    task_class = keras.saving.get_registered_object(registered) if registered else None
    if not (isinstance(task_class, type) and issubclass(task_class, cls)):
        required = sorted(_required_arguments(cls))
        if required:
            # Building this class on the saved backbone needs its head's size.
            saved = getattr(task_class, "__name__", registered)
            raise ValueError(
                f"{directory!r} holds a {saved} ({TASK_CONFIG_FILE}), not a "
                f"{cls.__name__}: load it with {saved}.from_preset, or pass "
                f"{', '.join(required)} to build a new {cls.__name__} head on "
                "its backbone."
            )
        return None
    return task_class, config["config"], os.path.dirname(path)


def _required_arguments(cls):
    """The arguments of `cls.__init__` without a default, but the backbone."""
    parameters = inspect.signature(cls.__init__).parameters.values()
    return {
        p.name
        for p in parameters
        if p.default is p.empty
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        and p.name not in ("self", "backbone")
    }


def _check_weights_file(filepath):
    if not str(filepath).endswith(".weights.h5"):
        raise ValueError(
            f"The filename must end in `.weights.h5`. Received: filepath={filepath}"
        )


def load_saved_task(
    task_class, config, directory, sequence_length, dtype, preprocessor_kwargs, kwargs
):
    """The task `save_to_preset` wrote to `directory`, its backbone, head and
    preprocessor (with its vocabulary) restored; `sequence_length`,
    `preprocessor_kwargs` and `kwargs` override what was saved, `dtype`
    the backbone's dtype policy (as `load_backbone` takes it)."""
    config = dict(config)
    preprocessor = copy.deepcopy(config.get("preprocessor"))
    if preprocessor is not None:
        overrides = dict(preprocessor_kwargs)
        if sequence_length is not None:
            overrides["sequence_length"] = sequence_length
        preprocessor["config"].update(overrides)
        preprocessor = keras.saving.deserialize_keras_object(preprocessor)
        preprocessor.load_preset_assets(directory)
    elif sequence_length is not None or preprocessor_kwargs:
        names = sorted(preprocessor_kwargs) + (
            ["sequence_length"] if sequence_length is not None else []
        )
        raise ValueError(
            f"The {task_class.__name__} saved in {directory!r} has no "
            f"preprocessor to take {names}."
        )
    backbone, _ = load_backbone(
        directory,
        sequence_length=getattr(preprocessor, "sequence_length", None) or 2,
        dtype=dtype,
    )
    config.update(kwargs, backbone=backbone, preprocessor=preprocessor)
    task = task_class.from_config(config)
    weights = os.path.join(directory, TASK_WEIGHTS_FILE)
    if os.path.isfile(weights):
        _check_task_weights(task, weights, directory, kwargs)
        task.load_task_weights(weights)
    elif task.has_task_weights():
        raise FileNotFoundError(
            f"{directory!r} holds a {task_class.__name__} ({TASK_CONFIG_FILE}) "
            f"but not its head's weights ({TASK_WEIGHTS_FILE}), which "
            "`save_to_preset` writes."
        )
    return task


def _check_task_weights(task, weights, directory, kwargs):
    """Refuses a saved head's weights that do not fit the task built with
    `kwargs` (`num_extra_blocks=0` left a trained block's weights unread,
    without a word; other sizes failed in Keras' loader)."""
    with tempfile.TemporaryDirectory() as tmp:
        expected = os.path.join(tmp, TASK_WEIGHTS_FILE)
        if task.has_task_weights():
            task.save_task_weights(expected)
        else:  # A head of no weights: keras-hub writes no file for it.
            h5py.File(expected, "w").close()
        with h5py.File(expected, "r") as built, h5py.File(weights, "r") as saved:
            detail, mismatches, compared = weight_mismatches(built, saved)
    if detail is not None:
        overrides = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
        raise ValueError(
            f"The {type(task).__name__} saved in {directory!r} has a head that "
            f"does not fit the one built with "
            f"{overrides or 'its saved arguments'}: {detail}. {mismatches} of "
            f"{compared} head variables differ. Leave out the arguments that "
            "change the head's layers, or pass the head's size (e.g. "
            "num_classes) to build a new head on the saved backbone."
        )


def _named_init_arguments(cls):
    """The named arguments of the project's `__init__`s along `cls`'s MRO."""
    named = set()
    for klass in cls.__mro__:
        if klass.__module__.startswith("tftransformer") and "__init__" in vars(klass):
            parameters = inspect.signature(klass.__init__).parameters.values()
            named.update(
                p.name
                for p in parameters
                if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
            )
    return named


# === shuffled fit ===


def _map_leaves(inputs, fn):
    # As `tf.data.Dataset.from_tensor_slices`: tuples and dicts are structure,
    # a list is one tensor (a list of strings is one string tensor).
    if isinstance(inputs, tuple):
        return tuple(_map_leaves(item, fn) for item in inputs)
    if isinstance(inputs, dict):
        return {key: _map_leaves(value, fn) for key, value in inputs.items()}
    if inputs is None:
        return None
    return fn(inputs)


def _leaves(inputs):
    found = []
    _map_leaves(inputs, found.append)
    return found


def _to_tensor(leaf):
    if isinstance(leaf, (tf.Tensor, tf.RaggedTensor)):
        return leaf
    narrow = not hasattr(leaf, "dtype")
    if isinstance(leaf, list) and leaf and isinstance(leaf[0], (list, tuple)):
        # Rows of different lengths (e.g. words of sentences).
        lengths = {len(row) for row in leaf}
        if len(lengths) > 1:
            return tf.ragged.constant(leaf)
    array = np.asarray(leaf)
    # Python numbers become 64-bit in numpy; tf.data reads them as 32-bit.
    if narrow and array.dtype == np.float64:
        array = array.astype("float32")
    elif narrow and array.dtype == np.int64:
        array = array.astype("int32")
    return tf.convert_to_tensor(array)


def is_in_memory(x):
    """Arrays, lists, tensors, or a dict/tuple of them: data Keras can slice."""
    leaves = _leaves(x)
    return bool(leaves) and all(
        isinstance(leaf, (list, np.ndarray, tf.Tensor, tf.RaggedTensor))
        or hasattr(leaf, "__array__")
        for leaf in leaves
    )


def _checked_batch_size(batch_size):
    """`batch_size` of `fit`, `evaluate` or `predict`: None or an int >= 1."""
    if batch_size is None:
        return None
    return check_int("batch_size", batch_size, 1, what=" or None")


def _values_as_list(values):
    """A tuple of single values (labels or weights, as `zip(*rows)` gives
    them) as a list; a tuple of arrays (targets of several outputs) and
    anything else as given."""
    if (
        isinstance(values, tuple)
        and values
        and all(isinstance(v, (numbers.Number, str, bytes, np.generic)) for v in values)
    ):
        return list(values)
    return values


def _check_sample_weight(name, sample_weight):
    """Refuses in-memory weights that are not finite numbers >= 0: a NaN
    weight made the loss NaN and the step then wrote NaN into every weight."""
    weights = (
        target_array(None, sample_weight, name) if sample_weight is not None else None
    )
    if weights is None:
        return
    expected = "finite numbers >= 0, one per example"
    refuse_non_numeric_targets(name, weights, expected)
    refuse_bad_targets(
        name, weights, ~(np.isfinite(weights) & (weights >= 0)), expected
    )


def refuse_class_weight(model, class_weight, reading, instead):
    """Refuses `fit(class_weight=...)` of a task whose targets are not one
    class id per example: Keras would weigh each example by `reading` (what
    it takes the target for), which is not a class there."""
    if class_weight is not None:
        raise ValueError(
            f"{type(model).__name__}.fit takes no class_weight: Keras would "
            f"read {reading}. {instead} Received: class_weight={class_weight!r:.200}"
        )


def _refuse_no_examples(method, x):
    """Refuses in-memory `x` without examples: Keras would fail in tf.data."""
    for leaf in _leaves(x):
        if _size(leaf) == 0:
            raise ValueError(
                f"{method} needs at least one example. Received: x={x!r:.100}"
            )


def _num_examples(data):
    counts = {int(leaf.shape[0]) for leaf in _leaves(data)}
    if len(counts) != 1:
        raise ValueError(
            "x, y and sample_weight must have the same number of examples. "
            f"Received: {sorted(counts)}"
        )
    return counts.pop()


def _take(data, start, stop):
    return _map_leaves(data, lambda tensor: tensor[start:stop])


def _batches(data, batch_size, shuffle, per_batch=None):
    """`data`'s examples batched, in a new order every epoch or as given.

    Without tf.data's autotuning (see `without_autotuning`): keras-hub would
    batch in-memory data into a pipeline with autotuning on, whose deleted
    iterators can hold the deleting thread for up to a minute. `per_batch`,
    if given, maps each batch's inputs (`x`), e.g. to cut their padding.
    """
    num_examples = _num_examples(data)
    order = tf.data.Dataset.range(num_examples)
    if shuffle:
        # Indices are shuffled, not examples: the buffer holds ints, not copies.
        order = order.shuffle(num_examples, reshuffle_each_iteration=True)

    def gather(indices):
        batch = _map_leaves(data, lambda t: tf.gather(t, indices))
        if per_batch is None:
            return batch
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(batch)
        return keras.utils.pack_x_y_sample_weight(per_batch(x), y, sample_weight)

    return without_autotuning(
        order.batch(batch_size).map(gather, num_parallel_calls=tf.data.AUTOTUNE)
    )


def _in_order(x, y=None, sample_weight=None, batch_size=None, per_batch=None):
    """In-memory `x`, `y` and weights as a dataset of batches in order."""
    data = keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
    return _batches(_map_leaves(data, _to_tensor), batch_size or 32, False, per_batch)


def _in_memory_arguments(
    x,
    y,
    batch_size,
    sample_weight,
    validation_data,
    validation_split,
    shuffle,
    per_batch=None,
):
    """`fit`'s data arguments for in-memory data, split and shuffled here."""
    if shuffle is None:
        shuffle = True
    if not isinstance(shuffle, bool):
        raise ValueError(
            "shuffle must be True or False for in-memory data. "
            f"Received: shuffle={shuffle!r}"
        )
    data = _map_leaves((x, y, sample_weight), _to_tensor)
    if validation_split and validation_data is None:
        if not 0 < validation_split < 1:
            raise ValueError(
                "validation_split must be in (0, 1). "
                f"Received: validation_split={validation_split!r}"
            )
        num_examples = _num_examples(data)
        split_at = int(math.floor(num_examples * (1.0 - validation_split)))
        validation_data = _take(data, split_at, num_examples)
        data = _take(data, 0, split_at)
    # One dataset of batches carries x, y and the weights.
    return _batches(data, batch_size or 32, shuffle, per_batch), validation_data


class InMemoryBatches:
    """Makes a model batch in-memory data itself, without tf.data autotuning.

    Keras (and keras-hub's `Task`) turn arrays, lists and tensors given to
    `fit`, `evaluate` and `predict` into a `tf.data` pipeline with
    autotuning on, and delete its iterator after each epoch and call; in
    TensorFlow 2.21 such a deletion can hold the deleting thread for up to a
    minute (see `without_autotuning`). Mixed in before the Keras base class,
    the model batches in-memory data here instead: in order for
    `evaluate`, `predict` and validation data, and for `fit` in a new order
    every epoch unless `shuffle=False`, as Keras does for its own models. A
    dataset is passed on as it is.

    Example:
    ```python
    class CausalLM(InMemoryBatches, keras.Model): ...

    model.fit(token_ids, targets, epochs=3)  # a new order every epoch
    model.fit(token_ids, targets, shuffle=False)  # the order given
    ```
    """

    def fit(
        self,
        x=None,
        y=None,
        batch_size=None,
        sample_weight=None,
        validation_data=None,
        validation_split=None,
        shuffle=None,
        **kwargs,
    ):
        """Trains the model, drawing in-memory data in a new order every epoch.

        In-memory data, `validation_data` included, is batched here without
        tf.data's autotuning (see `_batches`). Arguments are those of
        `keras.Model.fit`, except:

        Args:
            shuffle: for arrays, lists and tensors, whether to draw the
                examples in a new order every epoch (default `True`);
                `validation_split` takes the last examples before shuffling,
                as in Keras. A `tf.data.Dataset` (or other dataset) is read
                in its own order: shuffle it in the pipeline (as
                `tftransformer.data` does).

        Returns:
            A `keras.callbacks.History`.
        """
        batch_size = _checked_batch_size(batch_size)
        validation_batch_size = batch_size
        validation_per_batch = None
        x = self._in_memory_x(x)
        y, sample_weight = _values_as_list(y), _values_as_list(sample_weight)
        if isinstance(validation_data, tuple) and validation_data:
            validation_data = (
                self._in_memory_x(validation_data[0]),
                *map(_values_as_list, validation_data[1:]),
            )
        if is_in_memory(x):
            _refuse_no_examples("fit", x)
            _check_sample_weight("sample_weight", sample_weight)
            y = self._in_memory_targets(x, y)
            x, per_batch = self._in_memory_inputs(x)
            split = validation_split and validation_data is None
            x, validation_data = _in_memory_arguments(
                x,
                y,
                batch_size,
                sample_weight,
                validation_data,
                validation_split,
                shuffle,
                per_batch,
            )
            if split:
                # The last examples of `x`, as `x` is now.
                validation_per_batch = per_batch
            # Split and shuffled here (or kept in order): Keras' flag would
            # only warn.
            y = sample_weight = batch_size = validation_split = None
            shuffle = False
        if validation_data is not None and is_in_memory(validation_data):
            x_val, y_val, weights = keras.utils.unpack_x_y_sample_weight(
                validation_data
            )
            y_val = self._in_memory_targets(x_val, y_val, "validation_data's y")
            _check_sample_weight("validation_data's sample_weight", weights)
            if validation_per_batch is None:
                x_val, validation_per_batch = self._in_memory_inputs(x_val)
            validation_data = _in_order(
                x_val,
                y_val,
                weights,
                batch_size=validation_batch_size,
                per_batch=validation_per_batch,
            )
        return super().fit(
            x=x,
            y=y,
            batch_size=batch_size,
            sample_weight=sample_weight,
            validation_data=validation_data,
            validation_split=validation_split,
            shuffle=bool(shuffle),
            **kwargs,
        )

    def evaluate(self, x=None, y=None, batch_size=None, *args, **kwargs):
        """Keras' `evaluate`; in-memory data is read in order (see `fit`)."""
        batch_size = _checked_batch_size(batch_size)
        x = self._in_memory_x(x)
        if not args and is_in_memory(x):
            _refuse_no_examples("evaluate", x)
            y = self._in_memory_targets(x, _values_as_list(y))
            x, per_batch = self._in_memory_inputs(x)
            sample_weight = _values_as_list(kwargs.pop("sample_weight", None))
            _check_sample_weight("sample_weight", sample_weight)
            x = _in_order(x, y, sample_weight, batch_size, per_batch)
            y = batch_size = None
        return super().evaluate(x, y, batch_size, *args, **kwargs)

    def predict(self, x, batch_size=None, *args, **kwargs):
        """Keras' `predict`; in-memory data is read in order (see `fit`)."""
        batch_size = _checked_batch_size(batch_size)
        x = self._in_memory_x(x)
        if is_in_memory(x):
            x, per_batch = self._in_memory_inputs(x)
            x = _in_order(x, batch_size=batch_size, per_batch=per_batch)
            batch_size = None
        return super().predict(x, batch_size, *args, **kwargs)

    def _in_memory_x(self, x):
        """`x` in a layout Keras takes; a subclass may read others of the
        same data (`TokenizedBatches`: a tuple of texts). As given here."""
        return x

    def _in_memory_targets(self, x, y, name="y"):
        """In-memory targets `y` of `x`, checked before they are batched.

        A task with a known target format refuses targets it cannot learn
        from here, naming the entry (`name` is the argument's, for the
        message), instead of failing inside a traced step; it may also
        return them in the shape its loss takes. Returns `y` as given.
        """
        del x, name
        return y

    def _in_memory_inputs(self, x):
        """In-memory `x` as its batches carry it, and a function of each batch.

        Returns `(x, None)`: the batches carry `x` as given. A subclass may
        return `x` prepared once for all batches (e.g. `TokenizedBatches`'
        tokenized texts) and the function finishing each batch's inputs.
        """
        return x, None


class ShuffledFit(InMemoryBatches):
    """`InMemoryBatches` for a keras-hub `Task`, whose train step it traces once.

    keras-hub's `Task.fit` turns arrays and lists into a `tf.data` pipeline
    in their given order and hands Keras `shuffle=True`, which Keras then
    ignores with a warning: data sorted by label trains one class after the
    other. Through `InMemoryBatches`, `fit` reshuffles in-memory data every
    epoch, as Keras does for its own models, and a dataset keeps its order
    without the warning. What this class adds: the optimizer is built before
    the train step is traced (`make_train_function`).

    Example:
    ```python
    class TextClassifier(ShuffledFit, keras_hub.models.TextClassifier): ...

    classifier.fit(texts, labels, epochs=3)  # a new order every epoch
    classifier.fit(texts, labels, shuffle=False)  # the order given
    ```
    """

    def make_train_function(self, force=False):
        """Keras' train function, building the optimizer before its trace.

        Keras builds the optimizer over the trainable variables in the first
        step, inside the traced function, and TensorFlow traces a function
        that creates variables twice. Built just before, over the same
        variables, the step is traced once (seconds per `fit`).
        """
        if self.train_function is not None and not force:
            return self.train_function
        super().make_train_function(force=force)
        return build_optimizer_first(self)


def build_optimizer_before_step(model):
    """Builds `model.optimizer` over the trainable variables, if not yet.

    What Keras' first train step does (without a distribution strategy,
    inside the traced step, so TensorFlow traces it twice: a function whose
    first call creates variables is traced again). Called just before the
    step, it builds the same variables, under the model's strategy.
    """
    optimizer = model.optimizer
    if optimizer is not None and not optimizer.built:
        with model.distribute_strategy.scope():
            optimizer.build(model.trainable_variables)


def build_optimizer_first(model):
    """Wraps `model.train_function` to build the optimizer before a step.

    Args:
        model: a compiled Keras model whose `train_function` is made.

    Returns:
        The wrapped train function, also set as `model.train_function`.
    """
    keras_train_function = model.train_function

    def train_function(iterator):
        build_optimizer_before_step(model)
        return keras_train_function(iterator)

    model.train_function = train_function
    return train_function


# === compile replay ===

# The compile-config entry listing the variables the optimizer was built over.
OPTIMIZER_VARIABLES_KEY = "optimizer_variable_paths"


def with_optimizer_variables(model, config):
    """Adds the paths of the variables the optimizer was built over.

    Keras saves the optimizer's slots by position, for the variables it was
    built over. That list can hold more than the trainable variables at save
    time (`prepare_optimizer` builds over every variable a strategy such as
    gradual unfreezing will train), so a load must build over the same list.

    Args:
        model: a compiled model.
        config: the dict `get_compile_config()` returns.

    Returns:
        `config` with the paths added when the optimizer is built.
    """
    optimizer = getattr(model, "optimizer", None)
    if not config or optimizer is None or not optimizer.built:
        return config
    # A LossScaleOptimizer builds the optimizer it wraps over the same list.
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    paths = [variable.path for variable in optimizer._trainable_variables]
    return {**config, OPTIMIZER_VARIABLES_KEY: paths}


def build_optimizer(model, paths=None):
    """Builds a loaded model's optimizer over the variables it was saved with.

    Args:
        model: the loaded, compiled model.
        paths: the paths `with_optimizer_variables` recorded, or `None` for
            the trainable variables (what Keras builds at the first step).
    """
    variables = model.trainable_variables
    if paths is not None:
        by_path = {variable.path: variable for variable in model.variables}
        found = [by_path.get(path) for path in paths]
        # Paths that do not resolve (a renamed layer) leave Keras to report
        # the optimizer's variables as not loaded.
        if len(by_path) == len(model.variables) and all(
            variable is not None for variable in found
        ):
            variables = found
    model.optimizer.build(variables)


def replay_compile(model, config):
    """Compiles a model being loaded with the arguments it was saved with.

    Keras replays a saved `compile_config` only for models that keep
    `keras.Model.compile`; for one that overrides it, Keras warns and
    leaves the optimizer the constructor made, so the saved optimizer's
    state is dropped on load. Models whose `compile` only fills in
    defaults replay the saved arguments through it here.

    Args:
        model: the model being loaded, with an overridden `compile`.
        config: the dict its `get_compile_config()` returned at save time.
    """
    config = dict(config)
    paths = config.pop(OPTIMIZER_VARIABLES_KEY, None)
    model.compile(**keras.saving.deserialize_keras_object(config))
    if model.built and paths is not None:
        # Built now, so that the saved optimizer variables load into it. An
        # optimizer saved unbuilt (no paths) is loaded unbuilt.
        build_optimizer(model, paths)


# === predictions on one batch ===


def predict_batch(model, features):
    """`model.predict_on_batch(features)` as NumPy, right under any strategy.

    Keras' `predict_on_batch` gives each replica of a distributing strategy
    the whole batch and concatenates their outputs: N replicas return N
    copies of every row. There, `predict` splits the batch among them.

    Args:
        model: a Keras model with one output.
        features: one batch, as `predict_on_batch` takes it.

    Returns:
        A numpy array, one row per row of `features`.
    """
    strategy = getattr(model, "distribute_strategy", None)
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        return model.predict(features, batch_size=_batch_size(features), verbose=0)
    return np.asarray(model.predict_on_batch(features))


# === empty predictions ===


def _batch_size(x):
    # A list, tuple or array of texts; a dict of feature arrays (all rows).
    if isinstance(x, dict):
        sizes = {_batch_size(value) for value in x.values()}
        return sizes.pop() if len(sizes) == 1 else None
    if isinstance(x, (list, tuple)):
        return len(x)
    shape = getattr(x, "shape", None)
    if shape is not None and len(shape) >= 1:
        return shape[0]
    return None


def _sequence_length(x):
    # Tokenized features give their own length; no texts pad to length 0,
    # as the preprocessors do for an empty batch.
    if isinstance(x, dict) and "token_ids" in x:
        shape = getattr(x["token_ids"], "shape", ())
        if len(shape) >= 2 and shape[1] is not None:
            return int(shape[1])
    return 0


def empty_predictions(model, x):
    """`predict`'s result for an empty batch, or None when `x` has rows.

    Keras cannot run `predict` over no batches: it fails deep inside its
    loop (an empty `tf.data` element, or a variable never assigned). A
    served model answers an empty request with an empty result, and so do
    `TextClassifier` and `TokenClassifier`, through this.

    Args:
        model: a functional Keras model with one output.
        x: what was passed to `predict`.

    Returns:
        None if `x` has rows. Otherwise a numpy array with 0 rows and the
        dtype and shape the model's output has for other batches. An axis of
        unknown size (a per-token output, padded to each batch's longest
        text) gets the length of `x["token_ids"]` for tokenized features,
        else 0: `(0, 0, num_tags)` for no texts, as the preprocessor's
        `(0, 0)` token ids give.
    """
    if _batch_size(x) != 0:
        return None
    output = model.outputs[0]
    length = _sequence_length(x)
    shape = [length if dim is None else dim for dim in output.shape[1:]]
    return np.zeros((0, *shape), dtype=output.dtype)


class PackedTexts:
    """Mixin for a task that reads packed rows (several texts a row).

    A packed batch (`text_mask` among its features, as
    `tftransformer.data.make_classification_dataset(..., pack=True)` yields
    it) has its labels and the model's outputs per row slot, `(rows,
    max_texts, ...)`, so every tensor of the batch splits along its rows
    (as `tf.distribute` splits a batch across replicas) and every batch of a
    dataset has the same shape past its rows (one XLA program under
    `jit_compile`). The model's output carries `text_mask` as its Keras
    mask, so Keras' losses and metrics count the real texts only (a loss
    reduced `"sum_over_batch_size"` is the mean over the texts). Keras
    leaves four things to this mixin:

    - the epoch's `loss` weighs each batch by its texts (Keras weighs it by
      the rows of the model's first input);
    - across replicas, each replica's loss is weighed by its share of the
      global batch's texts, so the step is the one device's step;
    - `fit(class_weight=...)` weighs each slot by its label's class (Keras'
      own class weighting reads a 2-D label as one-hot);
    - `predict` returns one row per real text, in order.

    The task's `compute_mask` returns `text_mask` for packed inputs.
    """

    def compile(self, *args, **kwargs):
        super().compile(*args, **kwargs)
        # Set past Keras' attribute tracking, as Keras sets its own tracker:
        # a tracked metric would be listed twice in `metrics`.
        object.__setattr__(self, "_loss_tracker", _ExampleWeightedMean(name="loss"))

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        if is_packed_batch(x):
            sample_weight = self._weigh_replica_texts(x, sample_weight)
        return super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )

    def _weigh_replica_texts(self, x, sample_weight):
        """`sample_weight` for one replica's packed batch, so that the
        replicas' losses add up to the mean over the global batch's texts.

        Keras averages the replicas' losses, each a mean over its own
        texts, and replicas hold different numbers of texts: a replica's
        loss is weighed by its share of the texts instead. Also sets the
        loss tracker's weight, the global batch's texts.
        """
        texts = tf.reduce_sum(tf.cast(x["text_mask"], "int32"))
        replicas = self.distribute_strategy.num_replicas_in_sync
        # None in the cross-replica context (Keras' symbolic build).
        context = tf.distribute.get_replica_context()
        global_texts = texts
        if replicas > 1 and context is not None:
            global_texts = context.all_reduce(tf.distribute.ReduceOp.SUM, texts)
            share = tf.cast(texts * replicas, "float32") / tf.cast(
                global_texts, "float32"
            )
            share = tf.fill(tf.shape(x["text_mask"]), share)
            sample_weight = share if sample_weight is None else share * sample_weight
        tracker = getattr(self, "_loss_tracker", None)
        if isinstance(tracker, _ExampleWeightedMean):
            # Read by the tracker's next update, in the same step; summed
            # over the replicas, the global batch's texts.
            tracker.next_weight = tf.cast(global_texts, "float32") / replicas
        return sample_weight

    def fit(self, x=None, y=None, *args, class_weight=None, **kwargs):
        if (
            class_weight is not None
            and isinstance(x, tf.data.Dataset)
            and holds_packed_texts(x)
        ):
            x = x.map(
                _slot_class_weights(class_weight), num_parallel_calls=tf.data.AUTOTUNE
            )
            class_weight = None
        return super().fit(x, y, *args, class_weight=class_weight, **kwargs)

    def predict_step(self, data):
        outputs = super().predict_step(data)
        x = keras.utils.unpack_x_y_sample_weight(data)[0]
        if not is_packed_batch(x):
            return outputs
        # The real texts are picked outside the step (a fixed shape here).
        return {_PACKED_OUTPUTS: outputs, "text_mask": x["text_mask"]}

    def predict(self, *args, **kwargs):
        return _real_texts(super().predict(*args, **kwargs))

    def predict_on_batch(self, x):
        return _real_texts(super().predict_on_batch(x))


_PACKED_OUTPUTS = "packed_outputs"


def _real_texts(outputs):
    """The real texts' rows of `predict`'s outputs on packed rows."""
    if isinstance(outputs, dict) and _PACKED_OUTPUTS in outputs:
        mask = np.asarray(outputs["text_mask"]).astype(bool)
        return np.asarray(outputs[_PACKED_OUTPUTS])[mask]
    return outputs


def _slot_class_weights(class_weight):
    """A `Dataset.map` function giving each packed slot its class's weight."""
    table = tf.constant(
        [float(class_weight.get(c, 1.0)) for c in range(max(class_weight) + 1)]
    )

    def weigh(x, y, *sample_weight):
        if sample_weight:
            raise ValueError(
                "class_weight cannot be combined with sample weights. "
                "Received a dataset of (features, labels, sample_weight) and "
                f"class_weight={class_weight!r}"
            )
        # Empty slots are left out by the model's mask.
        return x, y, tf.gather(table, tf.cast(y, "int32"))

    return weigh


class _ExampleWeightedMean(keras.metrics.Mean):
    """Keras' loss tracker, weighing its next update by the count its model
    sets in `next_weight` (the batch's texts) when it sets one."""

    next_weight = None

    def update_state(self, values, sample_weight=None):
        if self.next_weight is not None:
            sample_weight, self.next_weight = self.next_weight, None
        return super().update_state(values, sample_weight=sample_weight)


class TokenizedBatches:
    """Mixin for a keras-hub task: batches already tokenized skip the
    preprocessor (a dict with `token_ids`, as the `tf.data` pipelines of
    `tftransformer.data` yield); raw strings go through it.

    In-memory raw texts (a list, array or string tensor, or a tuple of two
    for pairs; a tuple of strings and a `(texts, 1)` column are read as the
    batch they hold, see `_texts_as_batch`) given to `fit`, `evaluate` or
    `predict` are tokenized once,
    all together, by a text classifier preprocessor (`TextClassifier`,
    `TextEmbedder`, ...), through a function traced once per preprocessor,
    and each batch is then cut to its own longest row as the preprocessor
    cuts it.
    keras-hub maps the preprocessor over a new `tf.data` pipeline in every
    call, which traces it again and builds it again for every epoch's
    iterator: most of a short `predict`'s time (BUILD_NOTES.md). More than
    `TOKENIZE_AT_ONCE` texts take keras-hub's pipeline, batch by batch.
    """

    def preprocess_samples(self, x, y=None, sample_weight=None):
        if isinstance(x, dict) and "token_ids" in x:
            return keras.utils.pack_x_y_sample_weight(x, y, sample_weight)
        _refuse_dict_of_texts(x)
        return super().preprocess_samples(x, y=y, sample_weight=sample_weight)

    def _in_memory_x(self, x):
        preprocessor = getattr(self, "preprocessor", None)
        if isinstance(preprocessor, keras_hub.models.TextClassifierPreprocessor):
            x = _texts_as_batch(x)
        _refuse_unbatched_texts(x)
        return super()._in_memory_x(x)

    def _in_memory_inputs(self, x):
        preprocessor = getattr(self, "preprocessor", None)
        if not isinstance(preprocessor, keras_hub.models.TextClassifierPreprocessor):
            return super()._in_memory_inputs(x)
        texts = _text_tensors(x)
        if texts is None:
            _check_texts(x)
            return super()._in_memory_inputs(x)
        features = _tokenize_function(preprocessor, len(texts))(*texts)
        if not getattr(preprocessor, "dynamic_padding", False):
            return features, None
        return features, functools.partial(
            trim_to_longest,
            pad_to_multiple_of=preprocessor.pad_to_multiple_of,
            max_length=preprocessor.sequence_length,
        )


# In-memory texts up to this many are tokenized in one call (see
# `TokenizedBatches`): their features, at most `sequence_length` ids each,
# are held at once.
TOKENIZE_AT_ONCE = 16384

# Each preprocessor's tokenizing functions, by the number of texts an
# example has; weakly keyed, so a deleted model's go with it.
_TOKENIZE_FUNCTIONS = weakref.WeakKeyDictionary()


def _refuse_unbatched_texts(x):
    """Refuses a dataset of single texts (or single tokenized ones), which
    the model would take as one batch of words and fail on inside the
    step ("Invalid input shape ... Expected shape (None, None)")."""
    if not isinstance(x, tf.data.Dataset):
        return
    spec = x.element_spec
    inputs = spec[0] if isinstance(spec, tuple) else spec
    if isinstance(inputs, dict):
        token_ids = inputs.get("token_ids")
        single = [isinstance(token_ids, tf.TensorSpec) and token_ids.shape.rank == 1]
    else:
        single = [
            isinstance(leaf, tf.TensorSpec)
            and leaf.dtype == tf.string
            and leaf.shape.rank == 0
            for leaf in tf.nest.flatten(inputs)
        ]
    if any(single):
        raise ValueError(
            "x must be a dataset of batches: batch it, e.g. "
            f"`dataset.batch(32)`. Received a dataset of single examples: "
            f"element_spec={spec!r:.300}"
        )


def _texts_as_batch(x):
    """Texts in two layouts that no text task took, as the batch they are:
    a tuple of texts (what `zip(*rows)` gives; a tuple otherwise holds the
    segments of pairs, each a batch) as a list, and a column of texts of
    shape `(texts, 1)` (`df[["text"]].to_numpy()`, a segment of pairs too)
    as 1-D. Anything else as given."""
    if isinstance(x, tuple):
        if x and all(isinstance(text, (str, bytes)) for text in x):
            return list(x)
        if 1 <= len(x) <= 2:
            return tuple(_column_as_1d(part) for part in x)
        return x
    return _column_as_1d(x)


def _column_as_1d(x):
    """A string array, array-like or tensor of shape `(texts, 1)` as 1-D."""
    if isinstance(x, tf.Tensor):
        if x.dtype == tf.string and x.shape.rank == 2 and x.shape[1] == 1:
            return tf.reshape(x, [-1])
        return x
    if isinstance(x, list) or not hasattr(x, "__array__"):
        return x
    array = np.asarray(x)
    if array.ndim == 2 and array.shape[1] == 1 and array.dtype.kind in "OSU":
        return array[:, 0]
    return x


def _text_parts(x):
    """In-memory `x` of a text task as a list of its parts (one, or two for
    pairs), array-likes (e.g. a pandas Series) as NumPy arrays; None for a
    tuple of another size."""
    parts = x if isinstance(x, tuple) else (x,)
    if not 1 <= len(parts) <= 2:
        return None
    return [
        np.asarray(part)
        if not isinstance(part, (list, tf.Tensor)) and hasattr(part, "__array__")
        else part
        for part in parts
    ]


def _text_tensors(x):
    """`x` as a tuple of 1-D string tensors (one, or two for pairs), or None.

    None unless `x` holds between 1 and `TOKENIZE_AT_ONCE` raw texts.
    """
    parts = _text_parts(x)
    if parts is None:
        return None
    tensors = []
    for part in parts:
        if isinstance(part, list):
            if not all(isinstance(text, str) for text in part):
                return None
            part = tf.constant(part, tf.string) if part else None
        elif isinstance(part, np.ndarray):
            if part.dtype.kind not in "OSU" or not all(
                isinstance(text, (str, bytes)) for text in part.ravel()
            ):
                return None
            part = tf.constant(part.astype(object), tf.string) if part.size else None
        elif not isinstance(part, tf.Tensor) or part.dtype != tf.string:
            return None
        if part is None or part.shape.rank != 1:
            return None
        tensors.append(part)
    sizes = {int(tensor.shape[0]) for tensor in tensors}
    if len(sizes) != 1 or not 1 <= sizes.pop() <= TOKENIZE_AT_ONCE:
        return None
    return tuple(tensors)


def _size(part):
    """The number of texts of one part of in-memory `x`, or None if unknown."""
    if isinstance(part, list):
        return len(part)
    shape = getattr(part, "shape", None)
    if shape is None or not len(shape) or shape[0] is None:
        return None
    return int(shape[0])


def _refuse_dict_of_texts(x):
    """Refuses a dict without `token_ids` (e.g. `{"text": [...]}`), which the
    preprocessor would fail on with a tokenizer's type error."""
    if isinstance(x, dict) and "token_ids" not in x:
        raise ValueError(
            "x must be texts (a list, array or tensor of strings; a tuple of "
            "two for pairs) or a dict of tokenized features with 'token_ids'. "
            f"Received a dict with keys {sorted(x)}"
        )


def _check_texts(x):
    """Refuses in-memory `x` of a text task whose 1-D parts hold non-texts.

    `x` is a list, array or tensor of texts, or a tuple of two for pairs;
    any other structure (a dict of token ids, nested lists) is left to the
    preprocessor. keras-hub's pipeline would fail inside a traced function.
    """
    _refuse_dict_of_texts(x)
    parts = _text_parts(x) or ()
    sizes = [_size(part) for part in parts]
    if len(parts) == 2 and None not in sizes and sizes[0] != sizes[1]:
        raise ValueError(
            "x's two parts, the texts and their text pairs, must hold the same "
            f"number of strings. Received: {sizes[0]} texts and {sizes[1]} "
            "text pairs"
        )
    for position, part in enumerate(parts):
        where = f"x[{position}]" if isinstance(x, tuple) else "x"
        if isinstance(part, tf.Tensor):
            if part.shape.rank == 1 and part.dtype != tf.string:
                raise ValueError(
                    f"{where} must hold texts (a string tensor). Received a "
                    f"tensor of dtype {part.dtype.name}: {where}={part!r:.200}"
                )
            continue
        if isinstance(part, np.ndarray) and part.ndim == 1:
            part = part.tolist() if part.dtype.kind in "biufc" else list(part)
        if not isinstance(part, list):
            continue
        texts = len(part)
        for index, item in enumerate(part):
            if (
                isinstance(item, (list, tuple))
                and len(item) == 2
                and all(isinstance(text, str) for text in item)
            ):
                raise ValueError(
                    f"{where} must hold texts (str); sentence pairs go as a tuple "
                    "of two lists, x=(texts, text_pairs), e.g. "
                    "`tuple(map(list, zip(*pairs)))`. Received: "
                    f"{where}[{index}]={item!r:.100} ({type(item).__name__})"
                )
            if isinstance(item, (list, tuple, dict, np.ndarray)):
                # Not a list of texts from here: the preprocessor says what
                # it takes.
                texts = index
                break
        check_strings(where, part[:texts], allow_bytes=True)


def target_array(x, y, name="y"):
    """In-memory targets `y` as a NumPy array, or None to leave them be.

    None for targets that are not one array (a dict, a dataset) and packed
    rows (`x` with a `text_mask`), whose labels are per row slot. No
    targets at all (`name` is their argument's, for the message) are
    refused: in-memory texts carry none.
    """
    if y is None:
        raise ValueError(
            f"{name} is missing: fitting and evaluating on in-memory texts "
            f"needs their targets, e.g. fit(texts, labels). Received: {name}=None"
        )
    if isinstance(y, (dict, tuple)):
        return None
    if isinstance(x, dict) and "text_mask" in x:
        return None
    if isinstance(y, (tf.Tensor, tf.RaggedTensor)):
        if isinstance(y, tf.RaggedTensor):
            return None
        return y.numpy() if tf.executing_eagerly() else None
    if not (isinstance(y, list) or hasattr(y, "__array__")):
        return None
    try:
        return np.asarray(y)
    except ValueError:  # rows of different lengths
        return None


def class_id_targets(x, y, name, num_classes, label_names=None):
    """In-memory labels `y` of `x`, refused unless class ids in
    `[0, num_classes)`; returned as given (floats as integers).

    Labels of shape `(texts,)` or `(texts, 1)` are read; wider ones are
    distributions (soft labels, a teacher's probabilities) for a loss of
    the user's choice. A label name gets a message listing `label_names`.
    Labels of shape `(texts, 1)` are returned as `(texts,)`.
    """
    labels = target_array(x, y, name)
    if (
        labels is None
        or not labels.size
        or labels.ndim not in (1, 2)
        or labels.ndim == 2
        and labels.shape[1] != 1
    ):
        return y
    ids = f"class ids, integers in [0, {num_classes})"
    if labels.dtype.kind in "OSU":
        names = f" (label_names in id order: {label_names!r:.200})"
        bad = np.array([not is_int(label) for label in labels.ravel()])
        refuse_bad_targets(
            name,
            labels,
            bad.reshape(labels.shape),
            f"{ids}; map label names to their ids{names if label_names else ''}",
        )
        labels = labels.astype("int64")
    if labels.dtype.kind == "f":
        # A label column with a missing value reads as floats (pandas).
        whole = np.isfinite(labels) & (labels == np.floor(labels))
        refuse_bad_targets(name, labels, ~whole, f"{ids}, one per text")
        labels = y = labels.astype("int64")
    if labels.dtype.kind in "iu":
        bad = (labels < 0) | (labels >= num_classes)
        refuse_bad_targets(name, labels, bad, f"{ids}, one per text")
    if labels.ndim == 2:
        # `(texts, 1)` as `(texts,)`: a model fit on `(texts,)` labels and
        # then on `(texts, 1)` ones would otherwise retrace its step for
        # labels of unknown rank, which Keras' losses cannot take.
        return tf.reshape(y, [-1]) if isinstance(y, tf.Tensor) else labels.ravel()
    return y


def refuse_non_numeric_targets(name, targets, expected, kinds="biuf"):
    """Raises a `ValueError` unless `targets`' dtype is of NumPy `kinds`
    (default: bool, integer or float), saying what `name` must hold."""
    if targets.dtype.kind not in kinds:
        raise ValueError(
            f"{name} must hold {expected}. Received: {name} of dtype {targets.dtype}"
        )


def refuse_bad_targets(name, targets, bad, expected):
    """Raises a `ValueError` naming the first entry of `targets` where the
    boolean array `bad` is set (`y[3]=7`, `y[3, 0]=nan`), if any.

    Args:
        name: the targets' argument name, e.g. `"y"`.
        targets: a NumPy array.
        bad: a boolean array of `targets`' shape.
        expected: what `name` must hold, for the message.
    """
    if bad.any():
        raise ValueError(
            f"{name} must hold {expected}. Received: "
            f"{first_bad_entry(name, targets, bad)}"
        )


def _tokenize_function(preprocessor, num_parts):
    """`preprocessor` over whole string tensors, traced once per `num_parts`."""
    functions = _TOKENIZE_FUNCTIONS.setdefault(preprocessor, {})
    if num_parts not in functions:
        # A weak reference: the function, kept by the preprocessor's entry,
        # must not keep the preprocessor alive.
        reference = weakref.ref(preprocessor)

        def tokenize(*texts):
            return reference()(x=texts if num_parts > 1 else texts[0])

        function = tf.function(
            tokenize, input_signature=[tf.TensorSpec([None], tf.string)] * num_parts
        )
        # Traced once per preprocessor, by its signature; TensorFlow counts
        # the traces of every model's preprocessor together (one code
        # object) and would warn of "retracing" from the fifth model on.
        function._omit_frequent_tracing_warning = True
        functions[num_parts] = function
    return functions[num_parts]


class EmptyBatchPredict:
    """Mixin for a task model: `predict` on no examples gives no rows.

    Keras fails on an empty batch; a served model answers it (see
    `empty_predictions`).
    """

    def predict(self, x, batch_size=None, *args, **kwargs):
        x = self._in_memory_x(x)
        empty = empty_predictions(self, x)
        if empty is not None:
            return empty
        return super().predict(x, batch_size, *args, **kwargs)


# === backbone freeze ===


def saved_frozen_layers(backbone):
    """The backbone layer names a task model's config records as frozen.

    The fine-tuning strategy's freeze (`tftransformer.finetune`'s freezing
    functions), not a `HeadWarmup`'s temporary one.
    """
    return frozen_layer_names(backbone, temporary=False)


def restore_frozen_layers(backbone, names):
    """Freezes the named backbone layers again (a task model's `__init__`).

    keras-hub backbones rebuild their layers from constructor arguments, so
    a loaded task model gets its freeze back from its own config.
    """
    if names:
        freeze_layers_by_name(backbone, names)


# === backbone outputs ===


def freeze_unused_backbone_layers(backbone, used_outputs=("sequence_output",)):
    """Sets `trainable = False` on backbone layers no used output depends on.

    A head reading only `sequence_output` leaves BERT's `pooled_dense` pooler
    out of the loss: kept trainable, it gets no gradient, so every step of
    `fit` warns "Gradients do not exist for variables ['pooled_dense/...']"
    and training summaries list it as trained. The layer keeps its weights
    and still computes `pooled_output`; only the optimizer leaves it alone.
    Setting `backbone.trainable = True` later makes it trainable again.

    Args:
        backbone: a functional backbone returning a dict of outputs (a
            keras-hub `BertBackbone`, `tftransformer.models.TransformerEncoder`,
            ...). Other backbones are left as they are.
        used_outputs: names of the outputs the head reads.

    Returns:
        The list of layers set non-trainable, in the backbone's order.

    Example:
    ```python
    frozen = freeze_unused_backbone_layers(bert_backbone)
    [layer.name for layer in frozen]  # ["pooled_dense"]
    ```
    """
    outputs = getattr(backbone, "outputs", None)
    output_dict = getattr(backbone, "output", None)
    if not outputs or not isinstance(output_dict, dict):
        return []
    if any(name not in output_dict for name in used_outputs):
        return []
    # A throwaway functional view of the used part of the graph; named, so
    # it takes no auto-generated name from the user's models.
    used_graph = keras.Model(
        backbone.input,
        [output_dict[name] for name in used_outputs],
        name=f"{backbone.name}_used_outputs",
    )
    used = {id(layer) for layer in used_graph.layers}
    unused = [
        layer for layer in backbone.layers if layer.weights and id(layer) not in used
    ]
    for layer in unused:
        layer.trainable = False
    return unused


# === extra blocks ===


def backbone_hidden_dim(backbone):
    """Returns the width of a backbone's `sequence_output`."""
    hidden_dim = getattr(backbone, "hidden_dim", None)
    if hidden_dim is None:
        hidden_dim = backbone.output["sequence_output"].shape[-1]
    return int(hidden_dim)


def packed_sequence(backbone, extra_blocks, inputs, training=None):
    """The sequence output `(batch, seq, hidden)` of packed rows.

    Each text of a row is encoded as if alone: the family adapter's
    `packed_sequence_output`, then the task's extra encoder blocks with
    attention kept inside each text.
    """
    sequence = adapter_for(backbone).packed_sequence_output(inputs, training=training)
    if extra_blocks:
        attention_mask = block_diagonal_attention_mask(inputs["text_ids"])
        for block in extra_blocks:
            sequence = block(
                sequence,
                padding_mask=inputs["padding_mask"],
                attention_mask=attention_mask,
                training=training,
            )
    return sequence


def extra_encoder_blocks(
    backbone, num_blocks, num_heads=None, intermediate_dim=None, dropout=0.1
):
    """Returns new `TransformerEncoderBlock`s sized for `backbone`.

    Args:
        backbone: the encoder the blocks go on.
        num_blocks: int >= 0, how many blocks.
        num_heads: heads per block; `None` for the largest of 1-4 that
            divides the backbone's width (small blocks train fast).
        intermediate_dim: feed-forward width; `None` for 4x the width.
        dropout: the blocks' dropout.

    Returns:
        `(blocks, num_heads, intermediate_dim)`: the list of layers, named
        `extra_block_{i}`, and the resolved sizes (`None` without blocks).

    Example:
    ```python
    blocks, _, _ = extra_encoder_blocks(backbone, 1)
    for block in blocks:
        sequence = block(sequence, padding_mask=padding_mask)
    ```
    """
    check_int("num_extra_blocks", num_blocks, 0)
    if not num_blocks:
        return [], num_heads, intermediate_dim
    hidden_dim = backbone_hidden_dim(backbone)
    if num_heads is None:
        num_heads = max(h for h in range(1, 5) if hidden_dim % h == 0)
    if intermediate_dim is None:
        intermediate_dim = 4 * hidden_dim
    blocks = [
        TransformerEncoderBlock(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            dtype=backbone.dtype_policy,
            name=f"extra_block_{i}",
        )
        for i in range(num_blocks)
    ]
    return blocks, num_heads, intermediate_dim
