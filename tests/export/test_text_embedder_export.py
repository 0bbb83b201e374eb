import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (the WordPiece ops of the graph)

from tftransformer.export import export_text_embedder
from tftransformer.models import TextClassifierPreprocessor, TextEmbedder
from tftransformer.presets import load_backbone


def test_the_saved_model_embeds_raw_strings_as_the_model_does(tiny_preset, tmp_path):
    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=16)
    embedder = TextEmbedder(
        backbone,
        preprocessor=TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=16
        ),
        exact_gelu=True,
    )
    texts = ["a short text", "a somewhat longer text with more words in it"]
    directory = export_text_embedder(embedder, tmp_path / "serving")
    assert directory.endswith("1")
    serve = tf.saved_model.load(directory).signatures["serving_default"]
    exported = serve(text=tf.constant(texts))["embedding"].numpy()
    np.testing.assert_allclose(exported, embedder.embed(texts), atol=1e-5)
    # The signature declares (None,), which a loaded model does not enforce:
    # a 2-D request was flattened into as many rows.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"text \[2,1\]"):
        serve(text=tf.constant([[text] for text in texts]))
