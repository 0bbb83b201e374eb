"""Exporting the generator of a training run, with the run's settings."""

import os

import keras

from tftransformer._arguments import check_path
from tftransformer.export.generator_export import export_generator
from tftransformer.training.file_predictions import MODEL_FILE
from tftransformer.training.generation_settings import generation_settings

__all__ = ["export_generator_run", "run_generator"]


def export_generator_run(
    run_dir,
    path,
    max_length=None,
    sampler="greedy",
    version=None,
    overwrite=False,
    precision="float32",
):
    """Exports a generator run's model as a TF Serving version on raw prompts.

    Reads `model.keras` of the run directory that `train_causal_lm` or
    `train_translator` wrote (with a `preset`: a keras-hub `CausalLM` or
    `Seq2SeqLM`; from random weights: a tftransformer `CausalLM` or
    `Seq2SeqTransformer`) and exports it with `export_generator`, set as
    the run generated: its `max_length` (unless given), T5's task prefix
    (clients send bare sources), a BART or T5 source cut to the run's
    length, and a model from random weights' tokenizers and special token
    ids from the run's vocabularies (`vocabulary.txt`;
    `source_vocabulary.txt` and `target_vocabulary.txt`). The signature
    is `export_generator`'s: `prompt` in, `text` (and a causal LM's
    `completion`) out. It answers as `examples/predict.py` generates from
    the same run directory.

    Args:
        run_dir: str or path-like, the run's directory (`model_dir`).
        path: str or path-like, TF Serving's model base path.
        max_length: optional int, prompt and continuation together in
            tokens (a `Seq2SeqLM`'s target); defaults to the run's.
        sampler, version, overwrite, precision: as `export_generator`
            takes them.

    Returns:
        str, the version directory written (`<path>/<version>`).

    Raises:
        FileNotFoundError: no `model.keras` in `run_dir`, or a run from
            random weights without its vocabularies or report.
        ValueError: a model `export_generator` does not take, or a bad
            argument, naming the value received.

    Example:
    ```python
    version_dir = export_generator_run("runs/causal_lm", "serving/lm")
    ```
    """
    model, settings = run_generator(run_dir, max_length)
    return export_generator(
        model,
        path,
        sampler=sampler,
        version=version,
        overwrite=overwrite,
        precision=precision,
        **settings,
    )


def run_generator(run_dir, max_length=None):
    """A generator run's model and how it generated (`generation_settings`).

    Raises:
        FileNotFoundError: no `model.keras` in `run_dir`, or a run from
            random weights without its vocabularies or report.
        ValueError: `run_dir` not a path.
    """
    run_dir = check_path("run_dir", run_dir)
    model_file = os.path.join(run_dir, MODEL_FILE)
    if not os.path.isfile(model_file):
        raise FileNotFoundError(
            f"No {MODEL_FILE} in {run_dir!r}: run_dir must be the directory "
            "a generator run wrote (its model_dir)."
        )
    model = keras.saving.load_model(model_file)
    return model, generation_settings(model, run_dir, max_length)
