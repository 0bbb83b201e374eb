"""Checkpoints of every text encoder family through `load_backbone`."""

import json
import os

import numpy as np
import pytest

from tftransformer import presets
from tftransformer.models import TextClassifier
from tftransformer.models.backbone_adapter import sequence_output

TEXTS = ["The movie was great, really.", "A naïve plot; dull actors."]


@pytest.fixture(scope="module")
def bert_outputs():
    backbone, preprocessor = presets.load_backbone("embedded", sequence_length=32)
    features = preprocessor(TEXTS)
    return features, np.asarray(sequence_output(backbone(features)))


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
    bert_features, expected = bert_outputs
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
    bert = TextClassifier.from_preset("embedded", num_classes=2, sequence_length=32)
    other = TextClassifier.from_preset(directory, num_classes=2, sequence_length=32)
    other.get_layer("logits").set_weights(bert.get_layer("logits").get_weights())
    np.testing.assert_allclose(
        other.predict(TEXTS, verbose=0), bert.predict(TEXTS, verbose=0), atol=atol
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
