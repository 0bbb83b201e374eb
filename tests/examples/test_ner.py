import json

import keras
import pytest

from examples import ner
from tftransformer.data import (
    build_tag_vocabulary,
    load_wnut16,
)
from tftransformer.evaluation import extract_entities, predict_tags
from tftransformer.testing import write_tiny_bert_preset


@pytest.fixture(scope="module")
def tiny_preset(tmp_path_factory):
    """A 1-layer BERT preset on disk, with the embedded WordPiece vocabulary."""
    return write_tiny_bert_preset(
        tmp_path_factory.mktemp("tiny_ner_preset"), num_layers=1
    )


def write_conll(path, data):
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in zip(data.words, data.tags):
            f.writelines(f"{word}\t{tag}\n" for word, tag in zip(words, tags))
            f.write("\n")
    return str(path)


TINY = dict(epochs=1, batch_size=8, max_length=32, verbose=0, learning_rate=1e-3)


def test_run_on_user_conll_files(tiny_preset, tmp_path):
    data = load_wnut16("train")
    splits = {"train": data.take(range(32)), "test": data.take(range(40, 52))}
    splits["validation"] = data.take(range(60, 68))
    files = {
        name: write_conll(tmp_path / f"{name}.txt", split)
        for name, split in splits.items()
    }
    model_dir = tmp_path / "run"
    result = ner.run(
        preset=tiny_preset,
        train_file=files["train"],
        validation_file=files["validation"],
        test_file=files["test"],
        model_dir=str(model_dir),
        **TINY,
    )
    report = result["report"]
    test = splits["test"]
    assert report.num_sentences == 12
    assert report.num_words == test.num_words
    assert report.micro["support"] == sum(len(extract_entities(t)) for t in test.tags)
    assert "val_entity_f1" in result["history"]
    for name in ["model.keras", "report.json", "history.json", "predictions.jsonl"]:
        assert (model_dir / name).stat().st_size > 0, name
    with open(model_dir / "report.json") as f:
        assert json.load(f)["micro"]["f1"] == pytest.approx(report.micro["f1"])
    with open(model_dir / "predictions.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["tokens"] for r in records] == [list(w) for w in test.words]
    assert [r["predicted"] for r in records] == result["predictions"]

    # The saved model reloads without custom_objects and tags the same.
    reloaded = keras.saving.load_model(result["model_path"])
    # One vocabulary for all files: test types unseen in training included.
    all_tags = [t for split in splits.values() for t in split.tags]
    assert reloaded.tag_names == list(build_tag_vocabulary(all_tags))
    assert predict_tags(reloaded, test.words)["tags"] == result["predictions"]


def test_run_holds_out_validation_from_a_jsonl_train_file(tiny_preset, tmp_path):
    data = load_wnut16("validation").take(range(20))
    path = tmp_path / "train.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in zip(data.words, data.tags):
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
    result = ner.run(
        preset=tiny_preset,
        train_file=str(path),
        model_dir=str(tmp_path / "run"),
        freeze_layers=1,
        **TINY,
    )
    # 10% of 20 sentences held out, and used as the test data too.
    assert result["report"].num_sentences == 2


def test_run_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="need a train_file"):
        ner.run(validation_file="dev.txt", model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="epochs must be positive"):
        ner.run(epochs=0, model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="max_length must be an integer >= 2"):
        ner.run(max_length=1, model_dir=str(tmp_path))
