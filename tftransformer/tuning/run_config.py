"""Run configurations as JSON files: `best.json` from a search, `--config=`."""

import json
import math
import numbers
import os

from tftransformer._arguments import check_path

__all__ = ["load_run_config", "merge_run_config", "save_run_config"]


def _check_config(config, source):
    if not isinstance(config, dict):
        raise ValueError(
            f"A run configuration must be a JSON object of argument names to "
            f"values. Received: {config!r} from {source}"
        )
    for name, value in config.items():
        if not isinstance(name, str):
            raise ValueError(f"Argument names must be strings. Received: {name!r}")
        if value is not None and not isinstance(value, (str, bool, numbers.Real)):
            raise ValueError(
                f"{name} must be a string, number, bool or null. Received: "
                f"{name}={value!r} from {source}"
            )
        # Any real, NumPy's float32 and float64 included (an integer is
        # always finite, and too large for `math.isfinite` past 1e308).
        if (
            isinstance(value, numbers.Real)
            and not isinstance(value, numbers.Integral)
            and not math.isfinite(value)
        ):
            raise ValueError(
                f"{name} must be finite. Received: {name}={value!r} from {source}"
            )


def save_run_config(config, path):
    """Writes a run configuration, e.g. a search's best values, as JSON.

    Args:
        config: dict of argument names (those of `examples/classify.py`'s
            `run()`) to strings, numbers, bools or `None`.
        path: the file to write; missing parent directories are created.

    Returns:
        `path`.

    Example:
    ```python
    save_run_config({"learning_rate": 3e-5, "batch_size": 16}, "best.json")
    ```
    """
    _check_config(config, "the config argument")
    path = check_path("path", path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(_plain(config), f, indent=2, sort_keys=True)
        f.write("\n")
    return path


def load_run_config(path, allowed_keys):
    """Reads a run configuration written by `save_run_config` (or by hand).

    Args:
        path: a JSON file holding one object of argument names to values.
        allowed_keys: the argument names the caller accepts, e.g. the names
            of `run()`'s parameters; any other key is refused.

    Returns:
        A dict of argument names to values.

    Raises:
        FileNotFoundError: if there is no file at `path`.
        ValueError: if the file is not a JSON object of scalars, or names an
            argument not in `allowed_keys`.

    Example:
    ```python
    names = list(inspect.signature(run).parameters)
    config = load_run_config("runs/tune/search/best.json", names)
    run(**{**defaults, **config})
    ```
    """
    path = check_path("path", path)
    allowed = set(allowed_keys)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No run configuration file at path={path!r}")
    with open(path, encoding="utf-8") as f:
        try:
            config = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path!r} is not valid JSON: {e}") from e
    _check_config(config, path)
    unknown = sorted(set(config) - allowed)
    if unknown:
        raise ValueError(
            f"{path!r} sets arguments this program does not take: {unknown}. "
            f"Expected names among: {sorted(allowed)}"
        )
    return config


def merge_run_config(values, config, explicit=()):
    """Overrides `values` with `config`, except the names set explicitly.

    The usual use: `values` holds every flag's value (defaults included),
    `config` comes from `load_run_config`, and `explicit` names the flags
    given on the command line (absl: `[n for n in names if FLAGS[n].present]`),
    which win over the file.

    Args:
        values: dict of argument names to values.
        config: dict of argument names to values, each also in `values`.
        explicit: names whose value in `values` is kept.

    Returns:
        A new dict.

    Example:
    ```python
    merge_run_config({"batch_size": 32, "epochs": 3}, {"batch_size": 16, "epochs": 1},
                     explicit=["epochs"])  # {"batch_size": 16, "epochs": 3}
    ```
    """
    unknown = sorted(set(config) - set(values))
    if unknown:
        raise ValueError(
            f"config names arguments not among values: {unknown}. "
            f"Expected names among: {sorted(values)}"
        )
    explicit = set(explicit)
    merged = dict(values)
    merged.update({k: v for k, v in config.items() if k not in explicit})
    return merged


def _plain(config):
    # NumPy scalars (from KerasTuner) become Python numbers for json.
    plain = {}
    for name, value in config.items():
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = int(value)
        elif isinstance(value, numbers.Real) and not isinstance(value, bool):
            value = float(value)
        plain[name] = value
    return plain
