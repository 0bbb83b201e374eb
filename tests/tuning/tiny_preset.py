"""A tiny keras-hub BERT preset on disk, shared by the tuning tests."""

import keras
import keras_hub

from tftransformer.data import (
    embedded_vocabulary_path,
)
from tftransformer.datasets import load_rotten_tomatoes


def write_tiny_preset(directory):
    """Writes a 2-layer, 16-wide BERT with the embedded vocabulary; returns it."""
    keras.utils.set_random_seed(0)
    backbone = keras_hub.models.BertBackbone(
        vocabulary_size=30522,
        num_layers=2,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=64,
    )
    tokenizer = keras_hub.models.BertTokenizer(
        vocabulary=str(embedded_vocabulary_path()), lowercase=True
    )
    backbone.save_to_preset(str(directory))
    keras_hub.models.BertTextClassifierPreprocessor(tokenizer).save_to_preset(
        str(directory)
    )
    return str(directory)


def tiny_splits(num_train=24, num_validation=16):
    """Small seeded subsets of the embedded sentiment train and validation splits."""
    return (
        load_rotten_tomatoes("train").sample(num_train, 0),
        load_rotten_tomatoes("validation").sample(num_validation, 0),
    )
