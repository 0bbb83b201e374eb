import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer import presets
from tftransformer.data import (
    concatenate_tasks,
    interleave_tasks,
    make_classification_dataset,
    make_tagging_dataset,
)
from tftransformer.export import export_for_serving, export_token_classifier
from tftransformer.models import MultiTaskModel, TextClassifier, TokenClassifier
from tftransformer.testing import run_model_test

TAGS = ["O", "B-PER", "I-PER"]
TASKS = {
    "sentiment": {
        "kind": "classification",
        "num_classes": 2,
        "pooling": "mean",
        "dropout": 0.0,
        "label_names": ["negative", "positive"],
    },
    "ner": {
        "kind": "token_classification",
        "num_tags": 3,
        "dropout": 0.0,
        "tag_names": TAGS,
    },
}
TEXTS = ["a fine film", "a bad story", "great story", "bad bad film"]
TEXT_LABELS = [1, 0, 1, 0]
# One word piece per word (all in small_vocabulary_preset's vocabulary), so
# word i sits at position i + 1.
WORDS = [["james", "met", "london"], ["city", "today"], ["met", "mary", "king"]]
WORD_TAGS = [[1, 0, 0], [0, 0], [0, 1, 2]]


def build(preset, dtype=None, tasks=TASKS):
    backbone, preprocessor = presets.load_backbone(
        preset, sequence_length=32, dtype=dtype
    )
    return MultiTaskModel(
        backbone, tasks, tokenizer=preprocessor.tokenizer, sequence_length=32
    )


def spread_heads(model):
    """Random heads with large weights, so predictions differ by position."""
    rng = np.random.default_rng(0)
    for head in model.task_models.values():
        kernel, bias = head.output_dense.get_weights()
        head.output_dense.set_weights(
            [rng.normal(0, 3.0, kernel.shape).astype("float32"), bias]
        )


def batches(model):
    """One sentiment batch and one NER batch, with their labels."""
    tokenizer = model.tokenizer
    sentiment = make_classification_dataset(
        TEXTS, TEXT_LABELS, tokenizer, batch_size=4, max_length=32, shuffle=False
    )
    ner = make_tagging_dataset(
        WORDS,
        [np.array(t) for t in WORD_TAGS],
        tokenizer,
        batch_size=3,
        max_length=32,
        shuffle=False,
    )
    return {"sentiment": sentiment, "ner": ner}


def tagged_batch(model, task):
    stream = concatenate_tasks({task: batches(model)[task]}, model.task_names)
    return next(iter(stream))


def cross_entropy(logits, labels):
    """Mean sparse cross-entropy over labels != -100, in NumPy."""
    logits = np.asarray(logits, "float64").reshape(-1, np.shape(logits)[-1])
    labels = np.asarray(labels).reshape(-1)
    keep = labels != -100
    logits, labels = logits[keep], labels[keep]
    log_softmax = (
        logits
        - np.log(np.exp(logits - logits.max(1, keepdims=True)).sum(1))[:, None]
        - logits.max(1, keepdims=True)
    )
    return -log_softmax[np.arange(len(labels)), labels].mean()


def test_model_contract(small_vocabulary_preset, tmp_path):
    input_data = {
        "token_ids": np.array([[101, 2307, 2143, 102], [101, 2919, 102, 0]], "int32"),
        "padding_mask": np.array([[1, 1, 1, 1], [1, 1, 1, 0]], bool),
        "segment_ids": np.zeros((2, 4), "int32"),
        "task_id": np.zeros((2,), "int32"),
    }
    run_model_test(
        lambda dtype=None: build(small_vocabulary_preset, dtype),
        input_data,
        tmp_path,
        expected_output_shape={"sentiment": (2, 2), "ner": (2, 4, 3)},
    )


def test_head_models_share_weights_and_outputs(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    spread_heads(model)
    sentiment = model.head_model("sentiment")
    ner = model.head_model("ner")
    assert isinstance(sentiment, TextClassifier) and isinstance(ner, TokenClassifier)
    assert sentiment.backbone is model.backbone and ner.backbone is model.backbone
    x, _ = next(iter(batches(model)["ner"]))
    outputs = model(x)
    np.testing.assert_allclose(sentiment(x), outputs["sentiment"], atol=1e-6)
    np.testing.assert_allclose(ner(x), outputs["ner"], atol=1e-6)
    with pytest.raises(ValueError, match="Unknown task 'pos'"):
        model.head_model("pos")


def gradients(model, batch):
    x, y = batch
    with tf.GradientTape() as tape:
        # Inference mode: the backbone's dropout would make gradients differ.
        loss = model.compute_loss(x, y, model(x, training=False))
    variables = model.trainable_variables
    return loss, dict(zip([v.path for v in variables], tape.gradient(loss, variables)))


def head_paths(model, task):
    return [v.path for v in model.task_models[task].output_dense.weights]


@pytest.mark.parametrize("active, idle", [("sentiment", "ner"), ("ner", "sentiment")])
def test_only_the_active_head_gets_gradients(small_vocabulary_preset, active, idle):
    model = build(small_vocabulary_preset)
    model.compile(optimizer=keras.optimizers.SGD(0.5))
    _, grads = gradients(model, tagged_batch(model, active))
    for path in head_paths(model, idle):
        assert grads[path] is None or not np.any(np.asarray(grads[path])), path
    for path in head_paths(model, active):
        assert np.any(np.asarray(grads[path])), path
    backbone_paths = {v.path for v in model.backbone.trainable_variables}
    assert any(
        np.any(np.asarray(grads[p])) for p in backbone_paths if grads[p] is not None
    )

    # A plain SGD step leaves the idle head as it was.
    idle_before = model.task_models[idle].output_dense.get_weights()
    active_before = model.task_models[active].output_dense.get_weights()
    x, y = tagged_batch(model, active)
    model.fit(x, y, epochs=1, verbose=0)
    for before, after in zip(
        idle_before, model.task_models[idle].output_dense.get_weights()
    ):
        np.testing.assert_array_equal(before, after)
    assert not np.array_equal(
        active_before[0], model.task_models[active].output_dense.get_weights()[0]
    )


def test_loss_is_the_active_task_loss_times_its_weight(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    spread_heads(model)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1), loss_weights={"sentiment": 0.5, "ner": 3.0}
    )
    for task, weight in (("sentiment", 0.5), ("ner", 3.0)):
        x, y = tagged_batch(model, task)
        logits = model(x)[task]
        loss = model.compute_loss(x, y, model(x))
        np.testing.assert_allclose(
            float(loss), weight * cross_entropy(logits, y), rtol=1e-5
        )
    # The weight scales the gradient too.
    unweighted = build(small_vocabulary_preset)
    unweighted.set_weights(model.get_weights())
    unweighted.compile(optimizer=keras.optimizers.SGD(0.1))
    batch = tagged_batch(model, "ner")
    _, weighted_grads = gradients(model, batch)
    _, plain_grads = gradients(unweighted, batch)
    for path in head_paths(model, "ner"):
        np.testing.assert_allclose(
            weighted_grads[path],
            3.0 * np.asarray(plain_grads[path]),
            rtol=1e-4,
            atol=1e-7,
        )


def test_fit_logs_per_task_metrics(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    spread_heads(model)
    model.compile(optimizer=keras.optimizers.SGD(0.0))  # weights stay put
    data = batches(model)
    history = model.fit(
        interleave_tasks(data, rule="equal", seed=0, task_names=model.task_names),
        validation_data=concatenate_tasks(data, model.task_names),
        epochs=1,
        verbose=0,
    ).history
    for name in (
        "sentiment_loss",
        "sentiment_accuracy",
        "ner_loss",
        "ner_token_accuracy",
    ):
        assert name in history and f"val_{name}" in history

    # The evaluated metrics equal ones computed from the predictions.
    (xs, ys), (xn, yn) = (next(iter(data["sentiment"])), next(iter(data["ner"])))
    sentiment_logits = model(xs)["sentiment"]
    ner_logits = np.asarray(model(xn)["ner"])
    labelled = np.asarray(yn) != -100
    expected = {
        "sentiment_accuracy": np.mean(np.argmax(sentiment_logits, -1) == ys),
        "sentiment_loss": cross_entropy(sentiment_logits, ys),
        "ner_token_accuracy": np.mean(
            ner_logits.argmax(-1)[labelled] == np.asarray(yn)[labelled]
        ),
        "ner_loss": cross_entropy(ner_logits, yn),
    }
    results = model.evaluate(
        concatenate_tasks(data, model.task_names), return_dict=True, verbose=0
    )
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=1e-5, err_msg=name)
    np.testing.assert_allclose(
        results["loss"],
        (expected["sentiment_loss"] * 4 + expected["ner_loss"] * 3) / 7,
        rtol=1e-5,
    )


def _per_element_cross_entropy(logits, labels):
    logits = np.asarray(logits, "float64")
    labels = np.where(np.asarray(labels) == -100, 0, labels)
    shifted = logits - logits.max(-1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
    return -np.take_along_axis(log_softmax, labels[..., None], -1)[..., 0]


@pytest.mark.parametrize("ner_weights", ["per_token", "per_example"])
def test_each_tasks_sample_weights_weigh_its_loss_and_metrics(
    small_vocabulary_preset, ner_weights
):
    # Every head's loss is computed on every batch: a tagger's (batch, seq)
    # weights reached the classification head (and a stream of both had
    # weights of no known rank), which failed.
    model = build(small_vocabulary_preset)
    spread_heads(model)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    data = batches(model)
    (xs, ys), (xn, yn) = next(iter(data["sentiment"])), next(iter(data["ner"]))
    ys, yn = np.asarray(ys), np.asarray(yn)
    sentiment_weights = np.array([1.0, 0.0, 2.0, 1.0], "float32")
    rng = np.random.default_rng(0)
    if ner_weights == "per_token":
        weights = rng.integers(0, 3, size=yn.shape).astype("float32")
        token_weights = weights
    else:
        weights = np.array([1.0, 0.0, 2.0], "float32")
        token_weights = np.broadcast_to(weights[:, None], yn.shape)
    weighted = {
        "sentiment": tf.data.Dataset.from_tensors((xs, ys, sentiment_weights)),
        "ner": tf.data.Dataset.from_tensors((xn, yn, weights)),
    }
    results = model.evaluate(
        concatenate_tasks(weighted, model.task_names), return_dict=True, verbose=0
    )
    sentiment_logits = np.asarray(model(xs)["sentiment"])
    ner_logits = np.asarray(model(xn)["ner"])
    kept = (yn != -100) * token_weights
    right = ner_logits.argmax(-1) == yn
    expected = {
        # Keras' mean over the batch's examples (labelled tokens) of the
        # weighted losses.
        "sentiment_loss": np.sum(
            _per_element_cross_entropy(sentiment_logits, ys) * sentiment_weights
        )
        / len(ys),
        "ner_loss": np.sum(_per_element_cross_entropy(ner_logits, yn) * kept)
        / np.sum(yn != -100),
        "sentiment_accuracy": np.sum(
            (sentiment_logits.argmax(-1) == ys) * sentiment_weights
        )
        / np.sum(sentiment_weights),
        "ner_token_accuracy": np.sum(right * kept) / np.sum(kept),
    }
    for name, value in expected.items():
        np.testing.assert_allclose(results[name], value, rtol=1e-5, err_msg=name)
    # Interleaved for training too.
    stream = interleave_tasks(weighted, rule="equal", task_names=model.task_names)
    model.fit(stream, epochs=1, verbose=0)


def test_save_and_load_round_trip(small_vocabulary_preset, tmp_path):
    from tftransformer.finetune import (
        freeze_layers,
    )

    model = build(small_vocabulary_preset)
    spread_heads(model)
    freeze_layers(model, 1)
    model.compile(
        optimizer=keras.optimizers.AdamW(1e-3),
        loss_weights={"ner": 2.0},
        metrics={"sentiment": [keras.metrics.SparseCategoricalAccuracy(name="acc")]},
    )
    stream = interleave_tasks(batches(model), rule="equal", task_names=model.task_names)
    model.fit(stream, epochs=1, verbose=0)
    path = os.path.join(str(tmp_path), "multi_task.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)

    assert isinstance(reloaded, MultiTaskModel)
    assert reloaded.task_names == ("sentiment", "ner")
    x, _ = next(iter(batches(model)["ner"]))
    for task, values in model(x).items():
        np.testing.assert_allclose(reloaded(x)[task], values, atol=1e-6)
    # Compile settings, frozen layers and the optimizer state come back.
    assert reloaded._loss_weights == {"sentiment": 1.0, "ner": 2.0}
    assert [m.name for m in reloaded.metrics] == [m.name for m in model.metrics]
    assert "sentiment_acc" in [m.name for m in reloaded.metrics]
    assert len(reloaded.trainable_weights) == len(model.trainable_weights)
    assert int(reloaded.optimizer.iterations) == int(model.optimizer.iterations) > 0
    batch = tagged_batch(model, "ner")
    np.testing.assert_allclose(
        float(reloaded.compute_loss(*batch, reloaded(batch[0]))),
        float(model.compute_loss(*batch, model(batch[0]))),
        rtol=1e-5,
    )
    # The tokenizer comes back, so the heads still take raw strings.
    preprocessor = reloaded.head_model("sentiment").preprocessor
    np.testing.assert_array_equal(
        preprocessor(TEXTS)["token_ids"],
        model.head_model("sentiment").preprocessor(TEXTS)["token_ids"],
    )


def test_exported_heads_equal_the_multi_task_outputs(small_vocabulary_preset, tmp_path):
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops)

    model = build(small_vocabulary_preset)
    spread_heads(model)

    directory = export_for_serving(model.head_model("sentiment"), str(tmp_path / "s"))
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    exported = serve(text=tf.constant(TEXTS))["probabilities"].numpy()
    x, _ = next(iter(batches(model)["sentiment"]))
    np.testing.assert_allclose(
        exported, keras.ops.softmax(model(x)["sentiment"]).numpy(), atol=1e-5
    )

    directory = export_token_classifier(model.head_model("ner"), str(tmp_path / "n"))
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    sentences = [" ".join(words) for words in WORDS]
    tag_ids = serve(text=tf.constant(sentences))["tag_ids"].numpy()
    x, _ = next(iter(batches(model)["ner"]))
    logits = np.asarray(model(x)["ner"])
    for row, words in enumerate(WORDS):
        expected = logits[row, 1 : 1 + len(words)].argmax(-1)
        np.testing.assert_array_equal(tag_ids[row, : len(words)], expected)
    # The random head really spreads its predictions.
    assert len(set(tag_ids[tag_ids >= 0].tolist())) > 1


def test_train_step_compiles_with_xla(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    spread_heads(model)
    # No dropout and learning rate 0: the train step's loss is the loss of
    # the inference outputs.
    for layer in model.backbone._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=True)
    for task in ("sentiment", "ner"):
        x, y = tagged_batch(model, task)
        logs = model.train_on_batch(x, y, return_dict=True)
        expected = cross_entropy(model(x)[task], y)
        np.testing.assert_allclose(logs[f"{task}_loss"], expected, rtol=1e-4)
        np.testing.assert_allclose(logs["loss"], expected, rtol=1e-4)


def test_batches_must_name_their_task(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, y = next(iter(batches(model)["sentiment"]))
    with pytest.raises(ValueError, match="need a 'task_id' feature"):
        model.compute_loss(x, y, model(x))
    # Raw texts are the head models' input.
    with pytest.raises(ValueError, match=r"head_model\(task\).*Received: .* string"):
        model.predict(["a fine film"], verbose=0)
    mixed = dict(x, task_id=tf.constant([0, 1, 0, 0]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="one task"):
        model.compute_loss(mixed, y, model(mixed))
    outside = dict(x, task_id=tf.constant([2, 2, 2, 2]))
    with pytest.raises(tf.errors.InvalidArgumentError, match="must index the tasks"):
        model.compute_loss(outside, y, model(outside))


@pytest.mark.parametrize(
    "tasks, message",
    [
        ({}, "non-empty dict"),
        ({"1st": TASKS["ner"]}, "Received: '1st'"),
        ({"a": {"kind": "regression"}}, "'kind' one of"),
        ({"a": {"kind": "classification"}}, "needs 'num_classes'"),
        (
            {"a": {"kind": "classification", "num_classes": 2, "num_tags": 3}},
            "may also give",
        ),
        ({"a": {"kind": "classification", "num_classes": 1}}, "num_classes=1"),
        (
            {"a": {"kind": "token_classification", "num_tags": 3, "tag_names": ["O"]}},
            "tag_names",
        ),
    ],
)
def test_bad_tasks(small_vocabulary_preset, tasks, message):
    with pytest.raises(ValueError, match=message):
        build(small_vocabulary_preset, tasks=tasks)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"loss_weights": {"pos": 1.0}}, r"tasks \['pos'\]"),
        ({"loss_weights": {"ner": -1.0}}, r"loss_weights\['ner'\]"),
        ({"loss": "mse"}, "must be 'auto' or a dict"),
        ({"loss": {"ner": "no_such_loss"}}, r"loss\['ner'\]"),
        ({"metrics": {"ner": ["accuracy"]}}, r"metrics\['ner'\]"),
    ],
)
def test_bad_compile_arguments(small_vocabulary_preset, kwargs, message):
    model = build(small_vocabulary_preset)
    with pytest.raises(ValueError, match=message):
        model.compile(**kwargs)


def test_predict_on_no_examples_is_an_empty_result_per_task(small_vocabulary_preset):
    # Keras' predict fails on no batches; each task gets no rows of its shape.
    model = build(small_vocabulary_preset)
    features = {
        "token_ids": np.zeros((0, 8), "int32"),
        "padding_mask": np.zeros((0, 8), bool),
        "segment_ids": np.zeros((0, 8), "int32"),
    }
    empty = model.predict(features, verbose=0)
    assert {name: value.shape for name, value in empty.items()} == {
        "sentiment": (0, 2),
        "ner": (0, 8, 3),
    }
    assert all(value.dtype == np.float32 for value in empty.values())
    one = {name: np.ones((1, 8), value.dtype) for name, value in features.items()}
    assert model.predict(one, verbose=0)["ner"].shape == (1, 8, 3)


def test_in_memory_rows_of_several_tasks_train_in_one_task_batches(
    small_vocabulary_preset,
):
    tasks = {
        "a": {"kind": "classification", "num_classes": 2},
        "b": {"kind": "classification", "num_classes": 3},
    }
    model = build(small_vocabulary_preset, tasks=tasks)
    model.compile(optimizer=keras.optimizers.SGD(0.1))
    x, _ = next(iter(batches(model)["sentiment"]))
    x = {name: np.concatenate([value, value]) for name, value in x.items()}
    x["task_id"] = np.array([0] * 4 + [1] * 4, "int32")
    y = np.array([0, 1, 0, 1, 2, 1, 2, 0], "int32")
    history = model.fit(x, y, batch_size=4, shuffle=False, verbose=0).history
    assert history["a_loss"][0] > 0 and history["b_loss"][0] > 0
    logs = model.evaluate(x, y, batch_size=4, verbose=0, return_dict=True)
    assert logs["a_loss"] > 0 and logs["b_loss"] > 0
    # Shuffled rows would mix tasks in a batch (an assertion deep in the step).
    with pytest.raises(ValueError, match=r"would shuffle.*tasks \[0, 1\]"):
        model.fit(x, y, batch_size=4, verbose=0)
    with pytest.raises(ValueError, match=r"no validation_split"):
        model.fit(x, y, batch_size=4, shuffle=False, validation_split=0.5)
    mixed = r"x\['task_id'\]\[3:6\] with tasks \[0, 1\] \(batch_size=3\)"
    with pytest.raises(ValueError, match=mixed):
        model.fit(x, y, batch_size=3, shuffle=False)
    with pytest.raises(ValueError, match=mixed):
        model.evaluate(x, y, batch_size=3)
    alternating = dict(x, task_id=np.array([0, 1] * 4, "int32"))
    with pytest.raises(ValueError, match=r"validation_data\['task_id'\]\[0:4\]"):
        model.fit(x, y, batch_size=4, shuffle=False, validation_data=(alternating, y))
    # Labels as a dict name every task.
    with pytest.raises(ValueError, match=r"one entry per task, \['a', 'b'\].*\['a'\]"):
        model.fit(x, {"a": y % 2}, batch_size=4, shuffle=False, verbose=0)
