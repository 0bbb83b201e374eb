"""Loaders for multi-label and regression data: CSV, TSV, JSON Lines.

Files are read as `load_text_classification_file` reads them (header line,
delimiters, compression, encodings, `on_bad_rows`), with other label
columns:

- multi-label: one column holding each example's set of labels, as a JSON
  list (`["sports", "politics"]`, in JSON Lines or in a CSV cell) or as
  names joined by a delimiter (`sports|politics`). An empty list or cell is
  an example with no label.
- regression: one or more columns of real numbers.

Every problem with the input raises `DataError` naming the file, the line,
the column and the value.
"""

import json
import math

import numpy as np

from tftransformer._arguments import FLOAT32_MAX, check_on_bad_rows, float32_cell
from tftransformer.data.data_error import DataError
from tftransformer.data.hold_out import hold_out_validation
from tftransformer.data.loaders import (
    bad_row,
    embedded_splits,
    file_records,
    row_texts,
    sorted_labels,
    warn_skipped_rows,
)
from tftransformer.data.multi_label_data import MultiLabelData
from tftransformer.data.regression_data import RegressionData

__all__ = [
    "load_multi_label_file",
    "load_multi_label_splits",
    "load_regression_file",
    "load_regression_splits",
]


def _check_column(name, value):
    if not isinstance(value, str) or not value:
        raise ValueError(
            f"{name} must be a non-empty string. Received: {name}={value!r}"
        )
    return value


def _label_set(path, line, column, value, delimiter):
    """A row's labels as a list of names; None when the cell is missing."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, str) and value.strip().startswith("["):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(
                f"{path}, line {line}, column {column!r}: the cell starts like a "
                f"JSON list but is not one ({e.msg}): {value[:80]!r}."
            ) from None
    if isinstance(value, str):
        names = value.split(delimiter) if value.strip() else []
    elif isinstance(value, list):
        names = value
    else:
        raise DataError(
            f"{path}, line {line}, column {column!r}: expected a list of labels or "
            f"a string of labels joined by {delimiter!r}, received "
            f"{type(value).__name__} {value!r}."
        )
    labels = []
    for name in names:
        if isinstance(name, bool) or not isinstance(name, (str, int)):
            raise DataError(
                f"{path}, line {line}, column {column!r}: a label must be a "
                f"string or an integer, received {type(name).__name__} {name!r}."
            )
        name = str(name).strip()
        if not name:
            raise DataError(
                f"{path}, line {line}, column {column!r}: an empty label in "
                f"{value!r} (delimiter {delimiter!r})."
            )
        labels.append(name)
    return labels


def load_multi_label_file(
    path,
    text_column="text",
    label_column="labels",
    text_pair_column=None,
    label_delimiter="|",
    label_vocabulary=None,
    on_bad_rows="error",
    file_format=None,
):
    """Loads multi-label classification data from a CSV, TSV or JSONL file.

    Args:
        path: the file's path.
        text_column: the column holding the text.
        label_column: the column holding each example's labels: a JSON list
            or names joined by `label_delimiter`; empty means no label.
        text_pair_column: the second text's column for pair tasks, or `None`.
        label_delimiter: non-empty string between label names in a cell.
        label_vocabulary: `None` for the sorted set of labels found (by value
            when all are numbers, as the single-label loader sorts), or the
            known labels (e.g. the training data's); another is an error.
        on_bad_rows: `"error"` to refuse a row with an empty text or a
            missing label cell, `"skip"` to skip and count it.
        file_format: `"csv"`, `"tsv"`, `"jsonl"`, or `None` (from the
            extension).

    Returns:
        A `MultiLabelData`, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: the file cannot be read as asked (file, line, column).

    Example:
    ```python
    train = load_multi_label_file("train.csv", label_delimiter=";")
    dev = load_multi_label_file("dev.jsonl", label_vocabulary=train.label_vocabulary)
    ```
    """
    _check_column("text_column", text_column)
    _check_column("label_column", label_column)
    _check_column("label_delimiter", label_delimiter)
    check_on_bad_rows(on_bad_rows)
    if label_vocabulary is not None:
        label_vocabulary = tuple(str(name) for name in label_vocabulary)
        if len(set(label_vocabulary)) != len(label_vocabulary) or not label_vocabulary:
            raise ValueError(
                "label_vocabulary must hold distinct names. "
                f"Received: label_vocabulary={label_vocabulary}"
            )
    path, _, records = file_records(
        path,
        [
            ("text", text_column),
            ("label", label_column),
            ("text pair", text_pair_column),
        ],
        file_format,
    )
    texts, pairs, label_sets, lines, bad_rows = [], [], [], [], []
    for line, record in records:
        text, pair, problem = row_texts(
            path, line, record, text_column, text_pair_column
        )
        labels = _label_set(
            path, line, label_column, record.get(label_column), label_delimiter
        )
        if problem is None and labels is None:
            problem = f"missing labels in column {label_column!r}"
        if problem is not None:
            bad_row(path, line, problem, on_bad_rows, bad_rows)
            continue
        texts.append(text)
        pairs.append(pair)
        label_sets.append(labels)
        lines.append(line)
    warn_skipped_rows(path, bad_rows)
    if not texts:
        raise DataError(f"{path}: all {len(records)} rows are bad; no examples left.")
    if label_vocabulary is None:
        label_vocabulary = sorted_labels(name for names in label_sets for name in names)
        if len(label_vocabulary) < 2:
            raise DataError(
                f"{path}: column {label_column!r} holds {len(label_vocabulary)} "
                f"distinct label(s) {list(label_vocabulary)}; a multi-label "
                "classifier needs at least two. Check label_column and "
                f"label_delimiter (received {label_delimiter!r})."
            )
    ids = {name: j for j, name in enumerate(label_vocabulary)}
    matrix = np.zeros((len(texts), len(label_vocabulary)), dtype="int32")
    for i, (line, names) in enumerate(zip(lines, label_sets)):
        for name in names:
            if name not in ids:
                raise DataError(
                    f"{path}, line {line}: label {name!r} in column "
                    f"{label_column!r} is not a known label; known labels: "
                    f"{list(label_vocabulary)}."
                )
            matrix[i, ids[name]] = 1
    return MultiLabelData(
        texts,
        matrix,
        label_vocabulary,
        text_pairs=pairs if text_pair_column is not None else None,
        source=path,
        skipped_rows=len(bad_rows),
    )


def _number(path, line, column, value):
    """A target cell as a float; None when missing; DataError otherwise."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    number = float32_cell(value)
    if number is None:
        raise DataError(
            f"{path}, line {line}, column {column!r}: expected a finite number as "
            f"the target (float32: at most {FLOAT32_MAX:.4g} in magnitude), "
            f"received {value!r:.100}."
        )
    return number


def load_regression_file(
    path,
    text_column="text",
    target_columns=("label",),
    text_pair_column=None,
    on_bad_rows="error",
    file_format=None,
):
    """Loads text regression data (one or more real targets) from a file.

    Args:
        path: the file's path (CSV, TSV or JSON Lines).
        text_column: the column holding the text.
        target_columns: the columns holding the targets (a string for one).
        text_pair_column: the second text's column (e.g. sentence
            similarity), or `None`.
        on_bad_rows: `"error"` to refuse a row with an empty text or a
            missing target, `"skip"` to skip and count it. A target that is
            not a number is always an error.
        file_format: `"csv"`, `"tsv"`, `"jsonl"`, or `None`.

    Returns:
        A `RegressionData`, in file order.

    Example:
    ```python
    data = load_regression_file("scores.csv", target_columns=["valence"])
    ```
    """
    _check_column("text_column", text_column)
    if isinstance(target_columns, str):
        target_columns = (target_columns,)
    target_columns = tuple(target_columns)
    if not target_columns:
        raise ValueError("target_columns must name at least one column. Received: ()")
    for column in target_columns:
        _check_column("target_columns", column)
    check_on_bad_rows(on_bad_rows)
    path, _, records = file_records(
        path,
        [("text", text_column), ("text pair", text_pair_column)]
        + [("target", column, "target_columns") for column in target_columns],
        file_format,
    )
    texts, pairs, targets, bad_rows = [], [], [], []
    for line, record in records:
        text, pair, problem = row_texts(
            path, line, record, text_column, text_pair_column
        )
        values = [
            _number(path, line, column, record.get(column)) for column in target_columns
        ]
        if problem is None and None in values:
            missing = target_columns[values.index(None)]
            problem = f"missing target in column {missing!r}"
        if problem is not None:
            bad_row(path, line, problem, on_bad_rows, bad_rows)
            continue
        texts.append(text)
        pairs.append(pair)
        targets.append(values)
    warn_skipped_rows(path, bad_rows)
    if not texts:
        raise DataError(f"{path}: all {len(records)} rows are bad; no examples left.")
    return RegressionData(
        texts,
        np.asarray(targets, dtype="float64"),
        target_columns,
        text_pairs=pairs if text_pair_column is not None else None,
        source=path,
        skipped_rows=len(bad_rows),
    )


# One example of ten is held out for validation when no file is given.
_HELD_OUT_SHARE = 0.1


def _splits(load, train_source, validation_source, test_source, seed):
    train = load(train_source, None)
    if validation_source:
        validation = load(validation_source, train)
    else:
        kept, held_out = hold_out_validation(
            len(train), _HELD_OUT_SHARE, seed, train_source
        )
        train, validation = train.take(kept), train.take(held_out)
    test = load(test_source, train) if test_source else validation
    return train, validation, test


def load_multi_label_splits(
    train_source=None,
    validation_source=None,
    test_source=None,
    text_column="text",
    label_column="labels",
    text_pair_column=None,
    label_delimiter="|",
    on_bad_rows="error",
    seed=0,
):
    """The train, validation and test splits of a multi-label task.

    With no sources, the embedded WNUT-16 tweets labelled with the entity
    types they mention (`load_wnut16_entity_types`). Otherwise files read by
    `load_multi_label_file`; the training file fixes the label vocabulary.
    Without `validation_source` a seeded random 10% of the training data is
    held out; without `test_source` the test split is the validation split.

    Returns:
        `(train, validation, test)`, each a `MultiLabelData`.

    Example:
    ```python
    train, validation, test = load_multi_label_splits()
    ```
    """
    check_on_bad_rows(on_bad_rows)
    if train_source is None:
        from tftransformer.data.wnut_entity_types import load_wnut16_entity_types

        return embedded_splits(
            validation_source,
            test_source,
            load_wnut16_entity_types,
            text_column=(text_column, ("text",)),
            label_column=(label_column, ("labels",)),
            text_pair_column=(text_pair_column, (None,)),
            label_delimiter=(label_delimiter, ("|",)),
        )

    def load(source, train):
        return load_multi_label_file(
            source,
            text_column=text_column,
            label_column=label_column,
            text_pair_column=text_pair_column,
            label_delimiter=label_delimiter,
            label_vocabulary=None if train is None else train.label_vocabulary,
            on_bad_rows=on_bad_rows,
        )

    return _splits(load, train_source, validation_source, test_source, seed)


def load_regression_splits(
    train_source=None,
    validation_source=None,
    test_source=None,
    text_column="text",
    target_columns=("label",),
    text_pair_column=None,
    on_bad_rows="error",
    seed=0,
):
    """The train, validation and test splits of a text regression task.

    With no sources, the embedded Dictionary of Affect in Language
    (`load_word_affect`: words scored for pleasantness, activation and
    imagery). Otherwise files read by `load_regression_file`, split as
    `load_multi_label_splits` splits them.

    Returns:
        `(train, validation, test)`, each a `RegressionData`.

    Example:
    ```python
    train, validation, test = load_regression_splits()
    ```
    """
    check_on_bad_rows(on_bad_rows)
    if train_source is None:
        from tftransformer.data.word_affect import load_word_affect

        return embedded_splits(
            validation_source,
            test_source,
            load_word_affect,
            text_column=(text_column, ("text",)),
            target_columns=(target_columns, ("label", ("label",))),
            text_pair_column=(text_pair_column, (None,)),
        )

    def load(source, train):
        data = load_regression_file(
            source,
            text_column=text_column,
            target_columns=target_columns,
            text_pair_column=text_pair_column,
            on_bad_rows=on_bad_rows,
        )
        if train is None:
            # Most often the wrong column, as a classifier's single label.
            for j, name in enumerate(data.target_names):
                values = data.targets[:, j]
                if len(values) and np.all(values == values[0]):
                    raise DataError(
                        f"{source}: the target column {name!r} holds one value "
                        f"({float(values[0])}) in all {len(values)} training "
                        "examples; a regressor needs targets that vary. Check "
                        "the target columns (target_columns; --target_columns "
                        "of the example scripts)."
                    )
        return data

    return _splits(load, train_source, validation_source, test_source, seed)
