import json
import math

import numpy as np
import pytest

from tftransformer.evaluation import ClassificationReport, classification_report


def _table_rows(text):
    """Maps each row name's first word to its cells, above the matrix block."""
    table = text.split("Confusion matrix")[0]
    return {line.split()[0]: line.split()[1:] for line in table.splitlines() if line}


def _binary_report(with_scores=True):
    # Confusion matrix [[2, 2], [1, 1]]; AUC 5/8 (see test_metrics.py).
    return classification_report(
        [0, 0, 0, 0, 1, 1],
        [0, 0, 1, 1, 1, 0],
        y_score=[0.1, 0.3, 0.6, 0.7, 0.8, 0.2] if with_scores else None,
        label_names=["cat", "dog"],
    )


def _report_with_undefined_auc():
    # Class "c" never occurs, so its one-vs-rest ROC-AUC is NaN.
    return classification_report(
        [0, 1, 1],
        [0, 1, 0],
        y_score=[[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.5, 0.4, 0.1]],
        label_names=["a", "b", "c"],
    )


def test_to_dict_layout():
    d = _binary_report().to_dict()
    assert d["label_names"] == ["cat", "dog"]
    assert d["per_class"]["cat"] == pytest.approx(
        {"precision": 2 / 3, "recall": 0.5, "f1": 4 / 7, "support": 4}
    )
    assert d["accuracy"] == 0.5
    assert set(d["averages"]) == {"micro", "macro", "weighted"}
    assert d["confusion_matrix"] == [[2, 2], [1, 1]]
    auc = d["roc_auc"]
    assert auc["per_class"] == pytest.approx({"cat": 0.625, "dog": 0.625})
    assert [auc["macro"], auc["weighted"]] == pytest.approx([0.625, 0.625])
    assert "roc_auc" not in _binary_report(with_scores=False).to_dict()


@pytest.mark.parametrize(
    "make_report",
    [_binary_report, lambda: _binary_report(False), _report_with_undefined_auc],
)
def test_json_round_trip(tmp_path, make_report):
    report = make_report()
    path = tmp_path / "nested" / "report.json"
    report.to_json(path)
    text = path.read_text()
    # Strict JSON: undefined values are null, never a bare NaN.
    assert "NaN" not in text
    assert json.loads(text) == report.to_dict()
    restored = ClassificationReport.from_json(path)
    assert restored.to_dict() == report.to_dict()
    assert str(restored) == str(report)


def test_undefined_auc_survives_round_trip(tmp_path):
    path = tmp_path / "report.json"
    _report_with_undefined_auc().to_json(path)
    restored = ClassificationReport.from_json(path)
    assert math.isnan(restored.roc_auc_per_class[2])
    # "a" vs rest: 0.8 beats 0.3 and 0.5; "b" vs rest: 0.6 and 0.4 beat 0.1.
    np.testing.assert_allclose(restored.roc_auc_per_class[:2], [1.0, 1.0])


def test_printed_table_has_names_numbers_and_matrix():
    text = str(_binary_report())
    lines = text.splitlines()
    rows = _table_rows(text)
    # precision, recall, f1, support, roc-auc at 4 decimals.
    assert rows["cat"][:5] == ["0.6667", "0.5000", "0.5714", "4", "0.6250"]
    assert rows["dog"][:5] == ["0.3333", "0.5000", "0.4000", "2", "0.6250"]
    assert rows["accuracy"] == ["0.5000", "6"]
    for header in ("precision", "recall", "f1-score", "support", "roc-auc"):
        assert header in lines[0]
    for name in ("micro avg", "macro avg", "weighted avg"):
        assert name in text
    # Confusion matrix block: the last three lines, rows true, columns predicted.
    assert lines[-3].split() == ["cat", "dog"]
    assert lines[-2].split() == ["cat", "2", "2"]
    assert lines[-1].split() == ["dog", "1", "1"]
    assert all(line == line.rstrip() for line in lines)


def test_format_digits():
    rows = _table_rows(_binary_report().format(digits=2))
    assert rows["cat"][:3] == ["0.67", "0.50", "0.57"]


def test_constructor_defaults_and_copies():
    matrix = np.array([[3, 1], [0, 2]])
    report = ClassificationReport(matrix)
    assert report.label_names == ("0", "1")
    assert report.num_classes == 2
    # 5 of 6 on the diagonal.
    assert report.accuracy == pytest.approx(5 / 6)
    report.confusion_matrix[0, 0] = 100
    assert report.confusion_matrix[0, 0] == 3


@pytest.mark.parametrize(
    "args, match",
    [
        (([[1, 2, 3]],), r"confusion_matrix.shape=\(1, 3\)"),
        (([[1, -1], [0, 1]],), r"\[\[1, -1\], \[0, 1\]\]"),
        (([[1.5, 0], [0, 1]],), r"\[\[1.5, 0.0\], \[0.0, 1.0\]\]"),
        (([[1, 0], [0, 1]], ["a", "b", "c"]), r"\['a', 'b', 'c'\]"),
        (([[1, 0], [0, 1]], None, [0.5, 1.5]), r"\[0.5, 1.5\]"),
        (([[1, 0], [0, 1]], None, [0.5]), r"\[0.5\]"),
    ],
)
def test_constructor_rejects_bad_inputs(args, match):
    with pytest.raises(ValueError, match=match):
        ClassificationReport(*args)


def test_format_rejects_bad_digits():
    with pytest.raises(ValueError, match="digits=-1"):
        _binary_report().format(digits=-1)
