"""Argument normalization shared by the layer and model constructors."""

import difflib
import inspect
import math
import numbers
import os
from collections.abc import Iterable

import numpy as np

# The largest float32: a larger finite number becomes inf as a float32.
FLOAT32_MAX = float(np.finfo(np.float32).max)

__all__ = [
    "as_list",
    "check_binary_array",
    "check_bool",
    "check_choice",
    "check_fraction",
    "check_ids_below",
    "check_model_keywords",
    "check_int",
    "check_on_bad_rows",
    "check_path",
    "check_positive_number",
    "check_real_array",
    "check_strings",
    "check_texts_as_str",
    "class_names",
    "first_bad_entry",
    "float32_cell",
    "is_finite_number",
    "is_int",
    "output_shape",
    "python_number",
    "refuse_one_string",
]


def is_int(value):
    """Whether `value` is an integer (a NumPy one too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def float32_cell(value):
    """A data file's cell as a float within float32's range, else None.

    Takes a number or a numeric string (surrounding spaces allowed); a bool,
    a non-numeric value, NaN or a magnitude past `FLOAT32_MAX` (which would
    become inf as a float32) gives None, for the caller to name in its error.
    """
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except (ValueError, OverflowError):
        return None
    return number if abs(number) <= FLOAT32_MAX else None


def is_finite_number(value):
    """Whether `value` is a finite real number (a NumPy one too), not a bool.

    An infinite or NaN rate, decay or norm would turn weights into NaN.
    """
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


def class_names(argument, names, count, per="class id"):
    """Returns `names` as `count` distinct, non-empty, one-line strings.

    For label and tag names: they name class ids in reports and exported
    models, one a line in the exported `labels.txt` / `tags.txt`.

    Args:
        argument: the argument's name, for the message.
        names: an iterable of names (numbers are turned into strings).
        count: the number of classes.
        per: what each name names, for the message (`"target"` for a
            regressor's target names).

    Returns:
        A list of str.

    Raises:
        ValueError: for a string (it would be read letter by letter), a
            count other than `count`, a repeated or empty name, or a name
            with a line break, naming `argument` and the value received.
    """
    if isinstance(names, str) or not isinstance(names, Iterable):
        raise ValueError(
            f"{argument} must be a list of {count} names, one per {per}. "
            f"Received: {argument}={names!r}"
        )
    names = [str(name) for name in names]
    if (
        len(names) != count
        or len(set(names)) != count
        or any(not name.strip() or "\n" in name or "\r" in name for name in names)
    ):
        raise ValueError(
            f"{argument} must hold {count} distinct, non-empty names without "
            f"line breaks, one per {per}. Received: {argument}={names!r}"
        )
    return names


def check_int(name, value, minimum=None, maximum=None, what=""):
    """Returns `value` (a NumPy integer too) as an int within the bounds.

    `None` bounds leave that side open (a seed, a label id).

    Raises:
        ValueError: naming `name`, the bounds (and `what` they are) and the
            value received.
    """
    if (
        not is_int(value)
        or (minimum is not None and value < minimum)
        or (maximum is not None and value > maximum)
    ):
        if maximum is None:
            bounds = "" if minimum is None else f" >= {minimum}"
        elif minimum is None:
            bounds = f" <= {maximum}"
        else:
            bounds = f" in [{minimum}, {maximum}]"
        raise ValueError(
            f"{name} must be an integer{bounds}{what}. Received: {name}={value!r}"
        )
    return int(value)


# What a functional `keras.Model` takes besides its inputs and outputs; it
# drops any other keyword argument without a word. keras-hub's `Task` adds
# `compile`.
MODEL_KEYWORDS = ("name", "trainable", "dtype")
TASK_KEYWORDS = (*MODEL_KEYWORDS, "compile")


def check_model_keywords(owner, kwargs, accepted=MODEL_KEYWORDS):
    """Refuses the keyword arguments a model's `**kwargs` cannot take.

    A functional `keras.Model` silently ignores unknown keyword arguments, so
    a misspelt `drpout=0.3` would train without dropout.

    Args:
        owner: the model class, for the message and the suggestions.
        kwargs: the `**kwargs` its `__init__` received.
        accepted: the names `kwargs` may hold.

    Raises:
        TypeError: naming each unknown argument (with the closest argument
            of `owner.__init__`, if one is close) and what is accepted.
    """
    unknown = sorted(set(kwargs) - set(accepted))
    if not unknown:
        return
    parameters = [
        name
        for name, parameter in inspect.signature(owner.__init__).parameters.items()
        if name != "self" and parameter.kind is not parameter.VAR_KEYWORD
    ]
    described = []
    for name in unknown:
        close = difflib.get_close_matches(name, [*parameters, *accepted], n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        described.append(f"{name}={kwargs[name]!r}{hint}")
    raise TypeError(
        f"{owner.__name__} got unexpected keyword arguments: "
        f"{', '.join(described)}. It takes {', '.join(parameters)} and "
        f"keras.Model's {', '.join(accepted)}."
    )


def check_bool(name, value):
    """Returns `value` (a NumPy bool too) as a bool; refuses anything else."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False. Received: {name}={value!r}")
    return bool(value)


def check_choice(name, value, choices):
    """Returns `value` if it is one of `choices` (any iterable of its keys:
    strings, and `None` where it is a choice)."""
    choices = tuple(choices)
    if not (value is None or isinstance(value, str)) or value not in choices:
        raise ValueError(
            f"{name} must be one of {', '.join(map(repr, choices))}. "
            f"Received: {name}={value!r}"
        )
    return value


def check_fraction(name, value):
    """Returns a number in `[0, 1)` (a NumPy one too, not a bool) as a float.

    For rates and smoothing factors: dropout, label smoothing, Adam's betas.
    """
    if not is_finite_number(value) or not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1). Received: {name}={value!r}")
    return float(value)


def check_strings(name, values, what="", allow_bytes=False):
    """Returns `values`, a list (or other iterable) of strings, as a list.

    The one check of a sequence of texts: it refuses a single string (read
    letter by letter otherwise), a value that is not a sequence, and names
    the first entry that is not a str (`bytes` too with `allow_bytes`), e.g.
    a missing cell's `None` or NaN. `what` prefixes the message, e.g.
    `"For an embedder, "`.
    """
    message = f"{what}`{name}` must be a list of strings"
    if isinstance(values, (str, bytes)):
        raise ValueError(
            f"{message}, not a single string (it would be read letter by "
            f"letter). Received: {name}={values!r:.100}"
        )
    values = as_list(values)
    if not isinstance(values, list):
        raise ValueError(f"{message}. Received: {name}={values!r:.200}")
    kinds = (str, bytes) if allow_bytes else str
    for index, value in enumerate(values):
        if not isinstance(value, kinds):
            raise ValueError(
                f"{message}. Received: {name}[{index}]={value!r:.100} "
                f"({type(value).__name__})"
            )
    return values


def check_texts_as_str(name, values):
    """`check_strings(name, values, allow_bytes=True)`, with bytes decoded
    as UTF-8: a list of str; bytes that are not UTF-8 are refused naming
    the entry and the byte."""
    values = check_strings(name, values, allow_bytes=True)
    for index, value in enumerate(values):
        if isinstance(value, bytes):
            try:
                values[index] = value.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"`{name}` must hold UTF-8 text. Received: "
                    f"{name}[{index}]={value!r:.100} ({error.reason} at byte "
                    f"{error.start})"
                ) from None
    return values


def refuse_one_string(name, value, what="a list"):
    """Refuses a single str or bytes where `name` takes `what`, a sequence
    of texts: iterated, it would be read letter by letter."""
    if isinstance(value, (str, bytes)):
        raise ValueError(
            f"{name} must be {what}, not a single string (it would be read "
            f"letter by letter). Received: {name}={value!r:.80}"
        )


def check_path(name, value):
    """Returns `value`, a str or path-like, as a str; refuses anything else."""
    if not isinstance(value, (str, os.PathLike)):
        raise ValueError(
            f"{name} must be a string or a path. Received: {name}={value!r}"
        )
    return os.fspath(value)


def check_on_bad_rows(value):
    """Refuses an `on_bad_rows` other than `"error"` or `"skip"`."""
    return check_choice("on_bad_rows", value, ("error", "skip"))


def check_input_rank(layer, inputs_shape, layout):
    """Refuses a layer's inputs unless of rank `len(layout)`, with a known
    last axis when `layout` ends with "dim" (e.g. `("batch", "seq", "dim")`);
    the message names the layer, the layout and the shape received."""
    shape = tuple(inputs_shape)
    if len(shape) != len(layout) or (layout[-1] == "dim" and shape[-1] is None):
        known = " with a known dim" if layout[-1] == "dim" else ""
        raise ValueError(
            f"{type(layer).__name__} expects inputs of shape "
            f"({', '.join(layout)}){known}. Received: inputs.shape={shape}"
        )


def output_shape(model):
    """The shape of `model`'s one output, as a tuple, for a check's message;
    `None` for a model without exactly one recorded output (several, or a
    subclassed model such as a multi-task one).

    `outputs`, not `output`: a `Sequential` model loaded from a file has
    its outputs but no call node of its own, and `output` raises."""
    outputs = getattr(model, "outputs", None)
    if not outputs or len(outputs) != 1:
        return None
    return tuple(outputs[0].shape)


def check_positive_number(name, value, allow_zero=False):
    """Returns a finite number `> 0` (`>= 0` with `allow_zero`) as a float."""
    if not is_finite_number(value) or value < 0 or (value == 0 and not allow_zero):
        raise ValueError(
            f"{name} must be a finite number {'>=' if allow_zero else '>'} 0. "
            f"Received: {name}={value!r}"
        )
    return float(value)


def as_list(value):
    """Returns a non-string iterable as a list, anything else unchanged.

    For arguments that take any iterable of names: a check that iterates a
    generator would use it up before the names are used. A lone string stays
    a string, for the caller to refuse (it would be read letter by letter).
    """
    if not isinstance(value, str) and isinstance(value, Iterable):
        return list(value)
    return value


def python_number(value):
    """Returns a NumPy integer or real scalar as a Python `int` or `float`.

    Hyperparameters often come out of NumPy (`labels.max() + 1`, a value of
    `np.arange` or `np.float32`); the constructors check for Python numbers,
    and configs must hold them to serialize to JSON. Anything else, booleans
    included, is returned unchanged for the caller's own check.

    Args:
        value: any object.

    Returns:
        `int(value)` for an integral number, `float(value)` for another real
        number, otherwise `value` itself.

    Example:
    ```python
    python_number(np.int64(3))  # 3
    python_number("3")  # "3"
    ```
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    return float(value)


def first_bad_entry(name, array, bad):
    """`name[i, j]=value` of the first entry of `array` that the boolean
    array `bad` marks, for a message."""
    index = tuple(int(i) for i in np.argwhere(bad)[0])
    where = f"[{', '.join(map(str, index))}]" if index else ""
    value = array[index]
    value = value.item() if hasattr(value, "item") else value
    return f"{name}{where}={value!r:.100}"


def check_ids_below(name, ids, count, what="class ids", why=""):
    """Returns the integer array `ids`, refused unless every entry is in
    `[0, count)`: `"{name} must hold {what} in [0, count){why}. Received:
    name[i]=value"`, naming the first entry outside (a negative id would
    index from the end; a gather past the end fails deep in TensorFlow)."""
    bad = (ids < 0) | (ids >= count)
    if bad.any():
        raise ValueError(
            f"{name} must hold {what} in [0, {count}){why}. "
            f"Received: {first_bad_entry(name, ids, bad)}"
        )
    return ids


def _numeric_array(name, values, requirement):
    """`values` as a NumPy array of booleans or numbers; anything else
    (strings, rows of different lengths) is refused: `name` must
    `requirement`."""
    try:
        array = np.asarray(values)
    except ValueError:  # Rows of different lengths.
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise ValueError(f"{name} must {requirement}. Received: {name}={values!r:.200}")
    return array


def check_real_array(
    name,
    values,
    minimum=None,
    maximum=None,
    what="",
    finite=True,
    skip=None,
    dtype="float64",
):
    """Returns `values`, an array-like of real numbers, as a `dtype` array.

    For logits, probabilities and scores: a NaN or out-of-range entry would
    otherwise fall out of a bin or a comparison without a word.

    Args:
        name: the argument's name, for the message.
        values: an array-like of real numbers (booleans and integers too).
        minimum: optional smallest value allowed.
        maximum: optional largest value allowed.
        what: appended to the requirement, e.g. `" (softmax outputs, not
            logits)"`.
        finite: whether NaN and infinities are refused.
        skip: optional boolean mask, broadcastable to `values`, of entries
            left unchecked (e.g. padding positions).
        dtype: the float dtype returned; `values` already of that dtype
            is returned without a copy (a large array of vectors).

    Raises:
        ValueError: for strings or other non-numbers, or naming the first
            entry that is not finite or not within the bounds, e.g.
            `Received: probabilities[0, 0]=3.0`.
    """
    array = _numeric_array(name, values, f"be an array of real numbers{what}")
    array = array.astype(dtype, copy=False)
    bad = ~np.isfinite(array) if finite else np.zeros(array.shape, bool)
    if minimum is not None:
        bad |= array < minimum
    if maximum is not None:
        bad |= array > maximum
    if skip is not None:
        bad &= ~np.asarray(skip, bool)
    if bad.any():
        if minimum is not None and maximum is not None:
            requirement = f"in [{minimum}, {maximum}]"  # NaN and inf are not.
        else:
            requirement = " and ".join(
                ["finite"] * finite
                + [f">= {minimum}"] * (minimum is not None)
                + [f"<= {maximum}"] * (maximum is not None)
            )
        raise ValueError(
            f"{name} must be {requirement}{what}. Received: "
            f"{first_bad_entry(name, array, bad)}"
        )
    return array


def check_whole_numbers(name, values, what="whole numbers"):
    """Returns `values` as an int64 array: integers, booleans, or floats that
    are whole numbers (class ids a file read as floats).

    A cast would cut `4.7` to 4, and make garbage of `inf`, without a word.

    Raises:
        ValueError: for other dtypes (strings), or naming the first float
            that is not a whole number: `{name} must hold {what}`.
    """
    array = np.asarray(values)
    if array.dtype.kind == "f":
        bad = ~np.isfinite(array) | (array != np.round(array))
        if bad.any():
            raise ValueError(
                f"{name} must hold {what}. Received: "
                f"{first_bad_entry(name, array, bad)}"
            )
    elif array.dtype.kind not in "biu":
        raise ValueError(
            f"{name} must hold {what}. Received: {name} of dtype {array.dtype} "
            f"({values!r:.100})"
        )
    return array.astype(np.int64)


def check_binary_array(name, values, what=""):
    """Returns `values`, an array-like of 0s and 1s (or booleans), as an array.

    For multi-label targets: a 2 or a -1 would count as a positive (or a
    negative) without a word.

    Raises:
        ValueError: naming the first entry other than 0 or 1, e.g.
            `Received: y_true[0, 0]=2`.
    """
    array = _numeric_array(name, values, f"hold 0 or 1{what}")
    bad = (array != 0) & (array != 1)
    if bad.any():
        raise ValueError(
            f"{name} must hold 0 or 1{what}. Received: "
            f"{first_bad_entry(name, array, bad)}"
        )
    return array
