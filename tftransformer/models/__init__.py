"""tftransformer.models: functional models composed from the layers."""

from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_classifier_preprocessor import TextClassifierPreprocessor
from tftransformer.models.transformer_classifier import TransformerClassifier
from tftransformer.models.transformer_encoder import TransformerEncoder

__all__ = [
    "Seq2SeqTransformer",
    "TextClassifier",
    "TextClassifierPreprocessor",
    "TransformerClassifier",
    "TransformerEncoder",
]
