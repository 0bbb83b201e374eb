import json

import numpy as np
import pytest

from tests.models.test_text_classifier import tiny_backbone
from tftransformer import evaluation, layers, models, saving, training, tuning
from tftransformer._arguments import (
    check_choice,
    check_fraction,
    check_int,
    check_real_array,
    check_strings,
    check_whole_numbers,
    float32_cell,
    python_number,
)


@pytest.mark.parametrize(
    "value, expected",
    [
        (np.int64(3), 3),
        (np.int32(2), 2),
        (np.float32(0.5), 0.5),
        (np.float64(0.1), 0.1),
    ],
)
def test_numpy_scalars_become_python_numbers(value, expected):
    result = python_number(value)
    assert result == expected and type(result) is type(expected)


@pytest.mark.parametrize("value", [True, None, "3", [3], np.array([3])])
def test_other_values_are_returned_unchanged(value):
    assert python_number(value) is value


@pytest.mark.parametrize(
    "bounds, accepted, refused, message",
    [
        ((1, None), [1, np.int64(7)], [0, 1.0, True, "2"], "must be an integer >= 1"),
        ((0, 3), [0, 3], [-1, 4], r"must be an integer in \[0, 3\]"),
        ((None, 3), [-5, 3], [4], "must be an integer <= 3"),
        ((None, None), [-5, 0, np.int32(9)], [None, 0.5], "must be an integer\\."),
    ],
)
def test_check_int_takes_integers_within_its_bounds(bounds, accepted, refused, message):
    for value in accepted:
        result = check_int("n", value, *bounds)
        assert result == value and type(result) is int
    for value in refused:
        with pytest.raises(ValueError, match=f"{message}.*Received: n={value!r}"):
            check_int("n", value, *bounds)


def test_check_int_appends_what_the_bounds_are():
    with pytest.raises(ValueError, match=r">= 2 \(room for\)\. Received: n=1"):
        check_int("n", 1, 2, what=" (room for)")


@pytest.mark.parametrize("value", [0, 0.5, np.float32(0.25), 0.999])
def test_check_fraction_takes_numbers_in_zero_one(value):
    assert check_fraction("rate", value) == pytest.approx(float(value))


@pytest.mark.parametrize("value", [1, -0.1, 1.5, float("nan"), True, "0.1", None])
def test_check_fraction_refuses_the_rest_naming_it(value):
    with pytest.raises(ValueError, match=r"rate must be in \[0, 1\)\. Received: rate="):
        check_fraction("rate", value)


@pytest.mark.parametrize(
    "values, allow_bytes, message",
    [
        ("ab", False, r"`texts` must be a list of strings, not a single string"),
        (b"ab", True, r"not a single string .*texts=b'ab'"),
        (None, False, r"`texts` must be a list of strings. Received: texts=None"),
        (["a", None], False, r"Received: texts\[1\]=None \(NoneType\)"),
        (("a", float("nan")), False, r"texts\[1\]=nan \(float\)"),
        (["a", b"b"], False, r"texts\[1\]=b'b' \(bytes\)"),
        (["a", b"b", 3], True, r"texts\[2\]=3 \(int\)"),
    ],
)
def test_check_strings_names_the_first_entry_that_is_not_a_text(
    values, allow_bytes, message
):
    with pytest.raises(ValueError, match=message):
        check_strings("texts", values, allow_bytes=allow_bytes)


def test_check_strings_returns_any_iterable_of_texts_as_a_list():
    assert check_strings("texts", (t for t in ["a", "b"])) == ["a", "b"]
    assert check_strings("texts", np.array(["a", "b"], object)) == ["a", "b"]
    assert check_strings("texts", ["a", b"b"], allow_bytes=True) == ["a", b"b"]


def test_check_real_array_returns_its_dtype_copying_only_to_convert():
    vectors = np.ones((3, 2), "float32")
    # A large index of vectors is checked without a copy of it.
    assert check_real_array("v", vectors, dtype="float32") is vectors
    assert check_real_array("v", [[1, 2]], dtype="float32").dtype == np.float32
    converted = check_real_array("v", vectors)
    assert converted.dtype == np.float64 and converted is not vectors
    with pytest.raises(
        ValueError, match=r"v must be finite \(vectors\)\. .*v\[1\]=nan"
    ):
        check_real_array("v", [0.0, np.nan], what=" (vectors)", dtype="float32")


def test_check_whole_numbers_takes_ids_read_as_floats_and_names_the_rest():
    got = check_whole_numbers("ids", [1.0, 2.0, True])
    assert got.dtype == np.int64 and got.tolist() == [1, 2, 1]
    # A cast cut 4.7 to 4, and made garbage of inf.
    for value, shown in ((4.7, "4.7"), (np.inf, "inf"), (np.nan, "nan")):
        with pytest.raises(
            ValueError, match=rf"ids must hold whole numbers\. .*ids\[1\]={shown}"
        ):
            check_whole_numbers("ids", [1.0, value])
    with pytest.raises(
        ValueError, match="must hold class ids. Received: ids of dtype <U1"
    ):
        check_whole_numbers("ids", ["a"], "class ids")


@pytest.mark.parametrize(
    "cell, expected",
    [(" 2.5 ", 2.5), (3, 3.0), ("-3.4e38", -3.4e38), (np.float64(0.5), 0.5)]
    + [(v, None) for v in ("1e39", 1e39, "inf", "nan", "x", "", True, None, [1])]
    + [("9" * 400, None), (10**400, None)],
)
def test_float32_cell_reads_numbers_that_stay_finite_as_float32(cell, expected):
    assert float32_cell(cell) == expected


def test_check_choice_names_the_choices_and_the_value():
    assert check_choice("kind", "a", ("a", "b")) == "a"
    assert check_choice("kind", None, ("a", None)) is None
    for value in ("c", None, ["a"]):
        with pytest.raises(ValueError, match=r"kind must be one of 'a', 'b'\."):
            check_choice("kind", value, ("a", "b"))


# Hyperparameters as NumPy hands them out (`labels.max() + 1`, `np.arange`).
INT, REAL = np.int64, np.float32


@pytest.mark.parametrize(
    "make",
    [
        lambda: layers.TransformerEncoderBlock(INT(16), INT(2), dropout=REAL(0.1)),
        lambda: layers.TransformerDecoderBlock(INT(16), INT(2), dropout=REAL(0.1)),
        lambda: layers.FeedForward(INT(16), dropout=REAL(0.1)),
        lambda: layers.MultiHeadAttention(INT(2), INT(4), dropout=REAL(0.1)),
        lambda: layers.RelativePositionBias(INT(8), INT(16), num_heads=INT(2)),
        lambda: layers.TokenAndPositionEmbedding(INT(20), INT(8), INT(4)),
        lambda: layers.PositionEmbedding(INT(8)),
        lambda: layers.AttentionPooling(hidden_dim=INT(8)),
        lambda: layers.SinePositionEncoding(REAL(100.0)),
        lambda: models.TransformerEncoder(
            INT(20), INT(1), INT(2), INT(8), INT(16), dropout=REAL(0.1)
        ),
        lambda: models.TextClassifier(tiny_backbone(), INT(3), dropout=REAL(0.1)),
    ],
)
def test_numpy_hyperparameters_are_accepted_and_serialize(make):
    layer = make()
    # Would raise on a NumPy scalar left in the config.
    json.dumps(layer.get_config())
    assert not any(isinstance(v, np.generic) for v in layer.get_config().values())


@pytest.mark.parametrize("dropout", [None, "0.1", True])
def test_classifier_rejects_non_number_dropout(dropout):
    with pytest.raises(ValueError, match="dropout"):
        models.TextClassifier(tiny_backbone(), 2, dropout=dropout)


def _encoder():
    return models.TransformerEncoder(20, 1, 2, 8, 16)


# Each functional model, built with valid arguments and one misspelt keyword.
MISSPELT = [
    (
        models.TextClassifier,
        lambda **kw: models.TextClassifier(tiny_backbone(), 2, **kw),
    ),
    (
        models.MultiLabelClassifier,
        lambda **kw: models.MultiLabelClassifier(tiny_backbone(), 3, **kw),
    ),
    (models.TextRegressor, lambda **kw: models.TextRegressor(tiny_backbone(), 1, **kw)),
    (
        models.TokenClassifier,
        lambda **kw: models.TokenClassifier(tiny_backbone(), 3, **kw),
    ),
    (
        models.QuestionAnswerer,
        lambda **kw: models.QuestionAnswerer(tiny_backbone(), **kw),
    ),
    (models.TextEmbedder, lambda **kw: models.TextEmbedder(tiny_backbone(), **kw)),
    (
        models.TransformerEncoder,
        lambda **kw: models.TransformerEncoder(20, 1, 2, 8, 16, **kw),
    ),
    (
        models.TransformerClassifier,
        lambda **kw: models.TransformerClassifier(_encoder(), 2, **kw),
    ),
    (models.CausalLM, lambda **kw: models.CausalLM(20, 1, 2, 8, 16, 8, **kw)),
    (
        models.Seq2SeqTransformer,
        lambda **kw: models.Seq2SeqTransformer(20, 20, 1, 2, 8, 16, 8, **kw),
    ),
]


@pytest.mark.parametrize("cls, make", MISSPELT, ids=[c.__name__ for c, _ in MISSPELT])
def test_models_refuse_a_misspelt_keyword_argument(cls, make):
    # keras.Model's functional constructor drops unknown keywords silently:
    # `drpout=0.3` would train without the dropout asked for.
    meant = "pooling" if cls is models.TextEmbedder else "dropout"
    misspelt = meant.replace("o", "", 1)
    with pytest.raises(TypeError, match=rf"{misspelt}=1 \(did you mean '{meant}'\?\)"):
        make(**{misspelt: 1})
    with pytest.raises(TypeError, match=rf"^{cls.__name__} got unexpected .*colour=1"):
        make(colour=1)
    assert make(name="named").name == "named"


def test_from_preset_refuses_a_misspelt_keyword_argument(small_vocabulary_preset):
    with pytest.raises(TypeError, match="sequence_lenght=16"):
        models.TextClassifier.from_preset(
            small_vocabulary_preset, num_classes=2, sequence_lenght=16
        )


def _built_model():
    return models.TransformerClassifier(_encoder(), 2)


# Each public function taking a file or directory, called with `3` there.
PATH_ARGUMENTS = {
    "save_model": ("directory", lambda p: saving.save_model(_built_model(), p)),
    "load_model": ("path", saving.load_model),
    "load_preprocessor": ("directory", saving.load_preprocessor),
    "ResumableTraining": ("directory", training.ResumableTraining),
    "check_run_directory": (
        "directory",
        lambda p: training.check_run_directory(p, {}),
    ),
    "write_training_summary": (
        "model_dir",
        lambda p: training.write_training_summary({}, p),
    ),
    "save_run_config": ("path", lambda p: tuning.save_run_config({}, p)),
    "load_run_config": ("path", lambda p: tuning.load_run_config(p, [])),
    "SearchSpace.from_file": ("path", tuning.SearchSpace.from_file),
    "plot_confusion_matrix": (
        "path",
        lambda p: evaluation.plot_confusion_matrix([[1]], None, p),
    ),
    "plot_training_curves": (
        "path",
        lambda p: evaluation.plot_training_curves({"loss": [1.0]}, p),
    ),
    "plot_reliability_diagram": (
        "path",
        lambda p: evaluation.plot_reliability_diagram({}, p),
    ),
    "plot_predicted_vs_true": (
        "path",
        lambda p: evaluation.plot_predicted_vs_true(None, p),
    ),
}


@pytest.mark.parametrize("function", PATH_ARGUMENTS)
def test_path_arguments_refuse_a_non_path_naming_it(function):
    # A number failed inside os.fspath, with a TypeError naming no argument.
    name, call = PATH_ARGUMENTS[function]
    message = rf"^{name} must be a string or a path\. Received: {name}=3$"
    with pytest.raises(ValueError, match=message):
        call(3)
