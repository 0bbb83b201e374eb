import warnings

import numpy as np
import pytest

import tftransformer as tft

CONFIGS = [
    ("litert", "XNNPACK"),
    ("tensorflow", "XNNPACK"),
    ("litert", "built-in"),
    ("tensorflow", "built-in"),
]


@pytest.fixture(scope="module")
def classifier_file(tiny_preset, tmp_path_factory):
    classifier = tft.models.TextClassifier.from_preset(
        tiny_preset, num_classes=2, sequence_length=16
    )
    with warnings.catch_warnings():
        # The tiny preset lower-cases without stripping accents; no text
        # timed here has any.
        warnings.filterwarnings("ignore", "A LiteRT model tokenizes WordPiece")
        path = tft.export.export_litert(
            classifier, tmp_path_factory.mktemp("litert_bench")
        )
    return str(path)


def test_tiny_run_times_every_file_four_ways(litert_bench, classifier_file):
    rows = litert_bench.run(
        calls=2, repeats=2, tflite_file=classifier_file, text="a good film"
    )
    files = list(dict.fromkeys(row["file"] for row in rows))
    assert len(files) == 7 and files[-1] == classifier_file
    for name in files:
        file_rows = [row for row in rows if row["file"] == name]
        assert [(r["runtime"], r["kernels"]) for r in file_rows] == CONFIGS
        for row in file_rows:
            low, high = row["spread_ms"]
            assert 0 < low <= row["p50_ms"] <= high
            assert row["same_outputs"], row
            if row["runtime"] == "tensorflow":
                assert row["vs_tensorflow"] == 1.0
    table = litert_bench.format_table(rows)
    assert f"| {classifier_file} | litert | built-in |" in table


def test_single_op_outputs_that_differ_fail(litert_bench, monkeypatch):
    # A runtime answering differently must not be timed as if alike.
    name, (content, inputs) = next(iter(litert_bench.single_op_files().items()))
    make_call = litert_bench.make_call

    def off_on_litert(runtime, kernels, model_content, inputs):
        call = make_call(runtime, kernels, model_content, inputs)
        if runtime == "tensorflow":
            return call
        return lambda: {k: v + 1.0 for k, v in call().items()}

    monkeypatch.setattr(litert_bench, "make_call", off_on_litert)
    with pytest.raises(AssertionError, match="outputs differ on"):
        litert_bench.time_file(name, content, inputs, calls=1, repeats=1)
    rows = litert_bench.time_file(name, content, inputs, 1, 1, check=False)
    assert [row["same_outputs"] for row in rows] == [False, True, False, True]


def test_same_outputs_is_relative_for_floats_and_exact_otherwise(litert_bench):
    big = {"x": np.array([1000.0], np.float32)}
    assert litert_bench.same_outputs(big, {"x": np.array([1000.05], np.float32)})
    assert not litert_bench.same_outputs(big, {"x": np.array([1000.5], np.float32)})
    text = {"y": np.array([b"hola"], object)}
    assert litert_bench.same_outputs(text, {"y": np.array([b"hola"], object)})
    assert not litert_bench.same_outputs(text, {"y": np.array([b"hol"], object)})


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"calls": 0}, "calls=0"),
        ({"repeats": 1.5}, "repeats=1.5"),
        ({"tflite_file": "missing.tflite"}, "'missing.tflite'"),
    ],
)
def test_bad_arguments_are_refused_before_timing(litert_bench, kwargs, message):
    with pytest.raises(ValueError, match=message):
        litert_bench.run(**kwargs)


def test_a_file_without_text_is_refused(litert_bench, classifier_file):
    with pytest.raises(ValueError, match="text=''"):
        litert_bench.run(tflite_file=classifier_file)
