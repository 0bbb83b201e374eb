import math

import numpy as np
import tensorflow as tf


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


def _is_in_memory(x):
    """Arrays, lists, tensors, or a dict/tuple of them: data Keras can slice."""
    leaves = _leaves(x)
    return bool(leaves) and all(
        isinstance(leaf, (list, np.ndarray, tf.Tensor, tf.RaggedTensor))
        or hasattr(leaf, "__array__")
        for leaf in leaves
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


def _shuffled_batches(data, batch_size):
    """A dataset of `data`'s examples in a new order every epoch, batched."""
    num_examples = _num_examples(data)
    # Indices are shuffled, not examples: the buffer holds ints, not copies.
    order = tf.data.Dataset.range(num_examples).shuffle(
        num_examples, reshuffle_each_iteration=True
    )
    return order.batch(batch_size).map(
        lambda indices: _map_leaves(data, lambda t: tf.gather(t, indices)),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def _in_memory_arguments(
    x, y, batch_size, sample_weight, validation_data, validation_split, shuffle
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
    x, y, sample_weight = data
    if shuffle:
        # One dataset of shuffled batches carries x, y and the weights.
        x = _shuffled_batches(data, batch_size or 32)
        y = sample_weight = batch_size = None
    return x, y, batch_size, sample_weight, validation_data


class ShuffledFit:
    """Makes a keras-hub `Task`'s `fit` shuffle in-memory data every epoch.

    keras-hub's `Task.fit` turns arrays and lists into a `tf.data` pipeline
    in their given order and hands Keras `shuffle=True`, which Keras then
    ignores with a warning: data sorted by label trains one class after the
    other. Mixed in before the keras-hub base class, `fit` reshuffles
    in-memory data every epoch, as Keras does for its own models, and a
    dataset keeps its order without the warning.

    Example:
    ```python
    class TextClassifier(ShuffledFit, keras_hub.models.TextClassifier): ...

    classifier.fit(texts, labels, epochs=3)  # a new order every epoch
    classifier.fit(texts, labels, shuffle=False)  # the order given
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
        """Trains the model, reshuffling in-memory data every epoch.

        Arguments are those of `keras.Model.fit`, except:

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
        if _is_in_memory(x):
            x, y, batch_size, sample_weight, validation_data = _in_memory_arguments(
                x,
                y,
                batch_size,
                sample_weight,
                validation_data,
                validation_split,
                shuffle,
            )
            # Split and shuffled here (or kept in order): Keras' flag would
            # only warn.
            validation_split = None
            shuffle = False
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
