"""Fine-tuning the real embedded checkpoint on real examples, a few steps."""

import keras
import numpy as np
import pytest

from tftransformer import presets
from tftransformer.data import (
    make_classification_dataset,
)
from tftransformer.datasets import load_rotten_tomatoes
from tftransformer.finetune import (
    classification_loss,
    encoder_layers,
    freeze_layers,
)
from tftransformer.models import TextClassifier


@pytest.fixture(scope="module")
def embedded():
    return presets.load_backbone("embedded", sequence_length=32)


def test_few_steps_lower_the_loss_and_keep_frozen_layers(embedded):
    backbone, preprocessor = embedded
    classifier = TextClassifier(backbone, num_classes=2, pooling="mean")
    frozen = freeze_layers(classifier, 2)
    frozen_paths = {v.path for layer in frozen for v in layer.weights}
    assert {layer.name for layer in frozen} >= {
        "transformer_layer_0",
        "token_embedding",
    }
    assert "transformer_layer_2" not in {layer.name for layer in frozen}

    data = load_rotten_tomatoes("train").sample(48, seed=0)
    dataset = make_classification_dataset(
        list(data.texts),
        data.labels,
        preprocessor.tokenizer,
        batch_size=16,
        max_length=32,
        shuffle=False,
    )
    classifier.compile(
        optimizer=keras.optimizers.AdamW(1e-4),
        loss=classification_loss(),
    )
    before_loss = classifier.evaluate(dataset, verbose=0)
    before = {v.path: np.array(v) for v in classifier.weights}
    classifier.fit(dataset, epochs=1, verbose=0)
    after_loss = classifier.evaluate(dataset, verbose=0)
    assert after_loss < before_loss

    moved = {
        v.path for v in classifier.weights if not np.array_equal(before[v.path], v)
    }
    trainable = {v.path for v in classifier.trainable_weights}
    # Only trainable weights change; frozen layers stay bit-identical.
    assert moved <= trainable
    assert not moved & frozen_paths
    # Every trainable weight moved: BERT's pooler, which mean pooling leaves
    # out of the loss, is not trainable.
    assert moved == trainable
    assert not backbone.get_layer("pooled_dense").trainable
    assert len(encoder_layers(classifier)) == 6


def test_freezing_more_layers_than_exist_is_refused(embedded):
    backbone, _ = embedded
    with pytest.raises(ValueError, match="7"):
        freeze_layers(backbone, 7)
