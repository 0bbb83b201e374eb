"""Attention mask helpers shared by the attention and Transformer layers.

All masks are boolean: `True` means "may attend", `False` means "masked out".
"""

from keras import ops
from keras.src.backend import get_keras_mask

__all__ = [
    "block_diagonal_attention_mask",
    "compute_causal_mask",
    "merge_padding_and_attention_mask",
]


def check_sequence_shape(name, shape, more_axes=False):
    """Refuses an input shape that is not `(batch, sequence_length, features)`.

    For the layers whose masks and position biases are `(batch, sequence)`:
    another rank would fail deep inside the attention's softmax, or attend
    over the wrong axes without an error. `more_axes` allows a higher rank
    (Keras' attention over `attention_axes`).
    """
    if len(shape) < 3 or (len(shape) > 3 and not more_axes):
        raise ValueError(
            f"{name} must have shape (batch, sequence_length, features). "
            f"Received: {name}.shape={tuple(shape)}"
        )


def check_mask_matches(name, mask, inputs):
    """Refuses a padding mask that is not `(batch, sequence_length)` or whose
    known batch size or sequence length differs from `inputs'`, which
    TensorFlow would report as a broadcast failure inside the step (or, for
    another rank, broadcast over the wrong axes). Without `inputs` (a
    decoder step on its cache) only the rank is checked."""
    if len(mask.shape) != 2:
        raise ValueError(
            f"{name} must have shape (batch, sequence_length). "
            f"Received: {name}.shape={tuple(mask.shape)}"
        )
    if inputs is None:
        return
    for axis in (0, 1):
        have, want = mask.shape[axis], inputs.shape[axis]
        if have is not None and want is not None and have != want:
            raise ValueError(
                f"{name} must match the inputs' batch size and sequence length "
                f"{tuple(inputs.shape[:2])}. Received: {name}.shape="
                f"{tuple(mask.shape)} for inputs.shape={tuple(inputs.shape)}"
            )


def check_attention_mask(name, attention_mask, batch_size, query_length, key_length):
    """Refuses an attention mask that is not `(batch, query_length,
    key_length)`, comparing the sizes given (None: unknown, not compared);
    an axis of size 1 broadcasts (a key mask `(batch, 1, key_length)`).

    A mask of another rank would be broadcast by the softmax and applied
    to the wrong axes without an error (a `(batch, seq)` padding mask is
    read as one `(query, key)` mask when batch and sequence sizes agree);
    one of other sizes fails deep inside the step. `None` passes.
    """
    if attention_mask is None:
        return
    shape = tuple(attention_mask.shape)
    expected = (batch_size, query_length, key_length)
    if len(shape) != 3 or any(
        have not in (None, 1, want) and want is not None
        for have, want in zip(shape, expected)
    ):
        sizes = ", ".join(
            str(size) if size is not None else axis
            for size, axis in zip(expected, ("batch", "query_length", "key_length"))
        )
        raise ValueError(
            f"{name} must have shape (batch, query_length, key_length) = "
            f"({sizes}). Received: {name}.shape={shape}"
        )


def block_diagonal_attention_mask(text_ids):
    """The attention mask of packed rows: each token attends within its text.

    Args:
        text_ids: int tensor `(batch, seq)`, which text of the row each token
            belongs to (1, 2, ...), 0 for padding.

    Returns:
        A bool tensor `(batch, seq, seq)`, True where query and key belong
        to the same (real) text. A padding query attends to nothing.

    Example:
    ```python
    block_diagonal_attention_mask([[1, 1, 2, 0]])[0]
    # [[T, T, F, F], [T, T, F, F], [F, F, T, F], [F, F, F, F]]
    ```
    """
    text_ids = ops.convert_to_tensor(text_ids)
    # (batch, query, key)
    same = ops.equal(ops.expand_dims(text_ids, 2), ops.expand_dims(text_ids, 1))
    return ops.logical_and(same, ops.expand_dims(text_ids > 0, 1))


def compute_causal_mask(batch_size, query_length, key_length, cache_index=0):
    """Builds a causal (lower-triangular) attention mask.

    Query `i` sits at absolute position `i + cache_index` and may attend to
    every key at or before that position.

    Args:
        batch_size: int or scalar int tensor, the batch size of the mask.
        query_length: int or scalar int tensor, the number of queries.
        key_length: int or scalar int tensor, the number of keys.
        cache_index: int or scalar int tensor, the absolute position of the
            first query. With `query_length=1` and `cache_index=5` the single
            query sees keys `0..5`, as needed for cached step-by-step decoding.
            Defaults to `0`.

    Returns:
        A boolean tensor of shape `(batch_size, query_length, key_length)`.

    Example:
    ```python
    compute_causal_mask(1, 3, 3)
    # [[[True, False, False],
    #   [True, True,  False],
    #   [True, True,  True]]]
    ```
    """
    # (query_length, 1)
    query_positions = ops.expand_dims(
        ops.arange(query_length, dtype="int32") + ops.cast(cache_index, "int32"),
        axis=1,
    )
    # (1, key_length)
    key_positions = ops.expand_dims(ops.arange(key_length, dtype="int32"), axis=0)
    # (1, query_length, key_length)
    mask = ops.expand_dims(ops.greater_equal(query_positions, key_positions), 0)
    return ops.broadcast_to(mask, (batch_size, query_length, key_length))


def merge_padding_and_attention_mask(
    inputs,
    padding_mask=None,
    attention_mask=None,
    query=None,
    names=("padding_mask", "attention_mask"),
):
    """Combines a padding mask and an attention mask into one boolean mask.

    The padding mask marks the real (non-padding) keys. It becomes a key mask
    of shape `(batch, 1, key_len)` that broadcasts over the queries. When both
    masks are given they are combined with a logical AND: a query attends to a
    key only if both masks allow it; neither mask overrides the other.

    When `padding_mask` is `None`, the Keras mask attached to `inputs` (e.g.
    from `keras.layers.Embedding(mask_zero=True)`) is used in its place. An
    explicit `padding_mask` takes precedence over that Keras mask.

    Args:
        inputs: the key sequence, `(batch, key_len, ...)`; only its Keras mask
            is read.
        padding_mask: optional bool or int tensor of shape `(batch, key_len)`,
            true (or 1) for real tokens.
        attention_mask: optional bool or int tensor of shape
            `(batch, query_len, key_len)`, true (or 1) where attention is
            allowed.
        query: optional query sequence `(batch, query_len, ...)`, whose
            batch size and length `attention_mask` must match: `inputs`
            for self-attention, the decoder's sequence for cross-attention.
            Without it, only `attention_mask`'s batch size and key length
            are checked.
        names: the two masks' names in error messages, e.g. a decoder's
            `("encoder_padding_mask", "encoder_attention_mask")`.

    Returns:
        `None` when there is no mask at all; the boolean `attention_mask`
        `(batch, query_len, key_len)` when it is given; otherwise the boolean
        key mask `(batch, 1, key_len)`, which broadcasts to
        `(batch, query_len, key_len)`.

    Raises:
        ValueError: if a mask has the wrong rank, or a batch size, query
            length or key length other than `query`'s and `inputs`'.

    Example:
    ```python
    padding_mask = np.array([[True, True, False]])
    merge_padding_and_attention_mask(x, padding_mask)
    # [[[True, True, False]]]  # (1, 1, 3)
    ```
    """
    mask = padding_mask if padding_mask is not None else get_keras_mask(inputs)
    if mask is not None:
        check_mask_matches(names[0], mask, inputs)
        # (batch, 1, key_len): the same key mask for every query.
        mask = ops.expand_dims(ops.cast(mask, "bool"), axis=1)
    if attention_mask is None:
        return mask
    batch_size, key_length = (None, None) if inputs is None else inputs.shape[:2]
    if query is not None:
        batch_size = batch_size if query.shape[0] is None else query.shape[0]
    query_length = None if query is None else query.shape[1]
    check_attention_mask(names[1], attention_mask, batch_size, query_length, key_length)
    attention_mask = ops.cast(attention_mask, "bool")
    if mask is None:
        return attention_mask
    return ops.logical_and(mask, attention_mask)


def explicit_mask_arguments(query, value, query_padding_mask, value_padding_mask):
    """`MultiHeadAttention` mask arguments that let explicit masks win.

    Keras' `MultiHeadAttention` fills `query_mask` and `value_mask` from the
    Keras masks of its `query` and `value` and ANDs them into the attention
    mask. A block whose caller passes an explicit padding mask has already
    put that mask in place of the Keras mask (`merge_padding_and_attention_mask`),
    so the attention layer gets the explicit mask for each input that
    carries a Keras mask, and leaves the others as they are.

    Args:
        query: the attention's query sequence, `(batch, query_len, dim)`.
        value: the attention's value sequence, `(batch, key_len, dim)`.
        query_padding_mask: the caller's explicit mask of the queries'
            sequence `(batch, query_len)`, or `None`.
        value_padding_mask: the caller's explicit mask of the values'
            sequence `(batch, key_len)`, or `None`.

    Returns:
        A dict of keyword arguments for the attention layer's call: empty
        unless an explicit mask meets a Keras mask.
    """
    arguments = {}
    if query_padding_mask is not None and get_keras_mask(query) is not None:
        arguments["query_mask"] = ops.cast(query_padding_mask, "bool")
    if value_padding_mask is not None and get_keras_mask(value) is not None:
        arguments["value_mask"] = ops.cast(value_padding_mask, "bool")
    return arguments
