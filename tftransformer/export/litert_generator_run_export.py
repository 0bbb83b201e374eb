"""Exporting the generator of a training run as a LiteRT model, with the
run's settings."""

from tftransformer.export.generator_run_export import run_generator
from tftransformer.export.litert_export import export_litert

__all__ = ["check_no_prefix", "export_litert_generator_run"]


def export_litert_generator_run(
    run_dir, path, quantization=None, max_length=None, overwrite=False
):
    """Exports a generator run's model as a LiteRT model on raw prompts.

    Reads `model.keras` of the run directory that `train_causal_lm` or
    `train_translator` wrote from random weights (a tftransformer
    `CausalLM` or `Seq2SeqTransformer`) and exports it with
    `export_litert`, with the run's tokenizers, special token ids and
    `max_length` (unless given), as `export_generator_run` exports its
    SavedModel: `prompt` in (one per call), `text` (and the causal LM's
    `completion`) out, greedy. A run with a task prefix (T5) is refused:
    a LiteRT graph cannot put it before the prompt (export the model with
    `export_litert` and have the app send it), and so are the models
    `export_litert` refuses (GPT-2 and BART, byte-pair tokenizers).

    Args:
        run_dir: str or path-like, the run's directory (`model_dir`).
        path: str or path-like, the directory written
            (`<path>/model.tflite`).
        quantization: None (float32) or `"dynamic_int8"`, as
            `export_litert` takes it for a generator.
        max_length: optional int, prompt and continuation together in
            tokens (a translation's source and target, each); defaults to
            the run's.
        overwrite: bool, whether an existing file may be replaced.

    Returns:
        str, the `.tflite` file written.

    Raises:
        FileNotFoundError: no `model.keras` in `run_dir`, or a run from
            random weights without its vocabularies or report.
        ValueError: a run with a task prefix, a model `export_litert` does
            not take, or a bad argument, naming the value received.

    Example:
    ```python
    tflite_file = export_litert_generator_run("runs/translate", "litert/translate")
    ```
    """
    model, settings = run_generator(run_dir, max_length)
    check_no_prefix(settings.pop("prefix"), f"a run in {run_dir!r} with ")
    return export_litert(
        model, path, quantization=quantization, overwrite=overwrite, **settings
    )


def check_no_prefix(prefix, received=""):
    """Refuses a task prefix for a LiteRT generator, which cannot put it
    before each prompt; `received` introduces the value in the message."""
    if prefix:
        raise ValueError(
            "A LiteRT graph cannot put a task prefix before each prompt (it "
            "has no string ops): export the model with export_litert and have "
            "the app send the prefix, or serve export_generator's SavedModel. "
            f"Received: {received}prefix={prefix!r}"
        )
