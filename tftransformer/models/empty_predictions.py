"""What a task model predicts for a batch of no examples."""

import numpy as np


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


def empty_predictions(model, x):
    """`predict`'s result for an empty batch, or None when `x` has rows.

    Keras cannot run `predict` over no batches: it fails deep inside its
    loop (an empty `tf.data` element, or a variable never assigned). A
    served model answers an empty request with an empty result, and so does
    `TextClassifier`, through this.

    Args:
        model: a functional Keras model.
        x: what was passed to `predict`.

    Returns:
        A numpy array with 0 rows and the shape and dtype the model's output
        has for other batches, or None if `x` is not empty or the output has
        another axis of unknown size (a per-token output padded to each
        batch's longest text): then Keras' own error stands.
    """
    if _batch_size(x) != 0:
        return None
    output = model.outputs[0]
    if any(dim is None for dim in output.shape[1:]):
        return None
    return np.zeros((0, *output.shape[1:]), dtype=output.dtype)
