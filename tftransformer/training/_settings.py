"""Config fields defined once: type, default, help, bounds and choices.

A config dataclass declares each field with `setting(...)`; the field's
annotation gives its type (`int`, `float`, `bool`, `str`, `list[str]` (a
repeatable flag), or `X | None`).
`check_fields` refuses a value of the wrong type or out of bounds, naming
the field and the value received (and saying when it received a string, as
a `--config` file may hold `"0.1"` for `0.1`). The flags, the `--config`
file and the run's resume settings are all derived from these fields.
"""

import dataclasses
import math
import numbers
import types
import typing

import numpy as np

__all__ = ["ConfigError", "check_fields", "field_type", "setting"]


class ConfigError(ValueError):
    """A config field holds a value of the wrong type, out of bounds, or a
    combination of fields that contradict each other."""


def setting(
    default,
    help,
    minimum=None,
    maximum=None,
    exclusive_minimum=False,
    exclusive_maximum=False,
    choices=None,
    run_setting=True,
):
    """Declares a config field.

    Args:
        default: the default value.
        help: one line for `--help` and the docs.
        minimum, maximum: optional bounds of a number.
        exclusive_minimum, exclusive_maximum: whether the bounds themselves
            are refused.
        choices: optional tuple of the allowed values (strings).
        run_setting: whether a resumed run must share the value with the run
            that checkpointed (False for where and how a run writes, not
            what it computes: `model_dir`, `save_freq`, ...).
    """
    if isinstance(default, list):
        # A list is mutable: each config gets its own copy.
        field_default = {"default_factory": lambda: list(default)}
    else:
        field_default = {"default": default}
    return dataclasses.field(
        **field_default,
        metadata={
            "help": help,
            "minimum": minimum,
            "maximum": maximum,
            "exclusive_minimum": exclusive_minimum,
            "exclusive_maximum": exclusive_maximum,
            "choices": tuple(choices) if choices is not None else None,
            "run_setting": run_setting,
        },
    )


def field_default(field):
    """A config field's default value (a new list for a list field)."""
    if field.default is dataclasses.MISSING:
        return field.default_factory()
    return field.default


def field_type(field):
    """Returns `(base_type, optional)` of a config field's annotation."""
    annotation = field.type
    if isinstance(annotation, str):
        annotation = eval(annotation, {"None": None, "list": list}, {})  # noqa: S307
    optional = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) in (
        typing.Union,
    ):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        optional = len(args) < len(typing.get_args(annotation))
        (annotation,) = args
    if annotation == list[str]:
        annotation = list
    if annotation not in (int, float, bool, str, list):
        raise TypeError(
            f"Config field {field.name} must be int, float, bool, str or "
            f"list[str], optionally `| None`. Received: {field.type!r}"
        )
    return annotation, optional


def _describe(value):
    if isinstance(value, str):
        return f"{value!r} (a string)"
    return repr(value)


def _expected(base, optional):
    names = {
        int: "an integer",
        float: "a finite number",
        bool: "True or False",
        str: "a string",
        list: "a list of strings",
    }
    return names[base] + (" or None" if optional else "")


def check_value(field, value):
    """Returns `value` converted to the field's type; raises `ConfigError`."""
    base, optional = field_type(field)
    meta = field.metadata
    name = field.name
    if value is None:
        if optional:
            return None
        raise ConfigError(
            f"{name} must be {_expected(base, optional)}. Received: {name}=None"
        )
    if base is bool:
        ok = isinstance(value, (bool, np.bool_))
        converted = bool(value) if ok else None
    elif base is int:
        ok = isinstance(value, numbers.Integral) and not isinstance(
            value, (bool, np.bool_)
        )
        converted = int(value) if ok else None
    elif base is float:
        ok = (
            isinstance(value, numbers.Real)
            and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value)
        )
        converted = float(value) if ok else None
    elif base is list:
        ok = isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)
        converted = list(value) if ok else None
    else:
        ok = isinstance(value, str)
        converted = value
    if not ok:
        raise ConfigError(
            f"{name} must be {_expected(base, optional)}. "
            f"Received: {name}={_describe(value)}"
        )
    choices = meta.get("choices")
    if choices is not None and converted not in choices:
        raise ConfigError(
            f"{name} must be one of {list(choices)}. Received: {name}={value!r}"
        )
    low, high = meta.get("minimum"), meta.get("maximum")
    low_open, high_open = meta.get("exclusive_minimum"), meta.get("exclusive_maximum")
    if base in (int, float) and (
        (low is not None and (converted < low or (low_open and converted == low)))
        or (
            high is not None and (converted > high or (high_open and converted == high))
        )
    ):
        left = "(" if low_open else "["
        right = ")" if high_open else "]"
        if high is None:
            bounds = f"{'>' if low_open else '>='} {low}"
        elif low is None:
            bounds = f"{'<' if high_open else '<='} {high}"
        else:
            bounds = f"in {left}{low}, {high}{right}"
        raise ConfigError(f"{name} must be {bounds}. Received: {name}={value!r}")
    return converted


def check_fields(config):
    """Checks and converts every field of a config dataclass in place."""
    for field in dataclasses.fields(config):
        value = check_value(field, getattr(config, field.name))
        object.__setattr__(config, field.name, value)
