"""Argument normalization shared by the layer and model constructors."""

import math
import numbers
from collections.abc import Iterable

__all__ = ["as_list", "is_finite_number", "is_int", "python_number"]


def is_int(value):
    """Whether `value` is an integer (a NumPy one too), not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_finite_number(value):
    """Whether `value` is a finite real number (a NumPy one too), not a bool.

    An infinite or NaN rate, decay or norm would turn weights into NaN.
    """
    return (
        isinstance(value, numbers.Real)
        and not isinstance(value, bool)
        and math.isfinite(value)
    )


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
