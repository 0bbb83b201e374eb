"""`predict_to_file`: a saved model's predictions written next to each row of
a file, and the `PredictionConfig` that names them."""

import bz2
import csv
import gzip
import json

import keras
import numpy as np
import pytest

from tests.training.saved_files import PROMPT_ROWS, saved, write_csv
from tftransformer.data import DataError
from tftransformer.evaluation import predict_columns
from tftransformer.models import (
    MultiLabelClassifier,
    TextClassifier,
    TextEmbedder,
)
from tftransformer.training import (
    ConfigError,
    PredictionConfig,
    predict_to_file,
    train_logistic_head,
)

ROWS = [
    {"id": "1", "review": 'a fine, "quoted" film', "note": "é"},
    {"id": "2", "review": "a dull mess", "note": ""},
    {"id": "3", "review": "tired\\tcast", "note": "x"},
]


@pytest.fixture(scope="module")
def classifier_run(small_vocabulary_preset, tmp_path_factory):
    model = TextClassifier.from_preset(
        small_vocabulary_preset,
        num_classes=2,
        label_names=["neg", "pos"],
        sequence_length=16,
    )
    return model, saved(model, tmp_path_factory.mktemp("runs") / "classifier")


def test_rows_keep_their_columns_and_get_the_models_predictions(
    classifier_run, tmp_path
):
    model, run = classifier_run
    source = write_csv(tmp_path / "reviews.csv", ROWS)
    config = PredictionConfig(model_path=run, input_file=source, text_column="review")
    columns = predict_to_file(config)
    texts = [row["review"] for row in ROWS]
    assert columns == predict_columns(model, texts)
    with open(tmp_path / "reviews.predictions.csv", newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert [list(row) for row in written] == [
        [
            "id",
            "review",
            "note",
            "predicted_label",
            "probability_neg",
            "probability_pos",
        ]
    ] * 3
    for row, expected, i in zip(written, ROWS, range(3)):
        assert {k: row[k] for k in expected} == expected
        assert row["predicted_label"] == columns["predicted_label"][i]
        assert float(row["probability_pos"]) == columns["probability_pos"][i]


def test_json_lines_and_compressed_outputs(classifier_run, tmp_path):
    _, run = classifier_run
    source = tmp_path / "reviews.jsonl.bz2"
    source.write_bytes(
        bz2.compress("".join(json.dumps(r) + "\n" for r in ROWS).encode())
    )
    config = PredictionConfig(
        model_path=run + "/model.keras",
        input_file=str(source),
        text_column="review",
        output_file=str(tmp_path / "out" / "predicted.jsonl.gz"),
    )
    columns = predict_to_file(config)
    lines = gzip.decompress((tmp_path / "out" / "predicted.jsonl.gz").read_bytes())
    written = [json.loads(line) for line in lines.decode().splitlines()]
    assert written == [
        {**row, **{name: values[i] for name, values in columns.items()}}
        for i, row in enumerate(ROWS)
    ]


def test_label_sets_become_json_cells(small_vocabulary_preset, tmp_path):
    model = MultiLabelClassifier.from_preset(
        small_vocabulary_preset,
        num_labels=2,
        label_names=["a", "b"],
        thresholds=[0.01, 0.99],
        sequence_length=16,
    )
    run = saved(model, tmp_path / "run")
    source = write_csv(tmp_path / "in.csv", ROWS)
    config = PredictionConfig(
        model_path=run,
        input_file=source,
        text_column="review",
        output_file=str(tmp_path / "out.tsv"),
    )
    columns = predict_to_file(config)
    assert columns["predicted_labels"] == [["a"]] * 3
    lines = (tmp_path / "out.tsv").read_text().splitlines()
    assert lines[0].split("\t")[3] == "predicted_labels"
    assert [line.split("\t")[3] for line in lines[1:]] == ['["a"]'] * 3


def test_a_few_shot_run_and_an_embedder_predict_from_their_files(
    small_vocabulary_preset, tmp_path
):
    embedder = TextEmbedder.from_preset(small_vocabulary_preset, sequence_length=16)
    texts = [row["review"] for row in ROWS]
    head = train_logistic_head(embedder.embed(texts), np.array([1, 0, 0]), 2, epochs=3)
    # A few-shot run's directory, as `train_few_shot_classifier` writes it:
    # the embedder's model.keras and the head beside it.
    run = tmp_path / "few_shot"
    run.mkdir()
    embedder.save(str(run / "model.keras"))
    head.save(str(run / "head.keras"))
    report = {"label_names": ["neg", "pos"], "accuracy": 1.0}
    (run / "report.json").write_text(json.dumps(report))
    source = write_csv(tmp_path / "reviews.csv", ROWS)
    config = PredictionConfig(
        model_path=str(run), input_file=source, text_column="review"
    )
    columns = predict_to_file(config)
    assert list(columns) == ["predicted_label", "probability_neg", "probability_pos"]
    assert columns == predict_columns(
        embedder, texts, head=head, label_names=["neg", "pos"]
    )
    # A TextEmbedder's .keras file, even the run's: each row's embedding, a
    # JSON list.
    config = PredictionConfig(
        model_path=str(run / "model.keras"),
        input_file=source,
        text_column="review",
        output_file=str(tmp_path / "embedded.jsonl"),
    )
    columns = predict_to_file(config)
    lines = (tmp_path / "embedded.jsonl").read_text().splitlines()
    assert [json.loads(line)["embedding"] for line in lines] == columns["embedding"]
    np.testing.assert_allclose(
        columns["embedding"], embedder.embed(texts), rtol=1e-5, atol=1e-6
    )


def test_skipped_rows_and_refusals(classifier_run, tmp_path):
    _, run = classifier_run
    rows = ROWS + [{"id": "4", "review": " ", "note": ""}]
    source = write_csv(tmp_path / "reviews.csv", rows)
    config = PredictionConfig(model_path=run, input_file=source, text_column="review")
    with pytest.raises(DataError, match="line 5: empty text in column 'review'"):
        predict_to_file(config)
    config.on_bad_rows = "skip"
    predict_to_file(config)
    written = (tmp_path / "reviews.predictions.csv").read_text().splitlines()
    assert len(written) == 4
    # A TSV cell cannot hold a tab; nothing is written.
    tabbed = write_csv(tmp_path / "tabbed.csv", [{"review": "a\tb"}])
    config = PredictionConfig(
        model_path=run,
        input_file=tabbed,
        text_column="review",
        output_file=str(tmp_path / "tabbed.tsv"),
    )
    with pytest.raises(DataError, match="holds a tab or a line break"):
        predict_to_file(config)
    assert not (tmp_path / "tabbed.tsv").exists()
    # The input already has a column of a prediction's name.
    taken = write_csv(tmp_path / "again.csv", [{"text": "a", "predicted_label": "x"}])
    with pytest.raises(
        ValueError, match=r"already has the column\(s\) \['predicted_label'\]"
    ):
        predict_to_file(PredictionConfig(model_path=run, input_file=taken))
    with pytest.raises(FileNotFoundError, match="holding model.keras"):
        predict_to_file(
            PredictionConfig(
                model_path=str(tmp_path),
                input_file=source,
                text_column="review",
                on_bad_rows="skip",
            )
        )
    with pytest.raises(ValueError, match="output format from"):
        predict_to_file(
            PredictionConfig(model_path=run, input_file=source, output_file="out.xlsx")
        )


def test_the_config_names_the_output_and_checks_its_fields():
    config = PredictionConfig(input_file="data/reviews.test.csv.gz")
    assert config.predictions_path() == "data/reviews.test.predictions.csv.gz"
    assert PredictionConfig(input_file="a.jsonl").predictions_path() == (
        "a.predictions.jsonl"
    )
    with pytest.raises(ConfigError, match="input_file must be a non-empty string"):
        PredictionConfig()
    with pytest.raises(ConfigError, match="must not be the input file"):
        PredictionConfig(input_file="a.csv", output_file="./a.csv")
    with pytest.raises(ConfigError, match="batch_size"):
        PredictionConfig(input_file="a.csv", batch_size=0)
    with pytest.raises(ConfigError, match="on_bad_rows"):
        PredictionConfig(input_file="a.csv", on_bad_rows="ignore")


@pytest.mark.parametrize("kind", ["gpt2", "t5", "causal_lm", "seq2seq"])
def test_a_generator_run_writes_each_prompts_generation(generator_runs, kind, tmp_path):
    run, expected = generator_runs[kind]
    source = write_csv(tmp_path / "prompts.csv", PROMPT_ROWS)
    config = PredictionConfig(model_path=run, input_file=source, text_column="prompt")
    columns = predict_to_file(config)
    assert columns == {"generated_text": expected}
    assert any(expected)
    with open(tmp_path / "prompts.predictions.csv", newline="", encoding="utf-8") as f:
        written = list(csv.DictReader(f))
    assert written == [
        {**row, "generated_text": text}
        for row, text in zip(PROMPT_ROWS, expected, strict=True)
    ]


def test_a_generators_length_and_its_refusals(generator_runs, tmp_path):
    source = write_csv(tmp_path / "prompts.csv", PROMPT_ROWS)
    run, expected = generator_runs["causal_lm"]
    shorter = predict_to_file(
        PredictionConfig(
            model_path=run, input_file=source, text_column="prompt", max_length=5
        )
    )["generated_text"]
    assert shorter != expected
    assert all(len(s.split()) <= len(e.split()) for s, e in zip(shorter, expected))
    # A model file away from its run's vocabulary.
    with pytest.raises(FileNotFoundError, match=r"lacks vocabulary\.txt, report\.json"):
        predict_to_file(
            PredictionConfig(
                model_path=saved(
                    keras.saving.load_model(f"{run}/model.keras"), tmp_path / "alone"
                ),
                input_file=source,
                text_column="prompt",
            )
        )
    pairs = write_csv(tmp_path / "pairs.csv", [{"prompt": "a", "other": "b"}])
    with pytest.raises(ValueError, match="text_pair_column='other' for a GPT2CausalLM"):
        predict_to_file(
            PredictionConfig(
                model_path=generator_runs["gpt2"][0],
                input_file=pairs,
                text_column="prompt",
                text_pair_column="other",
            )
        )


def test_a_question_answerer_decodes_as_its_run_did(task_models, tmp_path):
    model = task_models["answerer"]
    rows = [
        {"question": "who loves paris", "context": "john loves paris"},
        {"question": "where is the film", "context": "the film is in paris"},
        {"question": "what is red", "context": "nothing here is"},
    ]
    source = write_csv(tmp_path / "questions.csv", rows)
    run = tmp_path / "run"
    saved(model, run)
    # A run on SQuAD v1.1 data: no question without an answer, so none is
    # given; and a threshold that would have said "no answer" to every one.
    decoding = {
        "max_answer_length": 2,
        "null_threshold": -1e9,
        "allow_no_answer": False,
    }
    (run / "decoding.json").write_text(json.dumps(decoding))
    columns = predict_to_file(
        PredictionConfig(
            model_path=str(run),
            input_file=source,
            text_column="question",
            text_pair_column="context",
        )
    )
    questions, contexts = zip(*[(r["question"], r["context"]) for r in rows])
    want = model.predict_answers(list(questions), list(contexts), **decoding)
    assert columns["predicted_answer"] == [a["answer"] for a in want]
    assert all(columns["predicted_answer"])
    default = model.predict_answers(
        list(questions), list(contexts), null_threshold=-1e9
    )
    assert not any(a["answer"] for a in default)
    with pytest.raises(ValueError, match="answer_decoding goes with a Quest"):
        predict_columns(task_models["classifier"], ["a"], answer_decoding=decoding)
