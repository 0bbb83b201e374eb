"""`LiteRTModel` on LiteRT's interpreter (`ai_edge_litert`) and on
TensorFlow's deprecated `tf.lite.Interpreter`: the same answers, and the
choice between them."""

import sys
import warnings

import numpy as np
import pytest

import tftransformer as tft
from tftransformer.testing import write_tiny_preset

TEXTS = ["the movie was great", "", "Naïve café, ÉCOLE  tabs\tand 1234", "word " * 40]
DEPRECATION = "tf.lite.Interpreter is deprecated"


@pytest.fixture(scope="module")
def tflite_files(tiny_preset, tmp_path_factory):
    """By tokenizer, a LiteRT classifier: WordPiece (BERT), SentencePiece
    (ALBERT), and the ALBERT one in dynamic-range int8. (Full int8 answers
    differently on the two interpreters: docs/serving.md.)"""
    directory = tmp_path_factory.mktemp("litert_runtimes")
    presets = {
        "word_piece": tiny_preset,
        "sentence_piece": write_tiny_preset("albert", directory / "albert"),
    }
    files = {}
    for name, preset in presets.items():
        classifier = tft.models.TextClassifier.from_preset(
            preset, num_classes=3, sequence_length=16
        )
        files[name] = tft.export.export_litert(classifier, directory / name)
    files["sentence_piece_dynamic_int8"] = tft.export.export_litert(
        classifier, directory / "dynamic_int8", quantization="dynamic_int8"
    )
    return files


def _hide_litert(monkeypatch):
    # `None` in `sys.modules` makes importing the package fail.
    for name in ("ai_edge_litert", "ai_edge_litert.interpreter"):
        monkeypatch.setitem(sys.modules, name, None)


@pytest.mark.parametrize(
    "tokenizer", ["word_piece", "sentence_piece", "sentence_piece_dynamic_int8"]
)
def test_both_interpreters_answer_alike(tflite_files, tokenizer):
    answers = {}
    for runtime in ("litert", "tensorflow"):
        with warnings.catch_warnings():
            # Named, TensorFlow's interpreter comes without its deprecation.
            warnings.filterwarnings("error", f".*{DEPRECATION}")
            model = tft.export.LiteRTModel(tflite_files[tokenizer], runtime=runtime)
        assert model.runtime == runtime
        answers[runtime] = model(TEXTS)["probabilities"]
    assert answers["litert"].shape == (len(TEXTS), 3)
    np.testing.assert_allclose(answers["litert"], answers["tensorflow"], atol=1e-6)
    # "auto" takes LiteRT's where it is installed (as `make` installs it).
    assert tft.export.LiteRTModel(tflite_files[tokenizer]).runtime == "litert"


def test_without_ai_edge_litert(tflite_files, monkeypatch):
    _hide_litert(monkeypatch)
    with pytest.warns(UserWarning, match=DEPRECATION):
        model = tft.export.LiteRTModel(tflite_files["word_piece"])
    assert model.runtime == "tensorflow"
    with pytest.raises(ImportError, match=r"runtime='litert' needs .*\[litert\]"):
        tft.export.LiteRTModel(tflite_files["word_piece"], runtime="litert")


def test_an_unknown_runtime_is_refused_naming_it(tflite_files):
    with pytest.raises(ValueError, match="runtime must be one of .*runtime='onnx'"):
        tft.export.LiteRTModel(tflite_files["word_piece"], runtime="onnx")


def test_export_variants_refuses_an_unknown_runtime_before_writing(tmp_path):
    with pytest.raises(ValueError, match="litert_runtime must .*=.onnx'"):
        tft.export.export_variants(
            None, tmp_path / "variants", ["a"], [0], ["a"], litert_runtime="onnx"
        )
    assert not (tmp_path / "variants").exists()
