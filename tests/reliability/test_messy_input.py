"""Input as new users write it: label spellings, swapped columns, scores used
as labels, thousands of classes, torn temporary files."""

import json
import time

import numpy as np
import pytest

from tftransformer.data import (
    DataError,
    load_multi_label_file,
    load_regression_file,
    load_text_classification_file,
)
from tftransformer.evaluation import ClassificationReport, plot_confusion_matrix
from tftransformer.training.checkpointing import remove_temporary_files


def _csv(tmp_path, rows, header="text,label"):
    path = tmp_path / "train.csv"
    path.write_text(header + "\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "labels, first, second",
    [(["3.1", "3.10", "3.2"], "3.1", "3.10"), (["01", "1", "02"], "01", "1")],
)
def test_two_spellings_of_one_number_are_refused_naming_both(
    tmp_path, labels, first, second
):
    path = _csv(tmp_path, [f"text {i},{label}" for i, label in enumerate(labels)])
    with pytest.raises(DataError) as info:
        load_text_classification_file(path)
    message = str(info.value)
    assert f"{first!r} (line 2)" in message and f"{second!r} (line 3)" in message
    assert "one class" in message


def test_one_spelling_per_class_keeps_every_class(tmp_path):
    path = _csv(tmp_path, ["a,3.1", "b,3.2", "c,3.1", "d,10"])
    data = load_text_classification_file(path)
    assert data.label_vocabulary == ("3.1", "3.2", "10")
    assert list(data.labels) == [0, 1, 0, 2]


def test_the_label_column_as_text_column_is_refused(tmp_path):
    path = _csv(tmp_path, ["a,pos", "b,neg"])
    with pytest.raises(ValueError, match="text_column='label', label_column='label'"):
        load_text_classification_file(path, text_column="label", label_column="label")
    # The other heads' loaders too: a model would read its own targets.
    scores = _csv(tmp_path, ["a,1.5", "b,2"])
    with pytest.raises(ValueError) as info:
        load_regression_file(scores, text_column="label", target_columns=["label"])
    assert str(info.value) == (
        "text_column and target_columns both name the column 'label'; each "
        "column is read for one role. Received: text_column='label', "
        "target_columns='label'"
    )
    with pytest.raises(ValueError, match="target_columns and target_columns"):
        load_regression_file(scores, target_columns=["label", "label"])
    with pytest.raises(ValueError, match="label_column and text_pair_column both"):
        load_multi_label_file(path, text_pair_column="label", label_column="label")


def test_a_continuous_score_is_not_taken_as_forty_classes(tmp_path):
    rng = np.random.default_rng(0)
    rows = [f"review {i},{score:.3f}" for i, score in enumerate(rng.random(40))]
    with pytest.raises(DataError, match="a continuous score, not class labels"):
        load_text_classification_file(_csv(tmp_path, rows))
    # Integer ratings with many rows each are classes.
    ratings = [f"review {i},{i % 5 + 1}" for i in range(40)]
    assert load_text_classification_file(_csv(tmp_path, ratings)).num_classes == 5


def test_thousands_of_classes_report_and_plot_quickly(tmp_path):
    num_classes, num_examples = 5000, 6000
    rng = np.random.default_rng(0)
    truth = rng.integers(0, num_classes, num_examples)
    predicted = np.where(rng.random(num_examples) < 0.5, truth, 0)
    matrix = np.zeros((num_classes, num_classes), np.int64)
    np.add.at(matrix, (truth, predicted), 1)
    names = [f"class {i}" for i in range(num_classes)]
    start = time.perf_counter()
    report = ClassificationReport(matrix, names)
    text = report.format()
    report.to_json(tmp_path / "report.json")
    plot_confusion_matrix(matrix, names, str(tmp_path / "cm.png"))
    assert time.perf_counter() - start < 60
    # The non-zero cells, not 25 million numbers; read back exactly.
    assert (tmp_path / "report.json").stat().st_size < 2_000_000
    again = ClassificationReport.from_json(tmp_path / "report.json")
    np.testing.assert_array_equal(again.confusion_matrix, matrix)
    assert "Most frequent confusions" in text and len(text.splitlines()) < 5100
    with open(tmp_path / "report.json") as f:
        assert json.load(f)["confusion_matrix"]["shape"] == [5000, 5000]


def test_small_reports_keep_the_whole_matrix(tmp_path):
    report = ClassificationReport([[3, 1], [0, 4]], ["neg", "pos"])
    assert report.to_dict()["confusion_matrix"] == [[3, 1], [0, 4]]
    assert "Confusion matrix (rows: true, columns: predicted):" in report.format()


def test_torn_temporary_files_of_every_writer_are_removed(tmp_path):
    ours = tmp_path / ".tmp-0123456789ab-checkpoint.safetensors"
    writers = tmp_path / ".tmpAb3dE9"
    kept = [tmp_path / "checkpoint.safetensors", tmp_path / ".tmpnot-a-temporary"]
    for path in [ours, writers, *kept]:
        path.write_bytes(b"x")
    removed = remove_temporary_files(tmp_path)
    assert sorted(removed) == sorted([str(ours), str(writers)])
    assert all(path.exists() for path in kept)


ROWS = [("a fine film", "pos"), ('He said "hi"', "neg"), ("dull; long", "neg")]


def _expected(data):
    assert list(data.texts) == [text for text, _ in ROWS]
    assert [data.label_vocabulary[i] for i in data.labels] == [
        label for _, label in ROWS
    ]


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_a_csv_with_another_delimiter_is_read(tmp_path, delimiter):
    import csv

    path = tmp_path / "train.csv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, delimiter=delimiter)
        writer.writerow(["text", "label"])
        writer.writerows(ROWS)
    _expected(load_text_classification_file(str(path)))


@pytest.mark.parametrize("suffix", [".csv.gz", ".csv.bz2", ".tsv.gz"])
def test_compressed_files_are_read(tmp_path, suffix):
    import bz2
    import gzip

    separator = "\t" if ".tsv" in suffix else ","
    quote = (
        (lambda t: t)
        if ".tsv" in suffix
        else (lambda t: '"' + t.replace('"', '""') + '"')
    )
    text = "text{s}label\n".format(s=separator) + "".join(
        f"{quote(t)}{separator}{label}\n" for t, label in ROWS
    )
    module = gzip if suffix.endswith(".gz") else bz2
    path = tmp_path / f"train{suffix}"
    path.write_bytes(module.compress(text.encode("utf-8")))
    _expected(load_text_classification_file(str(path)))


def test_a_utf16_file_as_excel_writes_it_is_read(tmp_path):
    path = tmp_path / "train.tsv"
    text = "text\tlabel\n" + "".join(f"{t}\t{label}\n" for t, label in ROWS)
    path.write_bytes(text.encode("utf-16"))  # with its byte order mark
    _expected(load_text_classification_file(str(path)))


def test_a_tsv_with_a_quoted_header_is_read_as_quoted(tmp_path):
    import csv

    path = tmp_path / "train.tsv"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, dialect="excel-tab", quoting=csv.QUOTE_ALL)
        writer.writerow(["text", "label"])
        writer.writerows(ROWS)
    _expected(load_text_classification_file(str(path)))
    # Unquoted TSV keeps quotes as text (the GLUE convention).
    plain = tmp_path / "plain.tsv"
    plain.write_text('text\tlabel\n"quoted" text\tpos\n', encoding="utf-8")
    assert load_text_classification_file(str(plain)).texts == ('"quoted" text',)


def test_an_unknown_extension_names_what_to_do(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("text,label\na,b\n")
    with pytest.raises(
        DataError, match=r"Rename the file \(or, in Python, pass file_format="
    ):
        load_text_classification_file(str(path))
