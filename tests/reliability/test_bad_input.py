"""Bad input to a text classification run (what `examples/classify.py`
does): one clear message each, and nothing written to the output directory
before the error."""

import json
import logging
import os
import pathlib

import keras
import numpy as np
import pytest

from tests.reliability.conftest import write_csv
from tests.training.classification_run import run_classification
from tftransformer.data import DataError
from tftransformer.training.checkpointing import (
    write_checkpoint,
)

TINY = dict(epochs=1, batch_size=8, max_length=32, learning_rate=1e-3)
GOOD_ROWS = [("a fine film", "good"), ("a dull mess", "bad")] * 4


def _files(directory, train=None, validation=None):
    """Writes train and validation CSV files (text or raw bytes)."""
    paths = {}
    for name, content in (("train", train), ("validation", validation)):
        path = directory / f"{name}.csv"
        if content is None:
            write_csv(path, GOOD_ROWS)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        paths[f"{name}_file"] = str(path)
    return paths


def _tiny_text_classifier(preset, label_names, path):
    from tftransformer import models, presets

    backbone, preprocessor = presets.load_backbone(preset, sequence_length=32)
    classifier = models.TextClassifier(
        backbone,
        num_classes=len(label_names),
        preprocessor=models.TextClassifierPreprocessor(preprocessor.tokenizer),
        label_names=label_names,
    )
    classifier.save(path)


def _other_task_model(path):
    inputs = keras.Input((4,))
    keras.Model(inputs, keras.layers.Dense(3)(inputs)).save(path)


def _checkpoint_of_other_settings(path):
    write_checkpoint(path, {"model/00000": np.zeros(2)}, {"run_config": {"epochs": 3}})


# (case id, setup(tmp_path, model_dir, preset) -> run() arguments, error
# type, parts of the message). Files the setup puts in model_dir before the
# run must be all that is there after it.
CASES = [
    (
        "missing_file",
        lambda tmp, out, preset: {"train_file": str(tmp / "nope.csv")},
        FileNotFoundError,
        ["nope.csv", "not found"],
    ),
    (
        "empty_file",
        lambda tmp, out, preset: _files(tmp, train=""),
        DataError,
        ["train.csv", "empty", "header line"],
    ),
    (
        "missing_text_column",
        lambda tmp, out, preset: _files(tmp, train="review,label\ngood,pos\n"),
        DataError,
        ["train.csv", "no text column 'text'", "columns found: ['review', 'label']"],
    ),
    (
        "missing_label_column",
        lambda tmp, out, preset: _files(tmp, train="text,stars\ngood,5\n"),
        DataError,
        ["train.csv", "no label column 'label'", "label_column="],
    ),
    (
        "row_with_empty_text_refused",
        lambda tmp, out, preset: _files(tmp, train="text,label\ngood,pos\n  ,neg\n"),
        DataError,
        ["train.csv, line 3", "empty text in column 'text'", "on_bad_rows='skip'"],
    ),
    (
        "row_without_label_refused",
        lambda tmp, out, preset: _files(tmp, train="text,label\ngood,pos\nbad,\n"),
        DataError,
        ["train.csv, line 3", "missing label in column 'label'"],
    ),
    (
        "validation_label_unseen_in_training",
        lambda tmp, out, preset: _files(
            tmp, validation="text,label\nso-so,neutral\nfine,good\n"
        ),
        DataError,
        ["validation.csv, line 2", "'neutral'", "known labels: ['bad', 'good']"],
    ),
    (
        "non_utf8_bytes",
        lambda tmp, out, preset: _files(
            tmp, train=b"text,label\ngood,pos\ncaf\xe9,neg\n"
        ),
        DataError,
        ["train.csv, line 3", "not valid UTF-8", "0xe9"],
    ),
    (
        "ragged_csv_row",
        lambda tmp, out, preset: _files(
            tmp, train="text,label\ngood,pos\nbad,neg,extra\n"
        ),
        DataError,
        ["train.csv, line 3", "expected 2 fields", "received 3"],
    ),
    (
        "numeric_and_text_labels_mixed",
        lambda tmp, out, preset: _files(
            tmp, train="text,label\ngood,1\nbad,0\nmeh,positive\n"
        ),
        DataError,
        ["mixes numeric and text labels", "line 2", "line 4", "'positive'"],
    ),
    (
        "zero_batch_size",
        lambda tmp, out, preset: dict(_files(tmp), batch_size=0),
        ValueError,
        ["batch_size must be >= 1", "batch_size=0"],
    ),
    (
        "negative_batch_size",
        lambda tmp, out, preset: dict(_files(tmp), batch_size=-8),
        ValueError,
        ["batch_size=-8"],
    ),
    (
        "zero_epochs",
        lambda tmp, out, preset: dict(_files(tmp), epochs=0),
        ValueError,
        ["epochs must be >= 1", "epochs=0"],
    ),
    (
        "zero_max_train_examples",
        lambda tmp, out, preset: dict(_files(tmp), max_train_examples=0),
        ValueError,
        ["max_train_examples must be >= 1", "max_train_examples=0"],
    ),
    (
        "negative_patience",
        lambda tmp, out, preset: dict(_files(tmp), patience=-1),
        ValueError,
        ["patience must be >= 0", "patience=-1"],
    ),
    (
        # As a --config file can give it.
        "string_epochs",
        lambda tmp, out, preset: dict(_files(tmp), epochs="1"),
        ValueError,
        ["epochs must be an integer", "epochs='1' (a string)"],
    ),
    (
        "negative_learning_rate",
        lambda tmp, out, preset: dict(_files(tmp), learning_rate=-1e-5),
        ValueError,
        ["learning_rate must be > 0", "learning_rate=-1e-05"],
    ),
    (
        "zero_save_freq",
        lambda tmp, out, preset: dict(_files(tmp), save_freq=0),
        ValueError,
        ["save_freq=0"],
    ),
    (
        "unknown_preset",
        lambda tmp, out, preset: dict(_files(tmp), preset="no_such_preset_xyz"),
        FileNotFoundError,
        ["'no_such_preset_xyz'", "'embedded'", "keras-hub preset name"],
    ),
    (
        "freeze_layers_above_layer_count",
        lambda tmp, out, preset: dict(_files(tmp), preset=preset, freeze_layers=3),
        ValueError,
        ["freeze_layers=3", "2"],
    ),
    (
        "model_dir_holds_a_model_with_other_labels",
        lambda tmp, out, preset: (
            out.mkdir(),
            _tiny_text_classifier(preset, ["bad", "good"], out / "model.keras"),
            _files(tmp, train="text,label\na,bad\nb,good\nc,meh\n"),
        )[-1],
        ValueError,
        [
            "holds a model of another task",
            "labels ['bad', 'good']",
            "this run trains labels ['bad', 'good', 'meh']",
        ],
    ),
    (
        "model_dir_holds_another_tasks_model",
        lambda tmp, out, preset: (
            out.mkdir(),
            _other_task_model(out / "model.keras"),
            _files(tmp),
        )[-1],
        ValueError,
        ["holds a model of another task", "is a Functional with labels None"],
    ),
    (
        "model_dir_holds_a_run_with_other_settings",
        lambda tmp, out, preset: (
            _checkpoint_of_other_settings(out / "backup" / "checkpoint.safetensors"),
            _files(tmp),
        )[-1],
        ValueError,
        ["holds a checkpoint of a run with other settings", "epochs: 3 then, 1 now"],
    ),
    (
        "model_dir_is_a_file",
        lambda tmp, out, preset: (out.write_text("x"), _files(tmp))[-1],
        ValueError,
        ["exists and is not a directory"],
    ),
]


def _listing(path):
    path = pathlib.Path(path)
    if not path.exists():
        return None
    if path.is_file():
        return [path.name]
    return sorted(str(p.relative_to(path)) for p in path.rglob("*"))


@pytest.mark.parametrize(
    "setup, error, expected",
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_bad_input_gives_one_clear_message_and_no_output(
    tmp_path, tiny_preset, setup, error, expected
):
    model_dir = tmp_path / "run"
    kwargs = {"preset": tiny_preset, **setup(tmp_path, model_dir, tiny_preset)}
    before = _listing(model_dir)
    with pytest.raises(error) as info:
        run_classification(**{**TINY, **kwargs, "model_dir": str(model_dir)})
    message = str(info.value)
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    assert _listing(model_dir) == before


def test_long_texts_bad_rows_and_path_like_labels(
    small_vocabulary_preset, tmp_path, caplog
):
    # A 100,000-character text is truncated to max_length tokens; a row with
    # no label is skipped and counted; labels that look like paths name no
    # file: nothing lands outside the output directory.
    long_text = ("word " * 20_000).strip() + "!"
    assert len(long_text) == 100_000
    labels = ["../../evil", "ok/../../x"]
    rows = [(long_text, labels[0])] + [
        (text, labels[i % 2]) for i, (text, _) in enumerate(GOOD_ROWS)
    ]
    (tmp_path / "data").mkdir()
    train = write_csv(tmp_path / "data" / "train.csv", rows + [("no label", "")])
    validation = write_csv(tmp_path / "data" / "validation.csv", rows)
    before = set(_listing(tmp_path))
    with caplog.at_level(logging.WARNING):
        result = run_classification(
            preset=small_vocabulary_preset,
            train_file=train,
            validation_file=validation,
            on_bad_rows="skip",
            model_dir=str(tmp_path / "out" / "run"),
            **TINY,
        )
    assert "skipped 1 bad row(s)" in caplog.text
    assert list(result.report.label_names) == labels
    created = set(_listing(tmp_path)) - before
    assert created and all(name.startswith("out") for name in created), created
    model = result.model
    assert model.predict([long_text], verbose=0).shape == (1, 2)
    with open(tmp_path / "out" / "run" / "report.json") as f:
        assert json.load(f)["label_names"] == labels
    _assert_no_pickles(tmp_path / "out" / "run")


# What a run writes: Keras archives and weights, safetensors checkpoints,
# JSON, PNG plots and TensorBoard event files. No pickles.
ALLOWED_SUFFIXES = (".keras", ".weights.h5", ".safetensors", ".json", ".png")


def _assert_no_pickles(directory):
    for path in pathlib.Path(directory).rglob("*"):
        if not path.is_file():
            continue
        name = path.name
        assert name.endswith(ALLOWED_SUFFIXES) or name.startswith(
            "events.out.tfevents."
        ), path
        with open(path, "rb") as f:
            head = f.read(2)
        # Every pickle protocol >= 2 starts with the PROTO opcode.
        assert not (head[:1] == b"\x80" and head[1:2] in b"\x02\x03\x04\x05"), path
    assert os.path.isfile(os.path.join(directory, "backup", "checkpoint.safetensors"))
