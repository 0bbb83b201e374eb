"""Shared rules for packing BERT sequences: length arguments and padding."""

import tensorflow as tf

from tftransformer._arguments import check_int


def check_packing_arguments(length_name, length, pad_to_multiple_of):
    """Refuses a packed length or padding multiple that cannot work.

    Args:
        length_name: the argument's name in the caller, for the message.
        length: the packed length; at least 2, room for `[CLS]` and `[SEP]`.
        pad_to_multiple_of: a positive int, or None.

    Returns:
        `(length, pad_to_multiple_of)`, NumPy integers turned into ints.
    """
    length = check_int(length_name, length, 2, what=" (room for [CLS] and [SEP])")
    if pad_to_multiple_of is not None:
        pad_to_multiple_of = check_int(
            "pad_to_multiple_of", pad_to_multiple_of, 1, what=" or None"
        )
    return length, pad_to_multiple_of


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
