"""Shared rules for packing BERT sequences: length arguments and padding."""

import tensorflow as tf


def check_packing_arguments(length_name, length, pad_to_multiple_of):
    """Refuses a packed length or padding multiple that cannot work.

    Args:
        length_name: the argument's name in the caller, for the message.
        length: the packed length; at least 2, room for `[CLS]` and `[SEP]`.
        pad_to_multiple_of: a positive int, or None.
    """
    if isinstance(length, bool) or not isinstance(length, int) or length < 2:
        raise ValueError(
            f"{length_name} must be an integer >= 2 (room for [CLS] and "
            f"[SEP]). Received: {length_name}={length!r}"
        )
    if pad_to_multiple_of is not None and (
        isinstance(pad_to_multiple_of, bool)
        or not isinstance(pad_to_multiple_of, int)
        or pad_to_multiple_of < 1
    ):
        raise ValueError(
            "pad_to_multiple_of must be a positive integer or None. "
            f"Received: pad_to_multiple_of={pad_to_multiple_of!r}"
        )


def padded_length(longest, pad_to_multiple_of, max_length):
    """The batch's padded length: `longest` rounded up, capped at `max_length`.

    Args:
        longest: int32 scalar tensor, the longest real row of the batch.
        pad_to_multiple_of: int or None (no rounding).
        max_length: int, the cap; never below `longest`.

    Returns:
        An int32 scalar tensor.
    """
    multiple = 1 if pad_to_multiple_of is None else pad_to_multiple_of
    rounded = (longest + multiple - 1) // multiple * multiple
    return tf.maximum(tf.minimum(rounded, max_length), longest)
