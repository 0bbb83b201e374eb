"""Few-shot (SetFit-style) classification through the library (what
`examples/few_shot.py` calls), and its export on raw strings."""

import importlib.util
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tests import fork_server
from tests.fast_exit import python_command
from tests.training.interruptions import (
    Interrupt,
    file_times,
    final_checkpoint,
    interrupt_after_epoch,
)
from tftransformer.training import ConfigError
from tftransformer.training.few_shot import _held_out_examples

CLIENT = os.path.join(os.path.dirname(__file__), "..", "export", "serving_client.py")
LABELS = ("negative", "positive")
TEXTS = {
    "negative": [
        "a dull and boring film",
        "the plot is bad and the acting worse",
        "a tedious mess of a movie",
        "boring , flat and far too long",
        "the worst film of the year",
    ],
    "positive": [
        "a great and moving film",
        "the acting is wonderful and the story good",
        "a funny , warm movie",
        "one of the best films of the year",
        "beautiful , smart and very well made",
    ],
}
TINY = dict(
    examples_per_class=4,
    num_iterations=2,
    head_epochs=30,
    epochs=2,
    batch_size=8,
    max_length=16,
    learning_rate=1e-3,
    tensorboard=False,
    # Every epoch's weight file kept, for the comparison of the runs.
    keep_checkpoints=None,
)


def labelled(texts_by_label):
    texts = [text for label in LABELS for text in texts_by_label[label]]
    labels = [i for i, label in enumerate(LABELS) for _ in texts_by_label[label]]
    return tft.data.TextClassificationData(texts, labels, LABELS)


@pytest.fixture
def run(small_vocabulary_preset):
    data = labelled(TEXTS)

    def run(validation=None, **settings):
        config = tft.training.FewShotConfig(preset=small_vocabulary_preset, **settings)
        return tft.training.train_few_shot_classifier(
            config, train=data, test=data, validation=validation, verbose=0
        )

    return run


def test_a_killed_run_resumes_writes_and_exports(run, tmp_path, monkeypatch):
    # The temperature is fitted on every labelled text: right and wrong
    # predictions, for a temperature inside the search's bounds.
    validation = labelled(TEXTS)
    want = run(validation, model_dir=str(tmp_path / "uninterrupted"), **TINY)
    model_dir = tmp_path / "killed"
    with monkeypatch.context() as patch:
        interrupt_after_epoch(patch, 0)
        with pytest.raises(Interrupt):
            run(validation, model_dir=str(model_dir), **TINY)
    first_epoch = file_times(model_dir / "checkpoints")
    assert len(first_epoch) == 1, first_epoch
    # The contrastive training models the resumed run builds.
    trained = []

    def contrastive(*args, **kwargs):
        trained.append(tft.models.ContrastiveEmbedder(*args, **kwargs))
        return trained[-1]

    monkeypatch.setattr(
        "tftransformer.training.few_shot.ContrastiveEmbedder", contrastive
    )
    got = run(validation, model_dir=str(model_dir), **TINY)
    # Resumed: epoch 0's weights are not written again.
    assert file_times(model_dir / "checkpoints").items() >= first_epoch.items()
    assert len(got.training.history["loss"]) == TINY["epochs"]
    # The resumed run ends where the uninterrupted one did.
    for a, b in zip(got.embedder.get_weights(), want.embedder.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-6)
    for a, b in zip(got.head.get_weights(), want.head.get_weights()):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-5)
    assert got.training.history["loss"] == pytest.approx(
        want.training.history["loss"], abs=1e-6
    )
    assert got.report.accuracy == want.report.accuracy
    assert len(got.examples) == 2 * TINY["examples_per_class"]
    assert list(np.bincount(got.examples.labels)) == [4, 4]
    assert len(got.pairs) == 2 * TINY["num_iterations"] * len(got.examples)
    assert int(np.sum(got.report.support)) == len(got.test) == 10
    assert final_checkpoint(model_dir)["finished"]
    # The contrastive model embedded each distinct text of a batch once.
    assert [model.deduplicate for model in trained] == [True]
    saved = json.loads((model_dir / "report.json").read_text())
    assert saved["accuracy"] == pytest.approx(got.report.accuracy)
    texts = list(got.test.texts)

    # The head divides its logits by the temperature fitted on validation.
    assert got.validation is validation
    logits_layer = got.head.get_layer("logits")
    raw = keras.ops.convert_to_numpy(
        logits_layer(got.embedder.embed(list(got.validation.texts)))
    )
    temperature = tft.evaluation.fit_temperature(raw, got.validation.labels)
    assert got.temperature == pytest.approx(temperature) != 1.0
    raw = keras.ops.convert_to_numpy(logits_layer(got.embedder.embed(texts)))
    np.testing.assert_allclose(
        got.probabilities(texts),
        keras.ops.convert_to_numpy(keras.ops.softmax(raw / temperature)),
        atol=1e-6,
    )
    summary = tft.evaluation.calibration_summary(raw, got.test.labels, temperature)
    assert saved["calibration"]["temperature"] == pytest.approx(temperature)
    for name in ("before", "after"):
        for measure in ("ece", "nll"):
            assert saved["calibration"][name][measure] == pytest.approx(
                summary[name][measure], abs=1e-5
            )
    if importlib.util.find_spec("matplotlib"):
        assert (model_dir / "reliability_diagram.png").stat().st_size > 0
    # The run keeps the tuned embedder once, as its model.keras.
    assert not (model_dir / "embedder.keras").exists()
    embedder = keras.saving.load_model(model_dir / "model.keras")
    assert isinstance(embedder, tft.models.TextEmbedder)
    assert got.training.model_path == str(model_dir / "model.keras")
    np.testing.assert_allclose(
        embedder.embed(texts), got.embedder.embed(texts), atol=1e-6
    )
    head = keras.saving.load_model(model_dir / "head.keras")
    np.testing.assert_allclose(head.get_weights()[0], got.head.get_weights()[0], atol=0)
    embeddings = got.embedder.embed(texts)
    np.testing.assert_allclose(
        head.predict(embeddings, verbose=0),
        got.head.predict(embeddings, verbose=0),
        atol=1e-6,
    )

    # The export answers raw strings as the run does (calibrated), in a
    # process without keras_hub or tftransformer.
    version_dir = tft.export.export_few_shot_classifier(
        got.embedder, got.head, tmp_path / "serving", label_names=got.label_names
    )
    batch = texts[:3] + ["", "an unseen text " * 20]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PYTHONPATH", None)
    process = fork_server.run(
        [*python_command(), CLIENT, version_dir, "tensorflow_text"],
        input=json.dumps([batch]),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    (answer,) = json.loads(process.stdout.strip().splitlines()[-1])["results"]
    expected = got.probabilities(batch)
    np.testing.assert_allclose(answer["probabilities"], expected, atol=1e-5)
    assert answer["label"] == [LABELS[i] for i in expected.argmax(axis=1)]
    with open(os.path.join(version_dir, "assets", "labels.txt")) as f:
        assert f.read().splitlines() == list(LABELS)

    # The int8 export: the embedder's int8 copy, the head in float32.
    int8_dir = tft.export.export_few_shot_classifier(
        got.embedder, got.head, tmp_path / "serving", precision="int8"
    )
    reader = tf.train.load_checkpoint(os.path.join(int8_dir, "variables", "variables"))
    assert tf.int8 in set(reader.get_variable_to_dtype_map().values())
    serve = tf.saved_model.load(int8_dir).signatures["serving_default"]
    served = serve(text=tf.constant(batch))["probabilities"].numpy()
    quantized = tft.export.inference_copy(got.embedder, precision="int8")
    logits = got.head(quantized.embed(batch))
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    np.testing.assert_allclose(served, expected, atol=1e-5)

    # On LiteRT: the embedder and its head, calibrated, on raw strings. The
    # head loaded from `head.keras`: a Sequential model never called.
    tflite_file = tft.export.export_litert(
        got.embedder, tmp_path / "litert", head=head, label_names=got.label_names
    )
    litert = tft.export.LiteRTModel(tflite_file)(batch)["probabilities"]
    np.testing.assert_allclose(litert, got.probabilities(batch), atol=1e-5)
    assert tft.export.LiteRTModel(tflite_file).label_names == list(LABELS)


def test_held_out_examples_are_drawn_beside_the_few_shot_ones():
    data = labelled(TEXTS)
    config = tft.training.FewShotConfig(**TINY)
    examples, held_out = _held_out_examples(data, config)
    # One example of each class left after the few-shot draw, none of them
    # a few-shot example.
    assert list(np.bincount(examples.labels)) == [4, 4]
    assert sorted(held_out.labels.tolist()) == [0, 1]
    assert not set(held_out.texts) & set(examples.texts)
    # Calibration off: the same few-shot examples.
    uncalibrated = tft.training.FewShotConfig(**TINY, calibrate=False)
    assert _held_out_examples(data, uncalibrated)[0].texts == examples.texts


def test_calibration_is_skipped_on_held_out_examples_all_wrong(run, tmp_path):
    # The one held-out example of each class: one is classified wrong, by
    # the wider margin, so the NLL was lowest at the search's bound (100),
    # which was applied: probabilities of about 0.5 whatever the text.
    got = run(model_dir=str(tmp_path / "run"), **TINY)
    assert got.temperature is None and got.report.calibration is None
    assert sorted(got.validation.labels.tolist()) == [0, 1]
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "on the whole, classified wrong" in saved["calibration_skipped"]


def test_calibration_is_skipped_without_held_out_examples(run, tmp_path):
    # All 5 examples of each class are few-shot examples: none left over.
    got = run(
        model_dir=str(tmp_path / "run"),
        **{**TINY, "examples_per_class": 5, "epochs": 1, "num_iterations": 1},
    )
    assert got.temperature is None and got.validation is None
    assert got.report.calibration is None
    assert "temperature" not in [layer.name for layer in got.head.layers]
    saved = json.loads((tmp_path / "run" / "report.json").read_text())
    assert "calibration" not in saved
    assert "no held-out example of every class" in saved["calibration_skipped"]


def test_calibration_is_skipped_on_held_out_examples_all_right(
    small_vocabulary_preset, tmp_path
):
    # Held-out examples the head classifies right by wide margins (here its
    # own training examples): their NLL falls toward a temperature of 0 (the
    # search's bound, 0.01), which was applied and exported (probabilities
    # of 1e-34 and 1.0).
    model_dir = tmp_path / "run"
    data = labelled(TEXTS)
    config = tft.training.FewShotConfig(
        preset=small_vocabulary_preset,
        model_dir=str(model_dir),
        **{**TINY, "epochs": 1, "examples_per_class": 5, "head_epochs": 300},
    )
    got = tft.training.train_few_shot_classifier(
        config, train=data, test=data, validation=data, verbose=0
    )
    assert got.temperature is None and got.report.calibration is None
    assert "temperature" not in [layer.name for layer in got.head.layers]
    saved = json.loads((model_dir / "report.json").read_text())
    assert "all, classified right" in saved["calibration_skipped"]


def test_bad_inputs_are_named(small_vocabulary_preset, tmp_path):
    with pytest.raises(ValueError, match=r"embeddings of shape \(3, 4\)"):
        tft.training.train_logistic_head(np.zeros((3, 4)), [0, 1], 2)
    with pytest.raises(ValueError, match="num_classes"):
        tft.training.train_logistic_head(np.zeros((2, 4)), [0, 1], 1)
    head = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, name="logits")])
    head, _ = tft.training.calibrate_logistic_head(head, np.eye(2, 4), [0, 1])
    with pytest.raises(ValueError, match="uncalibrated keras.Sequential"):
        tft.training.calibrate_logistic_head(head, np.eye(2, 4), [0, 1])
    with pytest.raises(
        ValueError,
        match=r"labels must hold integer class ids in \[0, 2\).*labels\[1\]=2",
    ):
        tft.training.calibrate_logistic_head(
            keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)]),
            np.eye(2, 4),
            [0, 2],
        )
    other = tft.data.TextClassificationData(["a", "b"], [0, 1], ("no", "yes"))
    config = tft.training.FewShotConfig(
        preset=small_vocabulary_preset, model_dir=str(tmp_path / "run")
    )
    with pytest.raises(ValueError, match="share one label vocabulary"):
        tft.training.train_few_shot_classifier(
            config, train=labelled(TEXTS), test=other, verbose=0
        )
    with pytest.raises(ValueError, match="train and validation must share"):
        tft.training.train_few_shot_classifier(
            config, train=labelled(TEXTS), validation=other, verbose=0
        )
    # Sentence pairs were trained and scored on their first texts alone.
    data = labelled(TEXTS)
    pairs = tft.data.TextClassificationData(
        data.texts, data.labels, LABELS, text_pairs=data.texts
    )
    for split in ("train", "test", "validation"):
        splits = {"train": data, split: pairs}
        with pytest.raises(ValueError, match=f"Received: {split} with text_pairs"):
            tft.training.train_few_shot_classifier(config, verbose=0, **splits)
    # A class without a training example.
    with pytest.raises(ValueError, match="no example of 'maybe' in train"):
        tft.training.train_few_shot_classifier(
            config,
            train=tft.data.TextClassificationData(
                data.texts, data.labels, (*LABELS, "maybe")
            ),
            test=tft.data.TextClassificationData(
                data.texts, data.labels, (*LABELS, "maybe")
            ),
            verbose=0,
        )
    # No test example: the run trained, then failed in Keras' predict.
    with pytest.raises(ValueError, match="Received: test of 0 examples"):
        tft.training.train_few_shot_classifier(
            config,
            train=data,
            test=tft.data.TextClassificationData((), np.zeros(0, int), LABELS),
            verbose=0,
        )
    one_class = tft.data.TextClassificationData(data.texts, [0] * len(data), ("a",))
    with pytest.raises(ValueError, match=r"at least 2 classes.*\('a',\)"):
        tft.training.train_few_shot_classifier(
            config, train=one_class, test=one_class, verbose=0
        )
    # The contrastive phase trains the encoder alone: a recipe freezing it
    # left nothing to train (Keras only warned).
    for name, value in [
        ("freeze_backbone", True),
        ("gradual_unfreeze", True),
        ("head_warmup_steps", 5),
    ]:
        with pytest.raises(ConfigError, match=f"would train nothing.*{name}={value}"):
            tft.training.FewShotConfig(**{name: value})
    for recipe in ({"freeze_layers": 2},):
        frozen = tft.training.FewShotConfig(
            preset=small_vocabulary_preset,
            model_dir=str(tmp_path / "frozen"),
            **TINY,
            **recipe,
        )
        with pytest.raises(ValueError, match="no trainable weight: nothing would"):
            tft.training.train_few_shot_classifier(
                frozen, train=data, test=data, verbose=0
            )
    assert not (tmp_path / "frozen").exists()
    embedder = tft.models.TextEmbedder.from_preset(
        small_vocabulary_preset, sequence_length=8
    )
    with pytest.raises(ValueError, match="not a single string"):
        tft.training.FewShotRun(
            embedder,
            head=None,
            report=None,
            label_names=LABELS,
            examples=None,
            pairs=None,
            test=None,
            training=None,
            trainer=None,
        ).probabilities("good")
    head = keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match=r"16-dim embeddings. Received .*\(None, 5\)"):
        tft.export.export_few_shot_classifier(embedder, head, tmp_path / "serving")
    head = keras.Sequential([keras.Input((16,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="non-empty string. Received: ''"):
        tft.export.export_few_shot_classifier(
            embedder, head, tmp_path / "serving", model_name=""
        )
    classifier = tft.models.TextClassifier.from_preset(
        small_vocabulary_preset, num_classes=2, sequence_length=8
    )
    with pytest.raises(ValueError, match="Received: TextClassifier with"):
        tft.export.export_few_shot_classifier(classifier, head, tmp_path / "serving")
    with pytest.raises(ValueError, match="Received a model 'text_classifier'"):
        tft.export.export_litert(classifier, tmp_path / "litert", head=head)
    with pytest.raises(ValueError, match="Received: label_names=.* without `head`"):
        tft.export.export_litert(embedder, tmp_path / "litert", label_names=["a"])
    with pytest.raises(ValueError, match=r"16-dim embeddings. Received .*\(None, 5\)"):
        tft.export.export_litert(
            embedder,
            tmp_path / "litert",
            head=keras.Sequential([keras.Input((5,)), keras.layers.Dense(2)]),
        )
    assert not (tmp_path / "serving").exists()
    assert not (tmp_path / "litert").exists()


def test_logistic_head_takes_one_full_batch_adam_step_per_epoch():
    rng = np.random.default_rng(0)
    embeddings = rng.normal(size=(12, 6)).astype("float32")
    labels = (embeddings[:, 0] > 0).astype("int32")
    head = tft.training.train_logistic_head(embeddings, labels, 2, epochs=7, seed=3)
    assert int(head.optimizer.iterations) == 7
    # The same updates as one Keras epoch per full-batch step, from the
    # same initial weights.
    keras.utils.set_random_seed(3)
    reference = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2)])
    reference.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    reference.fit(embeddings, labels, epochs=7, batch_size=12, verbose=0)
    for ours, theirs in zip(head.get_weights(), reference.get_weights()):
        np.testing.assert_allclose(ours, theirs, atol=1e-6)
