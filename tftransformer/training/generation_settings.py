"""`generation_settings`: how a generator run's model generates."""

import json
import os

import keras_hub

from tftransformer._arguments import check_path
from tftransformer.data.word_piece import word_piece_tokenizer
from tftransformer.models.causal_lm import CausalLM
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.presets import embedded_tokenizer

__all__ = ["generation_settings"]

_REPORT_FILE = "report.json"
# What `train_causal_lm` and `train_translator` write beside a model trained
# from random weights.
_VOCABULARY_FILE = "vocabulary.txt"
_TRANSLATION_VOCABULARIES = ("source_vocabulary.txt", "target_vocabulary.txt")


def generation_settings(model, run_dir, max_length=None):
    """How a generator run's model generates, from its run directory.

    The keyword arguments `tftransformer.evaluation.generate_texts`,
    `tftransformer.export.export_generator` and `export_variants`' (as
    `generation`) take for `model` (a keras-hub `CausalLM` or `Seq2SeqLM`,
    or a tftransformer `CausalLM` or `Seq2SeqTransformer`), as its run in
    `run_dir` (`train_causal_lm`'s or `train_translator`'s `model_dir`)
    generated: `max_length` (this one, else the run's), T5's `prefix`, and
    a tftransformer model's tokenizers and special token ids (its
    `vocabulary.txt`; its `source_vocabulary.txt` and
    `target_vocabulary.txt`). A BART or T5 preprocessor reads sources up
    to the run's `max_length` again (set on `model`).

    Args:
        model: the run's model (`keras.saving.load_model` of its
            `model.keras`).
        run_dir: str or path-like, the run's directory.
        max_length: optional int, the generation's length in tokens;
            defaults to the run's.

    Returns:
        A dict: `max_length` and `prefix`; for a tftransformer model also
        `tokenizer`, `start_token_id`, `end_token_id` and `pad_token_id`
        (a `Seq2SeqTransformer`'s `target_tokenizer` too).

    Raises:
        FileNotFoundError: a run from random weights without its
            vocabularies or report.
        ValueError: `run_dir` not a path.

    Example:
    ```python
    model = keras.saving.load_model("runs/translate/model.keras")
    settings = generation_settings(model, "runs/translate")
    generate_texts(model, ["In the beginning"], **settings)["text"]
    ```
    """
    run_dir = check_path("run_dir", run_dir)
    settings = _run_settings(run_dir)
    # keras-hub 0.32's BART and T5 preprocessors save no sequence lengths:
    # reloaded, they read sources and generate up to 1,024 tokens. The run
    # cut its sources to its max_length (`load_generator`), and so do these.
    if isinstance(model, keras_hub.models.Seq2SeqLM) and "max_length" in settings:
        model.preprocessor.encoder_sequence_length = settings["max_length"]
    arguments = {
        "max_length": max_length or settings.get("max_length"),
        "prefix": settings.get("source_prefix") or "",
    }
    if isinstance(model, CausalLM):
        vocabulary_file = os.path.join(run_dir, _VOCABULARY_FILE)
        _check_run_files(model, run_dir, [vocabulary_file], settings)
        tokens = _read_lines(vocabulary_file)
        if settings.get("vocabulary") == "embedded":
            tokenizer, start, end = embedded_tokenizer(), "[CLS]", "[SEP]"
        else:
            tokenizer, start, end = word_piece_tokenizer(tokens), "[START]", "[END]"
        arguments.update(
            tokenizer=tokenizer,
            start_token_id=tokens.index(start),
            end_token_id=tokens.index(end),
            pad_token_id=tokens.index("[PAD]"),
        )
    elif isinstance(model, Seq2SeqTransformer):
        files = [os.path.join(run_dir, f) for f in _TRANSLATION_VOCABULARIES]
        _check_run_files(model, run_dir, files, settings)
        source, target = (_read_lines(f) for f in files)
        arguments.update(
            tokenizer=word_piece_tokenizer(source),
            target_tokenizer=word_piece_tokenizer(target),
            start_token_id=target.index("[START]"),
            end_token_id=target.index("[END]"),
            pad_token_id=target.index("[PAD]"),
        )
    return arguments


def _read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def _run_settings(run_dir):
    path = os.path.join(run_dir, _REPORT_FILE)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        return json.load(f).get("settings") or {}


def _check_run_files(model, run_dir, files, settings):
    missing = [os.path.basename(f) for f in files if not os.path.isfile(f)]
    if "max_length" not in settings:
        missing.append(f"{_REPORT_FILE} with the run's settings")
    if missing:
        raise FileNotFoundError(
            f"A {type(model).__name__} trained from random weights reads its "
            f"vocabulary and settings from its run directory; {run_dir!r} "
            f"lacks {', '.join(missing)}. Give the run's directory as "
            "model_path."
        )
