import csv
import dataclasses
import gc
import json
import os
import shutil
import types

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.export.clients import job, run_clients
from tftransformer.data import RegressionData, TextClassificationData
from tftransformer.export import (
    LITERT_FILE,
    VARIANTS,
    LiteRTModel,
    VariantsConfig,
    VariantsReport,
    export_litert,
    export_run_variants,
    export_text_embedder,
    export_variants,
    inference_copy,
)
from tftransformer.hardware import onednn_enabled
from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    TextClassifier,
    TextClassifierPreprocessor,
    TextEmbedder,
    TextRegressor,
)
from tftransformer.presets import load_backbone
from tftransformer.training import (
    ClassificationConfig,
    MultiLabelConfig,
    RegressionConfig,
)

SEQUENCE_LENGTH = 16
POSITIVE = "great fine charming quietly devastating".split()
NEGATIVE = "awful dull mess boring overlong".split()
NEUTRAL = "the movie was a film but".split()
LONG_TEXT = " ".join((POSITIVE + NEUTRAL) * 10)  # far past SEQUENCE_LENGTH
# Edge cases of the variants' raw strings: one text, and empty, over-long
# and short ones together.
RAW_BATCHES = [["a fine film"], ["", LONG_TEXT, "dull"]]
PAIR_BATCH = [
    ("", ""),
    ("a fine film", ""),
    ("", "dull"),
    (LONG_TEXT, "dull"),
    ("great", LONG_TEXT),
    (LONG_TEXT, LONG_TEXT),
]
PAIR_VARIANTS = ["litert_float32", "litert_dynamic_int8"]
INT8_VARIANTS = [name for name in VARIANTS if "int8" in name]
LITERT_VARIANTS = [name for name in VARIANTS if name.startswith("litert")]
# The multi-label classifier's labels: which word groups a text holds.
WORD_GROUPS = {
    "positive": POSITIVE,
    "negative": NEGATIVE,
    "film": ["movie", "film"],
}
# An int8 regressor agrees with float32 when its score is within this many
# target standard deviations: a twentieth of the targets' spread, far below
# the float32 model's own error (its RMSE is 0.43 of it after the 9 passes
# over the data here), so a score within it would not change how well the
# model scores.
# Dynamic-range int8 scores of the tiny regressor stayed within 0.003
# deviations of float32 in earlier runs of 12 epochs.
SCORE_TOLERANCE = 0.05
# Full int8 (activations too) of the tiny regressor misses that tolerance
# on most texts (0.22 of the held-out scores within it, the largest
# deviation 0.59 target standard deviations, measured 2026-11-27): the
# activations of its random-start backbone are tiny (embeddings around
# 0.02, variances around 0.007), and per-tensor int8 ranges through its
# layer norms move each layer's outputs by up to a quarter of their range
# (measured tensor by tensor on one text). Kept as a strict expected
# failure: it passes the day full int8 becomes accurate enough.
# The same ranges flip some of the multi-label classifier's decisions near
# its thresholds: full int8 agreed with Keras on 0.93 of the held-out
# (text, label) decisions here, dynamic-range int8 on all. Full int8 is
# held to this bound.
FULL_INT8_MULTI_LABEL_AGREEMENT = 0.9
# The single-label classifier's full-int8 file agreed with float32 on all
# 100 held-out texts here; dynamic-range and Keras int8 stay held to 0.98.
# (The outputs these tests compare, 2026-11-27; full int8 calibrates the
# same way every time, BUILD_NOTES.md.)
FULL_INT8_AGREEMENT = 0.95
# Both heads pool the [CLS] vector, as when the bounds here were measured;
# full int8 of a mean-pooled model has its own test below.
POOLING = "cls"
FULL_INT8_REGRESSION = (
    "full int8 regression scores deviate from float32 by up to about 0.6 "
    "target standard deviations on the tiny regressor"
)


def reviews(count, seed):
    """Texts of 1 to 8 words labelled by their sentiment words."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(count):
        label = int(rng.integers(2))
        words = list(rng.choice(NEUTRAL, size=rng.integers(0, 4)))
        words += list(rng.choice(POSITIVE if label else NEGATIVE, rng.integers(1, 4)))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, np.array(labels)


def review_pairs(count, seed):
    """Pairs of reviews labelled by the second review's sentiment."""
    firsts, _ = reviews(count, seed)
    seconds, labels = reviews(count, seed + 100)
    return list(zip(firsts, seconds)), labels


def pair_probabilities(model, pairs):
    """The Keras model's probabilities of `(text, text_pair)` tuples."""
    texts, text_pairs = (tf.constant(list(part)) for part in zip(*pairs))
    logits = model(model.preprocessor(x=(texts, text_pairs)), training=False)
    return keras.ops.convert_to_numpy(keras.ops.softmax(logits))


@pytest.fixture(scope="module")
def classifier(tiny_preset):
    keras.utils.set_random_seed(0)
    model = TextClassifier.from_preset(
        tiny_preset,
        num_classes=2,
        sequence_length=SEQUENCE_LENGTH,
        label_names=["negative", "positive"],
    )
    texts, labels = reviews(256, seed=0)
    # Three passes in a new order each, in one epoch: no new input pipeline
    # per pass (over a second each).
    # A seeded order: the weights do not depend on which tests ran before.
    data = tf.data.Dataset.from_tensor_slices((texts, labels)).shuffle(256, seed=0)
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    model.fit(data.repeat(3).batch(32), verbose=0)
    return model


@pytest.fixture(scope="module")
def held_out():
    return reviews(100, seed=1)


@pytest.fixture(scope="module")
def report(classifier, held_out, tmp_path_factory):
    texts, labels = held_out
    directory = tmp_path_factory.mktemp("variants")
    train_texts, _ = reviews(64, seed=2)
    return export_variants(
        classifier, directory, texts, labels, train_texts, calls=(2, 1)
    )


@pytest.fixture(scope="module")
def pair_classifier(tiny_preset):
    keras.utils.set_random_seed(0)
    model = TextClassifier.from_preset(
        tiny_preset, num_classes=2, sequence_length=SEQUENCE_LENGTH
    )
    pairs, labels = review_pairs(256, seed=0)
    texts, text_pairs = (list(part) for part in zip(*pairs))
    data = tf.data.Dataset.from_tensor_slices(((texts, text_pairs), labels))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # Six passes in one epoch: the steps of `epochs=6`, in the same order,
    # without a new input pipeline per epoch (over a second each).
    model.fit(data.repeat(6).batch(32), verbose=0)
    return model


@pytest.fixture(scope="module")
def held_out_pairs():
    return review_pairs(100, seed=1)


@pytest.fixture(scope="module")
def pair_report(pair_classifier, held_out_pairs, tmp_path_factory):
    pairs, labels = held_out_pairs
    directory = tmp_path_factory.mktemp("pair_variants")
    train_pairs, _ = review_pairs(64, seed=2)
    return export_variants(
        pair_classifier,
        directory,
        pairs,
        labels,
        train_pairs,
        calls=(2, 1),
        text_pair=True,
    )


@pytest.fixture(scope="module")
def clean_process_answers(report, held_out, pair_report, held_out_pairs):
    """The answers of `variant_answers` and `pair_answers`, all in one clean
    process (a process costs seconds)."""
    texts, _ = held_out
    pairs, _ = held_out_pairs
    jobs = [job(report.row(name)["path"], RAW_BATCHES + [texts]) for name in VARIANTS]
    jobs += [
        job(pair_report.row(name)["path"], [PAIR_BATCH, pairs])
        for name in PAIR_VARIANTS
    ]
    results = run_clients(jobs)
    return results[: len(VARIANTS)], results[len(VARIANTS) :]


@pytest.fixture(scope="module")
def variant_answers(clean_process_answers):
    """Each variant's answers to raw strings, in a clean process: the
    batches of `RAW_BATCHES` and the held-out texts."""
    return dict(zip(VARIANTS, clean_process_answers[0]))


@pytest.fixture(scope="module")
def pair_answers(clean_process_answers):
    """The LiteRT pair classifiers' answers to raw pairs, in a clean process:
    edge cases (`PAIR_BATCH`) and the held-out pairs."""
    return dict(zip(PAIR_VARIANTS, clean_process_answers[1]))


@pytest.fixture(scope="module")
def float32_labels(variant_answers):
    """The float32 SavedModel's labels of the held-out texts, in a clean process."""
    return np.argmax(variant_answers["saved_model_float32"]["outputs"][2], axis=-1)


def test_the_trained_fixture_predicts_both_classes(report):
    # Otherwise agreement between variants would say nothing.
    assert report.row("saved_model_float32")["accuracy"] > 0.8


def test_report_has_a_row_per_variant_with_every_measure(report):
    assert [row["variant"] for row in report.rows] == list(VARIANTS)
    for row in report.rows:
        assert row["size_bytes"] > 0
        assert row["p99_ms_batch_32"] >= row["p50_ms_batch_32"] > 0
    table = report.format()
    assert len(table.splitlines()) == 2 + len(VARIANTS)
    written = json.loads(report.to_json())
    assert written["num_test_examples"] == 100
    # The latencies name the machine and kernels they were timed with:
    # oneDNN on or off changes a SavedModel's latency twofold.
    assert written["machine"] == report.machine
    assert report.machine["onednn"] == onednn_enabled()
    assert report.machine["usable_cores"] >= 1 and report.machine["summary"]
    # And the interpreter the LiteRT variants ran on.
    litert = LiteRTModel(report.row("litert_float32")["path"])
    assert report.machine["litert_runtime"] == litert.runtime == "litert"
    with pytest.raises(ValueError, match="Received: machine='x86'"):
        VariantsReport(report.rows, 100, machine="x86")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_variant_answers_raw_strings_in_a_clean_process(
    report, held_out, variant_answers, float32_labels, variant
):
    texts, _ = held_out
    batches = RAW_BATCHES + [texts]
    result = variant_answers[variant]
    assert result["blocked_modules_loaded"] == []
    assert result["dtypes"] == ["float32"] * 3
    for batch, probabilities in zip(batches, result["outputs"]):
        probabilities = np.array(probabilities)
        assert probabilities.shape == (len(batch), 2)
        np.testing.assert_allclose(probabilities.sum(axis=-1), 1.0, atol=1e-3)
    labels = np.argmax(result["outputs"][2], axis=-1)
    assert len(set(float32_labels)) == 2
    if variant == "litert_int8":
        assert np.mean(labels == float32_labels) >= FULL_INT8_AGREEMENT
    elif variant in INT8_VARIANTS:
        assert np.mean(labels == float32_labels) >= 0.98
    else:
        # float32 variants differ from the Keras model only by float rounding.
        assert report.row(variant)["agreement"] == 1.0


def test_pair_report_scores_every_variant_on_pairs(pair_report):
    assert [row["variant"] for row in pair_report.rows] == list(VARIANTS)
    reference = pair_report.row("saved_model_float32")
    # Otherwise agreement between variants would say nothing.
    assert reference["accuracy"] > 0.8
    assert pair_report.row("litert_float32")["accuracy"] == reference["accuracy"]
    for name in INT8_VARIANTS:
        assert pair_report.row(name)["size_bytes"] < reference["size_bytes"]


@pytest.mark.parametrize("variant", PAIR_VARIANTS)
def test_litert_pair_classifier_in_a_clean_process(
    pair_classifier, pair_answers, held_out_pairs, variant
):
    pairs, _ = held_out_pairs
    batches = [PAIR_BATCH, pairs]
    result = pair_answers[variant]
    assert result["blocked_modules_loaded"] == []
    assert result["dtypes"] == ["float32"] * 2
    expected = [pair_probabilities(pair_classifier, batch) for batch in batches]
    if variant == "litert_float32":
        for outputs, probabilities in zip(result["outputs"], expected):
            np.testing.assert_allclose(outputs, probabilities, atol=1e-5)
    else:
        labels = np.argmax(result["outputs"][1], axis=-1)
        reference = np.argmax(expected[1], axis=-1)
        assert len(set(reference)) == 2
        assert np.mean(labels == reference) >= 0.98


def test_export_run_variants_reads_a_runs_pairs(pair_classifier, tmp_path):
    files = {}
    for split, (pairs, labels) in (
        ("train", review_pairs(64, seed=2)),
        ("test", review_pairs(100, seed=1)),
    ):
        files[split] = str(tmp_path / f"{split}.csv")
        with open(files[split], "w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["text", "text_pair", "label"])
            writer.writerows((a, b, label) for (a, b), label in zip(pairs, labels))
    config = ClassificationConfig(
        train_file=files["train"],
        validation_file=files["test"],
        test_file=files["test"],
        text_pair_column="text_pair",
    )
    report = export_run_variants(
        pair_classifier,
        config,
        tmp_path / "variants",
        representative_examples=16,
        variants=["saved_model_float32", "litert_float32"],
        calls=(1, 1),
    )
    assert report.num_test_examples == 100
    reference = report.row("saved_model_float32")
    assert reference["accuracy"] > 0.8
    assert report.row("litert_float32")["accuracy"] == reference["accuracy"]
    assert report.row("litert_float32")["agreement"] == 1.0
    # Without text_pair_column, a run trained on pairs (its run_config.json)
    # was exported and scored on its first texts alone.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "run_config.json").write_text(json.dumps({"text_pair_column": "b"}))
    single = dataclasses.replace(config, text_pair_column=None, model_dir=str(run_dir))
    with pytest.raises(ValueError, match=r"trained on sentence pairs"):
        export_run_variants(pair_classifier, single, tmp_path / "single")
    assert not (tmp_path / "single").exists()


def test_a_runs_test_labels_are_read_in_the_models_order():
    # A model with label_names ["pos", "neg"] was scored against the file's
    # ids (neg = 0): 0.025 accuracy for 0.975; a regressor's targets
    # against the config's column order.
    from tftransformer.export.export_run_variants import _class_ids, _target_columns

    data = TextClassificationData(["a", "b", "c"], [0, 1, 1], ("neg", "pos"))
    model = types.SimpleNamespace(label_names=["pos", "neg"])
    np.testing.assert_array_equal(_class_ids(model, data), [1, 0, 0])
    with pytest.raises(ValueError, match=r"labels \['pos'\] are not among"):
        _class_ids(types.SimpleNamespace(label_names=["neg", "mid"]), data)
    targets = RegressionData(["x", "y"], [[0.5, 100], [0.25, 101]], ("a", "b"))
    model = types.SimpleNamespace(target_names=("b", "a"))
    np.testing.assert_array_equal(
        _target_columns(model, targets), [[100, 0.5], [101, 0.25]]
    )
    # Another file's column names are taken as given (as evaluate.py does);
    # some of the model's with others are refused.
    other = types.SimpleNamespace(target_names=("c", "d"))
    np.testing.assert_array_equal(_target_columns(other, targets), targets.targets)
    with pytest.raises(ValueError, match="name some of the model's targets"):
        _target_columns(types.SimpleNamespace(target_names=("a", "z")), targets)


@pytest.mark.parametrize("truncate", ["round_robin", "waterfall"])
def test_litert_pair_packing_is_the_preprocessors(pair_classifier, truncate):
    # The graph the LiteRT file is converted from, run in TensorFlow, on
    # every pair of lengths from empty to past the sequence length.
    from tftransformer.export.litert_export import _LiteRTPairModule

    tokenizer = pair_classifier.preprocessor.tokenizer
    preprocessor = TextClassifierPreprocessor(
        tokenizer, SEQUENCE_LENGTH, truncate=truncate, pad_to_multiple_of=1
    )
    module = _LiteRTPairModule(
        pair_classifier, tokenizer, SEQUENCE_LENGTH, truncate=truncate
    )
    texts = [" ".join(POSITIVE[:1] * length) for length in (0, 1, 2, 6, 7, 8, 20)]
    firsts, seconds = zip(*[(a, b) for a in texts for b in texts])
    firsts, seconds = tf.constant(firsts), tf.constant(seconds)
    expected = preprocessor(x=(firsts, seconds))
    packed = module.pack_pair(firsts, seconds)
    assert sorted(packed) == sorted(expected)
    for key, value in expected.items():
        np.testing.assert_array_equal(packed[key], value, err_msg=key)


def test_litert_pair_classifier_refuses_bad_pairs(
    pair_classifier, pair_report, tmp_path
):
    litert_model = LiteRTModel(pair_report.row("litert_float32")["path"])
    assert litert_model.text_pair
    with pytest.raises(ValueError, match="text_pairs=None"):
        litert_model(["a fine film"])
    with pytest.raises(ValueError, match="2 texts and 1 text_pairs"):
        litert_model(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="text_pair='yes'"):
        export_litert(pair_classifier, tmp_path, text_pair="yes")
    with pytest.raises(ValueError, match="tuples"):
        export_litert(pair_classifier, tmp_path, "int8", ["a b"], text_pair=True)
    with pytest.raises(ValueError, match="at 1: 'dull'"):
        export_variants(
            pair_classifier, tmp_path, [("a", "b"), "dull"], [0, 1], [], text_pair=True
        )


def test_litert_embedder_embeds_as_the_keras_model(tiny_preset, tmp_path):
    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=SEQUENCE_LENGTH)
    embedder = TextEmbedder(
        backbone,
        preprocessor=TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
    )
    texts = ["a short text", "", LONG_TEXT]
    with pytest.raises(ValueError, match="not a classifier"):
        export_litert(embedder, tmp_path / "pairs", text_pair=True)
    tflite_file = export_litert(embedder, tmp_path / "litert")
    assert tflite_file.endswith(LITERT_FILE)
    int8_file = export_litert(embedder, tmp_path / "int8", "dynamic_int8")
    assert os.path.getsize(int8_file) < os.path.getsize(tflite_file)
    embeddings = LiteRTModel(int8_file)(texts)["embedding"]
    # Unit vectors: a cosine close to 1 with the float32 ones.
    cosines = np.sum(embeddings * embedder.embed(texts), axis=-1)
    assert np.all(cosines > 0.95), cosines
    # Full int8 keeps mean pooling's sums in float32 (FLOAT_OPS): int8 ones
    # were calibrated to ranges longer texts overflow (cosines 0.89 to 0.94
    # from 9 words on, when measured; 0.9997 or more with them in float32).
    long_texts = [" ".join((POSITIVE + NEUTRAL)[:n]) for n in range(0, 22, 3)]
    calibration = reviews(64, seed=2)[0]
    full_int8 = LiteRTModel(
        export_litert(embedder, tmp_path / "full", "int8", calibration)
    )
    embeddings = full_int8(texts + long_texts)["embedding"]
    # Its int8 normalization leaves them near unit length, not at it.
    embeddings /= np.linalg.norm(embeddings, axis=-1, keepdims=True)
    cosines = np.sum(embeddings * embedder.embed(texts + long_texts), axis=-1)
    assert np.all(cosines > 0.995), cosines
    # Calibrated on the texts themselves, every time: the same data gives
    # the same model (fed as string tensors, TensorFlow's calibrator saw
    # other tokens in each run, cosines down to 0.978).
    again = LiteRTModel(
        export_litert(embedder, tmp_path / "again", "int8", calibration)
    )
    np.testing.assert_array_equal(
        again(texts + long_texts)["embedding"],
        full_int8(texts + long_texts)["embedding"],
    )
    directory = export_text_embedder(embedder, tmp_path / "serving", precision="int8")
    # The float32 LiteRT file and the int8 SavedModel, in one clean process.
    litert, result = run_clients(
        [job(path, [texts], "embedding") for path in (tflite_file, directory)]
    )
    np.testing.assert_allclose(litert["outputs"][0], embedder.embed(texts), atol=1e-4)
    cosines = np.sum(np.array(result["outputs"][0]) * embedder.embed(texts), axis=-1)
    assert np.all(cosines > 0.95), cosines


def test_mixed_precision_lora_model_exports_int8_from_merged_float32(
    classifier, held_out, tmp_path
):
    texts, _ = held_out
    keras.config.set_dtype_policy("mixed_bfloat16")
    config = classifier.get_config()
    config["preprocessor"] = classifier.preprocessor  # its vocabulary is an asset
    mixed = TextClassifier.from_config(config)
    keras.config.set_dtype_policy("float32")
    mixed.set_weights(classifier.get_weights())
    mixed.backbone.enable_lora(rank=2)
    lora_layer = next(
        layer
        for layer in mixed._flatten_layers(include_self=False)
        if getattr(layer, "lora_enabled", False)
    )
    lora_layer.lora_kernel_b.assign(np.ones(lora_layer.lora_kernel_b.shape) * 0.1)
    copy = inference_copy(mixed, precision="int8")
    assert copy.compute_dtype == "float32"
    assert not any(
        getattr(layer, "lora_enabled", False) for layer in copy._flatten_layers()
    )
    assert any(
        getattr(layer, "quantization_mode", None) == "int8"
        for layer in copy._flatten_layers()
    )
    tflite_file = export_litert(mixed, tmp_path / "litert", "dynamic_int8")
    probabilities = LiteRTModel(tflite_file)(texts)["probabilities"]
    assert probabilities.dtype == np.float32
    merged = inference_copy(mixed)  # float32, adapters merged
    # Called eagerly: `predict` would trace a function first.
    logits = merged(merged.preprocessor(tf.constant(texts)), training=False)
    reference = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    assert np.mean(np.argmax(probabilities, -1) == np.argmax(reference, -1)) >= 0.98


def test_int8_copy_leaves_the_objects_a_caller_froze_frozen(classifier):
    # A pre-forking server freezes what it loaded before forking: quantizing
    # must not unfreeze it (`gc.unfreeze` releases every frozen object).
    loaded = [classifier]
    gc.freeze()
    try:
        copy = inference_copy(classifier, precision="int8")
        # Frozen objects are in none of the collector's generations.
        assert all(o is not loaded for o in gc.get_objects())
    finally:
        gc.unfreeze()
    assert any(o is loaded for o in gc.get_objects())
    assert any(
        getattr(layer, "quantization_mode", None) == "int8"
        for layer in copy._flatten_layers()
    )


def test_full_int8_mean_pooling_runs_on_every_kernel_set(tiny_preset, tmp_path):
    # TextRegressor's default pooling, the mean: a sum and a division by the
    # token count. Its int8 DIV failed (`div.cc:242 data[i] != 0`) on short
    # texts in LiteRT's builtin kernels (XNNPACK, the default, took the op).
    # Its scores are not compared with Keras: full int8 of the random-weight
    # backbone is far off (see FULL_INT8_REGRESSION).
    model = TextRegressor.from_preset(
        tiny_preset, num_targets=1, sequence_length=SEQUENCE_LENGTH
    )
    assert model.get_config()["pooling"] == "mean"
    tflite_file = export_litert(model, tmp_path, "int8", reviews(64, seed=2)[0])
    interpreter = tf.lite.Interpreter(model_path=tflite_file)
    tensors = {t["index"]: t for t in interpreter.get_tensor_details()}
    dtypes = {name: set() for name in ("DIV", "SUM", "FULLY_CONNECTED")}
    for op in interpreter._get_ops_details():
        if op["op_name"] in dtypes:
            dtypes[op["op_name"]].update(
                tensors[i]["dtype"] for i in op["inputs"] if i in tensors
            )
    # Mean pooling in float32 (a SUM's second input: its int32 axis), the
    # layers around it in int8.
    assert dtypes["DIV"] == {np.float32}, dtypes
    assert dtypes["SUM"] == {np.float32, np.int32}, dtypes
    assert np.int8 in dtypes["FULLY_CONNECTED"]
    # The score's int8 step: the scale of the last DEQUANTIZE's input (the
    # head's output), in target units.
    (*_, last) = (
        op for op in interpreter._get_ops_details() if op["op_name"] == "DEQUANTIZE"
    )
    scale = tensors[last["inputs"][0]]["quantization"][0]
    step = scale * float(model.standardization()[1][0])
    texts = ["", "a", "the", "film", "a fine film", LONG_TEXT]
    batches = [[text] for text in texts] + [texts]
    kernel_sets = ("BUILTIN_REF", "AUTO")
    results = run_clients(
        [job(tflite_file, batches, "score", kernels) for kernels in kernel_sets]
    )
    for result in results:
        assert result["blocked_modules_loaded"] == []
        scores = np.array(result["outputs"][-1])
        assert scores.shape == (len(texts), 1)
        assert np.all(np.isfinite(scores))
        # A batch is padded to its longest text: the padding can move one
        # intermediate rounding, and the score by one int8 step, no more.
        for text, single in zip(texts, result["outputs"]):
            np.testing.assert_allclose(
                single, scores[texts.index(text)][None], rtol=0, atol=1.01 * step
            )


def test_bad_arguments_are_refused(classifier, report, tmp_path):
    with pytest.raises(ValueError, match="quantization=.int4."):
        export_litert(classifier, tmp_path, quantization="int4")
    with pytest.raises(ValueError, match="representative_texts=None"):
        export_litert(classifier, tmp_path, quantization="int8")
    with pytest.raises(ValueError, match="precision='float16'"):
        inference_copy(classifier, precision="float16")
    with pytest.raises(ValueError, match="must start with 'saved_model_float32'"):
        export_variants(classifier, tmp_path, ["a"], [0], ["a"], ["litert_int8"])
    with pytest.raises(ValueError, match="equal length"):
        export_variants(classifier, tmp_path, ["a", "b"], [0], ["a"])
    # A class id past the classes was scored as always wrong; a single
    # variant name was read letter by letter.
    with pytest.raises(ValueError, match=r"class id in \[0, 2\) per text.*\[5\]"):
        export_variants(classifier, tmp_path, ["a"], [5], ["a"])
    with pytest.raises(ValueError, match=r"not a single string.*'litert_float32'$"):
        export_variants(classifier, tmp_path, ["a"], [0], ["a"], "litert_float32")
    # No calibration texts for litert_int8: refused before the reference
    # variant was written (a rerun then met "already holds the variants").
    with pytest.raises(ValueError, match=r"list of texts. Received: .*=\[\]$"):
        export_variants(classifier, tmp_path / "none", ["a"], [0], [])
    assert not (tmp_path / "none").exists()
    with pytest.raises(ValueError, match="single texts, not pairs"):
        LiteRTModel(report.row("litert_float32")["path"])(["a"], ["b"])


def test_existing_variants_are_refused_before_any_is_written(
    classifier, report, tmp_path
):
    # A run into a directory holding the LiteRT variant but not the
    # SavedModel wrote the SavedModel, then stopped at the LiteRT file.
    litert = os.path.dirname(report.row("litert_float32")["path"])
    shutil.copytree(litert, tmp_path / "litert_float32")
    with pytest.raises(
        ValueError,
        match=r"already holds the variants \['litert_float32'\]; pass "
        r"overwrite=True \(--overwrite\)",
    ):
        export_variants(
            classifier,
            tmp_path,
            ["a"],
            [0],
            ["a"],
            variants=["saved_model_float32", "litert_float32"],
        )
    assert sorted(os.listdir(tmp_path)) == ["litert_float32"]


def test_litert_graph_applies_the_fitted_temperature(classifier):
    # The module the LiteRT file is converted from, run in TensorFlow.
    from tftransformer.export.litert_export import _LiteRTTextModule

    texts = ["great fine film", "awful dull mess", ""]
    tokenizer = classifier.preprocessor.tokenizer
    plain = _LiteRTTextModule(classifier, tokenizer, SEQUENCE_LENGTH)
    classifier.temperature = 2.0
    try:
        scaled = _LiteRTTextModule(classifier, tokenizer, SEQUENCE_LENGTH)
    finally:
        classifier.temperature = 1.0
    p1 = plain.serve(texts)["probabilities"].numpy()
    p2 = scaled.serve(texts)["probabilities"].numpy()
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(np.log(p1) / 2.0))
    np.testing.assert_allclose(p2, expected, atol=1e-5)
    assert not np.allclose(p1, p2, atol=1e-3)


def word_counts(count, seed):
    """Texts of 0 to 6 words, and how many words of each group each holds."""
    rng = np.random.default_rng(seed)
    vocabulary = POSITIVE + NEGATIVE + NEUTRAL
    texts = [
        " ".join(rng.choice(vocabulary, size=rng.integers(0, 7))) for _ in range(count)
    ]
    counts = np.array(
        [
            [
                sum(word in group for word in text.split())
                for group in WORD_GROUPS.values()
            ]
            for text in texts
        ]
    )
    return texts, counts


def head_examples(head, count, seed):
    """A head's examples and labels: single texts and their word groups for
    the multi-label classifier, pairs and their summed sentiment (positive
    minus negative words) for the regressor."""
    texts, counts = word_counts(count, seed)
    if head == "multi_label":
        return texts, (counts > 0).astype("int32")
    pairs, pair_counts = word_counts(count, seed + 100)
    scores = counts[:, 0] - counts[:, 1] + pair_counts[:, 0] - pair_counts[:, 1]
    return list(zip(texts, pairs)), scores[:, None].astype("float32")


def keras_answers(model, examples):
    """The Keras model's answers, as its exports answer them."""
    if isinstance(examples[0], tuple):
        texts, text_pairs = (tf.constant(list(part)) for part in zip(*examples))
        inputs = (texts, text_pairs)
    else:
        inputs = tf.constant(examples)
    outputs = model(model.preprocessor(x=inputs), training=False)
    outputs = keras.ops.convert_to_numpy(outputs)
    if isinstance(model, TextRegressor):
        mean, std = model.standardization()
        return {"score": outputs * std + mean}
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.sigmoid(outputs / model.temperature)
    )
    return {
        "probabilities": probabilities,
        "predicted": probabilities >= np.array(model.decision_thresholds()),
    }


HEAD_OUTPUTS = {"multi_label": "probabilities,predicted", "regressor": "score"}
EDGE_TEXTS = ["", LONG_TEXT, "a fine film", "dull"]
EDGE_PAIRS = [
    ("", ""),
    ("a fine film", ""),
    (LONG_TEXT, "dull"),
    (LONG_TEXT, LONG_TEXT),
]


@pytest.fixture(scope="module", params=["multi_label", "regressor"])
def head(request, tiny_preset, tmp_path_factory):
    """A trained head, its held-out examples and its variants' report.

    The multi-label classifier (fitted temperature and per-label thresholds
    set) reads single texts; the regressor (targets standardized) reads
    pairs: together they cover both inputs and both heads.
    """
    keras.utils.set_random_seed(0)
    name = request.param
    examples, labels = head_examples(name, 256, seed=0)
    if name == "multi_label":
        model = MultiLabelClassifier.from_preset(
            tiny_preset,
            num_labels=len(WORD_GROUPS),
            sequence_length=SEQUENCE_LENGTH,
            label_names=list(WORD_GROUPS),
            pooling=POOLING,
            temperature=1.5,
            thresholds=[0.4, 0.5, 0.6],
        )
        data = tf.data.Dataset.from_tensor_slices((examples, labels))
    else:
        model = TextRegressor.from_preset(
            tiny_preset,
            num_targets=1,
            sequence_length=SEQUENCE_LENGTH,
            pooling=POOLING,
            target_mean=labels.mean(axis=0).tolist(),
            target_std=labels.std(axis=0).tolist(),
        )
        texts, text_pairs = (list(part) for part in zip(*examples))
        # In the targets' units: the model standardizes them.
        data = tf.data.Dataset.from_tensor_slices(((texts, text_pairs), labels))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    # Nine passes in one epoch: the steps of `epochs=9`, in the same order,
    # without a new input pipeline per epoch (over a second each).
    model.fit(data.repeat(9).batch(32), verbose=0)
    held_out = head_examples(name, 100, seed=1)
    report = export_variants(
        model,
        tmp_path_factory.mktemp(f"{name}_variants"),
        held_out[0],
        held_out[1],
        head_examples(name, 64, seed=2)[0],
        calls=(2, 1),
        text_pair=name == "regressor",
        score_tolerance=SCORE_TOLERANCE,
    )
    return types.SimpleNamespace(
        name=name,
        model=model,
        text_pair=name == "regressor",
        held_out=held_out,
        report=report,
    )


def test_head_report_scores_every_variant(head):
    report = head.report
    assert [row["variant"] for row in report.rows] == list(VARIANTS)
    reference = report.row("saved_model_float32")
    litert = report.row("litert_float32")
    assert litert["agreement"] == 1.0
    if head.name == "multi_label":
        # Otherwise agreement between variants would say nothing.
        assert reference["micro_f1"] > 0.8 and reference["macro_f1"] > 0.8
        assert litert["micro_f1"] == reference["micro_f1"]
        headings = ["micro F1", "macro F1"]
    else:
        targets = head.held_out[1]
        assert reference["rmse"] < 0.5 * targets.std()
        assert litert["rmse"] == pytest.approx(reference["rmse"], abs=1e-4)
        headings = ["RMSE"]
    table = report.format()
    assert all(heading in table.splitlines()[0] for heading in headings)
    assert "test accuracy" not in table
    for name in INT8_VARIANTS:
        assert report.row(name)["size_bytes"] < reference["size_bytes"]


def head_batches(head):
    """The batches a head's LiteRT variants answer: edge cases and held-out
    examples."""
    return [EDGE_PAIRS if head.text_pair else EDGE_TEXTS, head.held_out[0]]


def other_input_examples(head):
    """Examples of the input the head was not trained on: pairs for the
    multi-label classifier, single texts for the regressor."""
    if head.text_pair:
        return EDGE_TEXTS + ["great film"]
    return EDGE_PAIRS + list(zip(EDGE_TEXTS, reversed(EDGE_TEXTS)))


@pytest.fixture(scope="module")
def head_answers(head, tmp_path_factory):
    """Each LiteRT variant's answers to a head's batches, and (`other_input`)
    a float32 LiteRT file's of the head on the other input, in one clean
    process."""
    output = HEAD_OUTPUTS[head.name]
    other_file = export_litert(
        head.model,
        tmp_path_factory.mktemp(f"{head.name}_other_input"),
        text_pair=not head.text_pair,
    )
    jobs = [
        job(head.report.row(name)["path"], head_batches(head), output)
        for name in LITERT_VARIANTS
    ]
    jobs.append(job(other_file, [other_input_examples(head)], output))
    return dict(zip([*LITERT_VARIANTS, "other_input"], run_clients(jobs)))


@pytest.mark.parametrize("variant", LITERT_VARIANTS)
def test_head_litert_variant_in_a_clean_process(head, head_answers, variant, request):
    if (head.name, variant) == ("regressor", "litert_int8"):
        request.applymarker(pytest.mark.xfail(strict=True, reason=FULL_INT8_REGRESSION))
    batches = head_batches(head)
    result = head_answers[variant]
    assert result["blocked_modules_loaded"] == []
    outputs = {
        name: [np.array(batch) for batch in value["outputs"]]
        for name, value in result["by_name"].items()
    }
    expected = [keras_answers(head.model, batch) for batch in batches]
    for name, value in result["by_name"].items():
        assert value["dtypes"] == ["bool" if name == "predicted" else "float32"] * 2
        for batch, answer in zip(expected, outputs[name]):
            assert answer.shape == batch[name].shape
    if head.name == "multi_label":
        decisions = [batch["predicted"] for batch in expected]
        # Labels predicted and not, so agreement says something.
        assert 0.2 < np.mean(decisions[1]) < 0.8
    if variant == "litert_float32":
        # The Keras model and the LiteRT graph differ only by float rounding.
        for name, answers in outputs.items():
            for answer, batch in zip(answers, expected):
                if name == "predicted":
                    np.testing.assert_array_equal(answer, batch[name])
                else:
                    np.testing.assert_allclose(answer, batch[name], atol=1e-5)
    elif head.name == "multi_label":
        # Each (text, label) decision.
        agreement = np.mean(outputs["predicted"][1] == decisions[1])
        if variant == "litert_int8":
            assert agreement >= FULL_INT8_MULTI_LABEL_AGREEMENT, agreement
        else:
            assert agreement >= 0.98, agreement
    else:
        deviation = np.abs(outputs["score"][1] - expected[1]["score"])
        tolerance = SCORE_TOLERANCE * head.model.standardization()[1]
        assert np.mean(deviation <= tolerance) >= 0.98, deviation.max()


def test_head_litert_float32_on_the_other_input(head, head_answers):
    # The multi-label classifier on pairs, the regressor on single texts.
    examples = other_input_examples(head)
    result = head_answers["other_input"]
    assert result["blocked_modules_loaded"] == []
    expected = keras_answers(head.model, examples)
    for name, value in result["by_name"].items():
        np.testing.assert_allclose(
            np.array(value["outputs"][0], np.float32), expected[name], atol=1e-5
        )


def test_litert_model_answers_each_heads_outputs_by_name(head):
    litert_model = LiteRTModel(head.report.row("litert_float32")["path"])
    examples = head.held_out[0][:8]
    if head.text_pair:
        texts, text_pairs = (list(part) for part in zip(*examples))
        outputs = litert_model(texts, text_pairs)
    else:
        outputs = litert_model(examples)
    if head.name == "regressor":
        assert sorted(outputs) == ["score"]
        assert outputs["score"].shape == (8, 1)
        return
    assert sorted(outputs) == ["labels", "predicted", "probabilities"]
    names = np.array(list(WORD_GROUPS))
    for labels, predicted in zip(outputs["labels"], outputs["predicted"]):
        assert labels == list(names[predicted])


def write_run_files(head, directory, count=40):
    """A head's train and test CSV files as its training script reads them:
    the multi-label classifier's label names joined by "|" (column
    `labels`), the regressor's pairs and their `score`. The readers refuse
    empty texts: those rows are left out."""
    files = {}
    for split, seed in (("train", 2), ("test", 1)):
        examples, labels = head_examples(head.name, count, seed)
        files[split] = str(directory / f"{split}.csv")
        with open(files[split], "w", newline="") as f:
            writer = csv.writer(f)
            if head.name == "multi_label":
                writer.writerow(["text", "labels"])
                names = np.array(list(WORD_GROUPS))
                rows = [
                    (text, "|".join(names[row.astype(bool)]))
                    for text, row in zip(examples, labels)
                ]
            else:
                writer.writerow(["text", "text_pair", "score"])
                rows = [(a, b, s) for (a, b), (s,) in zip(examples, labels)]
            rows = [row for row in rows if all(row[:-1])]
            writer.writerows(rows)
        files[f"{split}_rows"] = len(rows)
    return files


def test_export_run_variants_reads_a_run_of_any_head(head, tmp_path):
    # The data settings of any head, as examples/export_variants.py takes
    # them: the model tells which task's data and scores.
    files = write_run_files(head, tmp_path)
    config = VariantsConfig(
        train_file=files["train"],
        validation_file=files["test"],
        test_file=files["test"],
        text_pair_column="text_pair" if head.text_pair else None,
        target_columns="score" if head.name == "regressor" else None,
    )
    task_config = config.task_config(head.model)
    assert (
        type(task_config)
        is {
            "multi_label": MultiLabelConfig,
            "regressor": RegressionConfig,
        }[head.name]
    )
    assert task_config.train_file == files["train"]
    # Left unset: the task's own default column.
    assert task_config.label_column == type(task_config)().label_column
    report = export_run_variants(
        head.model,
        config,
        tmp_path / "variants",
        representative_examples=16,
        variants=["saved_model_float32", "litert_float32"],
        calls=(1, 1),
    )
    assert report.num_test_examples == files["test_rows"]
    reference = report.row("saved_model_float32")
    litert = report.row("litert_float32")
    assert litert["agreement"] == 1.0
    if head.name == "multi_label":
        # The file's columns (sorted label names) put in the model's order:
        # else the F1 would be far lower.
        assert reference["micro_f1"] > 0.8
        assert litert["micro_f1"] == reference["micro_f1"]
    else:
        assert litert["rmse"] == pytest.approx(reference["rmse"])
        assert reference["rmse"] < 0.5 * head.held_out[1].std()
    assert (tmp_path / "variants" / "report.json").is_file()
    with pytest.raises(ValueError, match="config of class ClassificationConfig"):
        export_run_variants(head.model, ClassificationConfig(), tmp_path / "bad")
    if head.name == "multi_label":
        # Labels the model does not have.
        path = tmp_path / "other.csv"
        path.write_text("text,labels\n" + "".join(f"t{i},x|y\n" for i in range(20)))
        other = MultiLabelConfig(train_file=str(path))
        with pytest.raises(ValueError, match="not the model's"):
            export_run_variants(head.model, other, tmp_path / "bad")


def test_variants_config_gives_each_models_task_config(classifier):
    config = VariantsConfig(train_file="train.csv", max_eval_examples=7, seed=3)
    task_config = config.task_config(classifier)
    assert type(task_config) is ClassificationConfig
    assert (task_config.train_file, task_config.max_eval_examples) == ("train.csv", 7)
    assert (task_config.seed, task_config.label_column) == (3, "label")


def test_heads_refuse_bad_input(head, tiny_preset, tmp_path):
    with pytest.raises(ValueError, match="representative_texts=None"):
        export_litert(head.model, tmp_path, "int8", text_pair=head.text_pair)
    with pytest.raises(ValueError, match="representative_texts=.'a b'.") as error:
        export_litert(head.model, tmp_path, "int8", ["a b"], text_pair=True)
    assert "tuples" in str(error.value)
    examples, labels = head.held_out
    with pytest.raises(ValueError, match=r"test_labels.*shape \(100,"):
        export_variants(
            head.model,
            tmp_path,
            examples,
            np.zeros(100 if head.name == "multi_label" else (100, 2)),
            [],
            text_pair=head.text_pair,
        )
    with pytest.raises(ValueError, match="score_tolerance=0"):
        export_variants(head.model, tmp_path, examples, labels, [], score_tolerance=0)
    if head.name == "multi_label":
        answerer = QuestionAnswerer.from_preset(
            tiny_preset, sequence_length=16, doc_stride=8, max_question_length=4
        )
        # A question answerer is measured too, on its gold answer strings.
        with pytest.raises(ValueError, match=r"gold answer.*Received at 0: 0"):
            export_variants(answerer, tmp_path, [("who?", "me")], [0], [])
        # Per-token outputs of a model no LiteRT export knows.
        token_ids = keras.Input((None,), dtype="int32", name="token_ids")
        per_token = keras.Model(token_ids, keras.layers.Embedding(10, 3)(token_ids))
        with pytest.raises(ValueError, match=r"class Functional with output shape"):
            export_litert(per_token, tmp_path)
