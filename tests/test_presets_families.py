"""Checkpoints of every text encoder family through `load_backbone`."""

import json
import math
import os

import keras
import numpy as np
import pytest
import sentencepiece
import tokenizers
from safetensors.numpy import load_file

from tftransformer import presets
from tftransformer.models import TextClassifier
from tftransformer.models.backbone_adapter import adapter_for, sequence_output
from tftransformer.testing import (
    HUGGING_FACE_FAMILIES,
    HUGGING_FACE_LAYER_NAMES,
    write_tiny_hugging_face_checkpoint,
)

TEXTS = ["The movie was great, really.", "A naïve plot; dull actors."]


@pytest.fixture(scope="module")
def bert_outputs():
    """The embedded BERT's features and outputs for `TEXTS`, and a classifier
    on it (loaded once for all families: 22.7M weights)."""
    backbone, preprocessor = presets.load_backbone("embedded", sequence_length=32)
    features = preprocessor(TEXTS)
    bert = TextClassifier.from_preset("embedded", num_classes=2, sequence_length=32)
    return (
        features,
        np.asarray(sequence_output(backbone(features))),
        bert.get_layer("logits").get_weights(),
        bert.predict(TEXTS, verbose=0),
    )


@pytest.mark.parametrize(
    "family, backbone_name, atol",
    [
        # keras-hub's DistilBERT computes the exact GELU, its BERT the tanh
        # approximation.
        ("distil_bert", "DistilBertBackbone", 1e-2),
        ("electra", "ElectraBackbone", 1e-5),
    ],
)
def test_embedded_weights_as_another_family_give_berts_outputs(
    bert_outputs, tmp_path, family, backbone_name, atol
):
    bert_features, expected, bert_logits, bert_predictions = bert_outputs
    directory = presets.write_embedded_checkpoint(family, tmp_path / family)
    if family == "distil_bert":
        with open(os.path.join(directory, "config.json")) as f:
            assert json.load(f)["model_type"] == "distilbert"
    backbone, preprocessor = presets.load_backbone(directory, sequence_length=32)
    assert type(backbone).__name__ == backbone_name
    features = preprocessor(TEXTS)
    # The same WordPiece ids, accents stripped as the checkpoint says.
    np.testing.assert_array_equal(
        np.asarray(features["token_ids"]), np.asarray(bert_features["token_ids"])
    )
    outputs = np.asarray(
        sequence_output(backbone({name: features[name] for name in backbone.input}))
    )
    mask = np.asarray(features["padding_mask"])[..., None]
    np.testing.assert_allclose(outputs * mask, expected * mask, atol=atol)
    # The task model takes the preprocessor's whole batch (DistilBERT reads
    # no segment_ids) and, with BERT's head, answers as BERT's does.
    other = TextClassifier.from_preset(directory, num_classes=2, sequence_length=32)
    other.get_layer("logits").set_weights(bert_logits)
    np.testing.assert_allclose(
        other.predict(TEXTS, verbose=0), bert_predictions, atol=atol
    )


def test_write_embedded_checkpoint_refuses_other_families(tmp_path):
    with pytest.raises(ValueError, match="family must be one of.*family='roberta'"):
        presets.write_embedded_checkpoint("roberta", tmp_path)


def _hugging_face_dir(directory, model_type, files=()):
    os.makedirs(directory, exist_ok=True)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"model_type": model_type, "max_position_embeddings": 16}, f)
    for name in ("model.safetensors", *files):
        with open(os.path.join(directory, name), "wb") as f:
            f.write(b"")
    return str(directory)


@pytest.mark.parametrize("model_type", ["electra", "deberta-v2"])
def test_hugging_face_families_keras_hub_cannot_convert_are_refused(
    tmp_path, model_type
):
    directory = _hugging_face_dir(tmp_path / model_type, model_type)
    with pytest.raises(
        ValueError,
        match=rf"model type '{model_type}'.*'albert', 'bert', 'distilbert', "
        r"'roberta', 'xlm-roberta'",
    ):
        presets.load_backbone(directory)


@pytest.mark.parametrize(
    "model_type, present, missing",
    [
        ("roberta", ["vocab.json"], "merges.txt"),
        ("xlm-roberta", [], "sentencepiece.bpe.model"),
        ("albert", [], "spiece.model"),
        ("distilbert", ["vocab.txt"], "tokenizer_config.json"),
    ],
)
def test_hugging_face_tokenizer_files_are_checked_per_family(
    tmp_path, model_type, present, missing
):
    directory = _hugging_face_dir(tmp_path / model_type, model_type, present)
    with pytest.raises(FileNotFoundError, match=f"No {missing} .*'{model_type}'"):
        presets.load_backbone(directory)


def _layer_norm(x, tensors, name, epsilon):
    mean = x.mean(-1, keepdims=True)
    variance = x.var(-1, keepdims=True)
    normed = (x - mean) / np.sqrt(variance + epsilon)
    return normed * tensors[f"{name}.weight"] + tensors[f"{name}.bias"]


def _gelu(x, approximate):
    if approximate:  # Hugging Face's "gelu_new" (ALBERT)
        return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    return 0.5 * x * (1 + np.vectorize(math.erf)(x / np.sqrt(2)))


def _encoder_layer(x, mask, tensors, prefix, names, num_heads, epsilon, approximate):
    """One post-LayerNorm BERT-like layer as Hugging Face computes it."""

    def dense(h, name):
        # PyTorch Linear: (out, in) kernels.
        return h @ tensors[f"{prefix}{name}.weight"].T + tensors[f"{prefix}{name}.bias"]

    batch, length, hidden = x.shape
    head_dim = hidden // num_heads

    def heads(h):  # (batch, heads, length, head_dim)
        return h.reshape(batch, length, num_heads, head_dim).transpose(0, 2, 1, 3)

    query, key, value = (heads(dense(x, names[n])) for n in ("query", "key", "value"))
    scores = query @ key.transpose(0, 1, 3, 2) / np.sqrt(head_dim)
    scores = scores + np.where(mask[:, None, None, :], 0.0, -1e9)
    weights = np.exp(scores - scores.max(-1, keepdims=True))
    weights /= weights.sum(-1, keepdims=True)
    context = (weights @ value).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
    x = _layer_norm(
        x + dense(context, names["attention_output"]),
        tensors,
        prefix + names["attention_norm"],
        epsilon,
    )
    inner = _gelu(dense(x, names["intermediate"]), approximate)
    return _layer_norm(
        x + dense(inner, names["output"]),
        tensors,
        prefix + names["output_norm"],
        epsilon,
    )


_ROBERTA_NAMES = HUGGING_FACE_LAYER_NAMES["roberta"]
_ALBERT_NAMES = HUGGING_FACE_LAYER_NAMES["albert"]


def _hugging_face_sequence_output(family, tensors, config, features):
    """The checkpoint's last hidden states, computed from its tensors."""
    token_ids = np.asarray(features["token_ids"])
    mask = np.asarray(features["padding_mask"])
    layers = config["num_hidden_layers"]
    heads = config["num_attention_heads"]
    epsilon = config["layer_norm_eps"]
    if family == "albert":
        p = "albert."
        segment_ids = np.asarray(features["segment_ids"])
        x = (
            tensors[f"{p}embeddings.word_embeddings.weight"][token_ids]
            + tensors[f"{p}embeddings.position_embeddings.weight"][
                np.arange(token_ids.shape[1])
            ]
            + tensors[f"{p}embeddings.token_type_embeddings.weight"][segment_ids]
        )
        x = _layer_norm(x, tensors, f"{p}embeddings.LayerNorm", epsilon)
        mapping = f"{p}encoder.embedding_hidden_mapping_in"
        x = x @ tensors[f"{mapping}.weight"].T + tensors[f"{mapping}.bias"]
        # Every layer runs the one shared block.
        block = f"{p}encoder.albert_layer_groups.0.albert_layers.0."
        for _ in range(layers):
            x = _encoder_layer(
                x, mask, tensors, block, _ALBERT_NAMES, heads, epsilon, True
            )
        return x
    p = "roberta." if family == "roberta" else ""
    # Positions count real tokens from padding_idx + 1 = 2; padding sits at 1.
    positions = np.where(mask, np.cumsum(mask, axis=1) + 1, 1)
    x = (
        tensors[f"{p}embeddings.word_embeddings.weight"][token_ids]
        + tensors[f"{p}embeddings.position_embeddings.weight"][positions]
        + tensors[f"{p}embeddings.token_type_embeddings.weight"][0]
    )
    x = _layer_norm(x, tensors, f"{p}embeddings.LayerNorm", epsilon)
    for i in range(layers):
        x = _encoder_layer(
            x,
            mask,
            tensors,
            f"{p}encoder.layer.{i}.",
            _ROBERTA_NAMES,
            heads,
            epsilon,
            False,
        )
    return x


def _expected_token_ids(family, directory, text, tokenizer):
    """The ids Hugging Face's tokenizer gives, from the written files."""
    if family == "roberta":
        # Hugging Face's own byte-level BPE (a keras-hub requirement),
        # reading the written files.
        reference = tokenizers.ByteLevelBPETokenizer(
            os.path.join(directory, "vocab.json"),
            os.path.join(directory, "merges.txt"),
        )
        return [0] + reference.encode(text).ids + [2]
    name = "spiece.model" if family == "albert" else "sentencepiece.bpe.model"
    model = sentencepiece.SentencePieceProcessor(
        model_file=os.path.join(directory, name)
    )
    ids = model.encode(text)
    if family == "albert":
        return [model.piece_to_id("[CLS]")] + ids + [model.piece_to_id("[SEP]")]
    # fairseq's ids: <s>=0, <pad>=1, </s>=2, <unk>=3, then the pieces one up.
    return [0] + [i + 1 for i in ids] + [2]


@pytest.mark.parametrize("family", sorted(HUGGING_FACE_FAMILIES))
def test_hugging_face_directories_convert_to_the_checkpoints_outputs(tmp_path, family):
    directory = write_tiny_hugging_face_checkpoint(family, tmp_path / family)
    tensors = load_file(os.path.join(directory, "model.safetensors"))
    with open(os.path.join(directory, "config.json")) as f:
        config = json.load(f)
    assert config["model_type"] == HUGGING_FACE_FAMILIES[family]
    backbone, preprocessor = presets.load_backbone(directory, sequence_length=32)
    assert adapter_for(backbone).family == family
    texts = ["the movie was great", "john smith lives in new york"]
    features = preprocessor(texts)
    token_ids = np.asarray(features["token_ids"])
    mask = np.asarray(features["padding_mask"])
    for row, text in enumerate(texts):
        expected = _expected_token_ids(family, directory, text, preprocessor.tokenizer)
        assert token_ids[row][mask[row]].tolist() == expected
    # The word embeddings are the written tensor as it is.
    prefix = {"roberta": "roberta.", "albert": "albert."}.get(family, "")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(backbone.token_embedding.embeddings),
        tensors[f"{prefix}embeddings.word_embeddings.weight"],
    )
    features.setdefault("segment_ids", np.zeros_like(token_ids))
    outputs = np.asarray(
        sequence_output(backbone({name: features[name] for name in backbone.input}))
    )
    expected = _hugging_face_sequence_output(family, tensors, config, features)
    np.testing.assert_allclose(
        outputs * mask[..., None], expected * mask[..., None], atol=1e-4
    )


def test_tiny_hugging_face_checkpoints_name_the_families_they_write(tmp_path):
    with pytest.raises(ValueError, match="family must be one of.*family='electra'"):
        write_tiny_hugging_face_checkpoint("electra", tmp_path)
