"""Config dataclasses as absl flags, `--config=FILE.json`, and an entry point."""

import dataclasses
import json
import os
import sys

from absl import app, flags

from tftransformer.data.data_error import DataError
from tftransformer.training._settings import ConfigError, field_default, field_type

__all__ = ["config_from_flags", "define_flags", "load_config_file", "run"]

# The parsers of the number fields that may be None.
_NUMBER_PARSERS = {int: flags.IntegerParser, float: flags.FloatParser}

_DEFINE = {
    bool: flags.DEFINE_bool,
    int: flags.DEFINE_integer,
    float: flags.DEFINE_float,
    str: flags.DEFINE_string,
    list: flags.DEFINE_multi_string,
}


def define_flags(config_cls, flag_values=flags.FLAGS):
    """Defines one absl flag per field of `config_cls`, plus `--config`.

    Each flag takes the field's name, default and help; a field with
    `choices` becomes an enum flag, a `list[str]` field a repeatable flag.
    `--config=FILE.json` names a JSON object of field values (e.g.
    `examples/tune.py`'s `best.json`); flags given on the command line win
    over it (see `config_from_flags`).

    Args:
        config_cls: a dataclass such as `ClassificationConfig` or a subclass.
        flag_values: the `absl.flags.FlagValues` to define them in.

    Example:
    ```python
    flag_values = flags.FlagValues()
    define_flags(ClassificationConfig, flag_values)
    flag_values(["prog", "--freeze_layers=2"])
    config_from_flags(ClassificationConfig, flag_values).freeze_layers  # 2
    ```
    """
    for field in dataclasses.fields(config_cls):
        base, optional = field_type(field)
        choices = field.metadata.get("choices")
        help_text = field.metadata.get("help") or field.name
        if choices is not None:
            flags.DEFINE_enum(
                field.name,
                field.default,
                list(choices),
                help_text,
                flag_values=flag_values,
            )
        elif optional and base in _NUMBER_PARSERS:
            # `--keep_checkpoints=None` (or empty) sets None, as a JSON null
            # in a --config file does.
            flags.DEFINE(
                _OptionalParser(_NUMBER_PARSERS[base]()),
                field.name,
                field_default(field),
                help_text,
                flag_values=flag_values,
            )
        else:
            _DEFINE[base](
                field.name, field_default(field), help_text, flag_values=flag_values
            )
    flags.DEFINE_string(
        "config",
        None,
        "JSON file of config values (e.g. examples/tune.py's best.json); flags "
        "given on the command line win.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "traceback",
        False,
        "Show the Python traceback of a data or settings error.",
        flag_values=flag_values,
    )


class _OptionalParser(flags.ArgumentParser):
    """An absl parser of a number that also reads `None` (or an empty
    value) as None."""

    def __init__(self, parser):
        self._parser = parser

    def parse(self, argument):
        if isinstance(argument, str) and argument.strip() in ("", "None", "none"):
            return None
        return self._parser.parse(argument)

    def flag_type(self):
        return f"{self._parser.flag_type()} or None"


def load_config_file(path, config_cls):
    """Returns the field values a `--config` JSON file holds.

    Raises:
        ConfigError: if the file is not a JSON object or names a field
            `config_cls` does not have (naming the fields it has).
    """
    try:
        with open(path, encoding="utf-8") as f:
            values = json.load(f)
    except OSError as error:
        raise ConfigError(
            f"Cannot read the config file {path!r}: {error.strerror}"
        ) from None
    except json.JSONDecodeError as error:
        raise ConfigError(
            f"The config file {path!r} is not valid JSON: {error}"
        ) from None
    if not isinstance(values, dict):
        raise ConfigError(
            f"A config file must hold a JSON object of field names to values. "
            f"Received: {values!r} from {path}"
        )
    names = {field.name for field in dataclasses.fields(config_cls)}
    unknown = sorted(set(values) - names)
    if unknown:
        raise ConfigError(
            f"The config file {path!r} names fields {config_cls.__name__} does not "
            f"have: {unknown}. Its fields: {sorted(names)}"
        )
    return values


def config_from_flags(config_cls, flag_values=flags.FLAGS):
    """Returns a `config_cls` from parsed flags, the `--config` file applied.

    Flag values first, then the `--config` file's values, except for flags
    given explicitly on the command line.
    """
    values = {
        field.name: flag_values[field.name].value
        for field in dataclasses.fields(config_cls)
    }
    if flag_values["config"].value:
        path = flag_values["config"].value
        from_file = load_config_file(path, config_cls)
        explicit = {name for name in values if flag_values[name].present}
        values.update({k: v for k, v in from_file.items() if k not in explicit})
        kept = sorted(set(from_file) & explicit)
        print(
            f"Configuration from {path}: "
            f"{json.dumps({k: values[k] for k in sorted(from_file)}, sort_keys=True)}"
            + (f" (command-line flags kept: {kept})" if kept else "")
        )
    return config_cls(**values)


# Errors that a run's data or settings cause, not a bug: the entry point
# prints their message alone. A `ConnectionError` is a named preset that
# could not be downloaded (its message says what to use offline).
USER_ERRORS = (
    ConfigError,
    DataError,
    ValueError,
    FileNotFoundError,
    NotADirectoryError,
    ConnectionError,
)


def run(config_cls, main, argv=None):
    """Runs `main(config)` as a command-line program.

    Defines `config_cls`' flags (listed by the script's `--help`), parses
    the command line, builds the config (`--config` applied), and calls
    `main`. A data or settings error (`ConfigError`, `DataError`,
    `ValueError`, a missing file, a named preset that cannot be downloaded)
    prints one line, `error: ...`, and exits with status 2; `--traceback`
    shows the Python traceback instead. Other exceptions keep their
    traceback.

    Example:
    ```python
    # examples/my_task.py
    def main(config):
        ...

    if __name__ == "__main__":
        tft.training.run(tft.training.ClassificationConfig, main)
    ```
    """
    define_flags(config_cls)
    # The script's key flags, so that `--help` lists them (absl lists only
    # the main module's own flags there, the rest under `--helpfull`).
    script = (argv or sys.argv)[0]
    for name in [field.name for field in dataclasses.fields(config_cls)] + [
        "config",
        "traceback",
    ]:
        flags.FLAGS.register_key_flag_for_module(script, flags.FLAGS[name])

    def app_main(args):
        del args
        try:
            config = config_from_flags(config_cls)
            main(config)
        except USER_ERRORS as error:
            if flags.FLAGS.traceback:
                raise
            print(f"error: {error}", file=sys.stderr)
            sys.exit(2)

    # Terse TensorFlow logs unless the user asked for more.
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    app.run(app_main, argv=argv)
