"""Tiny models shared by the fine-tuning tests."""

import keras
import keras_hub
import numpy as np

from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.testing import tiny_bert_backbone as shared_tiny_bert_backbone

# The embedding-side layers of keras-hub's BertBackbone, in graph order.
BERT_EMBEDDINGS = [
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_add",
    "embeddings_layer_norm",
    "embeddings_dropout",
]


def tiny_bert_backbone(dropout=0.1):
    return shared_tiny_bert_backbone(dropout=dropout)


def tiny_functional_encoder(dropout=0.1):
    """A plain functional model with the layer names discovery looks for.

    Unlike keras-hub backbones, its saved config lists every layer.
    """
    token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(64, 8, name="embeddings")(token_ids)
    x = keras.layers.Dropout(dropout, name="embeddings_dropout")(x)
    for i in range(3):
        x = keras_hub.layers.TransformerEncoder(
            intermediate_dim=16,
            num_heads=2,
            dropout=dropout,
            name=f"transformer_layer_{i}",
        )(x)
    x = keras.layers.GlobalAveragePooling1D(name="pool")(x)
    logits = keras.layers.Dense(2, name="logits")(x)
    return keras.Model(token_ids, logits, name="tiny_encoder")


def bert_inputs(batch_size=4, seq_len=6, seed=0):
    rng = np.random.default_rng(seed)
    return {
        "token_ids": rng.integers(1, 64, size=(batch_size, seq_len)).astype("int32"),
        "segment_ids": np.zeros((batch_size, seq_len), "int32"),
        "padding_mask": np.ones((batch_size, seq_len), "int32"),
    }


def tiny_bert_classifier(dropout=0.1):
    return keras_hub.models.BertTextClassifier(
        tiny_bert_backbone(dropout), num_classes=2, preprocessor=None
    )


def tiny_tftransformer_encoder(dropout=0.1):
    return TransformerEncoder(
        vocabulary_size=64,
        num_layers=2,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=32,
        dropout=dropout,
    )
