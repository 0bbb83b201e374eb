"""Loaders for the user's own text classification data: CSV, TSV, JSON Lines.

Each file holds one example per row (or per line for JSON Lines): a text, an
optional second text for pair tasks, and a label. Labels may be names
(`"positive"`) or numbers (`0`, `1`); they are mapped to integer ids through a
label vocabulary, which is the sorted set of labels found (numerically sorted
when all labels are numbers) unless one is given. Numeric labels are read
exactly, in one spelling (`1.0`, `+1`, `01` and `1e0` are the label `1`), up
to 4300 digits written out. Give the training data's vocabulary when loading
validation or test data, so that ids agree and labels never seen in training
are caught.

Every problem with the input raises `DataError` (or `FileNotFoundError` for a
missing file) naming the file, the line and the column, and what was
expected. Texts are not truncated here: truncation happens at tokenization.
"""

import bz2
import codecs
import contextlib
import csv
import decimal
import gzip
import io
import math
import numbers
import os
import re

import numpy as np
import tensorflow as tf
from absl import logging

from tftransformer._arguments import check_bool, check_on_bad_rows, check_path
from tftransformer.data._json_records import json_records
from tftransformer.data.data_error import DataError
from tftransformer.data.folds import stratified_k_fold
from tftransformer.data.text_classification_data import TextClassificationData
from tftransformer.data.text_rows import TextRows
from tftransformer.data.tfds_loaders import (
    TFDS_PREFIX,
    load_tfds_text_classification,
    parse_tfds_spec,
)

SUPPORTED_FORMATS = ("csv", "tsv", "jsonl")
_EXTENSIONS = {
    ".csv": "csv",
    ".tsv": "tsv",
    ".tab": "tsv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    # What `datasets`' and pandas' `to_json` exports are often named, with
    # one object per line or as an array of them: both are read.
    ".json": "jsonl",
}
_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
# The most digits a numeric label may have written out ("1e5000" has 5001):
# Python's default limit for integer strings, which JSON numbers meet too.
_MAX_LABEL_DIGITS = 4300


def _read_text(path):
    """Reads a whole file as UTF-8, naming the line of any invalid byte."""
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"Data file not found: {path!r} (absolute path: "
            f"{os.path.abspath(path) if '://' not in path else path!r})."
        )
    if tf.io.gfile.isdir(path):
        raise DataError(f"{path}: is a directory; expected a data file.")
    with tf.io.gfile.GFile(path, "rb") as f:
        raw = f.read()
    compression = compression_of(path)
    if compression is not None:
        try:
            raw = compression.decompress(raw)
        except (OSError, EOFError, ValueError) as e:
            raise DataError(
                f"{path}: cannot decompress the file ({e}); expected a "
                f"{path.rsplit('.', 1)[-1]} file."
            ) from None
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Excel's "Unicode text" and Windows tools write UTF-16 with a BOM.
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError as e:
            raise DataError(
                f"{path}: the file starts as UTF-16 (byte order mark) but is not "
                f"valid UTF-16 ({e.reason}). Save the file with UTF-8 encoding."
            ) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        line = raw.count(b"\n", 0, e.start) + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(
            f"{path}, line {line}: the file is not valid UTF-8 (byte "
            f"0x{raw[e.start]:02x} at byte {column} of the line). Save the "
            "file with UTF-8 encoding."
        ) from None


# Compressed files are read whole, by suffix: `train.csv.gz`, `dev.tsv.bz2`.
_COMPRESSIONS = {".gz": gzip, ".bz2": bz2}


def compression_of(path):
    """The module (`gzip`, `bz2`) a file's suffix says it is compressed
    with, or None."""
    for suffix, module in _COMPRESSIONS.items():
        if path.lower().endswith(suffix):
            return module
    return None


def file_format_of(path):
    """The format a file's extension says (`"csv"`, `"tsv"`, `"jsonl"`;
    a `.gz`/`.bz2` suffix aside), or None."""
    name = path.lower()
    for suffix in _COMPRESSIONS:
        name = name.removesuffix(suffix)
    for extension, file_format in _EXTENSIONS.items():
        if name.endswith(extension):
            return file_format
    return None


def _infer_format(path):
    if os.path.isdir(path):
        raise DataError(f"{path} is a directory; expected a data file.")
    file_format = file_format_of(path)
    if file_format is not None:
        return file_format
    raise DataError(
        f"{path}: cannot tell the file format from the extension; expected "
        f"one of {sorted(_EXTENSIONS)}, optionally compressed "
        f"({', '.join(_COMPRESSIONS)}). Rename the file (or, in Python, pass "
        f"file_format=, one of {SUPPORTED_FORMATS})."
    )


# Delimiters a `.csv` file is read with when its header holds no comma:
# spreadsheets in many locales export ";", others tab or "|".
_OTHER_DELIMITERS = (";", "\t", "|")


def _header_line(content):
    """The file's first line that is not blank: its header (the rows'
    reader skips blank lines)."""
    for line in content.split("\n"):
        if line.strip():
            return line.rstrip("\r")
    return ""


def _csv_delimiter(content):
    """The delimiter of a CSV file: "," unless its header holds none."""
    header = _header_line(content)
    if "," in header:
        return ","
    counts = {d: header.count(d) for d in _OTHER_DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


@contextlib.contextmanager
def _field_size_limit(size):
    """Lifts `csv`'s field size limit to `size` characters while reading.

    Fields may be long (whole documents); the default limit is 131072.
    """
    old_limit = csv.field_size_limit(min(size + 1, 2**31 - 1))
    try:
        yield
    finally:
        csv.field_size_limit(old_limit)


def _end_marker(content):
    """A line that `content` does not hold, to mark where it ends."""
    marker = "tftransformer end of file"
    while marker in content:
        marker += "!"
    return marker


def _csv_records(path, content, file_format):
    """Returns the header's columns and a list of (line, {column: value})."""
    if file_format == "tsv":
        header = _header_line(content).split("\t")
        if not all(len(f) >= 2 and f[0] == f[-1] == '"' for f in header):
            # TSV has no quoting (the GLUE convention): quotes are text.
            return _parse_csv(
                path, content, file_format, delimiter="\t", quoting=csv.QUOTE_NONE
            )
        # A header of quoted names ('"Text"'): a spreadsheet's quoted export,
        # read with the csv module's excel-tab dialect.
        return _parse_csv(
            path, content, file_format, find_open_quote=True, dialect="excel-tab"
        )
    # Lenient: text after a closing quote, as in '"abc"def', is read as
    # spreadsheets read it ('abcdef'). But a quote left open at the end of the
    # file, which would swallow every later row into one field, is an error.
    return _parse_csv(
        path,
        content,
        file_format,
        find_open_quote=True,
        delimiter=_csv_delimiter(content),
    )


def _parse_csv(path, content, file_format, find_open_quote=False, **dialect):
    end_marker = None
    if find_open_quote:
        # The lenient reader ends a quoted field left open at the end of the
        # file silently. A line added after the end is a row of its own,
        # unless such a field swallows it.
        end_marker = _end_marker(content)
        content = f"{content}\n{end_marker}"
    reader = csv.reader(io.StringIO(content, newline=""), **dialect)
    header = None
    records = []
    end_of_previous = 0
    with _field_size_limit(len(content)):
        try:
            for fields in reader:
                line = end_of_previous + 1
                end_of_previous = reader.line_num
                if end_marker is not None:
                    if fields == [end_marker]:
                        break
                    if fields and fields[-1].endswith(f"\n{end_marker}"):
                        raise DataError(
                            f"{path}, line {line}: a quoted field is never "
                            "closed (the file ends inside it); expected a "
                            "closing quote."
                        )
                if not fields or (
                    len(fields) == 1
                    and not fields[0].strip()
                    # In a file of one column, `""` is a row's empty text (a
                    # blank line reads as no field at all).
                    and not (fields == [""] and header is not None and len(header) == 1)
                ):
                    continue
                if header is None:
                    header = [name.strip() for name in fields]
                    # Blank names (trailing delimiters of spreadsheet exports)
                    # name no column anyone can ask for: they may repeat.
                    duplicates = sorted(
                        {n for n in header if n and header.count(n) > 1}
                    )
                    if duplicates:
                        raise DataError(
                            f"{path}, line {line}: the header repeats the "
                            f"column(s) {duplicates}; expected unique column "
                            f"names. Columns found: {header}"
                        )
                    continue
                if len(fields) != len(header):
                    raise DataError(
                        f"{path}, line {line}: expected {len(header)} fields "
                        f"(the header's columns {header}), received "
                        f"{len(fields)}. "
                        + (
                            "Quote fields that contain commas or line breaks."
                            if file_format == "csv"
                            else "Fields must not contain tabs or line breaks."
                        )
                    )
                records.append((line, dict(zip(header, fields))))
        except csv.Error as e:
            raise DataError(
                f"{path}, line {reader.line_num}: cannot parse "
                f"{file_format.upper()}: {e}."
            ) from None
    return header or [], records


def _jsonl_records(path, content):
    """Returns the keys found and a list of (line, {key: value})."""
    keys = {}
    records = []
    for line, record, text in json_records(path, content):
        if not isinstance(record, dict):
            raise DataError(
                f"{path}, line {line}: expected a JSON object, received a "
                f"{type(record).__name__}: {text[:80]!r}"
            )
        keys.update(dict.fromkeys(record))
        records.append((line, record))
    return list(keys), records


def _text_value(path, line, column, value):
    """A text field as a string, or None when it is missing or empty."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None  # NaN: how pandas writes a missing value to JSON
    if not isinstance(value, str):
        raise DataError(
            f"{path}, line {line}, column {column!r}: expected a string, "
            f"received {type(value).__name__} {value!r}."
        )
    return value if value.strip() else None


def _label_value(path, line, column, value):
    """A label field as a stripped string, or None when it is missing."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return None  # how pandas writes a missing value to JSON
    if isinstance(value, float) and math.isfinite(value):
        value = repr(value)
    if not isinstance(value, str):
        raise DataError(
            f"{path}, line {line}, column {column!r}: expected a label (a string "
            f"or a finite number), received {type(value).__name__} {value!r}."
        )
    try:
        return _canonical_label(value)
    except ValueError as e:
        raise DataError(f"{path}, line {line}, column {column!r}: {e}") from None


def _canonical_label(label):
    """A stripped label string, numbers in one spelling; None if empty.

    "1", "1.0" (pandas writes an int column with gaps as floats), "+1"
    (LIBSVM), "01" and "1e0" are one label, "1"; "0.50" is "0.5". Exact
    (`Decimal`), so long ids keep every digit.

    Raises:
        ValueError: a number with more than `_MAX_LABEL_DIGITS` digits
            written out (as "1e5000"), which is no class id.
    """
    label = label.strip()
    if not _NUMBER.match(label):
        return label or None
    sign, digits, exponent = decimal.Decimal(label).as_tuple()
    digits = "".join(map(str, digits))  # no leading zeros
    significant = digits.rstrip("0")
    if not significant:
        return "0"  # "-0.0" too
    exponent += len(digits) - len(significant)  # of the last significant digit
    if exponent >= 0:
        written = len(significant) + exponent
    else:
        written = max(len(significant), -exponent + 1)
    if written > _MAX_LABEL_DIGITS:
        raise ValueError(
            f"the numeric label {label!r} has {written} digits written out; "
            f"expected a label of at most {_MAX_LABEL_DIGITS} digits."
        )
    return format(decimal.Decimal((sign, tuple(map(int, significant)), exponent)), "f")


def bad_row(path, line, problem, on_bad_rows, bad_rows):
    """Refuses a bad row (`on_bad_rows="error"`) or records it to skip."""
    if on_bad_rows == "error":
        raise DataError(
            f"{path}, line {line}: {problem}. Fix or remove the row, or pass "
            "on_bad_rows='skip' to skip such rows."
        )
    bad_rows.append(f"line {line}: {problem}")


def warn_skipped_rows(path, bad_rows):
    """Logs how many rows of `path` were skipped, with the first few."""
    if bad_rows:
        logging.warning(
            "%s: skipped %d bad row(s), e.g. %s",
            path,
            len(bad_rows),
            "; ".join(bad_rows[:3]),
        )


def _check_spelling(path, column, spellings, record, line, label):
    """Refuses two written forms of a label in one file that read as one."""
    written = record.get(column)
    if not isinstance(written, str):
        return  # a JSON number has no spelling of its own
    written = written.strip()
    first = spellings.setdefault(label, (written, line))
    if first[0] != written:
        raise DataError(
            f"{path}: labels {first[0]!r} (line {first[1]}) and {written!r} (line "
            f"{line}) in column {column!r} are one number, {label}, as numeric "
            "labels are read; they would train as one class. Write each class "
            "one way, or make the labels text (e.g. 'v3.10')."
        )


# A training label column whose labels are numbers with fractions, nearly
# one per row, holds scores rather than classes.
_SCORE_MIN_LABELS = 20
_SCORE_UNIQUE_SHARE = 0.5


def _check_not_a_score(path, column, vocabulary, num_rows):
    """Refuses a column of continuous scores used as class labels."""
    if len(vocabulary) < _SCORE_MIN_LABELS or (
        len(vocabulary) <= _SCORE_UNIQUE_SHARE * num_rows
    ):
        return
    if not all(_NUMBER.match(label) for label in vocabulary):
        if len(vocabulary) > 0.9 * num_rows:
            logging.warning(
                "%s: column %r has %d distinct labels in %d rows: nearly every "
                "row is its own class. Check --label_column.",
                path,
                column,
                len(vocabulary),
                num_rows,
            )
        return
    if any("." in label for label in vocabulary):
        raise DataError(
            f"{path}: column {column!r} holds {len(vocabulary)} distinct numbers "
            f"with fractions in {num_rows} rows, e.g. {list(vocabulary[:3])}: "
            "a continuous score, not class labels (each value would be a class "
            "of its own). Classification needs a few labels, each with many "
            "rows; bin the scores into classes, or use a regression head."
        )


def _check_label_kinds(path, column, lines, labels):
    """Refuses a label column that mixes numbers and names."""
    numeric = [(n, label) for n, label in zip(lines, labels) if _NUMBER.match(label)]
    names = [(n, label) for n, label in zip(lines, labels) if not _NUMBER.match(label)]
    if numeric and names:
        (number_line, number), (name_line, name) = numeric[0], names[0]
        raise DataError(
            f"{path}: column {column!r} mixes numeric and text labels: line "
            f"{number_line} has the number {number!r}, line {name_line} has the "
            f"text {name!r}. Expected one kind of label throughout."
        )
    return sorted_labels(labels)


def sorted_labels(labels):
    """The distinct `labels` (strings) in class-id order: by value when every
    one is a number (`2` before `10`), else as strings."""
    labels = set(labels)
    if labels and all(_NUMBER.match(label) for label in labels):
        # Exactly: floats would tie or misorder long integer ids.
        return tuple(sorted(labels, key=lambda label: (decimal.Decimal(label), label)))
    return tuple(sorted(labels))


def _check_vocabulary(label_vocabulary):
    """The given label vocabulary as a tuple of label strings."""
    if isinstance(label_vocabulary, str) or not all(
        isinstance(label, (str, numbers.Integral)) and not isinstance(label, bool)
        for label in label_vocabulary
    ):
        vocabulary = ()
    else:
        try:
            vocabulary = tuple(
                _canonical_label(str(label)) for label in label_vocabulary
            )
        except ValueError as e:
            raise ValueError(f"label_vocabulary holds a bad label: {e}") from None
    if not vocabulary or None in vocabulary or len(set(vocabulary)) != len(vocabulary):
        raise ValueError(
            "label_vocabulary must be a non-empty sequence of distinct, "
            f"non-empty labels. Received: label_vocabulary={label_vocabulary!r}"
        )
    return vocabulary


def file_records(path, columns_needed, file_format):
    """Reads a CSV, TSV or JSON Lines file's rows.

    Args:
        path: str or path-like.
        columns_needed: `(role, column)` pairs, or `(role, column,
            argument)`; a column that is not None must be in the file (the
            error names its role, and the argument that names the column:
            `<role>_column` unless given).
        file_format: a `SUPPORTED_FORMATS` entry, or None for the extension.

    Returns:
        `(path, columns, records)`: the path as a str, the columns found and
        the `(line, {column: value})` records, in file order.
    """
    path = check_path("path", path)
    if file_format is not None and file_format not in SUPPORTED_FORMATS:
        raise ValueError(
            f"file_format must be None or one of {SUPPORTED_FORMATS}. Received: "
            f"file_format={file_format!r}"
        )
    named = {}
    for role, column, *argument in columns_needed:
        argument = argument[0] if argument else f"{role.replace(' ', '_')}_column"
        if column is None:
            continue
        if column in named:
            # The model would read its own labels (and score 1.0), or one
            # column would count as two targets.
            raise ValueError(
                f"{named[column]} and {argument} both name the column "
                f"{column!r}; each column is read for one role. Received: "
                f"{named[column]}={column!r}, {argument}={column!r}"
            )
        named[column] = argument
    file_format = file_format or _infer_format(path)
    content = _read_text(path)
    if not content.strip():
        raise DataError(
            f"{path}: the file is empty; expected "
            + (
                "one JSON object per line, or a JSON array of objects."
                if file_format == "jsonl"
                else "a header line naming the columns, then one row per example."
            )
        )
    if file_format == "jsonl":
        columns, records = _jsonl_records(path, content)
    else:
        columns, records = _csv_records(path, content, file_format)
    if not records:
        raise DataError(
            f"{path}: the file has no data rows"
            + (f", only {columns}." if columns else " (an empty JSON array).")
        )
    for role, column, *argument in columns_needed:
        argument = argument[0] if argument else f"{role.replace(' ', '_')}_column"
        if column is not None and column not in columns:
            raise DataError(
                f"{path}: no {role} column {column!r}; columns found: {columns}. "
                f"Pass {argument}= to name the right one."
            )
    return path, columns, records


def row_texts(path, line, record, text_column, text_pair_column):
    """`(text, pair, problem)`: a row's texts, or why it is bad."""
    text = _text_value(path, line, text_column, record.get(text_column))
    pair = None
    if text_pair_column is not None:
        pair = _text_value(path, line, text_pair_column, record.get(text_pair_column))
    if text is None:
        return None, None, f"empty text in column {text_column!r}"
    if text_pair_column is not None and pair is None:
        return None, None, f"empty text in column {text_pair_column!r}"
    return text, pair, None


def load_text_classification_file(
    path,
    text_column="text",
    label_column="label",
    text_pair_column=None,
    label_vocabulary=None,
    on_bad_rows="error",
    file_format=None,
):
    """Loads a text classification data set from a CSV, TSV or JSONL file.

    CSV and TSV files start with a header line naming the columns; TSV fields
    are not quoted. JSON Lines files hold one JSON object per line (or a
    JSON array of objects, as pandas' `to_json(orient="records")` writes),
    with the columns as keys. Blank lines are ignored. Extra columns are
    ignored.

    Args:
        path: the file's path (local, or any path `tf.io.gfile` reads).
        text_column: the column holding the text.
        label_column: the column holding the label (a name or a number).
        text_pair_column: the column holding the second text of pair tasks,
            or `None` for single-text classification.
        label_vocabulary: `None` to use the sorted set of labels found, or
            the sequence of known labels (e.g. the training data's
            `label_vocabulary`); a label not in it is an error.
        on_bad_rows: `"error"` to refuse a row with an empty text or a
            missing label (naming its line), or `"skip"` to skip such rows;
            their count is logged and kept in `skipped_rows`.
        file_format: `"csv"`, `"tsv"`, `"jsonl"`, or `None` to infer it from
            the file's extension (`.csv`; `.tsv`, `.tab`; `.jsonl`,
            `.ndjson`, `.json`: JSON Lines or a JSON array).

    Returns:
        A `TextClassificationData`, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: the file cannot be read as asked; the message names the
            file, line and column.

    Example:

    ```python
    train = load_text_classification_file("train.csv")
    valid = load_text_classification_file(
        "valid.jsonl", label_vocabulary=train.label_vocabulary
    )
    dataset = train.to_dataset()  # (text, label) pairs
    ```
    """
    for name, value in (("text_column", text_column), ("label_column", label_column)):
        if not isinstance(value, str) or not value:
            raise ValueError(
                f"{name} must be a non-empty string. Received: {name}={value!r}"
            )
    if text_pair_column is not None and (
        not isinstance(text_pair_column, str) or not text_pair_column
    ):
        raise ValueError(
            "text_pair_column must be None or a non-empty string. Received: "
            f"text_pair_column={text_pair_column!r}"
        )
    check_on_bad_rows(on_bad_rows)
    if label_vocabulary is not None:
        label_vocabulary = _check_vocabulary(label_vocabulary)
    path, _, records = file_records(
        path,
        [
            ("text", text_column),
            ("label", label_column),
            ("text pair", text_pair_column),
        ],
        file_format,
    )

    texts, pairs, labels, lines = [], [], [], []
    bad_rows = []
    # The first written form of each label, to refuse two spellings that
    # read as one number ("3.1" and "3.10", "01" and "1").
    spellings = {}
    for line, record in records:
        text, pair, problem = row_texts(
            path, line, record, text_column, text_pair_column
        )
        label = _label_value(path, line, label_column, record.get(label_column))
        if problem is None and label is None:
            problem = f"missing label in column {label_column!r}"
        if problem is None:
            _check_spelling(path, label_column, spellings, record, line, label)
            texts.append(text)
            pairs.append(pair)
            labels.append(label)
            lines.append(line)
            continue
        bad_row(path, line, problem, on_bad_rows, bad_rows)

    warn_skipped_rows(path, bad_rows)
    if not texts:
        raise DataError(
            f"{path}: all {len(records)} rows are bad (e.g. {bad_rows[0]}); "
            "no examples left."
        )

    if label_vocabulary is None:
        label_vocabulary = _check_label_kinds(path, label_column, lines, labels)
        _check_not_a_score(path, label_column, label_vocabulary, len(labels))
    label_ids = {label: i for i, label in enumerate(label_vocabulary)}
    for line, label in zip(lines, labels):
        if label not in label_ids:
            raise DataError(
                f"{path}, line {line}: label {label!r} in column {label_column!r} "
                f"is not a known label; known labels: {list(label_vocabulary)}."
            )

    return TextClassificationData(
        texts=texts,
        labels=[label_ids[label] for label in labels],
        label_vocabulary=label_vocabulary,
        text_pairs=pairs if text_pair_column is not None else None,
        source=path,
        skipped_rows=len(bad_rows),
    )


def load_text_rows(
    path,
    text_column="text",
    text_pair_column=None,
    on_bad_rows="error",
    file_format=None,
):
    """Reads the rows of a CSV, TSV or JSON Lines file to predict on.

    The files `load_text_classification_file` reads, without labels: every
    column is kept as read, so that predictions can be written next to it
    (`tftransformer.training.predict_to_file`).

    Args:
        path: the file's path (local, or any path `tf.io.gfile` reads;
            `.gz`/`.bz2` compressed too).
        text_column: the column holding the text.
        text_pair_column: the column holding each row's second text, or
            None.
        on_bad_rows: `"error"` refuses a row with an empty text (naming its
            line), `"skip"` leaves it out.
        file_format: `"csv"`, `"tsv"`, `"jsonl"`, or None for the file's
            extension.

    Returns:
        A `TextRows`, in file order.

    Raises:
        FileNotFoundError: the file does not exist.
        DataError: the file cannot be read as asked; the message names the
            file, line and column.

    Example:
    ```python
    rows = load_text_rows("unlabelled.csv", text_column="review")
    rows.texts[0], rows.records[0]["id"]
    ```
    """
    if not isinstance(text_column, str) or not text_column:
        raise ValueError(
            f"text_column must be a non-empty string. Received: "
            f"text_column={text_column!r}"
        )
    if text_pair_column is not None and (
        not isinstance(text_pair_column, str) or text_pair_column in ("", text_column)
    ):
        raise ValueError(
            "text_pair_column must be None or a non-empty string other than "
            f"text_column. Received: text_pair_column={text_pair_column!r} "
            f"(text_column={text_column!r})"
        )
    check_on_bad_rows(on_bad_rows)
    path, columns, records = file_records(
        path, [("text", text_column), ("text pair", text_pair_column)], file_format
    )
    kept, texts, pairs, bad_rows = [], [], [], []
    for line, record in records:
        text, pair, problem = row_texts(
            path, line, record, text_column, text_pair_column
        )
        if problem is not None:
            bad_row(path, line, problem, on_bad_rows, bad_rows)
            continue
        kept.append(record)
        texts.append(text)
        pairs.append(pair)
    warn_skipped_rows(path, bad_rows)
    if not texts:
        raise DataError(
            f"{path}: all {len(records)} rows are bad (e.g. {bad_rows[0]}); "
            "no rows left."
        )
    return TextRows(
        columns=columns,
        records=tuple(kept),
        texts=tuple(texts),
        text_pairs=tuple(pairs) if text_pair_column is not None else None,
        source=path,
        skipped_rows=len(bad_rows),
    )


def load_text_classification(
    source,
    split="train",
    text_column=None,
    label_column=None,
    text_pair_column=None,
    label_vocabulary=None,
    on_bad_rows="error",
    data_dir=None,
    download=True,
):
    """Loads a text classification data set from a file or from TFDS.

    Args:
        source: a file path (see `load_text_classification_file`), or
            `"tfds:NAME[/CONFIG][:VERSION][:SPLIT]"` for a TensorFlow
            Datasets data set (see `load_tfds_text_classification`).
        split: the TFDS split to load when `source` names none; ignored for
            files.
        text_column: the text column (TFDS feature); `None` for the default
            (`"text"` for files, inferred for TFDS).
        label_column: the label column (TFDS feature); `None` for the default
            (`"label"` for files, inferred for TFDS).
        text_pair_column: the second text column for pair tasks, or `None`.
        label_vocabulary: `None`, or the known labels (e.g. the training
            data's); for TFDS it must equal the data set's label names.
        on_bad_rows: `"error"` or `"skip"`, for rows with an empty text or a
            missing label.
        data_dir: the TFDS data directory; ignored for files.
        download: whether TFDS may download and prepare a data set that is
            not yet in `data_dir`; ignored for files.

    Returns:
        A `TextClassificationData`.

    Example:

    ```python
    train = load_text_classification("tfds:imdb_reviews", split="train")
    test = load_text_classification("tfds:imdb_reviews:test")
    mine = load_text_classification("reviews.csv")
    ```
    """
    if isinstance(source, str) and source.startswith(TFDS_PREFIX):
        name, spec_split = parse_tfds_spec(source)
        data = load_tfds_text_classification(
            name,
            split=spec_split or split,
            data_dir=data_dir,
            text_key=text_column,
            label_key=label_column,
            text_pair_key=text_pair_column,
            on_bad_rows=on_bad_rows,
            download=download,
        )
        if label_vocabulary is not None and tuple(
            str(label) for label in label_vocabulary
        ) != tuple(data.label_vocabulary):
            raise DataError(
                f"{source}: the data set's labels {list(data.label_vocabulary)} "
                f"differ from the expected labels {list(label_vocabulary)}."
            )
        return data
    return load_text_classification_file(
        source,
        text_column=text_column or "text",
        label_column=label_column or "label",
        text_pair_column=text_pair_column,
        label_vocabulary=label_vocabulary,
        on_bad_rows=on_bad_rows,
    )


def embedded_splits(validation_source, test_source, load_split, **file_settings):
    """The embedded data's train, validation and test splits.

    For a splits loader given no `train_source`: refuses a validation or
    test source without one, and a setting of how a file is read (each
    keyword `name=(value, accepted)`: its value and the values that read
    the embedded data as it is, e.g. the default column name) that the
    embedded data would ignore. Then returns `load_split(name)` for each
    split.
    """
    if validation_source or test_source:
        raise ValueError(
            "validation_source and test_source need a train_source. Received: "
            f"validation_source={validation_source!r}, test_source={test_source!r}"
        )
    for name, (value, accepted) in file_settings.items():
        value = tuple(value) if isinstance(value, list) else value
        if value not in accepted:
            raise ValueError(
                f"{name} says how to read a training file; without one, the "
                "embedded data is read with its own columns (and has no text "
                f"pairs). Give the file too, or drop it. Received: {name}="
                f"{value!r} and no train_source (--train_file)"
            )
    return tuple(load_split(split) for split in ("train", "validation", "test"))


def load_text_classification_splits(
    train_source=None,
    validation_source=None,
    test_source=None,
    text_column=None,
    label_column=None,
    text_pair_column=None,
    on_bad_rows="error",
    data_dir=None,
    seed=0,
    hold_out=True,
):
    """Loads the training, validation and test splits of a classification task.

    With no sources, the embedded sentiment data's three splits (see
    `load_rotten_tomatoes`). Otherwise the training data comes from
    `train_source` and fixes the label vocabulary the other splits are read
    with; without `validation_source` a stratified 10% of the training data
    is held out (seeded), and without `test_source` the test split is the
    validation split. TFDS sources without a split name read `"train"`,
    `"validation"` and `"test"` respectively.

    Args:
        train_source: `None` for the embedded data, or a file path or
            `"tfds:NAME[/CONFIG][:VERSION][:SPLIT]"` (see `load_text_classification`).
        validation_source: `None`, or the validation data's source.
        test_source: `None`, or the test data's source.
        text_column: the text column (TFDS feature); `None` for the default.
        label_column: the label column (TFDS feature); `None` for the default.
        text_pair_column: the second text column for pair tasks, or `None`.
        on_bad_rows: `"error"` or `"skip"`, for rows with an empty text or a
            missing label.
        data_dir: the TFDS data directory; ignored for files.
        seed: int, the seed of the held-out validation split.
        hold_out: bool; False leaves the training data whole without
            `validation_source` (the validation split, and the test split
            without `test_source`, are then empty), e.g. for
            cross-validation, which holds out folds of its own.

    Returns:
        A tuple `(train, validation, test)` of `TextClassificationData`.

    Raises:
        ValueError: if a validation or test source comes without a training
            one.
        DataError: if a source cannot be read, the training data has one
            label only, or too few examples of a class to hold out a
            stratified 10%.

    Example:

    ```python
    train, validation, test = load_text_classification_splits()  # embedded
    train, validation, test = load_text_classification_splits(
        "reviews.csv", test_source="test.csv", label_column="sentiment"
    )
    ```
    """
    # Also for the embedded data, which never reads it: a typo fails at once.
    check_on_bad_rows(on_bad_rows)
    hold_out = check_bool("hold_out", hold_out)
    if train_source is None:
        from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes

        return embedded_splits(
            validation_source,
            test_source,
            load_rotten_tomatoes,
            text_column=(text_column, (None, "text")),
            label_column=(label_column, (None, "label")),
            text_pair_column=(text_pair_column, (None,)),
        )

    def load(source, split, vocabulary=None):
        return load_text_classification(
            source,
            split=split,
            text_column=text_column,
            label_column=label_column,
            text_pair_column=text_pair_column,
            label_vocabulary=vocabulary,
            on_bad_rows=on_bad_rows,
            data_dir=data_dir,
        )

    train = load(train_source, "train")
    if len(train.label_vocabulary) < 2:
        # Most often the wrong column: one that holds the same value in every row.
        raise DataError(
            f"{train_source}: the label column"
            f"{f' {label_column!r}' if label_column else ''} holds "
            f"one label ({train.label_vocabulary[0]!r}) in all {len(train)} "
            "training examples; a classifier needs at least two. Check the "
            "label column (label_column; --label_column of the example scripts)."
        )
    if validation_source:
        validation = load(validation_source, "validation", train.label_vocabulary)
    elif hold_out:
        train, validation = _hold_out(train, train_source, seed)
    else:
        validation = train.take([])
    if test_source:
        test = load(test_source, "test", train.label_vocabulary)
    else:
        test = validation
    return train, validation, test


# One fold of ten: a 10% validation split.
_HELD_OUT_FOLDS = 10


def _hold_out(train, source, seed):
    labels, counts = np.unique(train.labels, return_counts=True)
    if counts.min() < _HELD_OUT_FOLDS:
        name = train.label_vocabulary[labels[np.argmin(counts)]]
        raise DataError(
            f"{source}: holding out a stratified 10% for validation needs "
            f"{_HELD_OUT_FOLDS} examples of each label; label {name!r} has "
            f"{counts.min()}. Give validation data instead (validation_source; "
            "--validation_file of the example scripts)."
        )
    train_indices, validation_indices = stratified_k_fold(
        train.labels, _HELD_OUT_FOLDS, seed=seed
    )[0]
    return train.take(train_indices), train.take(validation_indices)
