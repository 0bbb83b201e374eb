"""A fine-tuned model's predictions for a file of texts, written next to
each row."""

import csv
import io
import json
import os
import zipfile

import keras

from tftransformer._arguments import check_path
from tftransformer.data import DataError, load_text_rows
from tftransformer.data.loaders import compression_of, file_format_of
from tftransformer.evaluation import predict_columns
from tftransformer.models._prompt_generation import is_generator
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.training._generator_runs import generated_column
from tftransformer.training._model_file_settings import (
    refuse_settings_of_other_models,
)
from tftransformer.training.checkpointing import atomic_write
from tftransformer.training.few_shot import HEAD_FILE, REPORT_FILE
from tftransformer.training.prediction_config import PredictionConfig
from tftransformer.training.question_answering import DECODING_FILE
from tftransformer.training.trainer import RUN_CONFIG_FILE

__all__ = ["predict_to_file"]

MODEL_FILE = "model.keras"


def predict_to_file(config):
    """Predicts every row of `config.input_file` with a saved model and
    writes the rows with their predictions to `config.predictions_path()`.

    The model (`config.model_path`: a run directory's `model.keras`, or a
    `.keras` file) answers as `tftransformer.evaluation.predict_columns`
    says: a label and a probability per label for a classifier, the labels
    for a multi-label one, the targets for a regressor, tags and entities
    for a tagger, an answer for a question answerer (decoded as its run
    decoded: `max_answer_length`, `null_threshold` and whether no answer is
    allowed, from the run directory's `decoding.json`), an embedding for a
    text embedder. A generator (a keras-hub `CausalLM` or `Seq2SeqLM`, a
    tftransformer `CausalLM` or `Seq2SeqTransformer`, as
    `train_causal_lm` and `train_translator` save them) writes
    `generated_text`: each text's greedy continuation, or its target, as
    the run's settings say (T5's task prefix, the length and vocabularies
    of a model trained from random weights; `config.max_length` to
    choose the length). A few-shot run's directory (from
    `train_few_shot_classifier`: its `model.keras` is a text embedder with
    `head.keras` beside it) answers with its head's label and
    probabilities, the label names read from its `report.json`. The output
    keeps every
    input column and adds those, in the output file's format (CSV, TSV or
    JSON Lines by its extension, `.gz`/`.bz2` compressed too; lists are
    JSON text in CSV and TSV cells); it is written whole or not at all.

    Args:
        config: a `PredictionConfig`.

    Returns:
        The dict of predicted columns (see `predict_columns`).

    Raises:
        FileNotFoundError: no model or input file there.
        DataError: the input cannot be read as asked, or the output format
            cannot hold a value.
        ValueError: the model is not one `predict_columns` takes, or the
            input already has a column of the predictions' names.

    Example:
    ```python
    config = PredictionConfig(model_path="runs/demo", input_file="reviews.csv")
    columns = predict_to_file(config)  # writes reviews.predictions.csv
    ```
    """
    if not isinstance(config, PredictionConfig):
        raise ValueError(
            "predict_to_file takes a PredictionConfig. Received: "
            f"{type(config).__name__}"
        )
    config.validate()
    output = config.predictions_path()
    output_format = _output_format(output)
    check_text_pairs(config)
    # The file first: its errors come before the model's loading time.
    rows = load_text_rows(
        config.input_file,
        text_column=config.text_column,
        text_pair_column=config.text_pair_column,
        on_bad_rows=config.on_bad_rows,
    )
    model, head, label_names = load_saved_model(config.model_path)
    refuse_settings_of_other_models(
        config, model, is_generator(model), isinstance(model, QuestionAnswerer)
    )
    if is_generator(model):
        columns = generated_column(model, config, rows.texts)
    else:
        columns = predict_columns(
            model,
            rows.texts,
            rows.text_pairs,
            batch_size=config.batch_size,
            head=head,
            label_names=label_names,
            answer_decoding=run_decoding(model, config.model_path),
        )
    taken = [name for name in columns if name in rows.columns]
    if taken:
        raise ValueError(
            f"{rows.source} already has the column(s) {taken} that the "
            "predictions would fill. Rename them, or predict another file."
        )
    records = [
        {**record, **{name: values[i] for name, values in columns.items()}}
        for i, record in enumerate(rows.records)
    ]
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    content = _format_rows(output, output_format, rows.columns + list(columns), records)
    with atomic_write(output) as temporary:
        module = compression_of(output)
        data = content.encode("utf-8")
        with open(temporary, "wb") as f:
            f.write(module.compress(data) if module else data)
    return columns


def run_decoding(model, model_path):
    """A question answerer's decoding as its run gave its answers (the run
    directory's `decoding.json`), or None: `predict_answers`' defaults."""
    path = _run_directory(model_path)
    if not isinstance(model, QuestionAnswerer) or path is None:
        return None
    try:
        with open(os.path.join(path, DECODING_FILE), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _run_directory(model_path):
    """The run directory `model_path` names, or holds as its `model.keras`;
    None for a `.keras` file of another name (not a run's)."""
    path = os.fspath(model_path)
    if os.path.isdir(path):
        return path
    if os.path.basename(path) != MODEL_FILE:
        return None
    return os.path.dirname(os.path.abspath(path))


def check_text_pairs(config):
    """Refuses single texts for a model its run trained on sentence pairs,
    and pairs for one trained on single texts: the model would answer
    either without a word, wrongly.

    The run's `run_config.json`, beside `config.model_path`'s
    `model.keras`, tells; a model without one (a `.keras` file of its own)
    is not checked.

    Raises:
        ValueError: naming the run's `text_pair_column` and the config's.
    """
    check_run_text_pairs(_run_directory(config.model_path), config.text_pair_column)


def check_run_text_pairs(path, given):
    """Refuses `given` (a `text_pair_column`, or None) unless the run in
    directory `path` read its texts alike (its `run_config.json`); no check
    without a path or that file.

    Raises:
        ValueError: naming the run's `text_pair_column` and `given`.
    """
    if path is None:
        return
    try:
        with open(os.path.join(path, RUN_CONFIG_FILE), encoding="utf-8") as f:
            settings = json.load(f)
    except (OSError, ValueError):
        return
    if not isinstance(settings, dict) or "text_pair_column" not in settings:
        return
    trained = settings["text_pair_column"]
    if (trained is None) == (given is None):
        return
    if trained is not None:
        read = (
            f"sentence pairs (text_pair_column={trained!r} in its "
            f"{RUN_CONFIG_FILE}): name the column of the second texts with "
            "text_pair_column (--text_pair_column)"
        )
    else:
        read = (
            f"single texts (no text_pair_column in its {RUN_CONFIG_FILE}): "
            "leave text_pair_column (--text_pair_column) unset"
        )
    raise ValueError(
        f"The model in {path!r} was trained on {read}. "
        f"Received: text_pair_column={given!r}"
    )


def load_saved_model(path):
    """`(model, head, label_names)` of a run directory or a `.keras` file.

    A directory gives its `model.keras`; a few-shot run's (a text embedder
    with `head.keras` beside it) also gives that head and the label names
    of its report. A `.keras` file gives its model alone. The other models
    hold their own label names.
    """
    path = check_path("model_path", path)
    model_file = os.path.join(path, MODEL_FILE) if os.path.isdir(path) else path
    expected = (
        f"model_path must be a run directory holding {MODEL_FILE} (what the "
        "training scripts write) or a .keras file."
    )
    if not os.path.isfile(model_file):
        raise FileNotFoundError(f"No saved model at {model_file!r}: {expected}")
    if not model_file.endswith(".keras") or not zipfile.is_zipfile(model_file):
        raise ValueError(
            f"{model_file!r} is not a saved model (a .keras archive): "
            f"{expected} Received: model_path={path!r}"
        )
    model = keras.saving.load_model(model_file)
    head_file = os.path.join(path, HEAD_FILE)
    if not isinstance(model, TextEmbedder) or not os.path.isfile(head_file):
        return model, None, None
    report = os.path.join(path, REPORT_FILE)
    label_names = None
    if os.path.isfile(report):
        with open(report, encoding="utf-8") as f:
            label_names = json.load(f).get("label_names")
    return model, keras.saving.load_model(head_file), label_names


def _output_format(path):
    output_format = file_format_of(path)
    if output_format is None:
        raise ValueError(
            f"Cannot tell the output format from {path!r}: expected a .csv, "
            ".tsv or .jsonl name, optionally compressed (.gz, .bz2)."
        )
    return output_format


def _format_rows(path, output_format, columns, records):
    if output_format == "jsonl":
        return "".join(
            json.dumps(record, ensure_ascii=False) + "\n" for record in records
        )
    table = [columns] + [[_cell(r.get(column)) for column in columns] for r in records]
    if output_format == "tsv":
        # TSV has no quoting (as the loaders read it): a tab or a line break
        # inside a value cannot be written.
        for line, cells in enumerate(table, start=1):
            for column, text in zip(columns, cells):
                if "\t" in text or "\n" in text or "\r" in text:
                    raise DataError(
                        f"{path}, line {line}, column {column!r}: the value holds "
                        "a tab or a line break, which TSV cannot hold. Write CSV "
                        "or JSON Lines instead."
                    )
        return "".join("\t".join(cells) + "\n" for cells in table)
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(table)
    return buffer.getvalue()


def _cell(value):
    """A CSV/TSV cell: text as is, lists and dicts as JSON, None empty."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (list, dict)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)
