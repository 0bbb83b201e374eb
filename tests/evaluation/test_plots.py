import sys

import numpy as np
import pytest

from tftransformer.evaluation import plot_confusion_matrix, plot_training_curves

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

HISTORY = {
    "loss": [0.9, 0.6, 0.4],
    "accuracy": [0.5, 0.7, 0.8],
    "val_loss": [0.8, 0.7, 0.65],
    "val_accuracy": [0.55, 0.65, 0.7],
}


def _assert_png(path):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    # Signature plus at least the IHDR chunk and some image data.
    assert len(data) > 1000


@pytest.mark.parametrize(
    "matrix, label_names",
    [
        ([[5, 1], [2, 7]], ["neg", "pos"]),
        (np.arange(9).reshape(3, 3), None),
        ([[0.75, 0.25], [0.1, 0.9]], ["a", "b"]),
    ],
)
def test_plot_confusion_matrix_writes_png(tmp_path, matrix, label_names):
    pytest.importorskip("matplotlib")
    path = tmp_path / "plots" / "cm.png"
    assert plot_confusion_matrix(matrix, label_names, path) == path
    _assert_png(path)


@pytest.mark.parametrize(
    "history",
    [
        HISTORY,
        {"loss": [1.0, 0.5]},
        # Validation-only metric, and histories of unequal lengths.
        {"val_auc": [0.6, 0.7, 0.9], "loss": np.array([1.0])},
    ],
)
def test_plot_training_curves_writes_png(tmp_path, history):
    pytest.importorskip("matplotlib")
    path = tmp_path / "curves.png"
    plot_training_curves(history, path)
    _assert_png(path)


def test_plot_training_curves_accepts_history_object(tmp_path):
    pytest.importorskip("matplotlib")

    class FakeHistory:
        history = HISTORY

    path = tmp_path / "curves.png"
    plot_training_curves(FakeHistory(), path)
    _assert_png(path)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda p: plot_confusion_matrix([[1, 2, 3]], None, p), r"shape=\(1, 3\)"),
        (lambda p: plot_confusion_matrix([[1, -2], [0, 1]], None, p), r"-2"),
        (lambda p: plot_confusion_matrix([[1, 0], [0, 1]], ["a"], p), r"\['a'\]"),
        (lambda p: plot_training_curves({}, p), "history={}"),
        (lambda p: plot_training_curves({"loss": []}, p), r"loss=\[\]"),
    ],
)
def test_plots_reject_bad_inputs(tmp_path, call, match):
    with pytest.raises(ValueError, match=match):
        call(tmp_path / "x.png")


@pytest.mark.parametrize(
    "call",
    [
        lambda p: plot_confusion_matrix([[1, 0], [0, 1]], None, p),
        lambda p: plot_training_curves(HISTORY, p),
    ],
)
def test_plots_without_matplotlib_explain_the_extra(tmp_path, monkeypatch, call):
    # A None entry in sys.modules makes the import fail as if not installed.
    for name in [n for n in sys.modules if n.split(".")[0] == "matplotlib"]:
        monkeypatch.setitem(sys.modules, name, None)
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r'pip install "tftransformer\[plots\]"'):
        call(tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
