"""A validated hyperparameter search space for fine-tuning a text classifier."""

import difflib
import json
import math
import numbers
import os

from tftransformer._arguments import check_path
from tftransformer.finetune.optimizers import LEARNING_RATE_SCHEDULES

__all__ = ["DEFAULT_SEARCH_SPACE", "SEARCHABLE_PARAMETERS", "SearchSpace"]


def _is_int(value):
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_number(value):
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


# Every name is an argument of `examples/classify.py`'s `run()`, so that the
# best values found can be passed straight back to it. Each entry: the value
# kind ("float", "int" or "str"), a check of one value, and what it expects.
SEARCHABLE_PARAMETERS = {
    "learning_rate": ("float", lambda v: v > 0, "a number > 0"),
    "batch_size": ("int", lambda v: v >= 1, "an int >= 1"),
    "freeze_layers": ("int", lambda v: v >= 0, "an int >= 0"),
    "layer_decay": ("float", lambda v: 0 < v <= 1, "a number in (0, 1]"),
    "lora_rank": ("int", lambda v: v >= 0, "an int >= 0 (0: no LoRA)"),
    "dropout": ("float", lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "warmup_fraction": ("float", lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "learning_rate_schedule": (
        "str",
        lambda v: v in LEARNING_RATE_SCHEDULES,
        "'linear', 'cosine' or 'constant'",
    ),
    "weight_decay": ("float", lambda v: v >= 0, "a number >= 0"),
    "label_smoothing": ("float", lambda v: 0 <= v < 1, "a number in [0, 1)"),
    "pooling": ("str", lambda v: v in ("cls", "mean", "max"), "'cls', 'mean' or 'max'"),
}

# What `examples/tune.py` searches when given no space. The learning rate
# reaches 1e-3 for LoRA adapters and short budgets; a LoRA rank of 0 means
# full fine-tuning; `freeze_layers` up to 2 fits any BERT with 2 or more
# encoder layers.
DEFAULT_SEARCH_SPACE = {
    "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
    "batch_size": [16, 32],
    "freeze_layers": {"min": 0, "max": 2},
    "layer_decay": {"min": 0.7, "max": 1.0},
    "lora_rank": [0, 8],
    "dropout": {"min": 0.0, "max": 0.3},
    "warmup_fraction": {"min": 0.0, "max": 0.2},
}

_SAMPLINGS = ("linear", "log")
_RANGE_KEYS = {"min", "max", "sampling", "step"}


class SearchSpace:
    """Which hyperparameters a search varies, and over which values.

    Each hyperparameter is one of:

    - a range, `{"min": 1e-5, "max": 1e-3, "sampling": "log"}` (`sampling`
      is `"linear"`, the default, or `"log"`: log-uniform; an optional
      `"step"` makes it discrete, added on a linear range and a factor > 1
      on a log range). Integer hyperparameters (`batch_size`,
      `freeze_layers`, `lora_rank`) draw integers.
    - a choice, `{"values": [16, 32]}`, or simply `[16, 32]`;
    - a fixed value, `{"value": 0.1}`, or simply `0.1`.

    Names are the arguments of `examples/classify.py` (`SEARCHABLE_PARAMETERS`):
    `learning_rate`, `batch_size`, `freeze_layers`, `layer_decay`,
    `lora_rank` (0 means no LoRA), `dropout`, `warmup_fraction`,
    `learning_rate_schedule`, `weight_decay`, `label_smoothing`, `pooling`.
    Unknown names, values of the wrong type or outside a parameter's
    domain, and empty or reversed ranges are refused when the space is
    created. With both `lora_rank` and `freeze_layers`, `freeze_layers`
    only applies to trials without LoRA.

    Args:
        parameters: dict mapping names to the specifications above.

    Example:
    ```python
    space = SearchSpace(
        {
            "learning_rate": {"min": 1e-5, "max": 3e-4, "sampling": "log"},
            "batch_size": [16, 32],
            "freeze_layers": {"min": 0, "max": 2},
            "dropout": 0.1,
        }
    )
    space = SearchSpace.from_file("space.json")
    space = SearchSpace.from_strings(
        ["learning_rate=1e-5..3e-4:log", "batch_size=16,32"]
    )
    ```
    """

    def __init__(self, parameters):
        if not isinstance(parameters, dict) or not parameters:
            raise ValueError(
                "parameters must be a non-empty dict mapping hyperparameter "
                f"names to ranges, choices or values. Received: {parameters!r}"
            )
        self._parameters = {
            name: _normalize(name, spec) for name, spec in parameters.items()
        }
        self._freeze_only_without_lora = False
        if "lora_rank" in self._parameters and "freeze_layers" in self._parameters:
            lora_low, lora_high = self.bounds("lora_rank")
            if self.bounds("freeze_layers")[1] > 0 and lora_high > 0:
                if not self._can_be("lora_rank", 0):
                    raise ValueError(
                        "freeze_layers cannot be searched with a lora_rank that is "
                        "never 0: LoRA already freezes the whole backbone but its "
                        "adapters. Add 0 (no LoRA) to lora_rank or drop "
                        f"freeze_layers. Received: lora_rank="
                        f"{self._parameters['lora_rank']}, freeze_layers="
                        f"{self._parameters['freeze_layers']}"
                    )
                self._freeze_only_without_lora = True

    @classmethod
    def from_file(cls, path):
        """Reads a space from a JSON file (or YAML, with PyYAML installed).

        Args:
            path: a `.json`, `.yaml` or `.yml` file holding one mapping of
                names to specifications, as for the constructor.

        Returns:
            A `SearchSpace`.

        Example:
        ```python
        # space.json: {"learning_rate": {"min": 1e-5, "max": 1e-3,
        #              "sampling": "log"}, "batch_size": [16, 32]}
        space = SearchSpace.from_file("space.json")
        ```
        """
        path = check_path("path", path)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"No search space file at path={path!r}")
        with open(path, encoding="utf-8") as f:
            text = f.read()
        if path.lower().endswith((".yaml", ".yml")):
            try:
                import yaml
            except ImportError as e:
                raise ImportError(
                    "Reading a YAML search space needs PyYAML "
                    "(`pip install pyyaml`); or write the space as JSON. "
                    f"Received: path={path!r}"
                ) from e
            parameters = yaml.safe_load(text)
        else:
            try:
                parameters = json.loads(text)
            except json.JSONDecodeError as e:
                raise ValueError(
                    f"The search space file {path!r} is not valid JSON: {e}"
                ) from e
        return cls(parameters)

    @classmethod
    def from_strings(cls, specs):
        """Reads a space from `name=spec` strings, e.g. command-line flags.

        Each string is `name=LOW..HIGH` (a uniform range), `name=LOW..HIGH:log`
        (log-uniform), `name=A,B,C` (a choice) or `name=VALUE` (fixed).

        Args:
            specs: iterable of strings (one string is also accepted).

        Returns:
            A `SearchSpace`.

        Example:
        ```python
        space = SearchSpace.from_strings(
            ["learning_rate=1e-5..1e-3:log", "batch_size=16,32", "dropout=0.1"]
        )
        ```
        """
        if isinstance(specs, str):
            specs = [specs]
        parameters = {}
        for spec in specs:
            name, sep, text = str(spec).partition("=")
            name, text = name.strip(), text.strip()
            if not sep or not name or not text:
                raise ValueError(
                    "Each search space string must be name=LOW..HIGH, "
                    f"name=LOW..HIGH:log, name=A,B,C or name=VALUE. Received: {spec!r}"
                )
            _check_name(name)
            if name in parameters:
                raise ValueError(
                    f"{name} is given twice in the search space. Received: {spec!r}"
                )
            kind = SEARCHABLE_PARAMETERS[name][0]
            if ".." in text:
                bounds, _, sampling = text.partition(":")
                low, _, high = bounds.partition("..")
                parameters[name] = {
                    "min": _parse(name, kind, low, spec),
                    "max": _parse(name, kind, high, spec),
                    "sampling": sampling.strip() or "linear",
                }
            elif "," in text:
                parameters[name] = {
                    "values": [
                        _parse(name, kind, item, spec) for item in text.split(",")
                    ]
                }
            else:
                parameters[name] = _parse(name, kind, text, spec)
        return cls(parameters)

    @property
    def names(self):
        """The hyperparameter names, in the order they were given."""
        return tuple(self._parameters)

    def __contains__(self, name):
        return name in self._parameters

    def to_dict(self):
        """Returns the normalized specifications; `SearchSpace(d)` reads them."""
        return {name: dict(spec) for name, spec in self._parameters.items()}

    def bounds(self, name):
        """Returns the smallest and largest value `name` can take.

        Args:
            name: a numeric hyperparameter of this space.

        Returns:
            A `(low, high)` tuple.
        """
        spec = self._spec(name)
        if "min" in spec:
            return spec["min"], spec["max"]
        values = spec["values"] if "values" in spec else [spec["value"]]
        return min(values), max(values)

    def contains(self, values):
        """Returns whether every value of `values` lies inside this space.

        Args:
            values: dict of hyperparameter values; names not in the space
                are ignored.

        Returns:
            A bool.
        """
        for name, value in values.items():
            if name not in self._parameters:
                continue
            spec = self._parameters[name]
            if "min" in spec:
                # KerasTuner rounds log-sampled floats; allow that last bit.
                tolerance = 1e-9 * max(abs(spec["max"]), 1.0)
                if not spec["min"] - tolerance <= value <= spec["max"] + tolerance:
                    return False
                kind = SEARCHABLE_PARAMETERS[name][0]
                if kind == "int" and not _is_int(value):
                    return False
            elif "values" in spec:
                if value not in spec["values"]:
                    return False
            elif value != spec["value"]:
                return False
        return True

    def check_value(self, name, value):
        """Returns `value` if the search can draw it for `name`, else raises.

        A range's value must lie between its bounds (up to KerasTuner's
        rounding of floats) and, with a `step`, on its grid; a choice's must
        be one of its values; a fixed value must equal it. Conditions between
        hyperparameters are not checked here (see `condition`).

        Args:
            name: a hyperparameter of this space.
            value: its value.

        Returns:
            The value, as the space's kind: an int for an integer
            hyperparameter given as e.g. `16.0`, a Python float for a float.

        Raises:
            ValueError: if `name` is not in the space, or `value` is outside
                the hyperparameter's domain or the space.

        Example:
        ```python
        space = SearchSpace({"batch_size": [16, 32]})
        space.check_value("batch_size", 16)  # 16
        space.check_value("batch_size", 7)  # ValueError
        ```
        """
        spec = self._spec(name)
        value = _check_value(name, value)
        if "values" in spec:
            if value not in spec["values"]:
                raise ValueError(
                    f"{name}={value!r} is outside the search space: expected one "
                    f"of {spec['values']}."
                )
        elif "value" in spec:
            if value != spec["value"]:
                raise ValueError(
                    f"{name}={value!r} is outside the search space: expected "
                    f"{spec['value']!r}, its fixed value."
                )
        elif not _on_range(spec, value):
            kind = "an int" if SEARCHABLE_PARAMETERS[name][0] == "int" else "a number"
            expected = f"{kind} in [{spec['min']}, {spec['max']}]"
            if "step" in spec:
                expected += (
                    f" of the form {spec['min']} * {spec['step']}**k"
                    if spec["sampling"] == "log"
                    else f" of the form {spec['min']} + k * {spec['step']}"
                )
            raise ValueError(
                f"{name}={value!r} is outside the search space: expected {expected}."
            )
        return value

    def condition(self, name):
        """Returns the condition under which `name` has a value, or `None`.

        Args:
            name: a hyperparameter of this space.

        Returns:
            `None` for a hyperparameter every trial has, else a
            `(parent_name, parent_values)` tuple: the hyperparameter has a
            value only in trials where `parent_name` is one of
            `parent_values` (see `declare`).
        """
        self._spec(name)
        if name == "freeze_layers" and self._freeze_only_without_lora:
            return ("lora_rank", (0,))
        return None

    def declare(self, hp):
        """Declares every hyperparameter on a `keras_tuner.HyperParameters`.

        When the space has both `lora_rank` and `freeze_layers`,
        `freeze_layers` is conditional on `lora_rank == 0` (KerasTuner's
        `conditional_scope`): a trial with LoRA has no `freeze_layers` value,
        as LoRA already freezes the backbone but its adapters
        (`tftransformer.finetune.check_strategy_options` refuses the mix).

        Args:
            hp: a `keras_tuner.HyperParameters`.

        Returns:
            A dict of the current value of each hyperparameter of the space
            (`freeze_layers` is 0 in a trial with LoRA).
        """
        values = {}
        names = list(self._parameters)
        if self._freeze_only_without_lora:
            # The condition's parent must exist first.
            names.remove("lora_rank")
            names.insert(0, "lora_rank")
        for name in names:
            if name == "freeze_layers" and self._freeze_only_without_lora:
                with hp.conditional_scope("lora_rank", [0]):
                    value = self._declare_one(hp, name)
                values[name] = 0 if value is None else value
            else:
                values[name] = self._declare_one(hp, name)
        return {name: values[name] for name in self._parameters}

    def _declare_one(self, hp, name):
        spec = self._parameters[name]
        kind = SEARCHABLE_PARAMETERS[name][0]
        if "min" in spec:
            declare = hp.Int if kind == "int" else hp.Float
            return declare(
                name,
                min_value=spec["min"],
                max_value=spec["max"],
                step=spec.get("step"),
                sampling=spec["sampling"],
            )
        if "values" in spec:
            return hp.Choice(name, spec["values"])
        return hp.Fixed(name, spec["value"])

    def _can_be(self, name, value):
        spec = self._parameters[name]
        if "min" in spec:
            return spec["min"] <= value <= spec["max"]
        if "values" in spec:
            return value in spec["values"]
        return spec["value"] == value

    def __repr__(self):
        return f"SearchSpace({self.to_dict()!r})"

    def _spec(self, name):
        if name not in self._parameters:
            raise ValueError(
                f"name must be one of {list(self._parameters)}. Received: {name!r}"
            )
        return self._parameters[name]


def _on_range(spec, value):
    """Whether `value` lies on the range `spec`, as KerasTuner draws it."""
    low, high, step = spec["min"], spec["max"], spec.get("step")
    # KerasTuner rounds log-sampled floats; allow that last bit.
    tolerance = 1e-9 * max(abs(high), 1.0)
    if not low - tolerance <= value <= high + tolerance:
        return False
    if step is None:
        return True
    if spec["sampling"] == "log":
        steps = math.log(value / low) / math.log(step)
    else:
        steps = (value - low) / step
    return abs(steps - round(steps)) <= 1e-6


def _check_name(name):
    if name in SEARCHABLE_PARAMETERS:
        return
    close = difflib.get_close_matches(str(name), SEARCHABLE_PARAMETERS, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(
        f"Unknown hyperparameter {name!r}.{hint} Expected one of "
        f"{sorted(SEARCHABLE_PARAMETERS)}."
    )


def _parse(name, kind, text, spec):
    text = text.strip()
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return float(text)
    except ValueError:
        raise ValueError(
            f"{name} takes {kind} values. Received: {text!r} in {spec!r}"
        ) from None
    return text


def _check_value(name, value):
    kind, is_valid, expected = SEARCHABLE_PARAMETERS[name]
    if kind == "int":
        # JSON and YAML may write an integer as 16.0.
        if _is_number(value) and not _is_int(value) and float(value).is_integer():
            value = int(value)
        type_ok = _is_int(value)
    elif kind == "float":
        type_ok = _is_number(value) and math.isfinite(value)
        if type_ok:
            value = float(value)
    else:
        type_ok = isinstance(value, str)
    if not type_ok or not is_valid(value):
        raise ValueError(f"{name} must be {expected}. Received: {name}={value!r}")
    return value


def _normalize(name, spec):
    _check_name(name)
    kind = SEARCHABLE_PARAMETERS[name][0]
    if isinstance(spec, (list, tuple)):
        spec = {"values": list(spec)}
    elif not isinstance(spec, dict):
        spec = {"value": spec}
    keys = set(spec)
    if keys == {"value"}:
        return {"value": _check_value(name, spec["value"])}
    if keys == {"values"}:
        values = spec["values"]
        if not isinstance(values, (list, tuple)) or not values:
            raise ValueError(
                f"The choices of {name} must be a non-empty list. "
                f"Received: {name}={spec!r}"
            )
        values = [_check_value(name, value) for value in values]
        if len(set(values)) != len(values):
            raise ValueError(
                f"The choices of {name} must be distinct. Received: {name}={spec!r}"
            )
        return {"values": values}
    if {"min", "max"} <= keys <= _RANGE_KEYS:
        if kind == "str":
            raise ValueError(
                f"{name} takes strings: give a list of choices, not a range. "
                f"Received: {name}={spec!r}"
            )
        low = _check_value(name, spec["min"])
        high = _check_value(name, spec["max"])
        if not low < high:
            raise ValueError(
                f"The range of {name} must have min < max (for a single value, "
                f'write {{"value": ...}}). Received: {name}={spec!r}'
            )
        sampling = spec.get("sampling", "linear")
        if sampling not in _SAMPLINGS:
            raise ValueError(
                f"sampling must be one of {_SAMPLINGS}. Received: {name}={spec!r}"
            )
        if sampling == "log" and low <= 0:
            raise ValueError(
                f"A log-uniform range of {name} needs min > 0. "
                f"Received: {name}={spec!r}"
            )
        result = {"min": low, "max": high, "sampling": sampling}
        step = spec.get("step")
        if step is not None:
            if (
                not _is_number(step)
                or step <= 0
                or (kind == "int" and not _is_int(step))
            ):
                raise ValueError(
                    f"The step of {name} must be a {kind} > 0. "
                    f"Received: {name}={spec!r}"
                )
            # KerasTuner multiplies by a log range's step.
            if sampling == "log" and step <= 1:
                raise ValueError(
                    f"The step of a log-uniform range of {name} is a factor: "
                    f"it must be > 1. Received: {name}={spec!r}"
                )
            # One step past the range leaves min the only value drawn.
            after_min = low * step if sampling == "log" else low + step
            if after_min > high and not math.isclose(after_min, high):
                raise ValueError(
                    f"The step of {name} goes past max from min: only min "
                    "could be drawn (for a single value, write "
                    f'{{"value": ...}}). Received: {name}={spec!r}'
                )
            result["step"] = step
        return result
    raise ValueError(
        f"{name} must be a value, a list of choices, {{'value': v}}, "
        "{'values': [...]} or {'min': low, 'max': high[, 'sampling': 'log', "
        f"'step': s]}}. Received: {name}={spec!r}"
    )
