"""Batches of several tasks in one `tf.data` stream, for multi-task training.

Every batch comes from one task and says which: its features gain a
`"task_id"` entry, an int32 vector `(batch,)` holding the task's position in
`task_names` (for a `tftransformer.models.MultiTaskModel`, its
`task_names`). `interleave_tasks` draws the task of each batch at random,
with probability `p_i` for task `i` of size `n_i`:

| rule             | p_i                          |
|------------------|------------------------------|
| `"proportional"` | n_i / sum_j n_j              |
| `"equal"`        | 1 / number of tasks          |
| `"temperature"`  | n_i^(1/T) / sum_j n_j^(1/T)  |

Temperature `T = 1` is the proportional rule and `T -> inf` the equal one;
in between (T5 uses `T = 2` or 3) large tasks still get more batches but
small ones are not drowned. `concatenate_tasks` gives every batch of every
task exactly once, task after task, for evaluation.
"""

import math

import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    check_choice,
    check_int,
    check_positive_number,
    check_strings,
)
from tftransformer.data._autotune import prefetched

__all__ = [
    "SAMPLING_RULES",
    "TASK_ID_KEY",
    "concatenate_tasks",
    "interleave_tasks",
    "sampling_probabilities",
]

SAMPLING_RULES = ("proportional", "equal", "temperature")
# The feature naming each batch's task.
TASK_ID_KEY = "task_id"


def sampling_probabilities(sizes, rule="proportional", temperature=2.0):
    """Returns the probability of drawing a batch of each task.

    Args:
        sizes: dict mapping task names to their sizes `n_i` (positive
            numbers, e.g. training examples).
        rule: `"proportional"`, `"equal"` or `"temperature"` (see the module
            docstring).
        temperature: float > 0, `T` of the `"temperature"` rule.

    Returns:
        A dict mapping each task name to its probability, in the order of
        `sizes`; the values sum to 1.

    Example:
    ```python
    sampling_probabilities({"a": 100, "b": 400}, "temperature", temperature=2.0)
    # {"a": 0.333..., "b": 0.666...}: sqrt(100) : sqrt(400)
    ```
    """
    if not isinstance(sizes, dict) or not sizes:
        raise ValueError(
            "sizes must be a non-empty dict mapping task names to sizes. "
            f"Received: sizes={sizes!r}"
        )
    for name, size in sizes.items():
        if (
            isinstance(size, bool)
            or not isinstance(size, (int, float, np.integer, np.floating))
            or not math.isfinite(size)
            or size <= 0
        ):
            raise ValueError(
                f"Every task size must be a positive number. Received: "
                f"sizes[{name!r}]={size!r}"
            )
    check_choice("rule", rule, SAMPLING_RULES)
    if rule == "temperature":
        check_positive_number("temperature", temperature)
    sizes = {name: float(size) for name, size in sizes.items()}
    if rule == "equal":
        weights = {name: 1.0 for name in sizes}
    elif rule == "proportional":
        weights = sizes
    else:
        # In log space: n^(1/T) overflows for large n and small T.
        logs = {name: math.log(size) / temperature for name, size in sizes.items()}
        top = max(logs.values())
        weights = {name: math.exp(value - top) for name, value in logs.items()}
    total = sum(weights.values())
    return {name: weight / total for name, weight in weights.items()}


def _check_datasets(datasets, task_names):
    if not isinstance(datasets, dict) or not datasets:
        raise ValueError(
            "datasets must be a non-empty dict mapping task names to batched "
            f"tf.data datasets. Received: {datasets!r}"
        )
    for name, dataset in datasets.items():
        if not isinstance(dataset, tf.data.Dataset):
            raise ValueError(
                f"datasets[{name!r}] must be a tf.data.Dataset. Received: "
                f"{type(dataset).__name__}"
            )
        spec = dataset.element_spec
        if (
            not isinstance(spec, tuple)
            or len(spec) not in (2, 3)
            or not isinstance(spec[0], dict)
        ):
            raise ValueError(
                f"datasets[{name!r}] must yield (features, labels) or (features, "
                "labels, sample_weight) batches with a dict of features. "
                f"Received element_spec={spec}"
            )
        if TASK_ID_KEY in spec[0]:
            raise ValueError(
                f"datasets[{name!r}] already has a {TASK_ID_KEY!r} feature; pass "
                "the untagged datasets."
            )
    structures = {
        name: (sorted(dataset.element_spec[0]), len(dataset.element_spec))
        for name, dataset in datasets.items()
    }
    if len({repr(s) for s in structures.values()}) > 1:
        raise ValueError(
            "Every task's batches must have the same features (and all or none "
            "sample weights) to share one stream. Received (feature names, "
            f"tuple length) per task: {structures}"
        )
    if task_names is None:
        task_names = tuple(datasets)
    # One name as a str would be read letter by letter.
    task_names = tuple(check_strings("task_names", task_names))
    unknown = [name for name in datasets if name not in task_names]
    if unknown:
        raise ValueError(
            f"datasets has tasks {unknown} that are not in task_names="
            f"{list(task_names)}; a batch's task_id is its task's position there."
        )
    return task_names


def _tag(dataset, task_id):
    def add_task_id(features, *rest):
        features = dict(features)
        batch = tf.shape(next(iter(features.values())))[0]
        features[TASK_ID_KEY] = tf.fill([batch], tf.constant(task_id, tf.int32))
        return (features,) + rest

    return dataset.map(add_task_id, num_parallel_calls=tf.data.AUTOTUNE)


def _num_batches(dataset):
    cardinality = int(dataset.cardinality())
    if cardinality == tf.data.INFINITE_CARDINALITY:
        raise ValueError(
            "A task's dataset is infinite (repeated); pass a finite one, or "
            "pass both sizes= and num_batches=."
        )
    if cardinality >= 0:
        return cardinality
    # Unknown (bucketed or filtered): count one pass, which also fills any
    # cache the pipeline has.
    return int(dataset.reduce(np.int64(0), lambda count, _: count + 1))


def interleave_tasks(
    datasets,
    sizes=None,
    rule="proportional",
    temperature=2.0,
    seed=0,
    task_names=None,
    num_batches=None,
):
    """Interleaves batched task datasets into one stream of task-tagged batches.

    Each task's dataset is repeated, and each batch of the stream is drawn
    from task `i` with the probability `sampling_probabilities(sizes, rule,
    temperature)` gives it (`tf.data.Dataset.sample_from_datasets`, seeded,
    with a new draw on every pass). A batch is always one task's batch,
    with `"task_id"` added to its features. The stream is `num_batches`
    long, by default the total number of batches of one pass over every
    task; Keras treats that as one epoch.

    Args:
        datasets: dict mapping task names to batched `tf.data.Dataset`s of
            `(features, labels)` or `(features, labels, sample_weight)`, all
            with the same feature names (as `make_classification_dataset` and
            `make_tagging_dataset` give); label shapes may differ by task.
        sizes: dict mapping each task of `datasets` to its size, e.g. its
            number of training examples. `None` for each dataset's number of
            batches (counted with one pass when unknown). Not needed for
            `rule="equal"`.
        rule: `"proportional"`, `"equal"` or `"temperature"`.
        temperature: float > 0, `T` of the `"temperature"` rule.
        seed: int, the sampling seed.
        task_names: the order defining task ids (pass `model.task_names` of
            a `MultiTaskModel`); defaults to the order of `datasets`. It may
            name tasks `datasets` does not have.
        num_batches: positive int, the length of the stream; `None` for one
            pass's worth.

    Returns:
        A `tf.data.Dataset` with the input datasets' elements, features
        extended by `"task_id"` (int32, `(batch,)`).

    Example:
    ```python
    stream = interleave_tasks(
        {"sentiment": sentiment_batches, "ner": ner_batches},
        sizes={"sentiment": 2000, "ner": 1916},
        rule="temperature",
        temperature=2.0,
        task_names=model.task_names,
    )
    model.fit(stream, epochs=2)
    ```
    """
    task_names = _check_datasets(datasets, task_names)
    seed = check_int("seed", seed)
    if num_batches is not None:
        num_batches = check_int("num_batches", num_batches, 1, what=" or None")
    if sizes is not None:
        if not isinstance(sizes, dict) or set(sizes) != set(datasets):
            raise ValueError(
                f"sizes must give a size for each task of datasets ({list(datasets)})."
                f" Received: sizes={sizes!r}"
            )
        sizes = {name: sizes[name] for name in datasets}
    batch_counts = None
    if num_batches is None or (sizes is None and rule != "equal"):
        batch_counts = {name: _num_batches(d) for name, d in datasets.items()}
        empty = [name for name, count in batch_counts.items() if count == 0]
        if empty:
            raise ValueError(f"The datasets of tasks {empty} have no batches.")
    if sizes is None:
        sizes = batch_counts if rule != "equal" else {name: 1 for name in datasets}
    probabilities = sampling_probabilities(sizes, rule, temperature)
    if num_batches is None:
        num_batches = sum(batch_counts.values())
    streams = [
        _tag(dataset, task_names.index(name)).repeat()
        for name, dataset in datasets.items()
    ]
    stream = tf.data.Dataset.sample_from_datasets(
        streams,
        weights=[probabilities[name] for name in datasets],
        seed=seed,
        rerandomize_each_iteration=True,
    )
    # A known length lets Keras size the epoch from the first step.
    stream = stream.take(num_batches).apply(
        tf.data.experimental.assert_cardinality(num_batches)
    )
    return prefetched(stream)


def concatenate_tasks(datasets, task_names=None):
    """Chains task datasets, every batch once, each tagged with its task id.

    For evaluation: the batches of the first task, then those of the second,
    and so on, each with `"task_id"` added to its features.

    Args:
        datasets: dict mapping task names to batched `tf.data.Dataset`s, as
            for `interleave_tasks`.
        task_names: the order defining task ids (pass `model.task_names`);
            defaults to the order of `datasets`.

    Returns:
        A `tf.data.Dataset`.

    Example:
    ```python
    model.evaluate(concatenate_tasks(validation_sets, task_names=model.task_names))
    ```
    """
    task_names = _check_datasets(datasets, task_names)
    tagged = [_tag(d, task_names.index(name)) for name, d in datasets.items()]
    stream = tagged[0]
    for dataset in tagged[1:]:
        stream = stream.concatenate(dataset)
    return prefetched(stream)
