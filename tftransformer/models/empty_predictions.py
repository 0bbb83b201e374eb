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


class EmptyBatchPredict:
    """Mixin for a task model: `predict` on no examples gives no rows.

    Keras fails on an empty batch; a served model answers it (see
    `empty_predictions`).
    """

    def predict(self, x, *args, **kwargs):
        empty = empty_predictions(self, x)
        if empty is not None:
            return empty
        return super().predict(x, *args, **kwargs)
