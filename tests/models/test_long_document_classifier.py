import keras
import numpy as np
import pytest

from tftransformer import presets
from tftransformer.layers import AttentionPooling, SequencePooling
from tftransformer.models import LongDocumentClassifier
from tftransformer.testing import run_model_test

rng = np.random.default_rng(0)
# Two documents of up to 3 chunks of 8 tokens; the second has 2 chunks, its
# second chunk 5 tokens long.
TOKEN_IDS = rng.integers(1000, 2000, size=(2, 3, 8)).astype("int32")
MASK = np.ones((2, 3, 8), bool)
MASK[1, 1, 5:] = False
MASK[1, 2] = False
TOKEN_IDS[~MASK] = 0
INPUTS = {
    "token_ids": TOKEN_IDS,
    "padding_mask": MASK,
    "segment_ids": np.zeros_like(TOKEN_IDS),
}


def build(preset, dtype=None, **kwargs):
    backbone, _ = presets.load_backbone(preset, sequence_length=32, dtype=dtype)
    kwargs = {
        "num_classes": 3,
        "max_chunks": 4,
        "chunk_length": 32,
        "stride": 24,
        **kwargs,
    }
    return LongDocumentClassifier(backbone, dropout=0.0, **kwargs)


@pytest.mark.parametrize("pooling", ["attention", "mean"])
def test_model_contract(small_vocabulary_preset, tmp_path, pooling):
    run_model_test(
        lambda dtype=None: build(small_vocabulary_preset, dtype, pooling=pooling),
        INPUTS,
        tmp_path,
        expected_output_shape=(2, 3),
    )


@pytest.mark.parametrize("pooling", ["attention", "mean", "max"])
def test_matches_chunk_by_chunk_computation(small_vocabulary_preset, pooling):
    model = build(small_vocabulary_preset, pooling=pooling)
    logits = np.asarray(model(INPUTS))
    # Each real chunk alone through the backbone, token vectors averaged.
    backbone = model.backbone
    expected = []
    for doc in range(2):
        vectors = []
        for k in range(3):
            real = MASK[doc, k]
            if not real.any():
                continue
            chunk = {
                "token_ids": TOKEN_IDS[doc, k][real][None],
                "padding_mask": np.ones((1, real.sum()), bool),
                "segment_ids": np.zeros((1, real.sum()), "int32"),
            }
            sequence = np.asarray(backbone(chunk)["sequence_output"])[0]
            vectors.append(sequence.mean(0))
        vectors = np.stack(vectors)
        if pooling == "mean":
            document = vectors.mean(0)
        elif pooling == "max":
            document = vectors.max(0)
        else:
            w, b = model.chunk_pooler._projection.get_weights()
            (v,) = model.chunk_pooler._score.get_weights()
            scores = (np.tanh(vectors @ w + b) @ v)[:, 0]
            weights = (
                np.exp(scores - scores.max()) / np.exp(scores - scores.max()).sum()
            )
            document = weights @ vectors
        kernel, bias = model.output_dense.get_weights()
        expected.append(document @ kernel + bias)
    np.testing.assert_allclose(logits, np.stack(expected), atol=1e-4, rtol=1e-4)


def test_padded_chunks_change_nothing(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    padded = {
        name: np.concatenate([v, np.zeros_like(v[:, :1])], 1)
        for name, v in INPUTS.items()
    }
    # Garbage token ids in the padded chunk: only the mask says it is padding.
    padded["token_ids"][:, -1] = 1234
    np.testing.assert_allclose(model(padded), model(INPUTS), atol=1e-5)
    _, weights = model.chunk_pooler(
        np.random.rand(2, 3, 16).astype("float32"),
        padding_mask=MASK.any(-1),
        return_attention_scores=True,
    )
    assert float(weights[1, 2]) == 0.0


def test_trains_end_to_end(small_vocabulary_preset):
    model = build(small_vocabulary_preset)
    model.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    pooler = [w.numpy().copy() for w in model.chunk_pooler.weights]
    embeddings = model.backbone.get_layer("token_embedding").get_weights()[0].copy()
    model.fit(INPUTS, np.array([0, 2]), epochs=1, verbose=0)
    assert all(
        not np.array_equal(b, a.numpy())
        for b, a in zip(pooler, model.chunk_pooler.weights)
    )
    assert not np.array_equal(
        embeddings, model.backbone.get_layer("token_embedding").get_weights()[0]
    )


def test_pooling_choice(small_vocabulary_preset):
    assert isinstance(build(small_vocabulary_preset).chunk_pooler, AttentionPooling)
    mean = build(small_vocabulary_preset, pooling="max").chunk_pooler
    assert isinstance(mean, SequencePooling) and mean.mode == "max"


def test_make_dataset_uses_the_model_settings(tiny_preset):
    backbone, preprocessor = presets.load_backbone(tiny_preset, sequence_length=32)
    model = LongDocumentClassifier(backbone, 2, max_chunks=3, chunk_length=16, stride=7)
    text = " ".join(f"word{i}" for i in range(200))
    features, labels = next(
        iter(model.make_dataset([text, "short"], [1, 0], preprocessor.tokenizer, 2))
    )
    assert tuple(features["token_ids"].shape) == (2, 3, 16)
    np.testing.assert_array_equal(
        np.asarray(features["padding_mask"]).any(-1), [[1, 1, 1], [1, 0, 0]]
    )
    # Chunk 2 starts 7 pieces after chunk 1.
    np.testing.assert_array_equal(
        features["token_ids"][0, 1, 1:8], features["token_ids"][0, 0, 8:15]
    )
    assert model(features).shape == (2, 2)
    # Labels are checked against the head before anything is chunked, as
    # in-memory labels given to `fit` and `evaluate` are.
    with pytest.raises(ValueError, match=r"\[0, 2\).*labels\[1\]=2$"):
        model.make_dataset([text, "short"], [1, 2], preprocessor.tokenizer, 2)
    with pytest.raises(ValueError, match=r"\[0, 2\).*y\[0\]=-1$"):
        model.evaluate(features, np.array([-1, 0]), verbose=0)


def test_calibrated_temperature_is_saved_and_scales_the_probabilities(
    tiny_preset, tmp_path
):
    from tftransformer.evaluation import evaluate_classifier
    from tftransformer.training import calibrate_classifier

    backbone, preprocessor = presets.load_backbone(tiny_preset, sequence_length=32)
    model = LongDocumentClassifier(backbone, 3, max_chunks=2, chunk_length=16, stride=7)
    # A random head with large logits: confident and mostly wrong.
    dense = model.output_dense
    kernel = rng.normal(0, 20.0, dense.get_weights()[0].shape).astype("float32")
    dense.set_weights([kernel, np.zeros(3, "float32")])
    texts = [" ".join(f"word{i * j}" for i in range(30)) for j in range(12)]
    labels = np.arange(12) % 3
    dataset = model.make_dataset(texts, labels, preprocessor.tokenizer, 5)
    temperature = calibrate_classifier(model, dataset)
    assert model.temperature == temperature > 1
    report, probabilities = evaluate_classifier(
        model, dataset.map(lambda x, y: x), labels
    )
    assert report.calibration["temperature"] == temperature
    assert report.calibration["after"]["nll"] < report.calibration["before"]["nll"]
    logits = model.predict(dataset.map(lambda x, y: x), verbose=0) / temperature
    expected = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    model.save(tmp_path / "model.keras")
    assert keras.saving.load_model(tmp_path / "model.keras").temperature == temperature


def test_too_many_chunks(small_vocabulary_preset):
    model = build(small_vocabulary_preset, max_chunks=2)
    with pytest.raises(ValueError, match="max_chunks=2"):
        model(INPUTS)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"max_chunks": 0}, "max_chunks=0"),
        ({"chunk_length": 2}, "chunk_length=2"),
        ({"chunk_length": 100}, "max_sequence_length"),
        ({"stride": 31}, "stride=31"),
        ({"pooling": "sum"}, "pooling='sum'"),
        ({"token_pooling": "first"}, "token_pooling='first'"),
        ({"label_names": ["a"]}, "label_names"),
        ({"temperature": -1.0}, "temperature=-1.0"),
    ],
)
def test_bad_arguments(small_vocabulary_preset, kwargs, message):
    with pytest.raises(ValueError, match=message):
        build(small_vocabulary_preset, **kwargs)
