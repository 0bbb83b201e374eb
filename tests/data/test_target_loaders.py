"""Multi-label and regression data: files, embedded sets, bad input."""

import json

import numpy as np
import pytest

from tftransformer.data import (
    DataError,
    MultiLabelData,
    RegressionData,
    load_multi_label_file,
    load_multi_label_splits,
    load_regression_file,
    load_regression_splits,
    load_text_classification_splits,
)
from tftransformer.datasets import (
    WNUT16_ENTITY_TYPES,
    WORD_AFFECT_TARGETS,
    load_wnut16,
    load_wnut16_entity_types,
)


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return str(path)


@pytest.mark.parametrize(
    "name, content, delimiter",
    [
        ("a.csv", "text,labels\nhi,x|y\nyo,\nhey,y\n", "|"),
        ("b.csv", 'text,labels\nhi,x;y\nyo,""\nhey,y\n', ";"),
        ("c.csv", 'text,labels\nhi,"[""x"", ""y""]"\nyo,[]\nhey,"[""y""]"\n', "|"),
        (
            "d.jsonl",
            "\n".join(
                json.dumps({"text": t, "labels": labels})
                for t, labels in [("hi", ["x", "y"]), ("yo", []), ("hey", ["y"])]
            ),
            "|",
        ),
    ],
)
def test_label_sets_from_delimited_cells_and_json_lists(
    tmp_path, name, content, delimiter
):
    data = load_multi_label_file(
        write(tmp_path / name, content), label_delimiter=delimiter
    )
    assert data.label_vocabulary == ("x", "y")
    np.testing.assert_array_equal(data.labels, [[1, 1], [0, 0], [0, 1]])
    assert data.label_sets() == [("x", "y"), (), ("y",)]


@pytest.mark.parametrize(
    "cells, vocabulary",
    [
        # As the single-label loader orders class ids: numbers by value.
        (["10|2", "1", "01|2"], ("01", "1", "2", "10")),
        (["[10, 2]", "[1]", "[3]"], ("1", "2", "3", "10")),
        # Names, or numbers among names, as strings.
        (["10|b", "2", "a"], ("10", "2", "a", "b")),
    ],
)
def test_numeric_label_names_are_ordered_by_value(tmp_path, cells, vocabulary):
    content = "text,labels\n" + "".join(
        f'text {i},"{cell}"\n' for i, cell in enumerate(cells)
    )
    data = load_multi_label_file(write(tmp_path / "n.csv", content))
    assert data.label_vocabulary == vocabulary


def test_a_label_outside_the_training_set_is_named(tmp_path):
    path = write(tmp_path / "dev.csv", "text,labels\nhi,x\nyo,z|x\n")
    with pytest.raises(
        DataError, match=r"dev.csv, line 3: label 'z'.*known labels: \['x', 'y'\]"
    ):
        load_multi_label_file(path, label_vocabulary=["x", "y"])


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"text": "hi", "labels": {"x": 1}}\n', "expected a list of labels"),
        ('{"text": "hi", "labels": [["x"]]}\n', "a label must be a string"),
        ('{"text": "hi", "labels": "x||y"}\n', "an empty label"),
        ('{"text": "hi", "labels": "[x"}\n', "not one"),
        (
            '{"text": "hi"}\n{"text": "yo", "labels": ["x", "y"]}\n',
            "line 1: missing labels",
        ),
        ('{"text": "hi", "labels": ["x"]}\n', r"1 distinct label\(s\) \['x'\]"),
    ],
)
def test_bad_label_cells_are_refused(tmp_path, content, message):
    with pytest.raises(DataError, match=message):
        load_multi_label_file(write(tmp_path / "t.jsonl", content))


def test_rows_without_labels_can_be_skipped(tmp_path):
    path = write(
        tmp_path / "t.jsonl", '{"text": "a"}\n{"text": "b", "labels": "x|y"}\n'
    )
    data = load_multi_label_file(path, on_bad_rows="skip")
    assert len(data) == 1 and data.skipped_rows == 1


def test_regression_files_with_several_targets_and_pairs(tmp_path):
    path = write(
        tmp_path / "sts.tsv", "a\tb\tscore\tother\nx y\tx z\t3.5\t1\nq\tr\t0\t-2e1\n"
    )
    data = load_regression_file(
        path, text_column="a", text_pair_column="b", target_columns=["score", "other"]
    )
    assert data.text_pairs == ("x z", "r")
    np.testing.assert_allclose(data.targets, [[3.5, 1.0], [0.0, -20.0]])
    assert data.target_names == ("score", "other")


def test_a_constant_training_target_is_refused_naming_its_column(tmp_path):
    rows = "".join(f"t{i},2.0,{i}\n" for i in range(12))
    path = write(tmp_path / "scores.csv", "text,score,other\n" + rows)
    with pytest.raises(DataError) as info:
        load_regression_splits(path, target_columns=["other", "score"])
    assert str(info.value) == (
        f"{path}: the target column 'score' holds one value (2.0) in all 12 "
        "training examples; a regressor needs targets that vary. Check the "
        "target columns (target_columns; --target_columns of the example "
        "scripts)."
    )
    # Constant targets in a test file are scored: Pearson's r is undefined
    # there, not wrong.
    varied = write(
        tmp_path / "train.csv",
        "text,score,other\n" + "".join(f"t{i},{i},{i}\n" for i in range(12)),
    )
    _, _, test = load_regression_splits(
        varied, test_source=path, target_columns=["other", "score"]
    )
    np.testing.assert_array_equal(test.targets[:, 1], 2.0)


# 1e39 and a 400-digit integer are finite, but not as float32 targets (inf).
@pytest.mark.parametrize("value", ['"high"', "NaN", "true", '"inf"', "1e39", "9" * 400])
def test_a_non_numeric_target_is_named(tmp_path, value):
    path = write(tmp_path / "t.jsonl", f'{{"text": "hi", "label": {value}}}\n')
    with pytest.raises(
        DataError, match=r"line 1, column 'label': expected a finite number"
    ):
        load_regression_file(path)


def test_a_missing_target_is_a_bad_row(tmp_path):
    path = write(tmp_path / "t.csv", "text,label\nhi,1\nyo,\n")
    with pytest.raises(DataError, match="line 3: missing target in column 'label'"):
        load_regression_file(path)
    assert len(load_regression_file(path, on_bad_rows="skip")) == 1


def test_a_missing_target_column_names_the_argument_to_pass(tmp_path):
    path = write(tmp_path / "t.csv", "text,score\nhi,1\n")
    with pytest.raises(
        DataError,
        match=r"no target column 'label'; columns found: \['text', 'score'\]\. "
        r"Pass target_columns= to name the right one",
    ):
        load_regression_file(path)


def test_splits_hold_out_validation_from_the_training_file(tmp_path):
    rows = "".join(f"t{i},{i}\n" for i in range(20))
    path = write(tmp_path / "t.csv", "text,label\n" + rows)
    train, validation, test = load_regression_splits(path, seed=3)
    assert (len(train), len(validation)) == (18, 2)
    assert test is validation
    assert not set(train.texts) & set(validation.texts)
    with pytest.raises(ValueError, match="need a train_source"):
        load_multi_label_splits(validation_source=path)


def test_embedded_entity_types_follow_the_wnut_tags():
    tweets = load_wnut16("validation")
    data = load_wnut16_entity_types("validation")
    assert data.label_vocabulary == WNUT16_ENTITY_TYPES
    assert len(data) == len(tweets)
    for labels, tags in zip(data.label_sets(), tweets.tags):
        assert set(labels) == {tag[2:] for tag in tags if tag.startswith("B-")}
    train, validation, test = load_multi_label_splits()
    assert not set(train.texts) & set(test.texts)


def test_embedded_word_affect_splits():
    train, validation, test = load_regression_splits()
    assert train.target_names == WORD_AFFECT_TARGETS
    assert len(train) + len(validation) + len(test) == 8743
    assert not set(train.texts) & set(test.texts)
    assert 1.0 <= train.targets.min() and train.targets.max() <= 3.0


def test_data_classes_refuse_inconsistent_arrays():
    with pytest.raises(ValueError, match="must hold 0 or 1"):
        MultiLabelData(["a"], [[2, 0]], ("x", "y"))
    with pytest.raises(ValueError, match=r"labels.shape=\(1, 3\)"):
        MultiLabelData(["a"], [[1, 0, 0]], ("x", "y"))
    for target in (np.nan, 1e39):
        with pytest.raises(ValueError, match="finite float32 numbers"):
            RegressionData(["a"], [[target]], ("y",))


@pytest.mark.parametrize(
    "load, setting",
    [
        (load_text_classification_splits, {"text_pair_column": "premise"}),
        (load_text_classification_splits, {"label_column": "sentiment"}),
        (load_multi_label_splits, {"text_column": "tweet"}),
        (load_multi_label_splits, {"label_delimiter": ";"}),
        (load_regression_splits, {"target_columns": ["valence"]}),
        (load_regression_splits, {"text_pair_column": "b"}),
    ],
)
def test_file_settings_without_a_training_file_are_refused(load, setting):
    # The embedded data ignored them: a pair column recorded in the run's
    # settings then made predict.py refuse single texts, or feed pairs.
    ((name, value),) = setting.items()
    with pytest.raises(ValueError, match=rf"Received: {name}=.*and no train_source"):
        load(**setting)


def test_the_default_columns_read_the_embedded_data():
    assert len(load_text_classification_splits(text_column="text")[0])
    assert len(load_regression_splits(target_columns=["label"])[0])
