import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tftransformer.models import TextEmbedder
from tftransformer.models.text_embedder import (
    sentence_transformers_settings,
    use_exact_gelu,
)
from tftransformer.presets import embedded_preset_path, load_backbone

REFERENCE = os.path.join(os.path.dirname(__file__), "data", "reference_embeddings.json")


@pytest.fixture(scope="module")
def reference():
    with open(REFERENCE, encoding="utf-8") as f:
        return json.load(f)


def test_matches_sentence_transformers(reference):
    # The reference vectors come from sentence-transformers on PyTorch
    # (tests/models/data/make_reference_embeddings.py).
    embedder = TextEmbedder.from_preset("embedded")
    texts = [example["text"] for example in reference["examples"]]
    expected = np.array([example["embedding"] for example in reference["examples"]])
    actual = embedder.embed(texts, batch_size=3)
    cosine = np.sum(actual * expected, axis=1) / (
        np.linalg.norm(actual, axis=1) * np.linalg.norm(expected, axis=1)
    )
    assert cosine.min() >= 0.9999, cosine
    # The exact GELU leaves float32 round-off only.
    np.testing.assert_allclose(actual, expected, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(actual, axis=1), 1.0, atol=1e-6)
    # The text longer than the checkpoint's maximum is cut to it.
    assert max(e["word_pieces"] for e in reference["examples"]) > 256


def test_from_preset_reads_the_sentence_transformers_files():
    settings = sentence_transformers_settings(embedded_preset_path())
    assert settings == {
        "sequence_length": 256,
        "pooling": "mean",
        "normalize": True,
        "exact_gelu": True,
    }


@pytest.fixture
def tiny_embedder(tiny_preset):
    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=32)
    from tftransformer.models import TextClassifierPreprocessor

    return TextEmbedder(
        backbone,
        preprocessor=TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=32
        ),
    )


def test_padding_and_batch_order_do_not_change_embeddings(tiny_embedder):
    texts = ["short", "a much longer text with many more words in it", "mid size"]
    together = tiny_embedder.embed(texts, batch_size=3)
    alone = np.stack([tiny_embedder.embed(text) for text in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(np.linalg.norm(together, axis=1), 1.0, atol=1e-6)
    assert tiny_embedder.embed([]).shape == (0, 16)

    # The layouts `predict` reads: a tuple, a (texts, 1) column, string
    # tensors, UTF-8 bytes.
    column = np.array(texts, dtype=object)[:, None]
    for layout in (
        tuple(texts),
        column,
        tf.constant(column),
        tf.constant(texts),
        [text.encode() for text in texts],
    ):
        np.testing.assert_allclose(
            tiny_embedder.embed(layout, batch_size=3), together, atol=1e-6
        )
    np.testing.assert_allclose(
        tiny_embedder.embed(tf.constant(texts[1])), alone[1], atol=1e-6
    )


def test_pooling_and_normalize_options(tiny_preset):
    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=16)
    features = preprocessor(["one text", "another, longer text"])
    raw = TextEmbedder(backbone, pooling="cls", normalize=False)(features)
    sequence = backbone(features)["sequence_output"]
    np.testing.assert_allclose(raw, sequence[:, 0, :], atol=1e-6)


def test_exact_gelu_changes_the_feed_forward_and_survives_saving(tiny_preset, tmp_path):
    import keras

    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=16)
    features = preprocessor(["a test of the exact activation"])
    before = np.asarray(TextEmbedder(backbone)(features))
    embedder = TextEmbedder(backbone, preprocessor=preprocessor, exact_gelu=True)
    after = np.asarray(embedder(features))
    assert not np.allclose(before, after, atol=0, rtol=0)
    assert use_exact_gelu(backbone) == 0  # Already swapped: nothing left.

    path = str(tmp_path / "embedder.keras")
    embedder.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.exact_gelu
    np.testing.assert_allclose(reloaded(features), after, atol=1e-6)
    assert reloaded.get_config()["pooling"] == "mean"


def test_arguments_are_checked(tiny_embedder):
    backbone = tiny_embedder.backbone
    with pytest.raises(ValueError, match="pooling=.*'sum'"):
        TextEmbedder(backbone, pooling="sum")
    with pytest.raises(ValueError, match="normalize=1"):
        TextEmbedder(backbone, normalize=1)
    with pytest.raises(ValueError, match="batch_size=0"):
        tiny_embedder.embed(["a"], batch_size=0)
    with pytest.raises(ValueError, match=r"texts\[1\]=3 \(int\)"):
        tiny_embedder.embed(["a", 3])
    with pytest.raises(ValueError, match=r"UTF-8. Received b'\\xff'"):
        tiny_embedder.embed([b"\xff"])
    with pytest.raises(ValueError, match="needs a preprocessor"):
        TextEmbedder(backbone).embed(["a"])


def test_embed_traces_its_step_once_for_every_length_and_call(
    tiny_embedder, monkeypatch
):
    traces = []
    predict_step = tiny_embedder.predict_step

    def counting_predict_step(data):
        traces.append(1)  # Python runs here only while tracing.
        return predict_step(data)

    monkeypatch.setattr(tiny_embedder, "predict_step", counting_predict_step)
    # Three batches of three lengths, then a second call of other lengths.
    texts = ["a", "a few more words", "many more words than that in this text"] * 2
    first = tiny_embedder.embed(texts, batch_size=2)
    second = tiny_embedder.embed(texts[:3] + ["one more text of its own"])
    assert len(traces) == 1
    np.testing.assert_allclose(second[:3], first[:3], atol=1e-5)


def test_from_preset_takes_a_numpy_sequence_length(tiny_preset):
    embedder = TextEmbedder.from_preset(tiny_preset, sequence_length=np.int64(16))
    assert type(embedder.preprocessor.sequence_length) is int
    assert embedder.preprocessor.sequence_length == 16
