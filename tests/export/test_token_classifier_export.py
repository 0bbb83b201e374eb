import json
import os
import types

import keras
import keras_hub
import numpy as np
import pytest

from tests import fork_server
from tests.export.clients import job, run_clients
from tests.fast_exit import python_command
from tftransformer.evaluation import entity_report, predict_tags
from tftransformer.export import (
    TAGS_FILE,
    LiteRTModel,
    VariantsConfig,
    export_litert,
    export_run_variants,
    export_token_classifier,
    export_variants,
)
from tftransformer.export.token_classifier_serving_module import (
    check_token_classifier,
)
from tftransformer.models import TokenClassifier, TokenClassifierPreprocessor
from tftransformer.presets import embedded_tokenizer
from tftransformer.testing import tiny_bert_backbone
from tftransformer.training import TokenClassificationConfig

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SEQUENCE_LENGTH = 12
SENTENCES = [
    "Barack Obama visits Paris",
    "",
    "rain  in\tNew York today",
    # Far more than SEQUENCE_LENGTH pieces: the last words are truncated.
    " ".join(["@paulwalk loves Berlin"] * 6),
    "a",
]

# Runs a LiteRT model (or a SavedModel) in a process without the toolkit.


def random_sentences(count, seed):
    """Sentences of 1 to 7 words drawn from the fixture's sentences."""
    rng = np.random.default_rng(seed)
    words = "Barack Obama visits Paris rain in New York today loves Berlin a".split()
    return [" ".join(rng.choice(words, size=rng.integers(1, 8))) for _ in range(count)]


# Loads the SavedModel in a process that imports only TensorFlow and
# TensorFlow Text, and prints the signature's outputs as JSON.
CLIENT = """
import json, os, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the WordPiece ops)
loaded = {m.split(".")[0] for m in sys.modules} & {"keras_hub", "tftransformer"}
assert not loaded, loaded
*version_dirs, sentences = sys.argv[1:]
def plain(value):
    value = value.numpy()
    if value.dtype == object:
        return [[s.decode("utf-8") for s in row] for row in value.tolist()]
    return value.tolist()
for version_dir in version_dirs:  # One output line per version directory.
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    outputs = serve(text=tf.constant(json.loads(sentences), tf.string))
    print(json.dumps({name: plain(value) for name, value in outputs.items()}))
sys.stdout.flush()
os._exit(0)  # TensorFlow's teardown at exit checks nothing read here.
"""


@pytest.fixture(scope="module")
def tagger():
    # Module fixtures are made before the per-test seed is set: seeded here,
    # the weights do not depend on which tests ran first on this worker.
    keras.utils.set_random_seed(1234)
    tokenizer = embedded_tokenizer()
    backbone = tiny_bert_backbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1
    )
    model = TokenClassifier(
        backbone,
        num_tags=len(TAGS),
        preprocessor=TokenClassifierPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
        tag_names=TAGS,
        # A fitted temperature: the served probabilities must apply it.
        temperature=2.5,
    )
    # Random weights predict one tag everywhere; a spread-out head makes the
    # tags differ from word to word, so the comparison means something.
    dense = model.output_dense
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 3.0, dense.get_weights()[0].shape).astype("float32")
    dense.set_weights([kernel, np.zeros(len(TAGS), "float32")])
    return model


def test_exported_signature_tags_raw_sentences_like_keras(tagger, tmp_path):
    version_dir = export_token_classifier(tagger, str(tmp_path / "ner"))
    assert version_dir == str(tmp_path / "ner" / "1")
    with open(os.path.join(version_dir, "assets", TAGS_FILE)) as f:
        assert f.read().split() == TAGS

    result = fork_server.run(
        [*python_command(), "-c", CLIENT, version_dir, json.dumps(SENTENCES)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    served = json.loads(result.stdout.strip().splitlines()[-1])

    expected = predict_tags(tagger, SENTENCES)
    num_words = [len(words) for words in expected["words"]]
    assert served["num_words"] == num_words
    max_words = max(num_words)
    for row, count in enumerate(num_words):
        pad = max_words - count
        assert served["words"][row] == expected["words"][row] + [""] * pad
        assert served["tags"][row] == expected["tags"][row] + [""] * pad
        assert served["truncated"][row] == expected["truncated"][row] + [False] * pad
        ids = [TAGS.index(tag) for tag in expected["tags"][row]]
        assert served["tag_ids"][row] == ids + [-1] * pad
        # The calibrated probabilities, softmax(logits / 2.5), as in Keras.
        np.testing.assert_allclose(
            np.array(served["probabilities"][row])[:count],
            expected["probabilities"][row].reshape(count, len(TAGS)),
            atol=1e-5,
        )
        assert not np.any(np.array(served["probabilities"][row])[count:])
    # The long sentence is cut: its last words are "O" and flagged.
    assert served["truncated"][3][-1] and served["tags"][3][-1] == "O"
    assert not any(served["truncated"][0])
    # More than one tag occurs, so the comparison is not trivially all-"O".
    assert len({tag for tags in expected["tags"] for tag in tags}) > 1


def test_export_checks_its_inputs(tagger, tmp_path):
    with pytest.raises(ValueError, match="must be a keras.Model"):
        export_token_classifier("model", str(tmp_path / "a"))
    with pytest.raises(ValueError, match="must include 'O'"):
        export_token_classifier(
            tagger, str(tmp_path / "b"), tag_names=["X", "B-A", "I-A", "B-B", "I-B"]
        )
    with pytest.raises(
        ValueError, match=r"version must be an integer >= 0 .*Received: version=-1"
    ):
        export_token_classifier(tagger, str(tmp_path / "c"), version=-1)
    # The backbone's position table ends at 32: longer inputs would fail
    # only when served.
    with pytest.raises(ValueError, match=r"max_sequence_length \(32\).*=64"):
        export_token_classifier(tagger, str(tmp_path / "d"), sequence_length=64)
    with pytest.raises(ValueError, match="tag_names='OBIXY'"):
        export_token_classifier(tagger, str(tmp_path / "e"), tag_names="OBIXY")
    with pytest.raises(ValueError, match="merge_lora='no'"):
        export_token_classifier(tagger, str(tmp_path / "f"), merge_lora="no")
    sentence_classifier = keras_hub.models.BertTextClassifier(
        tagger.backbone, num_classes=5, preprocessor=None
    )
    with pytest.raises(ValueError, match=r"per-token logits.*\(None, 5\)"):
        export_token_classifier(
            sentence_classifier,
            str(tmp_path / "g"),
            tokenizer=tagger.preprocessor.tokenizer,
            tag_names=["O", "B-A", "I-A", "B-B", "I-B"],
        )
    assert not any(os.listdir(tmp_path))


@pytest.mark.parametrize("position_kind, refused", [("learned", True), ("sine", False)])
def test_sequence_length_bound_is_the_position_table(position_kind, refused):
    # Sinusoidal and relative positions have no last position to run past.
    model = types.SimpleNamespace(
        name="tagger",
        outputs=[types.SimpleNamespace(shape=(None, None, 3))],
        backbone=types.SimpleNamespace(
            max_sequence_length=8, position_kind=position_kind
        ),
    )
    if refused:
        with pytest.raises(ValueError, match=r"\(8\).*sequence_length=16"):
            check_token_classifier(model, 16, ["O", "B-A", "I-A"])
    else:
        assert check_token_classifier(model, 16, ["O", "B-A", "I-A"])[0] == "O"


def test_int8_export_tags_raw_sentences_as_float32_does(tagger, tmp_path):
    sentences = SENTENCES + random_sentences(40, seed=0)
    precisions = ("float32", "int8")
    version_dirs = [
        export_token_classifier(tagger, str(tmp_path / precision), precision=precision)
        for precision in precisions
    ]
    # One clean process serves both exports.
    result = fork_server.run(
        [*python_command(), "-c", CLIENT, *version_dirs, json.dumps(sentences)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()[-len(precisions) :]
    served = {precision: json.loads(line) for precision, line in zip(precisions, lines)}
    assert served["int8"]["num_words"] == served["float32"]["num_words"]
    real = np.array(served["float32"]["tag_ids"]) >= 0
    float32_ids = np.array(served["float32"]["tag_ids"])[real]
    int8_ids = np.array(served["int8"]["tag_ids"])[real]
    assert len(set(float32_ids)) > 1
    assert np.mean(int8_ids == float32_ids) >= 0.98


def test_litert_tagger_tags_raw_strings_in_a_clean_process(tagger, tmp_path):
    held_out = random_sentences(100, seed=1)
    batches = [SENTENCES, [""], held_out]
    quantizations = (None, "dynamic_int8")
    files = {
        quantization: export_litert(tagger, tmp_path / str(quantization), quantization)
        for quantization in quantizations
    }
    # One clean process tags with both files.
    results = run_clients(
        [job(files[q], batches, output="tag_ids") for q in quantizations]
    )
    served = {}
    for quantization, result in zip(quantizations, results, strict=True):
        assert result["blocked_modules_loaded"] == []
        served[quantization] = result["outputs"]
    with open(tmp_path / "None" / TAGS_FILE) as f:
        assert f.read().split() == TAGS
    assert os.path.getsize(files["dynamic_int8"]) < os.path.getsize(files[None])

    # float32: the Keras tagger's tags, empty and over-long sentences included.
    expected = predict_tags(tagger, SENTENCES)
    max_words = max(len(words) for words in expected["words"])
    for row, tags in enumerate(expected["tags"]):
        ids = [TAGS.index(tag) for tag in tags]
        assert served[None][0][row] == ids + [-1] * (max_words - len(ids))
    assert served[None][1] == [[]]
    # Dynamic-range int8 agrees with float32 on the held-out words.
    float32_ids, int8_ids = (
        np.array(served[None][2]),
        np.array(served["dynamic_int8"][2]),
    )
    real = float32_ids >= 0
    assert real.sum() == sum(len(text.split()) for text in held_out)
    assert len(set(float32_ids[real])) > 1
    assert np.mean(int8_ids[real] == float32_ids[real]) >= 0.98

    # The calibrated probabilities (temperature 2.5) and the named tags.
    outputs = LiteRTModel(files[None])(SENTENCES)
    assert outputs["tags"] == expected["tags"]
    for row, count in enumerate(outputs["num_words"]):
        assert outputs["truncated"][row][:count].tolist() == expected["truncated"][row]
        np.testing.assert_allclose(
            outputs["probabilities"][row][:count],
            expected["probabilities"][row].reshape(count, len(TAGS)),
            atol=1e-5,
        )
    assert outputs["truncated"][3][-1] and outputs["tags"][3][-1] == "O"


def test_export_variants_scores_a_tagger_by_entity_f1(tagger, tmp_path):
    held_out = random_sentences(40, seed=2)
    keras_tags = predict_tags(tagger, held_out)["tags"]
    # True tags: the Keras tags with the first word of every sentence "O".
    truth = [["O"] + tags[1:] for tags in keras_tags]
    report = export_variants(
        tagger,
        tmp_path,
        held_out,
        truth,
        held_out,
        variants=["saved_model_float32", "litert_int8"],
        calls=(1, 1),
    )
    reference = report.row("saved_model_float32")
    assert reference["agreement"] == 1.0
    assert reference["entity_f1"] == pytest.approx(
        entity_report(truth, keras_tags).micro["f1"]
    )
    assert 0 < reference["entity_f1"] < 1
    quantized = report.row("litert_int8")
    assert quantized["path"].endswith("model.tflite")
    assert 0 <= quantized["entity_f1"] <= 1 and 0 < quantized["agreement"] <= 1
    assert "entity F1" in report.format() and "accuracy" not in report.rows[1]
    with pytest.raises(ValueError, match="one tag per whitespace-separated word"):
        export_variants(tagger, tmp_path / "bad", ["a b"], [["O"]], ["a b"])


def test_export_run_variants_tells_a_tagger_and_its_int8_agreement(tagger, tmp_path):
    # A run's tagging data, tagged by the Keras tagger: 100 training
    # sentences calibrate litert_int8, 100 held-out ones test.
    files = {}
    for split, seed in (("train", 3), ("test", 4)):
        sentences = random_sentences(100, seed=seed)
        tags = predict_tags(tagger, sentences)["tags"]
        files[split] = str(tmp_path / f"{split}.jsonl")
        with open(files[split], "w") as f:
            for sentence, sentence_tags in zip(sentences, tags):
                example = {"tokens": sentence.split(), "tags": sentence_tags}
                f.write(json.dumps(example) + "\n")
    # The data settings of any head, as examples/export_variants.py takes
    # them: a tagger's are read as a TokenClassificationConfig.
    config = VariantsConfig(
        train_file=files["train"],
        validation_file=files["test"],
        test_file=files["test"],
    )
    task_config = config.task_config(tagger)
    assert type(task_config) is TokenClassificationConfig
    assert task_config.test_file == files["test"]
    directory = tmp_path / "variants"
    report = export_run_variants(
        tagger,
        config,
        directory,
        representative_examples=100,
        variants=["saved_model_float32", "litert_float32", "litert_int8"],
        calls=(1, 1),
    )
    assert report.num_test_examples == 100
    assert report.row("saved_model_float32")["entity_f1"] == 1.0
    assert report.row("litert_float32")["agreement"] == 1.0
    # Full int8 (activations too) moves this random-weight tagger's tags
    # where two tags are nearly tied: 0.96 to 0.97 of the 398 words
    # measured (docs/serving.md).
    assert report.row("litert_int8")["agreement"] >= 0.9
    assert {"report.json", "report.md"} <= set(os.listdir(directory))
