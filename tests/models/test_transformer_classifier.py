import keras
import keras_hub
import numpy as np
import pytest

from tftransformer.models.transformer_classifier import TransformerClassifier
from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.testing import run_model_test, tiny_bert_backbone

TOKEN_IDS = np.array([[2, 9, 3, 7, 0, 0], [2, 8, 5, 6, 11, 13]], "int32")
PADDING_MASK = (np.arange(6)[None, :] < np.array([[4], [6]])).astype("int32")


def tiny_encoder(kind, dtype=None):
    if kind == "bert":
        return tiny_bert_backbone(dtype=dtype)
    return TransformerEncoder(
        vocabulary_size=64,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=32,
        dtype=dtype,
    )


def inputs_for(kind, token_ids=TOKEN_IDS):
    x = {"token_ids": token_ids, "padding_mask": PADDING_MASK}
    if kind == "bert":
        x["segment_ids"] = np.zeros_like(token_ids)
    return x


@pytest.mark.parametrize(
    "kind, kwargs",
    [
        ("ours", {"num_classes": 3, "pooling": "cls"}),
        ("ours", {"num_classes": 1, "pooling": "mean", "dropout": 0.0}),
        ("bert", {"num_classes": 2, "pooling": "cls"}),
        ("bert", {"num_classes": 4, "pooling": "mean"}),
    ],
)
def test_model_contract(kind, kwargs, tmp_path):
    def build(dtype=None):
        return TransformerClassifier(tiny_encoder(kind, dtype), dtype=dtype, **kwargs)

    run_model_test(build, inputs_for(kind), tmp_path, (2, kwargs["num_classes"]))


def test_config_stores_encoder_and_head_arguments():
    classifier = TransformerClassifier(
        tiny_encoder("bert"), num_classes=5, dropout=0.2, pooling="mean"
    )
    config = classifier.get_config()
    assert config["encoder"]["class_name"] == "BertBackbone"
    assert (config["num_classes"], config["dropout"], config["pooling"]) == (
        5,
        0.2,
        "mean",
    )
    revived = TransformerClassifier.from_config(config)
    assert isinstance(revived.encoder, keras_hub.models.BertBackbone)
    assert set(revived.input) == {"token_ids", "segment_ids", "padding_mask"}


def _head(classifier):
    return classifier.get_layer("logits").get_weights()


@pytest.mark.parametrize("kind", ["ours", "bert"])
def test_cls_pooling_uses_pooled_output(kind):
    classifier = TransformerClassifier(tiny_encoder(kind), num_classes=3)
    x = inputs_for(kind)
    pooled = np.asarray(classifier.encoder(x)["pooled_output"])
    kernel, bias = _head(classifier)
    np.testing.assert_allclose(
        np.asarray(classifier(x)), pooled @ kernel + bias, atol=1e-5
    )


@pytest.mark.parametrize("kind", ["ours", "bert"])
def test_mean_pooling_averages_real_tokens_only(kind):
    classifier = TransformerClassifier(
        tiny_encoder(kind), num_classes=3, pooling="mean"
    )
    x = inputs_for(kind)
    sequence = np.asarray(classifier.encoder(x)["sequence_output"])
    kernel, bias = _head(classifier)
    expected = np.stack([sequence[0, :4].mean(0), sequence[1].mean(0)]) @ kernel + bias
    logits = np.asarray(classifier(x))
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    # Different ids at the padded positions change the padded vectors but not
    # the logits.
    changed_ids = TOKEN_IDS.copy()
    changed_ids[0, 4:] = [40, 41]
    changed = inputs_for(kind, changed_ids)
    changed_sequence = np.asarray(classifier.encoder(changed)["sequence_output"])
    assert np.abs(changed_sequence[0, 4:] - sequence[0, 4:]).max() > 1e-3
    np.testing.assert_allclose(np.asarray(classifier(changed)), logits, atol=1e-5)


def test_cls_pooling_without_pooled_output_takes_first_token():
    token_ids = keras.Input((None,), dtype="int32", name="token_ids")
    padding_mask = keras.Input((None,), dtype="int32", name="padding_mask")
    sequence = keras.layers.Embedding(64, 8)(token_ids)
    encoder = keras.Model(
        {"token_ids": token_ids, "padding_mask": padding_mask},
        {"sequence_output": sequence},
    )
    classifier = TransformerClassifier(encoder, num_classes=2)
    x = inputs_for("ours")
    first = np.asarray(encoder(x)["sequence_output"])[:, 0]
    kernel, bias = _head(classifier)
    np.testing.assert_allclose(
        np.asarray(classifier(x)), first @ kernel + bias, atol=1e-5
    )


def test_learns_a_tiny_task():
    # The label is whether token 5 appears among the real tokens.
    rng = np.random.default_rng(0)
    ids = rng.integers(6, 20, size=(64, 6)).astype("int32")
    labels = rng.integers(0, 2, size=64)
    ids[labels == 1, rng.integers(0, 6, size=int(labels.sum()))] = 5
    x = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    classifier = TransformerClassifier(
        tiny_encoder("ours"), num_classes=2, pooling="mean"
    )
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    history = classifier.fit(x, labels, batch_size=16, epochs=15, verbose=0)
    assert history.history["accuracy"][-1] >= 0.9, history.history


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 0}, "num_classes=0"),
        ({"num_classes": 2, "pooling": "max"}, "pooling='max'"),
        ({"num_classes": 2, "dropout": -0.1}, "dropout=-0.1"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TransformerClassifier(tiny_encoder("ours"), **kwargs)


def test_rejects_encoder_without_expected_io():
    with pytest.raises(ValueError, match="encoder must be a functional keras.Model"):
        TransformerClassifier(keras.layers.Dense(3), num_classes=2)
    inputs = keras.Input((None,), dtype="int32", name="token_ids")
    plain = keras.Model(inputs, keras.layers.Embedding(10, 4)(inputs))
    with pytest.raises(ValueError, match="padding_mask"):
        TransformerClassifier(plain, num_classes=2)
