"""Argument normalization shared by the layer and model constructors."""

import numbers

__all__ = ["python_number"]


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
