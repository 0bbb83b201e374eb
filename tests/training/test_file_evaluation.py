"""`evaluate_saved_model`: a saved model scored on a labelled file, as the
library's own evaluation of that model scores it, and its
`EvaluationConfig`."""

import dataclasses
import json
import math

import numpy as np
import pytest

from tests.training.saved_files import PROMPT_ROWS, saved, write_csv
from tftransformer.data import DataError, load_squad, load_tagging_file
from tftransformer.evaluation import (
    GenerationReport,
    evaluate_classifier,
    evaluate_multi_label_classifier,
    evaluate_question_answerer,
    evaluate_regressor,
    evaluate_tagger,
)
from tftransformer.training import (
    ConfigError,
    EvaluationConfig,
    PredictionConfig,
    evaluate_saved_model,
    predict_to_file,
    train_logistic_head,
)

TEXTS = ["a fine film", "a dull mess of a film", "Paris loves John", "so-so"]
PAIRS = ["a film", "the cast", "a city", "a dull mess"]


def assert_same_numbers(got, want, path="report"):
    """Equal nested reports; numbers within float32 noise."""
    if isinstance(want, dict):
        assert sorted(got) == sorted(want), path
        for key in want:
            assert_same_numbers(got[key], want[key], f"{path}.{key}")
    elif isinstance(want, (list, tuple)):
        assert len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want)):
            assert_same_numbers(a, b, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, abs=1e-5) or (
            math.isnan(got) and math.isnan(want)
        ), path
    else:
        assert got == want, path


def classifier_case(model, tmp_path):
    # A file without the middle class: ids follow the model's names, not
    # the labels the file holds.
    labels = ["pos", "neg", "pos", "neg"]
    rows = [{"review": t, "sentiment": label} for t, label in zip(TEXTS, labels)]
    config = EvaluationConfig(
        model_path=saved(model, tmp_path / "run"),
        test_file=write_csv(tmp_path / "test.csv", rows),
        text_column="review",
        label_column="sentiment",
        batch_size=3,
    )
    ids = [model.label_names.index(label) for label in labels]
    return config, evaluate_classifier(model, TEXTS, ids, model.label_names)[0]


def multi_label_case(model, tmp_path):
    cells = ["a|b", "", "b", "a"]
    rows = [{"text": t, "labels": cell} for t, cell in zip(TEXTS, cells)]
    config = EvaluationConfig(
        model_path=saved(model, tmp_path / "run"),
        test_file=write_csv(tmp_path / "test.csv", rows),
    )
    y = np.array([[name in cell.split("|") for name in "ab"] for cell in cells])
    return config, evaluate_multi_label_classifier(model, TEXTS, y.astype(int))[0]


def regressor_case(model, tmp_path):
    # Sentence pairs; the target columns are those the model was trained on.
    targets = np.array([[1.0, -2.0], [0.5, -1.5], [3.0, -2.5], [1.5, -2.0]])
    rows = [
        {"text": t, "other": p, "x": x, "y": y}
        for t, p, (x, y) in zip(TEXTS, PAIRS, targets)
    ]
    config = EvaluationConfig(
        model_path=saved(model, tmp_path / "run"),
        test_file=write_csv(tmp_path / "test.csv", rows),
        text_pair_column="other",
    )
    return config, evaluate_regressor(model, (TEXTS, PAIRS), targets)[0]


def tagger_case(model, tmp_path):
    path = tmp_path / "test.conll"
    sentences = [
        [("Paris", "B-x"), ("loves", "O"), ("John", "B-x")],
        [("a", "O"), ("dull", "B-x"), ("mess", "I-x")],
    ]
    path.write_text("\n".join("".join(f"{w}\t{t}\n" for w, t in s) for s in sentences))
    config = EvaluationConfig(
        model_path=saved(model, tmp_path / "run"), test_file=str(path)
    )
    data = load_tagging_file(str(path), tag_vocabulary=model.tag_names)
    return config, evaluate_tagger(model, data, batch_size=32)[0]


def answerer_case(model, tmp_path):
    context = "john loves paris and the film is in paris"
    questions = [
        ("q1", "who loves paris", "john"),
        ("q2", "where is the film", "paris"),
        ("q3", "what is red", None),
    ]
    qas = [
        {
            "id": qid,
            "question": question,
            "answers": []
            if answer is None
            else [{"text": answer, "answer_start": context.index(answer)}],
            **({"is_impossible": True} if answer is None else {}),
        }
        for qid, question, answer in questions
    ]
    squad = {"data": [{"title": "t", "paragraphs": [{"context": context, "qas": qas}]}]}
    path = tmp_path / "dev.json"
    path.write_text(json.dumps(squad))
    # Decoded with the run's settings; empty answers allowed, as the file
    # has an unanswerable question.
    config = EvaluationConfig(
        model_path=saved(model, tmp_path / "run"),
        test_file=str(path),
        max_answer_length=3,
        null_threshold=0.5,
    )
    want = evaluate_question_answerer(
        model,
        load_squad(str(path)),
        max_answer_length=3,
        null_threshold=0.5,
        allow_no_answer=True,
    )
    return config, want[0]


def test_an_answerer_decodes_as_its_run_did(task_models, tmp_path):
    # The run's decoding.json, as predict_to_file reads it: its
    # allow_no_answer won over the test file's unanswerable question.
    model = task_models["answerer"]
    config, _ = answerer_case(model, tmp_path)
    # Any empty answer allowed wins: with it, every answer is empty. Every
    # setting left unset is the run's (the flags' defaults, 30 and 0, were
    # taken for the run's longest answer and threshold).
    config = dataclasses.replace(config, max_answer_length=None, null_threshold=None)
    (tmp_path / "run" / "decoding.json").write_text(
        json.dumps(
            {"allow_no_answer": False, "max_answer_length": 3, "null_threshold": -1e9}
        )
    )
    allowed, want = (
        evaluate_question_answerer(
            model,
            load_squad(config.test_file),
            max_answer_length=3,
            null_threshold=-1e9,
            allow_no_answer=allow,
        )[0]
        for allow in (True, False)
    )
    assert want.to_dict() != allowed.to_dict()
    assert_same_numbers(evaluate_saved_model(config).to_dict(), want.to_dict())
    # The flag wins over the run's.
    config = dataclasses.replace(config, allow_no_answer=True)
    assert_same_numbers(evaluate_saved_model(config).to_dict(), allowed.to_dict())


CASES = {
    "classifier": classifier_case,
    "multi_label": multi_label_case,
    "regressor": regressor_case,
    "tagger": tagger_case,
    "answerer": answerer_case,
}


@pytest.mark.parametrize("kind", list(CASES))
def test_each_task_model_is_scored_as_the_library_scores_it(
    kind, task_models, tmp_path
):
    config, want = CASES[kind](task_models[kind], tmp_path)
    got = evaluate_saved_model(config)
    assert type(got) is type(want)
    assert_same_numbers(got.to_dict(), want.to_dict())
    # The report, beside the test file, says what was scored.
    stem = "dev" if kind == "answerer" else "test"
    assert config.report_path() == str(tmp_path / f"{stem}.report.json")
    written = json.loads((tmp_path / f"{stem}.report.json").read_text())
    assert written["model_path"] == config.model_path
    assert written["test_file"] == config.test_file
    assert_same_numbers(
        {k: v for k, v in written.items() if k not in ("model_path", "test_file")},
        json.loads(json.dumps(want.to_dict())),
    )
    if kind == "classifier":
        # The class the file lacks is in the report, with no example.
        assert got.to_dict()["per_class"]["mid"]["support"] == 0


def test_a_few_shot_run_is_scored_by_its_head(task_models, tmp_path):
    embedder = task_models["embedder"]
    labels = np.array([1, 0, 1, 0])
    head = train_logistic_head(embedder.embed(TEXTS), labels, 2, epochs=3)
    run = tmp_path / "few_shot"
    saved(embedder, run)
    head.save(str(run / "head.keras"))
    (run / "report.json").write_text(json.dumps({"label_names": ["bad", "good"]}))
    names = ["bad", "good"]
    rows = [{"text": t, "label": names[i]} for t, i in zip(TEXTS, labels)]
    config = EvaluationConfig(
        model_path=str(run),
        test_file=write_csv(tmp_path / "test.csv", rows),
        report_file=str(tmp_path / "reports" / "few_shot.json"),
    )
    got = evaluate_saved_model(config)
    want, _ = evaluate_classifier(head, embedder.embed(TEXTS), labels, names)
    assert_same_numbers(got.to_dict(), want.to_dict())
    assert (tmp_path / "reports" / "few_shot.json").is_file()
    # The embedder alone has no labels to score.
    with pytest.raises(ValueError, match="Received: a TextEmbedder"):
        evaluate_saved_model(
            EvaluationConfig(
                model_path=str(run / "model.keras"), test_file=config.test_file
            )
        )
    with pytest.raises(ValueError, match="text_pair_column='other'"):
        evaluate_saved_model(
            EvaluationConfig(
                model_path=str(run),
                test_file=config.test_file,
                text_pair_column="other",
            )
        )


def test_bad_files_and_models_are_refused_naming_what_was_received(
    task_models, tmp_path
):
    classifier = saved(task_models["classifier"], tmp_path / "classifier")
    unknown = write_csv(
        tmp_path / "unknown.csv",
        [{"text": "a", "label": "pos"}, {"text": "b", "label": "neutral"}],
    )
    with pytest.raises(DataError, match="line 3: label 'neutral'"):
        evaluate_saved_model(EvaluationConfig(model_path=classifier, test_file=unknown))
    assert not (tmp_path / "unknown.report.json").exists()
    with pytest.raises(FileNotFoundError, match="No test file at"):
        evaluate_saved_model(
            EvaluationConfig(model_path=classifier, test_file=str(tmp_path / "no.csv"))
        )
    with pytest.raises(FileNotFoundError, match="holding model.keras"):
        evaluate_saved_model(
            EvaluationConfig(model_path=str(tmp_path), test_file=unknown)
        )
    # A file that is not a .keras archive: the report beside the model, or a
    # model.keras cut short.
    report = tmp_path / "classifier" / "report.json"
    report.write_text("{}")
    cut = tmp_path / "cut" / "model.keras"
    cut.parent.mkdir()
    cut.write_bytes((tmp_path / "classifier" / "model.keras").read_bytes()[:1000])
    for model_path in (report, cut.parent):
        with pytest.raises(ValueError, match=r"is not a saved model \(a .keras"):
            evaluate_saved_model(
                EvaluationConfig(model_path=str(model_path), test_file=unknown)
            )
    regressor = saved(task_models["regressor"], tmp_path / "regressor")
    one_target = write_csv(tmp_path / "one.csv", [{"text": "a", "x": "1.0"}])
    with pytest.raises(ValueError, match=r"predicts 2 targets. Received: 1 .*\['x'\]"):
        evaluate_saved_model(
            EvaluationConfig(
                model_path=regressor, test_file=one_target, label_column="x"
            )
        )
    # A regressor's missing target column: the hint names the config's
    # label_column (--label_column), not the loader's target_columns=.
    with pytest.raises(DataError, match=r"no target column 'y'.*Pass label_column="):
        evaluate_saved_model(
            EvaluationConfig(
                model_path=regressor, test_file=one_target, label_column="x,y"
            )
        )
    with pytest.raises(ValueError, match="takes an EvaluationConfig"):
        evaluate_saved_model({"model_path": classifier})


def test_a_regressors_own_target_names_are_read_in_its_order(task_models, tmp_path):
    config, want = regressor_case(task_models["regressor"], tmp_path)
    # The model's targets are x, y: named in another order, each column is
    # still scored as its own target.
    for columns in ("y,x", " y , x"):
        got = evaluate_saved_model(dataclasses.replace(config, label_column=columns))
        assert_same_numbers(got.to_dict(), want.to_dict())
    # Another column at a target's place would be scored under its name.
    with pytest.raises(ValueError, match=r"some of the model's targets .*\['z'\]"):
        evaluate_saved_model(dataclasses.replace(config, label_column="x,z"))
    with pytest.raises(ValueError) as info:
        evaluate_saved_model(dataclasses.replace(config, label_column="y,z"))
    assert str(info.value) == (
        "label_column names the model's target 'y' at the place of its target "
        "'x': list the columns in the order of the model's targets ['x', 'y']. "
        "Received: label_column='y,z'"
    )


@pytest.mark.parametrize("score", ["evaluate", "predict"])
def test_texts_are_read_as_the_run_trained_single_or_in_pairs(
    task_models, tmp_path, score
):
    rows = [{"text": t, "other": p, "label": "pos"} for t, p in zip(TEXTS, PAIRS)]
    test_file = write_csv(tmp_path / "test.csv", rows)
    run = tmp_path / "run"
    saved(task_models["classifier"], run)

    def call(model_path, text_pair_column):
        if score == "evaluate":
            config = EvaluationConfig(
                model_path=model_path,
                test_file=test_file,
                text_pair_column=text_pair_column,
            )
            return evaluate_saved_model(config)
        config = PredictionConfig(
            model_path=model_path,
            input_file=test_file,
            text_pair_column=text_pair_column,
        )
        return predict_to_file(config)

    # The run's settings say how it read its texts.
    (run / "run_config.json").write_text(json.dumps({"text_pair_column": "second"}))
    for model_path in (str(run), str(run / "model.keras")):
        with pytest.raises(ValueError) as info:
            call(model_path, None)
        assert str(info.value) == (
            f"The model in {str(run)!r} was trained on sentence pairs "
            "(text_pair_column='second' in its run_config.json): name the "
            "column of the second texts with text_pair_column "
            "(--text_pair_column). Received: text_pair_column=None"
        )
    call(str(run), "other")
    (run / "run_config.json").write_text(json.dumps({"text_pair_column": None}))
    with pytest.raises(ValueError, match=r"trained on single texts .*='other'"):
        call(str(run), "other")
    call(str(run), None)


def test_settings_the_model_does_not_read_are_refused(task_models, tmp_path):
    rows = [{"text": t, "label": "pos"} for t in TEXTS]
    test_file = write_csv(tmp_path / "test.csv", rows)
    classifier = saved(task_models["classifier"], tmp_path / "classifier")
    with pytest.raises(ValueError) as info:
        evaluate_saved_model(
            EvaluationConfig(
                model_path=classifier,
                test_file=test_file,
                max_length=4,
                null_threshold=3.0,
            )
        )
    assert str(info.value) == (
        "A TextClassifier does not read max_length, null_threshold: max_length "
        "sets a generator's output length, the others a question answerer's "
        "decoding. Received: max_length=4, null_threshold=3.0"
    )
    with pytest.raises(ValueError, match="A TextClassifier does not read max_len"):
        predict_to_file(
            PredictionConfig(model_path=classifier, input_file=test_file, max_length=4)
        )
    assert not (tmp_path / "test.report.json").exists()
    assert not (tmp_path / "test.predictions.csv").exists()


def test_the_config_names_the_report_and_checks_its_fields():
    config = EvaluationConfig(test_file="data/reviews.test.csv.gz")
    assert config.report_path() == "data/reviews.test.report.json"
    assert EvaluationConfig(test_file="dev.json").report_path() == "dev.report.json"
    with pytest.raises(ConfigError, match="test_file must be a non-empty string"):
        EvaluationConfig()
    with pytest.raises(ConfigError, match="must not be the test file"):
        EvaluationConfig(test_file="a.json", report_file="./a.json")
    with pytest.raises(ConfigError, match="batch_size"):
        EvaluationConfig(test_file="a.csv", batch_size=0)
    with pytest.raises(ConfigError, match="label_delimiter"):
        EvaluationConfig(test_file="a.csv", label_delimiter="")


@pytest.mark.parametrize("kind", ["t5", "seq2seq"])
def test_a_generator_is_scored_by_bleu_and_rouge_of_its_generations(
    generator_runs, kind, tmp_path
):
    run, generations = generator_runs[kind]
    test_file = write_csv(tmp_path / "pairs.csv", PROMPT_ROWS)
    report = evaluate_saved_model(
        EvaluationConfig(model_path=run, test_file=test_file, text_column="prompt")
    )
    want = GenerationReport(generations, [row["target"] for row in PROMPT_ROWS])
    assert report.generations == generations
    assert_same_numbers(report.to_dict(), want.to_dict())
    with open(tmp_path / "pairs.report.json") as f:
        written = json.load(f)
    assert written == {"model_path": run, "test_file": test_file} | want.to_dict()
    # Other references, named by label_column.
    other = write_csv(
        tmp_path / "other.csv",
        [
            {"prompt": row["prompt"], "summary": text}
            for row, text in zip(PROMPT_ROWS, generations)
        ],
    )
    report = evaluate_saved_model(
        EvaluationConfig(
            model_path=run,
            test_file=other,
            text_column="prompt",
            label_column="summary",
        )
    )
    assert report.references == generations
    with pytest.raises(
        DataError, match=r"no column 'target' of references.*Pass label_column="
    ):
        evaluate_saved_model(
            EvaluationConfig(model_path=run, test_file=other, text_column="prompt")
        )
    assert_same_numbers(
        report.to_dict(), GenerationReport(generations, generations).to_dict()
    )
