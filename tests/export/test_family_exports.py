"""The serving export tokenizes in the graph for every family: byte-pair,
SentencePiece, and the WordPiece families besides BERT (whose export
test_text_classifier_export.py covers in a clean process)."""

import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tftransformer.export import litert_tokenizer
from tftransformer.models.backbone_adapter import DebertaV3Adapter
from tftransformer.testing import write_tiny_preset

TEXTS = ["the movie was great", "a boring film, never again"]


@pytest.mark.parametrize(
    "family",
    [
        "roberta",
        "xlm_roberta",
        "distil_bert",
        "deberta_v3",
        "albert",
        "electra",
    ],
)
def test_exported_classifier_matches_the_keras_model(tmp_path, family):
    preset = write_tiny_preset(family, tmp_path / "preset")
    classifier = tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16
    )
    path = tft.export.export_for_serving(classifier, str(tmp_path / "serving"))
    serve = tf.saved_model.load(path).signatures["serving_default"]
    served = serve(text=tf.constant(TEXTS))["probabilities"].numpy()
    # The Keras model called eagerly: `predict` would trace a function first.
    logits = classifier(classifier.preprocessor(tf.constant(TEXTS)), training=False)
    expected = tf.nn.softmax(logits).numpy()
    np.testing.assert_allclose(served, expected, atol=1e-5)


# The SentencePiece families' LiteRT exports tokenize with TF Text's
# FastSentencepieceTokenizer; XLM-RoBERTa's ids are one past the
# SentencePiece model's, and its pairs have two separators.
LITERT_TEXTS = TEXTS + ["", "Naïve café, ÉCOLE  tabs\tand 1234", "word " * 40]


@pytest.mark.parametrize("family", ["xlm_roberta", "deberta_v3", "albert"])
def test_litert_classifier_matches_the_keras_model(tmp_path, family):
    preset = write_tiny_preset(family, tmp_path / "preset")
    classifier = tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16
    )
    preprocessor = classifier.preprocessor
    seconds = list(reversed(LITERT_TEXTS))
    for text_pair, inputs in (
        (False, (LITERT_TEXTS,)),
        (True, (LITERT_TEXTS, seconds)),
    ):
        tflite_file = tft.export.export_litert(
            classifier, tmp_path / f"litert_{text_pair}", text_pair=text_pair
        )
        served = tft.export.LiteRTModel(tflite_file)(*inputs)["probabilities"]
        x = preprocessor(x=tuple(tf.constant(texts) for texts in inputs))
        if not text_pair:
            x = preprocessor(tf.constant(LITERT_TEXTS))
        expected = tf.nn.softmax(classifier(x, training=False)).numpy()
        np.testing.assert_allclose(served, expected, atol=1e-5, err_msg=str(text_pair))


def test_litert_refuses_a_byte_pair_tokenizer(tmp_path):
    preset = write_tiny_preset("roberta", tmp_path / "preset")
    classifier = tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16
    )
    with pytest.raises(ValueError, match="byte-pair tokenizers .* have no LiteRT"):
        tft.export.export_litert(classifier, tmp_path / "litert")
    assert not (tmp_path / "litert").exists()


def test_litert_refuses_ops_without_litert_kernels(tmp_path, monkeypatch):
    # DeBERTa-v3's relative positions take `abs` and `sign` of int64
    # distances: without a fixed length, they stay TensorFlow ops.
    preset = write_tiny_preset("deberta_v3", tmp_path / "preset")
    classifier = tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16
    )
    monkeypatch.setattr(DebertaV3Adapter, "litert_fixed_length", False)
    with pytest.raises(
        ValueError, match="keeps the TensorFlow op 'Abs', which has no LiteRT kernel"
    ):
        tft.export.export_litert(classifier, tmp_path / "litert")
    assert not (tmp_path / "litert").exists()


def test_litert_tagger_refuses_a_sentencepiece_tokenizer(tmp_path):
    preset = write_tiny_preset("albert", tmp_path / "preset")
    tagger = tft.models.TokenClassifier.from_preset(
        preset, num_tags=3, tag_names=["O", "B-X", "I-X"], sequence_length=16
    )
    with pytest.raises(ValueError, match="Received: tokenizer of class AlbertTok"):
        tft.export.export_litert(tagger, tmp_path / "litert")


def test_litert_refuses_a_tokenizer_that_differs_from_the_models(tmp_path, monkeypatch):
    # Without XLM-RoBERTa's id table, FastSentencepieceTokenizer's ids are
    # the SentencePiece model's own, one below the tokenizer's.
    preset = write_tiny_preset("xlm_roberta", tmp_path / "preset")
    classifier = tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16
    )
    monkeypatch.setattr(litert_tokenizer, "_id_table", lambda tokenizer: None)
    with pytest.raises(ValueError, match="tokenizes 'The movie was great!' as"):
        tft.export.export_litert(classifier, tmp_path / "litert")
    assert not (tmp_path / "litert").exists()
