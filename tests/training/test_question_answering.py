"""Question answering runs through the library: `QuestionAnsweringConfig`,
`train_question_answerer` (what `examples/question_answering.py` calls)."""

import json

import numpy as np
import pytest

import tftransformer as tft
from tests.training.interruptions import (
    Interrupt,
    final_checkpoint,
    interrupt_after_epoch,
)
from tftransformer.finetune import frozen_layer_names, lora_variables
from tftransformer.training import ConfigError, QuestionAnsweringConfig

CONTEXTS = [
    "john smith lives in new york city. the movie was great and the actors "
    "were wonderful.",
    "the quick brown fox jumped over the lazy dog. the earth is round and the "
    "sky is blue.",
]
QUESTIONS = [
    (0, "where does john smith live?", "new york city"),
    (0, "who lives in new york city?", "john smith"),
    (0, "how was the movie?", "great"),
    (0, "what is round?", None),
    (1, "what did the fox jump over?", "the lazy dog"),
    (1, "what is blue?", "the sky"),
    (1, "who jumped?", "the quick brown fox"),
    (1, "where does john live?", None),
]


def write_squad(path, questions):
    paragraphs = []
    for c, context in enumerate(CONTEXTS):
        qas = []
        for q, (index, question, answer) in enumerate(questions):
            if index != c:
                continue
            record = {"id": f"{path.stem}-{q}", "question": question}
            if answer is None:
                record.update(answers=[], is_impossible=True)
            else:
                start = context.index(answer)
                record["answers"] = [{"text": answer, "answer_start": start}]
            qas.append(record)
        paragraphs.append({"context": context, "qas": qas})
    path.write_text(
        json.dumps({"version": "v2.0", "data": [{"paragraphs": paragraphs}]})
    )
    return str(path)


@pytest.fixture
def squad_files(tmp_path):
    return {
        "train_file": write_squad(tmp_path / "train.json", QUESTIONS),
        "validation_file": write_squad(tmp_path / "dev.json", QUESTIONS[:4]),
    }


# 32-token windows 8 tokens apart: each context takes several windows.
TINY = dict(
    epochs=1,
    batch_size=8,
    max_length=32,
    doc_stride=8,
    max_question_length=12,
    learning_rate=1e-3,
)


def test_max_examples_draw_seeded_subsets_of_every_split(squad_files):
    config = QuestionAnsweringConfig(
        **squad_files, max_train_examples=3, max_eval_examples=2
    )
    train, validation, test = tft.training.load_squad_splits(config)
    assert [len(train), len(validation)] == [3, 2]
    # The test questions are the validation ones: the same subset of them.
    assert test == validation
    whole = tft.training.load_squad_splits(QuestionAnsweringConfig(**squad_files))
    assert all(question in whole[1] for question in validation)


def run_qa(**settings):
    return tft.training.train_question_answerer(
        QuestionAnsweringConfig(**settings), verbose=0
    )


def test_run_resumes_and_writes_the_squad_report(
    small_vocabulary_preset, squad_files, tmp_path, monkeypatch
):
    model_dir = tmp_path / "run"
    settings = dict(
        preset=small_vocabulary_preset,
        model_dir=str(model_dir),
        **squad_files,
        **{**TINY, "epochs": 2},
    )
    interrupt_after_epoch(monkeypatch, 0)
    with pytest.raises(Interrupt):
        run_qa(**settings)
    monkeypatch.undo()
    interrupted = final_checkpoint(model_dir)["history"]
    assert len(interrupted["loss"]) == 1

    # The rerun resumes at the second epoch: the first is not trained again.
    first = run_qa(**settings)
    assert len(first.training.history["loss"]) == 2
    assert first.training.history["loss"][0] == pytest.approx(interrupted["loss"][0])
    report = json.loads((model_dir / "report.json").read_text())
    # The validation questions are the test questions: 3 answerable, 1 not.
    assert report["total"] == 4
    assert report["HasAns_total"] == 3 and report["NoAns_total"] == 1
    assert report == pytest.approx(first.report.to_dict())
    predictions = json.loads((model_dir / "predictions.json").read_text())
    assert set(predictions) == {f"dev-{q}" for q in range(4)}
    # How they were decoded, for predict.py: no-answer allowed, as the
    # training questions include one without an answer.
    decoding = json.loads((model_dir / "decoding.json").read_text())
    assert decoding == {
        "max_answer_length": 30,
        "null_threshold": 0.0,
        "allow_no_answer": True,
    }
    for qid, answer in first.predictions.items():
        context = CONTEXTS[0]
        assert predictions[qid] == answer["answer"]
        if answer["answer"]:
            assert context[answer["start"] : answer["end"]] == answer["answer"]


@pytest.mark.parametrize(
    "options, check",
    [
        (
            {"freeze_layers": 1},
            lambda model: "transformer_layer_0" in frozen_layer_names(model.backbone),
        ),
        ({"lora_rank": 2}, lambda model: len(lora_variables(model)) > 0),
    ],
    ids=["freeze", "lora"],
)
def test_fine_tuning_recipes_reach_the_answerer(
    options, check, small_vocabulary_preset, squad_files, tmp_path
):
    result = run_qa(
        preset=small_vocabulary_preset,
        model_dir=str(tmp_path / "run"),
        **squad_files,
        **{**TINY, **options},
    )
    assert np.isfinite(result.training.history["loss"]).all()
    assert check(result.model)


def test_config_refuses_a_run_without_data_and_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="train_file is required"):
        QuestionAnsweringConfig(model_dir=str(tmp_path / "run")).validate()
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"data": [{"paragraphs": [{"context": "abc"}]}]}))
    with pytest.raises(tft.data.DataError, match="missing key 'qas'"):
        run_qa(train_file=str(bad), model_dir=str(tmp_path / "run"), **TINY)
