"""The serving export tokenizes in the graph for every family: byte-pair,
SentencePiece, and the WordPiece families besides BERT (whose export
test_text_classifier_export.py covers in a clean process)."""

import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
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
