import csv
import json
import logging

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    DataError,
    TextClassificationData,
    load_text_classification,
    load_text_classification_file,
    load_text_classification_splits,
    load_text_rows,
)
from tftransformer.datasets import load_rotten_tomatoes


def _write(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    return str(path)


# (case id, file name, content, loader kwargs, exception, substrings of the
# message besides the file's path).
BAD_FILES = [
    ("empty_csv", "a.csv", "", {}, DataError, ["empty", "header"]),
    ("blank_jsonl", "a.jsonl", "\n  \n", {}, DataError, ["empty", "JSON object"]),
    (
        "missing_text_column",
        "a.csv",
        "review,label\ngood,pos\n",
        {},
        DataError,
        ["no text column 'text'", "columns found: ['review', 'label']"],
    ),
    (
        "missing_label_column",
        "a.csv",
        "text,sentiment\ngood,pos\n",
        {},
        DataError,
        ["no label column 'label'", "['text', 'sentiment']"],
    ),
    (
        "missing_label_key_jsonl",
        "a.jsonl",
        '{"text": "good", "y": 1}\n',
        {},
        DataError,
        ["no label column 'label'", "['text', 'y']"],
    ),
    (
        "missing_text_pair_column",
        "a.csv",
        "text,label\ngood,pos\n",
        {"text_pair_column": "hypothesis"},
        DataError,
        ["no text pair column 'hypothesis'", "['text', 'label']"],
    ),
    (
        "empty_text",
        "a.csv",
        "text,label\ngood,pos\n   ,neg\n",
        {},
        DataError,
        ["line 3", "empty text in column 'text'", "on_bad_rows='skip'"],
    ),
    (
        "missing_label",
        "a.csv",
        "text,label\ngood,pos\nbad,\n",
        {},
        DataError,
        ["line 3", "missing label in column 'label'"],
    ),
    (
        "null_label_jsonl",
        "a.jsonl",
        '{"text": "good", "label": 1}\n\n{"text": "bad", "label": null}\n',
        {},
        DataError,
        ["line 3", "missing label"],
    ),
    (
        "label_not_in_vocabulary",
        "a.csv",
        "text,label\ngood,pos\nso-so,neutral\n",
        {"label_vocabulary": ("neg", "pos")},
        DataError,
        ["line 3", "'neutral'", "known labels: ['neg', 'pos']"],
    ),
    (
        "non_utf8",
        "a.csv",
        b"text,label\ngood,pos\ncaf\xe9,neg\n",
        {},
        DataError,
        ["line 3", "not valid UTF-8", "0xe9", "byte 4"],
    ),
    (
        "ragged_csv",
        "a.csv",
        "text,label\ngood,pos\nbad,neg,extra\n",
        {},
        DataError,
        ["line 3", "expected 2 fields", "received 3", "Quote fields"],
    ),
    (
        "ragged_tsv",
        "a.tsv",
        "text\tlabel\ngood\tpos\tx\n",
        {},
        DataError,
        ["line 2", "expected 2 fields", "received 3"],
    ),
    (
        # Rows are named by their first line: the quoted fields span lines
        # 2-3 and 4-5, so the ragged row is line 4.
        "ragged_multiline_rows",
        "a.csv",
        'text,label\n"two\nlines",pos\n"bad\nrow",neg,extra\n',
        {},
        DataError,
        ["line 4", "expected 2 fields", "received 3"],
    ),
    (
        # Without a check the rest of the file would be this row's text.
        "quote_never_closed",
        "a.csv",
        'label,text\npos,fine\npos,"Loved it\nneg,Hated it\npos,Fine\n',
        {},
        DataError,
        ["line 3", "quoted field is never closed"],
    ),
    (
        # The same after a row read leniently ('"abc"def' is 'abcdef').
        "quote_never_closed_after_text_after_a_quote",
        "a.csv",
        'text,label\n"abc"def,pos\nhello,"neg\nworld,pos\nagain,neg\n',
        {},
        DataError,
        ["line 3", "quoted field is never closed"],
    ),
    (
        # Never closed in the first column: one field, not a ragged row.
        "quote_never_closed_in_the_first_column",
        "a.csv",
        'text,label\n"abc"def,pos\n"hello,neg\nworld,pos\n',
        {},
        DataError,
        ["line 3", "quoted field is never closed"],
    ),
    (
        "quote_never_closed_in_the_header",
        "a.csv",
        'text,"label\nhello,neg\n',
        {},
        DataError,
        ["line 1", "quoted field is never closed"],
    ),
    (
        # Python's int-string limit is no bare ValueError.
        "numeric_label_with_too_many_digits",
        "a.csv",
        "text,label\na,2\nb,1e5000\n",
        {},
        DataError,
        ["line 3", "column 'label'", "'1e5000'", "5001 digits", "at most 4300"],
    ),
    (
        "numeric_label_with_too_many_decimals",
        "a.csv",
        "text,label\na,2\nb,1e-5000\n",
        {},
        DataError,
        ["line 3", "column 'label'", "'1e-5000'", "at most 4300"],
    ),
    (
        "json_integer_with_too_many_digits",
        "a.jsonl",
        '{"text": "a", "label": 1}\n{"text": "b", "label": 1' + "0" * 5000 + "}\n",
        {},
        DataError,
        ["line 2", "cannot read a JSON number"],
    ),
    (
        "json_array_of_lists",
        "a.json",
        '[\n  {"text": "good", "label": 1},\n  ["bad", 0]\n]\n',
        {},
        DataError,
        ["line 3", "expected a JSON object, received a list"],
    ),
    (
        "json_array_element_not_a_string",
        "a.json",
        json.dumps([{"text": "good", "label": 1}, {"text": 4, "label": 0}], indent=2),
        {},
        DataError,
        # The record's first line.
        ["line 6", "column 'text'", "expected a string", "int 4"],
    ),
    (
        "json_array_missing_comma",
        "a.json",
        '[\n  {"text": "good", "label": 1}\n  {"text": "bad", "label": 0}\n]',
        {},
        DataError,
        ["line 3, column 3", "expected ',' or ']'", "or a JSON array of objects"],
    ),
    (
        "json_array_never_closed",
        "a.json",
        '[{"text": "good", "label": 1},\n',
        {},
        DataError,
        ["line 2, column 1", "invalid JSON"],
    ),
    (
        "json_array_then_more",
        "a.json",
        '[{"text": "good", "label": 1}]\n{"text": "bad", "label": 0}\n',
        {},
        DataError,
        ["line 2, column 1", "extra data after the array"],
    ),
    (
        "json_array_empty",
        "a.json",
        "[ ]\n",
        {},
        DataError,
        ["no data rows", "empty JSON array"],
    ),
    (
        "json_array_integer_with_too_many_digits",
        "a.json",
        '[{"text": "a", "label": 1},\n {"text": "b", "label": 1' + "0" * 5000 + "}]",
        {},
        DataError,
        ["line 2", "cannot read a JSON number"],
    ),
    (
        "mixed_numeric_and_text_labels",
        "a.csv",
        "text,label\ngood,1\nbad,0\nmeh,positive\n",
        {},
        DataError,
        ["mixes numeric and text labels", "line 2", "'1'", "line 4", "'positive'"],
    ),
    (
        "invalid_json",
        "a.jsonl",
        '{"text": "good", "label": 1}\n{"text": "bad", "label": 0\n',
        {},
        DataError,
        ["line 2", "invalid JSON"],
    ),
    (
        "json_not_an_object",
        "a.jsonl",
        '{"text": "good", "label": 1}\n["bad", 0]\n',
        {},
        DataError,
        ["line 2", "expected a JSON object", "list"],
    ),
    (
        "json_text_not_a_string",
        "a.jsonl",
        '{"text": "good", "label": 1}\n{"text": 42, "label": 0}\n',
        {},
        DataError,
        ["line 2", "column 'text'", "expected a string", "int 42"],
    ),
    (
        "header_only",
        "a.csv",
        "text,label\n",
        {},
        DataError,
        ["no data rows", "['text', 'label']"],
    ),
    (
        "duplicate_header_column",
        "a.csv",
        "text,label,text\na,b,c\n",
        {},
        DataError,
        ["line 1", "repeats", "['text']"],
    ),
    (
        "unknown_extension",
        "a.txt",
        "text,label\ngood,pos\n",
        {},
        DataError,
        ["cannot tell the file format", "file_format="],
    ),
    (
        "all_rows_bad_when_skipping",
        "a.csv",
        "text,label\n,pos\ngood,\n",
        {"on_bad_rows": "skip"},
        DataError,
        ["all 2 rows are bad", "line 2"],
    ),
]


@pytest.mark.parametrize(
    "name, content, kwargs, error, expected",
    [case[1:] for case in BAD_FILES],
    ids=[case[0] for case in BAD_FILES],
)
def test_bad_files_are_refused_with_a_clear_message(
    tmp_path, name, content, kwargs, error, expected
):
    path = _write(tmp_path, name, content)
    with pytest.raises(error) as info:
        load_text_classification_file(path, **kwargs)
    message = str(info.value)
    for part in [path] + expected:
        assert part in message, f"{part!r} not in {message!r}"


@pytest.mark.parametrize(
    "name, content",
    [
        # Trailing delimiters of spreadsheet exports: blank column names.
        ("blank_columns.csv", "text,label,,\r\ngood,pos,,\r\nbad,neg,,\r\n"),
        # A blank line before the header: the delimiter and the header's
        # quoting were read off it.
        ("blank_first_line.csv", "\ntext;label\ngood;pos\nbad;neg\n"),
        ("blank_first_line.tsv", '\r\n"text"\t"label"\ngood\tpos\nbad\tneg\n'),
        ("blank_columns.tsv", "text\tlabel\t\t\ngood\tpos\t\t\nbad\tneg\t\t\n"),
        # Text after a closing quote is read as spreadsheets do.
        ("quote_then_text.csv", 'text,label\n"go"od,pos\nbad,neg\n'),
        ("quote_then_text_then_quotes.csv", 'text,label\n"go"od,pos\n"bad","neg"'),
        ("quote_then_text_last.csv", 'text,label\ngood,"pos"\nbad,"ne"g'),
        ("quoted_last_field_at_the_end.csv", 'text,label\r\ngood,pos\r\nbad,"neg"'),
        # JSON Lines as `to_json(lines=True)` names it.
        (
            "lines.json",
            '{"text": "good", "label": "pos"}\n{"text": "bad", "label": "neg"}\n',
        ),
        # A JSON array of objects, as `to_json(orient="records")` and
        # `json.dump` of a list write it, on one line or indented.
        (
            "records.json",
            '[{"text": "good", "label": "pos"},{"text": "bad", "label": "neg"}]',
        ),
        (
            "indented.json",
            json.dumps(
                [{"text": "good", "label": "pos"}, {"text": "bad", "label": "neg"}],
                indent=2,
            )
            + "\n",
        ),
        (
            "array.jsonl",
            '\n [{"text": "good", "label": "pos"},\n{"text": "bad", '
            '"label": "neg"}\n]\n',
        ),
    ],
)
def test_files_as_exported_load(tmp_path, name, content):
    data = load_text_classification_file(_write(tmp_path, name, content))
    assert data.texts == ("good", "bad") and data.label_vocabulary == ("neg", "pos")


def test_missing_file_names_the_path(tmp_path):
    path = str(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_text_classification_file(path)


def test_data_error_is_a_value_error():
    assert issubclass(DataError, ValueError)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"on_bad_rows": "drop"}, "on_bad_rows='drop'"),
        ({"file_format": "xlsx"}, "file_format='xlsx'"),
        ({"text_column": ""}, "text_column=''"),
        ({"label_vocabulary": ("a", "a")}, "label_vocabulary=\\('a', 'a'\\)"),
    ],
)
def test_bad_arguments_echo_the_value(tmp_path, kwargs, match):
    path = _write(tmp_path, "a.csv", "text,label\ngood,pos\n")
    with pytest.raises(ValueError, match=match):
        load_text_classification_file(path, **kwargs)


def test_csv_with_quotes_bom_and_names(tmp_path):
    content = (
        "\ufefftext,label,extra\n"
        '"Good, really good",pos,x\n'
        '"Two\nlines with ""quotes""",neg,y\n'
        "\n"
        "fine,pos,z\n"
    )
    data = load_text_classification_file(_write(tmp_path, "a.csv", content))
    assert data.texts == (
        "Good, really good",
        'Two\nlines with "quotes"',
        "fine",
    )
    assert data.label_vocabulary == ("neg", "pos")
    np.testing.assert_array_equal(data.labels, [1, 0, 1])
    assert data.labels.dtype == np.int32
    assert data.text_pairs is None and data.skipped_rows == 0


@pytest.mark.parametrize(
    "labels, vocabulary",
    [
        (["10", "2", "1", "2"], ("1", "2", "10")),
        # Floats would tie these (both 1e20) and order them as strings.
        (
            ["99999999999999999999", "100000000000000000000", "5"],
            ("5", "99999999999999999999", "100000000000000000000"),
        ),
        (
            ["-9007199254740993", "-9007199254740992", "0.5"],
            ("-9007199254740993", "-9007199254740992", "0.5"),
        ),
    ],
)
def test_numeric_labels_sort_numerically(tmp_path, labels, vocabulary):
    content = "text,label\n" + "".join(
        f"t{i},{label}\n" for i, label in enumerate(labels)
    )
    data = load_text_classification_file(_write(tmp_path, "a.csv", content))
    assert data.label_vocabulary == vocabulary
    np.testing.assert_array_equal(
        data.labels, [vocabulary.index(label) for label in labels]
    )


def test_one_number_is_one_label_however_written(tmp_path):
    # pandas writes an int label column holding a missing value as floats;
    # LIBSVM writes "+1"; spreadsheets keep "01". One spelling per file is
    # read as the number, so files written differently agree.
    for spellings in (["0", "1", "2.5"], ["0.0", "1.0", "2.50"], ["-1", "+1", "02"]):
        rows = "".join(f"{t},{s}\n" for t, s in zip("abcdef", spellings * 2))
        data = load_text_classification_file(
            _write(tmp_path, "a.csv", "text,label\n" + rows)
        )
        assert len(data.label_vocabulary) == 3
        np.testing.assert_array_equal(data.labels, [0, 1, 2, 0, 1, 2])
    # Two spellings of one number in one file are two classes the user
    # wrote apart ("3.1" and "3.10"): refused, naming both.
    content = "text,label\na,0\nb,1\nc,1.0\n"
    with pytest.raises(DataError, match=r"'1' \(line 3\) and '1.0' \(line 4\)"):
        load_text_classification_file(_write(tmp_path, "a.csv", content))
    # Exact: long integer ids keep every digit.
    content = "text,label\na,12345678901234567890\nb,12345678901234567891\n"
    data = load_text_classification_file(_write(tmp_path, "c.csv", content))
    assert data.label_vocabulary == ("12345678901234567890", "12345678901234567891")
    # Long decimals too: more digits than `Decimal`'s default 28.
    content = (
        "text,label\na,0.123456789012345678901234567890120\n"
        "b,0.12345678901234567890123456789013\nc,1e4299\n"
    )
    data = load_text_classification_file(_write(tmp_path, "d.csv", content))
    assert data.label_vocabulary == (
        "0.12345678901234567890123456789012",
        "0.12345678901234567890123456789013",
        "1" + "0" * 4299,
    )
    content = "text,label\na,1.0\n"
    validation = load_text_classification_file(
        _write(tmp_path, "b.csv", content), label_vocabulary=np.array([0, 1])
    )
    np.testing.assert_array_equal(validation.labels, [1])


@pytest.mark.parametrize("name", ["a.jsonl", "a.json"])
def test_json_text_cut_inside_a_character_is_refused_with_its_line(tmp_path, name):
    # An escaped emoji is a surrogate pair; half of one (a tweet cut inside
    # it) loaded, then failed in TensorFlow without a file or line.
    whole = '{"text": "great \\ud83d\\ude00", "label": "pos"}'
    cut = '{"text": "great \\ud83d", "label": "neg"}'
    rows = [whole, cut] if name.endswith("l") else ["[" + whole + ",", cut + "]"]
    path = _write(tmp_path, name, "\n".join(rows) + "\n")
    with pytest.raises(DataError, match=r"line 2: a string holds \\ud83d, half of a"):
        load_text_classification_file(path)
    data = load_text_classification_file(_write(tmp_path, name, whole + "\n"))
    assert data.texts == ("great \U0001f600",)


# NaN: how pandas writes a missing value to JSON.
@pytest.mark.parametrize(
    "bad_row, message",
    [
        ('{"text": "b", "label": NaN}', "line 2: missing label"),
        ('{"text": NaN, "label": "pos"}', "line 2: empty text in column 'text'"),
    ],
)
def test_json_nan_is_a_missing_value(tmp_path, bad_row, message):
    content = '{"text": "a", "label": "pos"}\n' + bad_row + "\n"
    with pytest.raises(DataError, match=message):
        load_text_classification_file(_write(tmp_path, "a.jsonl", content))
    data = load_text_classification_file(
        _write(tmp_path, "a.jsonl", content), on_bad_rows="skip"
    )
    assert data.label_vocabulary == ("pos",) and data.skipped_rows == 1


def test_given_vocabulary_sets_the_ids(tmp_path):
    content = "text,label\na,pos\nb,neg\n"
    data = load_text_classification_file(
        _write(tmp_path, "a.csv", content), label_vocabulary=["pos", "neg", "neutral"]
    )
    assert data.label_vocabulary == ("pos", "neg", "neutral")
    np.testing.assert_array_equal(data.labels, [0, 1])
    assert data.num_classes == 3


def test_tsv_keeps_quotes_as_text(tmp_path):
    content = 'sentence\tlabel\nhe said "hi"\t1\n"quoted"\t0\n'
    data = load_text_classification_file(
        _write(tmp_path, "a.tsv", content), text_column="sentence"
    )
    assert data.texts == ('he said "hi"', '"quoted"')
    np.testing.assert_array_equal(data.labels, [1, 0])


def test_jsonl_pairs_to_dataset(tmp_path):
    rows = [
        {"premise": "A man sleeps.", "hypothesis": "A man rests.", "label": 1},
        {"premise": "A cat.", "hypothesis": "A dog.", "label": 0, "id": 7},
    ]
    content = "\n".join(json.dumps(row) for row in rows) + "\n"
    data = load_text_classification_file(
        _write(tmp_path, "a.jsonl", content),
        text_column="premise",
        text_pair_column="hypothesis",
    )
    assert data.texts == ("A man sleeps.", "A cat.")
    assert data.text_pairs == ("A man rests.", "A dog.")
    assert data.label_vocabulary == ("0", "1")
    dataset = data.to_dataset()
    assert dataset.element_spec == (
        {
            "text": tf.TensorSpec([], tf.string),
            "text_pair": tf.TensorSpec([], tf.string),
        },
        tf.TensorSpec([], tf.int32),
    )
    features, label = next(iter(dataset))
    assert features["text_pair"].numpy() == b"A man rests."
    assert label.numpy() == 1


def test_skip_bad_rows_counts_and_logs(tmp_path, caplog):
    content = "text,label\ngood,pos\n,neg\nbad,\nok,neg\n"
    with caplog.at_level(logging.WARNING):
        data = load_text_classification_file(
            _write(tmp_path, "a.csv", content), on_bad_rows="skip"
        )
    assert data.texts == ("good", "ok")
    assert data.skipped_rows == 2
    assert "skipped 2 bad row(s)" in caplog.text
    assert "line 3" in caplog.text


@pytest.mark.parametrize("extension", ["csv", "jsonl"])
def test_very_long_texts_load_whole(tmp_path, extension):
    # Longer than csv's default field limit; truncation is the tokenizer's job.
    long_text = "word " * 40_000
    if extension == "csv":
        content = f'text,label\n"{long_text}",pos\nshort,neg\n'
    else:
        content = json.dumps({"text": long_text, "label": "pos"}) + "\n"
    limit = csv.field_size_limit()
    data = load_text_classification_file(_write(tmp_path, f"a.{extension}", content))
    assert len(data.texts[0]) == 200_000
    assert csv.field_size_limit() == limit


def test_file_format_overrides_the_extension(tmp_path):
    path = _write(tmp_path, "a.txt", '{"text": "good", "label": "pos"}\n')
    data = load_text_classification_file(path, file_format="jsonl")
    assert data.texts == ("good",)


def test_load_text_classification_reads_files(tmp_path):
    path = _write(tmp_path, "a.csv", "review,stars\ngood,5\nbad,1\n")
    data = load_text_classification(path, text_column="review", label_column="stars")
    assert data.label_vocabulary == ("1", "5")
    np.testing.assert_array_equal(data.labels, [1, 0])


def test_result_checks_its_fields():
    with pytest.raises(ValueError, match="len\\(labels\\)=1"):
        TextClassificationData(texts=("a", "b"), labels=[0], label_vocabulary=("x",))
    with pytest.raises(ValueError, match="labels in \\[0, 2\\]"):
        TextClassificationData(
            texts=("a", "b"), labels=[0, 2], label_vocabulary=("x", "y")
        )


def test_splits_default_to_the_embedded_data():
    train, validation, test = load_text_classification_splits()
    assert [d.source for d in (train, validation, test)] == [
        load_rotten_tomatoes(split).source for split in ("train", "validation", "test")
    ]
    assert len(train) > len(test) > 0


def _labelled_csv(tmp_path, name, counts):
    rows = [
        f"text {label} {i},{label}"
        for label, count in counts.items()
        for i in range(count)
    ]
    return _write(tmp_path, name, "text,label\n" + "\n".join(rows) + "\n")


def test_splits_hold_out_a_stratified_tenth_and_share_the_vocabulary(tmp_path):
    path = _labelled_csv(tmp_path, "train.csv", {"neg": 30, "pos": 70})
    train, validation, test = load_text_classification_splits(path, seed=3)
    assert test is validation
    assert (len(train), len(validation)) == (90, 10)
    assert np.bincount(validation.labels).tolist() == [3, 7]
    assert not set(train.texts) & set(validation.texts)
    again = load_text_classification_splits(path, seed=3)[1]
    assert again.texts == validation.texts
    assert load_text_classification_splits(path, seed=4)[1].texts != validation.texts
    # Given validation and test files are read with the training labels.
    dev = _labelled_csv(tmp_path, "dev.csv", {"pos": 2})
    test_path = _labelled_csv(tmp_path, "test.csv", {"pos": 1, "neg": 1})
    train, validation, test = load_text_classification_splits(path, dev, test_path)
    assert len(train) == 100 and validation.labels.tolist() == [1, 1]
    assert test.label_vocabulary == ("neg", "pos")
    unknown = _labelled_csv(tmp_path, "other.csv", {"meh": 1})
    with pytest.raises(DataError, match="meh"):
        load_text_classification_splits(path, unknown)


def test_splits_refuse_what_cannot_be_split(tmp_path):
    with pytest.raises(ValueError, match="validation_source='dev.csv'"):
        load_text_classification_splits(validation_source="dev.csv")
    path = _labelled_csv(tmp_path, "train.csv", {"neg": 30, "pos": 4})
    with pytest.raises(DataError, match="label 'pos' has 4.*validation_source"):
        load_text_classification_splits(path)
    # One label throughout: most often the wrong column.
    path = _labelled_csv(tmp_path, "one.csv", {"pos": 30})
    with pytest.raises(DataError, match=r"one\.csv: the label column holds one label"):
        load_text_classification_splits(path)
    with pytest.raises(DataError, match=r"column 'label' holds one label \('pos'\)"):
        load_text_classification_splits(path, label_column="label")


def test_load_text_rows_keeps_every_column_of_each_row(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(
        '{"id": 7, "q": "who?", "c": "john", "extra": [1]}\n'
        '{"id": 8, "q": "where?", "c": "paris"}\n'
    )
    rows = load_text_rows(path, text_column="q", text_pair_column="c")
    assert rows.columns == ["id", "q", "c", "extra"]
    assert rows.records == (
        {"id": 7, "q": "who?", "c": "john", "extra": [1]},
        {"id": 8, "q": "where?", "c": "paris"},
    )
    assert (rows.texts, rows.text_pairs, len(rows)) == (
        ("who?", "where?"),
        ("john", "paris"),
        2,
    )
    with pytest.raises(DataError, match="no text pair column 'context'"):
        load_text_rows(path, text_column="q", text_pair_column="context")
    with pytest.raises(ValueError, match="other than text_column"):
        load_text_rows(path, text_column="q", text_pair_column="q")
    csv_path = tmp_path / "rows.csv"
    csv_path.write_text("text,id\n,1\nfine,2\n")
    with pytest.raises(DataError, match="line 2: empty text in column 'text'"):
        load_text_rows(csv_path)
    rows = load_text_rows(csv_path, on_bad_rows="skip")
    assert rows.records == ({"text": "fine", "id": "2"},) and rows.skipped_rows == 1


def test_a_directory_is_named_as_one(tmp_path):
    # Not "cannot tell the file format from the extension".
    with pytest.raises(DataError) as info:
        load_text_classification_file(tmp_path)
    assert str(info.value) == f"{tmp_path} is a directory; expected a data file."


def test_a_quoted_empty_text_in_a_one_column_file_is_a_row(tmp_path):
    # `""` is an empty text, not a blank line: left out silently, the
    # predictions would have a row less than the file.
    path = tmp_path / "prompts.csv"
    path.write_text('text\n"a highly"\n""\n\nthe film\n   \n')
    with pytest.raises(DataError, match="line 3: empty text in column 'text'"):
        load_text_rows(path)
    rows = load_text_rows(path, on_bad_rows="skip")
    assert rows.texts == ("a highly", "the film") and rows.skipped_rows == 1
