import math

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    concatenate_tasks,
    interleave_tasks,
    sampling_probabilities,
)

SIZES = {"small": 100, "medium": 400, "large": 1600}


def task_dataset(task_index, num_batches, label_rank=1, batch_size=2):
    """Batches whose token ids all equal `task_index`, to tell them apart."""
    token_ids = np.full((num_batches * batch_size, 3), task_index, "int32")
    label_shape = (num_batches * batch_size,) + (3,) * (label_rank - 1)
    features = {"token_ids": token_ids, "padding_mask": token_ids >= 0}
    labels = np.zeros(label_shape, "int32")
    return tf.data.Dataset.from_tensor_slices((features, labels)).batch(batch_size)


def datasets(num_batches=5):
    return {
        name: task_dataset(i, num_batches, label_rank=1 + i % 2)
        for i, name in enumerate(SIZES)
    }


@pytest.mark.parametrize(
    "rule, temperature, expected",
    [
        ("proportional", None, [100 / 2100, 400 / 2100, 1600 / 2100]),
        ("equal", None, [1 / 3, 1 / 3, 1 / 3]),
        # sqrt(100) : sqrt(400) : sqrt(1600) = 10 : 20 : 40.
        ("temperature", 2.0, [10 / 70, 20 / 70, 40 / 70]),
        # T = 1 is the proportional rule.
        ("temperature", 1.0, [100 / 2100, 400 / 2100, 1600 / 2100]),
    ],
)
def test_sampling_probabilities(rule, temperature, expected):
    kwargs = {} if temperature is None else {"temperature": temperature}
    probabilities = sampling_probabilities(SIZES, rule, **kwargs)
    assert list(probabilities) == list(SIZES)
    np.testing.assert_allclose(list(probabilities.values()), expected, rtol=1e-12)


def test_high_temperature_approaches_equal_and_huge_sizes_do_not_overflow():
    probabilities = sampling_probabilities({"a": 1e300, "b": 1.0}, "temperature", 0.01)
    assert probabilities == {"a": 1.0, "b": 0.0}
    probabilities = sampling_probabilities(SIZES, "temperature", 1e6)
    np.testing.assert_allclose(list(probabilities.values()), [1 / 3] * 3, rtol=1e-5)


@pytest.mark.parametrize(
    "rule, temperature",
    [("proportional", 2.0), ("equal", 2.0), ("temperature", 2.0), ("temperature", 3.0)],
)
def test_interleaved_batches_follow_the_rule(rule, temperature):
    draws = 3000
    stream = interleave_tasks(
        datasets(),
        sizes=SIZES,
        rule=rule,
        temperature=temperature,
        seed=7,
        num_batches=draws,
    )
    counts = np.zeros(len(SIZES))
    for features, _ in stream.as_numpy_iterator():
        task_id = features["task_id"]
        # One task per batch, and the batch really comes from that task.
        assert np.all(task_id == task_id[0])
        assert np.all(features["token_ids"] == task_id[0])
        counts[task_id[0]] += 1
    assert counts.sum() == draws
    # The expected probabilities, computed here from the formula.
    weights = np.array(list(SIZES.values()), "float64")
    if rule == "equal":
        weights = np.ones_like(weights)
    elif rule == "temperature":
        weights = weights ** (1 / temperature)
    expected = weights / weights.sum()
    # Each count is binomial: 4 standard deviations never fail by chance
    # with this fixed seed, and tell the rules apart (they differ by more
    # than 10 standard deviations).
    sd = np.sqrt(draws * expected * (1 - expected))
    assert np.all(np.abs(counts - draws * expected) < 4 * sd), (
        counts,
        draws * expected,
    )


def test_default_length_is_one_pass_and_ids_follow_task_names():
    data = {"b": task_dataset(1, 3), "a": task_dataset(0, 5)}
    stream = interleave_tasks(data, rule="equal", task_names=("a", "b", "c"))
    assert int(stream.cardinality()) == 8
    batches = list(stream.as_numpy_iterator())
    assert len(batches) == 8
    for features, _ in batches:
        # token ids were filled with the position in task_names.
        assert np.all(features["task_id"] == features["token_ids"][0, 0])


def test_sizes_default_to_batch_counts():
    # Proportional to 1 and 9 batches; a filtered dataset's length is
    # unknown and gets counted.
    data = {
        "a": task_dataset(0, 1),
        "b": task_dataset(1, 9).filter(lambda features, labels: True),
    }
    stream = interleave_tasks(data, seed=3, num_batches=2000)
    ids = np.array([f["task_id"][0] for f, _ in stream.as_numpy_iterator()])
    share = (ids == 1).mean()
    sd = math.sqrt(0.9 * 0.1 / 2000)
    assert abs(share - 0.9) < 4 * sd


def test_concatenate_gives_every_batch_once_in_task_order():
    stream = concatenate_tasks(datasets(num_batches=2))
    ids = [int(f["task_id"][0]) for f, _ in stream.as_numpy_iterator()]
    assert ids == [0, 0, 1, 1, 2, 2]
    # Labels of different ranks share the stream.
    assert stream.element_spec[1].shape.rank is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rule": "softmax"}, "rule='softmax'"),
        ({"rule": "temperature", "temperature": 0}, "temperature=0"),
        ({"sizes": {"small": 1}}, "size for each task"),
        ({"sizes": {"small": 1, "medium": -2, "large": 3}}, r"sizes\['medium'\]=-2"),
        ({"num_batches": 0}, "num_batches=0"),
        ({"seed": "x"}, "seed='x'"),
        ({"task_names": ("small",)}, r"not in task_names=\['small'\]"),
        # One str, read letter by letter.
        ({"task_names": "small"}, r"not a single string.*Received: task_names='small'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        interleave_tasks(datasets(), **kwargs)


def test_bad_datasets():
    with pytest.raises(ValueError, match="non-empty dict"):
        interleave_tasks([task_dataset(0, 1)])
    with pytest.raises(ValueError, match="must be a tf.data.Dataset"):
        interleave_tasks({"a": [1, 2]})
    unbatched = tf.data.Dataset.from_tensor_slices(np.zeros(3))
    with pytest.raises(ValueError, match=r"\(features, labels\)"):
        interleave_tasks({"a": unbatched})
    other = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": np.zeros((2, 3), "int32")}, np.zeros(2, "int32"))
    ).batch(1)
    with pytest.raises(ValueError, match="same features"):
        interleave_tasks({"a": task_dataset(0, 1), "b": other})
    empty = task_dataset(0, 1).take(0)
    with pytest.raises(ValueError, match=r"\['b'\] have no batches"):
        interleave_tasks({"a": task_dataset(0, 1), "b": empty})
