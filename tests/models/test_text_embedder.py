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
    with pytest.raises(ValueError, match=r"UTF-8 text. Received: texts\[0\]=b'\\xff'"):
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


_MODULE = "sentence_transformers.models."


def _write_sentence_transformers_checkpoint(directory, dense=None):
    """A tiny RoBERTa checkpoint with sentence-transformers' module files:
    mean pooling, then (with `dense`, a dict of `config.json` keys and
    weights) a Dense module, then Normalize."""
    from safetensors.numpy import save_file

    from tftransformer.testing import write_tiny_hugging_face_checkpoint

    directory = write_tiny_hugging_face_checkpoint("roberta", directory)
    modules = [{"idx": 0, "name": "0", "path": "", "type": _MODULE + "Transformer"}]
    modules.append({"path": "1_Pooling", "type": _MODULE + "Pooling"})
    os.makedirs(os.path.join(directory, "1_Pooling"))
    with open(os.path.join(directory, "1_Pooling", "config.json"), "w") as f:
        json.dump({"pooling_mode_mean_tokens": True}, f)
    if dense is not None:
        modules.append({"path": "2_Dense", "type": _MODULE + "Dense"})
        os.makedirs(os.path.join(directory, "2_Dense"))
        weights = dense.pop("weights")
        with open(os.path.join(directory, "2_Dense", "config.json"), "w") as f:
            json.dump(dense, f)
        if weights is not None:
            save_file(weights, os.path.join(directory, "2_Dense", "model.safetensors"))
    modules.append({"path": "3_Normalize", "type": _MODULE + "Normalize"})
    with open(os.path.join(directory, "modules.json"), "w") as f:
        json.dump(modules, f)
    return directory


def test_a_dense_module_projects_the_pooled_vector_as_sentence_transformers(
    tmp_path,
):
    # LaBSE and distiluse project the pooled vector: tanh(W p + b), in
    # PyTorch's (out, in) layout, then normalize.
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(8, 16)).astype("float32")
    bias = rng.normal(size=8).astype("float32")
    dense = {
        "in_features": 16,
        "out_features": 8,
        "bias": True,
        "activation_function": "torch.nn.modules.activation.Tanh",
        "weights": {"linear.weight": weight, "linear.bias": bias},
    }
    plain = _write_sentence_transformers_checkpoint(tmp_path / "plain")
    projected = _write_sentence_transformers_checkpoint(tmp_path / "dense", dense)
    texts = ["a fine film", "a dull and long film"]
    pooled = TextEmbedder.from_preset(plain, sequence_length=16, normalize=False)
    pooled = pooled.embed(texts)
    expected = np.tanh(pooled @ weight.T + bias)
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)

    embedder = TextEmbedder.from_preset(projected, sequence_length=16)
    assert embedder.embedding_dim == 8
    np.testing.assert_allclose(embedder.embed(texts), expected, atol=1e-5)
    # The projection is part of the saved model.
    path = str(tmp_path / "embedder.keras")
    embedder.save(path)
    loaded = tf.keras.models.load_model(path)
    assert loaded.get_config()["projection_activation"] == "tanh"
    np.testing.assert_allclose(loaded.embed(texts), expected, atol=1e-5)


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"activation_function": "torch.nn.modules.activation.Softsign"},
            r"activation must be one of .*Received: 'torch.nn.*Softsign'",
        ),
        ({"weights": None}, r"weights must be in model.safetensors"),
        (
            {"weights": {"linear.weight": np.ones((8, 12), "float32")}},
            r"in_features=16. Received a kernel of shape \(in, out\)=\(12, 8\)",
        ),
    ],
)
def test_a_dense_module_the_embedder_cannot_run_is_refused(tmp_path, change, message):
    dense = {"weights": {"linear.weight": np.ones((8, 16), "float32")}, **change}
    directory = _write_sentence_transformers_checkpoint(tmp_path / "st", dense)
    with pytest.raises(ValueError, match=message):
        TextEmbedder.from_preset(directory, sequence_length=16)


@pytest.mark.parametrize(
    "position, module",
    [
        (2, {"path": "2_LayerNorm", "type": _MODULE + "LayerNorm"}),
        # A projection of the normalized vector: the embedder normalizes last.
        (3, {"path": "4_Dense", "type": _MODULE + "Dense"}),
    ],
    ids=["unknown", "dense_after_normalize"],
)
def test_a_sentence_transformers_module_the_embedder_cannot_run_is_refused(
    tmp_path, position, module
):
    directory = _write_sentence_transformers_checkpoint(tmp_path / "st")
    path = os.path.join(directory, "modules.json")
    with open(path) as f:
        modules = json.load(f)
    modules.insert(position, module)
    with open(path, "w") as f:
        json.dump(modules, f)
    with pytest.raises(ValueError, match=rf"in that order. .*modules\[{position}\]="):
        TextEmbedder.from_preset(directory, sequence_length=16)
