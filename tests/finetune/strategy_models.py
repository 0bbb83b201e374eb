"""A tiny TextClassifier and a recorder callback for the strategy tests."""

import keras
import numpy as np

from tests.finetune.tiny_models import bert_inputs
from tftransformer.models import TextClassifier, TokenClassifier
from tftransformer.testing import tiny_bert_backbone

ENCODERS = ["transformer_layer_0", "transformer_layer_1", "transformer_layer_2"]
# BertBackbone's embedding-side layers that hold weights.
EMBEDDINGS_WITH_WEIGHTS = [
    "token_embedding",
    "position_embedding",
    "segment_embedding",
    "embeddings_layer_norm",
]


def _tiny_backbone(dropout):
    return tiny_bert_backbone(num_layers=3, dropout=dropout)


def tiny_text_classifier(backbone_dropout=0.1, dropout=0.1, num_extra_blocks=0):
    return TextClassifier(
        _tiny_backbone(backbone_dropout),
        num_classes=2,
        dropout=dropout,
        num_extra_blocks=num_extra_blocks,
    )


def tiny_token_classifier(backbone_dropout=0.1):
    return TokenClassifier(_tiny_backbone(backbone_dropout), num_tags=3)


def batches(num_examples, seed=0):
    x = bert_inputs(batch_size=num_examples, seq_len=6, seed=seed)
    y = np.arange(num_examples) % 2
    return x, y


def top_layer(path):
    """`transformer_layer_1/_self_attention_layer/query/kernel` -> its layer."""
    return path.split("/")[0]


def paths_by_layer(paths):
    return sorted({top_layer(path) for path in paths})


class Recorder(keras.callbacks.Callback):
    """Keeps every weight and optimizer variable after each training step."""

    def __init__(self):
        super().__init__()
        self.weights = []
        self.optimizer_variables = []
        self.trainable_paths = []

    def on_train_begin(self, logs=None):
        self.initial = {v.path: v.numpy().copy() for v in self.model.weights}

    def on_train_batch_end(self, batch, logs=None):
        self.weights.append({v.path: v.numpy().copy() for v in self.model.weights})
        self.optimizer_variables.append(
            {v.path: v.numpy().copy() for v in self.model.optimizer.variables}
        )
        self.trainable_paths.append(
            sorted(v.path for v in self.model.trainable_variables)
        )

    def moved_layers(self, step):
        """Top-level layers whose weights changed during step `step` (1-based)."""
        before = self.initial if step == 1 else self.weights[step - 2]
        after = self.weights[step - 1]
        return paths_by_layer(
            path for path in after if not np.array_equal(before[path], after[path])
        )
