"""A generator saved by a training run, answering raw prompts."""

import os

from tftransformer.evaluation.generated_texts import generate_texts
from tftransformer.training.generation_settings import generation_settings

__all__ = ["GENERATED_COLUMN", "generated_column"]

GENERATED_COLUMN = "generated_text"


def generated_column(model, config, prompts):
    """`{"generated_text": [...]}`: each prompt's greedy generation.

    `config` is the `PredictionConfig` or `EvaluationConfig` that named the
    model (its `model_path`, `batch_size`, `max_length`; a generator takes
    no `text_pair_column`). A causal LM's continuation (the prompt left
    out), a sequence-to-sequence model's target. The `report.json` of the
    run directory (`model_path`, or a `.keras` file's directory) gives the
    run's settings: T5's `source_prefix`, put before each prompt as in
    training, and the run's `max_length`, the length its sources were cut
    to and the generation's length unless the config's is set (without
    either, a keras-hub generator's preprocessor's length: see
    `tftransformer.evaluation.generate_texts`). A model trained from
    random weights reads its vocabularies from the run's files
    (`vocabulary.txt`; a translation model's `source_vocabulary.txt` and
    `target_vocabulary.txt`), and translates as
    `tftransformer.models.seq2seq_translator` does.
    """
    if config.text_pair_column is not None:
        raise ValueError(
            "A generator continues or answers single prompts. Received: "
            f"text_pair_column={config.text_pair_column!r} for a "
            f"{type(model).__name__}"
        )
    run_dir = _run_directory(config.model_path)
    arguments = generation_settings(model, run_dir, config.max_length)
    outputs = generate_texts(model, prompts, batch_size=config.batch_size, **arguments)
    return {GENERATED_COLUMN: outputs.get("completion", outputs["text"])}


def _run_directory(model_path):
    """The run directory of a model path: itself, or a `.keras` file's."""
    path = os.fspath(model_path)
    return path if os.path.isdir(path) else os.path.dirname(os.path.abspath(path))
