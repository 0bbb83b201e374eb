import math

import keras
import numpy as np
import pytest

import tftransformer as tft
from tftransformer.data import embedded_vocabulary_path
from tftransformer.evaluation import attention_maps, plot_attention_map

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT = "A quietly devastating film."


@pytest.fixture
def tiny(tiny_preset):
    backbone, preprocessor = tft.presets.load_backbone(tiny_preset, sequence_length=32)
    # Larger weights than the initializer's make the attention far from
    # uniform, so that a wrong computation cannot match by accident.
    rng = np.random.default_rng(0)
    backbone.set_weights(
        [rng.normal(0.0, 1.0, w.shape).astype("float32") for w in backbone.weights]
    )
    return backbone, preprocessor


def _vocabulary():
    with open(embedded_vocabulary_path(), encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def _layer_norm(x, gamma, beta, epsilon=1e-12):
    mean = x.mean(-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + epsilon) * gamma + beta


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))


def _numpy_bert_attention(backbone, token_ids, padding_mask):
    """BERT's forward pass in float64 NumPy from the weights: each layer's
    attention probabilities, (layers, heads, seq, seq)."""
    w = {
        v.path: keras.ops.convert_to_numpy(v).astype("float64")
        for v in backbone.weights
    }
    seq = len(token_ids)
    x = (
        w["token_embedding/embeddings"][token_ids]
        + w["position_embedding/embeddings"][:seq]
        + w["segment_embedding/embeddings"][np.zeros(seq, int)]
    )
    x = _layer_norm(
        x, w["embeddings_layer_norm/gamma"], w["embeddings_layer_norm/beta"]
    )
    result = []
    for i in range(backbone.num_layers):
        p = f"transformer_layer_{i}/"
        a = p + "self_attention_layer/"
        q = (
            np.einsum("sd,dhk->hsk", x, w[a + "query/kernel"])
            + w[a + "query/bias"][:, None]
        )
        k = (
            np.einsum("sd,dhk->hsk", x, w[a + "key/kernel"])
            + w[a + "key/bias"][:, None]
        )
        v = (
            np.einsum("sd,dhk->hsk", x, w[a + "value/kernel"])
            + w[a + "value/bias"][:, None]
        )
        logits = np.einsum("hqk,hsk->hqs", q, k) / math.sqrt(q.shape[-1])
        logits = np.where(padding_mask[None, None, :] > 0, logits, -np.inf)
        probs = np.exp(logits - logits.max(-1, keepdims=True))
        probs /= probs.sum(-1, keepdims=True)
        result.append(probs)
        attended = np.einsum("hqs,hsk->qhk", probs, v)
        attended = (
            np.einsum("qhk,hkd->qd", attended, w[a + "attention_output/kernel"])
            + w[a + "attention_output/bias"]
        )
        x = _layer_norm(
            attended + x,
            w[p + "self_attention_layer_norm/gamma"],
            w[p + "self_attention_layer_norm/beta"],
        )
        hidden = _gelu_tanh(
            x @ w[p + "feedforward_intermediate_dense/kernel"]
            + w[p + "feedforward_intermediate_dense/bias"]
        )
        ffn = (
            hidden @ w[p + "feedforward_output_dense/kernel"]
            + w[p + "feedforward_output_dense/bias"]
        )
        x = _layer_norm(
            ffn + x,
            w[p + "feedforward_layer_norm/gamma"],
            w[p + "feedforward_layer_norm/beta"],
        )
    return np.stack(result)


def test_backbone_weights_match_numpy_forward_pass(tiny):
    backbone, preprocessor = tiny
    tokens, weights = attention_maps(
        backbone, TEXT, preprocessor=preprocessor, trim_padding=False
    )
    # The preprocessor pads to its sequence_length (32).
    assert weights.shape == (2, 2, 32, 32)
    assert weights.dtype == np.float32
    vocabulary = _vocabulary()
    token_ids = np.array([vocabulary.index(t) for t in tokens])
    padding_mask = (token_ids != vocabulary.index("[PAD]")).astype(int)
    expected = _numpy_bert_attention(backbone, token_ids, padding_mask)
    np.testing.assert_allclose(weights, expected, atol=2e-5)
    # Far from uniform: the comparison is not trivially met.
    real = padding_mask.sum()
    assert weights[:, :, :real, :real].max() > 0.5


def test_tokens_rows_and_padding(tiny):
    backbone, preprocessor = tiny
    tokens, weights = attention_maps(
        backbone, TEXT, preprocessor=preprocessor, trim_padding=False
    )
    assert tokens[:7] == ["[CLS]", "a", "quietly", "devastating", "film", ".", "[SEP]"]
    assert tokens[7:] == ["[PAD]"] * 25
    # Every row is a distribution over the 7 real keys; padding keys get 0.
    np.testing.assert_allclose(weights[..., :7].sum(-1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(weights[..., 7:], 0.0)
    assert np.all(weights >= 0)

    trimmed_tokens, trimmed = attention_maps(backbone, TEXT, preprocessor=preprocessor)
    assert trimmed_tokens == tokens[:7]
    assert trimmed.shape == (2, 2, 7, 7)
    np.testing.assert_allclose(trimmed, weights[:, :, :7, :7], atol=1e-6)


def test_text_classifier_uses_its_preprocessor_and_survives_reload(tiny, tmp_path):
    backbone, preprocessor = tiny
    classifier = tft.models.TextClassifier(
        backbone,
        num_classes=2,
        preprocessor=tft.models.TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=32
        ),
    )
    tokens, weights = attention_maps(classifier, TEXT)
    expected_tokens, expected = attention_maps(
        backbone, TEXT, preprocessor=preprocessor
    )
    assert tokens == expected_tokens
    np.testing.assert_allclose(weights, expected, atol=1e-6)

    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_allclose(attention_maps(reloaded, TEXT)[1], weights, atol=1e-6)


def test_from_scratch_encoder(tiny):
    _, preprocessor = tiny
    encoder = tft.models.TransformerEncoder(
        vocabulary_size=30522,
        num_layers=3,
        num_heads=4,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=32,
        norm_first=True,
    )
    tokens, weights = attention_maps(encoder, TEXT, preprocessor=preprocessor)
    assert weights.shape == (3, 4, len(tokens), len(tokens))
    np.testing.assert_allclose(weights.sum(-1), 1.0, atol=1e-5)


def test_bad_input(tiny):
    backbone, preprocessor = tiny
    with pytest.raises(ValueError, match="non-empty string.*''"):
        attention_maps(backbone, "", preprocessor=preprocessor)
    with pytest.raises(ValueError, match=r"non-empty string.*\['a'\]"):
        attention_maps(backbone, ["a"], preprocessor=preprocessor)
    with pytest.raises(ValueError, match="needs a preprocessor"):
        attention_maps(backbone, TEXT)
    dense = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="transformer_layer_"):
        attention_maps(dense, TEXT, preprocessor=preprocessor)


def test_plot_attention_map_writes_png(tiny, tmp_path):
    pytest.importorskip("matplotlib")
    import matplotlib.image

    backbone, preprocessor = tiny
    tokens, weights = attention_maps(backbone, TEXT, preprocessor=preprocessor)
    for name, kwargs in [("head.png", dict(layer=1, head=0)), ("mean.png", {})]:
        path = tmp_path / "plots" / name
        assert plot_attention_map(tokens, weights, path, **kwargs) == path
        assert path.read_bytes()[:8] == PNG_SIGNATURE
        image = matplotlib.image.imread(path)
        assert image.ndim == 3 and min(image.shape[:2]) > 100
    plot_attention_map(tokens, weights[0, 0], tmp_path / "one.png")


def test_plot_attention_map_bad_input(tmp_path):
    weights = np.full((2, 3, 4, 4), 0.25)
    tokens = ["[CLS]", "a", "b", "[SEP]"]
    with pytest.raises(
        ValueError, match=r"layer must be an integer in \[-2, 1\].*layer=5"
    ):
        plot_attention_map(tokens, weights, tmp_path / "x.png", layer=5)
    with pytest.raises(
        ValueError, match=r"head must be an integer in \[-3, 2\].*head=3"
    ):
        plot_attention_map(tokens, weights, tmp_path / "x.png", head=3)
    with pytest.raises(ValueError, match="3 tokens"):
        plot_attention_map(tokens[:3], weights, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"shape=\(4,\)"):
        plot_attention_map(tokens, np.ones(4), tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
