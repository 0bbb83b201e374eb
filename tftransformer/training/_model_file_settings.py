"""What `PredictionConfig` and `EvaluationConfig` share: the saved model
they read, their batch size, a generator's length, and the checks of the
files they name."""

import dataclasses
import os

from tftransformer.training._settings import (
    ConfigError,
    check_fields,
    field_default,
    setting,
)

# What `os.path.splitext` would take for the extension of a compressed file.
COMPRESSIONS = (".gz", ".bz2")


def model_path_setting():
    """The `model_path` field: a run directory or a `.keras` file."""
    return setting(
        "runs/demo",
        "A run directory (its model.keras, or a few-shot run's embedder and "
        "head) or a .keras file.",
        run_setting=False,
    )


def batch_size_setting():
    """The `batch_size` field: texts per forward pass."""
    return setting(32, "Texts per forward pass.", minimum=1, run_setting=False)


def generation_length_setting():
    """The `max_length` field: how long a generator's outputs may be."""
    return setting(
        None,
        "With a generator: the prompt and its continuation together, in tokens "
        "(a sequence-to-sequence model's target). Default: the run's max_length, "
        "else the preprocessor's length.",
        minimum=2,
        run_setting=False,
    )


def check_file_config(config, names, input_name, output_name):
    """Checks every field of `config`, that the fields `names` are non-empty
    strings, and that the file `output_name` names is not the input file
    `input_name` names; raises `ConfigError`."""
    check_fields(config)
    for name in names:
        value = getattr(config, name)
        if not isinstance(value, str) or not value:
            raise ConfigError(
                f"{name} must be a non-empty string. Received: {name}={value!r}"
            )
    output = getattr(config, output_name)
    if output is not None and (
        os.path.abspath(output) == os.path.abspath(getattr(config, input_name))
    ):
        raise ConfigError(
            f"{output_name} must not be the {input_name.replace('_', ' ')}. "
            f"Received: {output_name}={output!r}"
        )


def split_compression(path):
    """`(path without .gz/.bz2, that suffix or "")`."""
    for suffix in COMPRESSIONS:
        if path.lower().endswith(suffix):
            return path[: -len(suffix)], path[-len(suffix) :]
    return path, ""


def refuse_settings_of_other_models(config, model, generator, answerer):
    """Refuses a setting of `config` left from its default that `model`,
    a generator or a question answerer as the flags say, does not read: it
    would be ignored without a word.

    Raises:
        ValueError: naming the settings and the model's class.
    """
    unread = []
    if not generator and config.max_length is not None:
        unread.append("max_length")
    if not answerer:
        defaults = {
            field.name: field_default(field) for field in dataclasses.fields(config)
        }
        unread += [
            name
            for name in ("max_answer_length", "null_threshold", "allow_no_answer")
            if name in defaults and getattr(config, name) != defaults[name]
        ]
    if unread:
        raise ValueError(
            f"A {type(model).__name__} does not read "
            f"{', '.join(unread)}: max_length sets a generator's output "
            "length, the others a question answerer's decoding. Received: "
            + ", ".join(f"{name}={getattr(config, name)!r}" for name in unread)
        )
