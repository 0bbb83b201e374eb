"""Holding out a seeded share of a training set as validation data."""

import numpy as np

from tftransformer.data.data_error import DataError


def hold_out_validation(count, fraction, seed, source, what="examples"):
    """Splits `range(count)` into training and held-out validation indices.

    `max(1, round(fraction * count))` indices, drawn by a NumPy generator
    seeded with `seed`, are held out. Both index arrays are sorted, so the
    examples of each split keep their order in the source.

    Args:
        count: int, the number of training examples read.
        fraction: float in (0, 1), the share held out.
        seed: int, the draw's seed.
        source: str, what the examples were read from (e.g. a file), for
            the messages.
        what: str, what the examples are (`"texts"`, `"questions"`), for
            the messages.

    Returns:
        `(train_indices, validation_indices)`, two sorted int arrays.

    Raises:
        DataError: for fewer than 2 examples, or a `fraction` that would
            hold out every example, naming `source`, `count` and `fraction`.
    """
    if count < 2:
        raise DataError(
            f"{source} has {count} {what}; holding out validation data needs "
            "at least 2. Give a validation file."
        )
    held_out = max(1, round(fraction * count))
    if held_out >= count:
        raise DataError(
            f"validation_fraction={fraction!r} of the {count} {what} of "
            f"{source} holds out all of them and leaves none to train on. Give "
            "a smaller validation_fraction, a larger file or a validation file."
        )
    order = np.random.default_rng(seed).permutation(count)
    return np.sort(order[held_out:]), np.sort(order[:held_out])
