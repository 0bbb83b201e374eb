import keras
import numpy as np
import pytest

from tests.finetune.strategy_models import (
    ENCODERS,
    batches,
    paths_by_layer,
    tiny_text_classifier,
    tiny_token_classifier,
)
from tests.finetune.tiny_models import BERT_EMBEDDINGS
from tftransformer.finetune import (
    freeze_backbone,
    freeze_layers,
    frozen_layer_names,
)
from tftransformer.models import TextClassifier, TokenClassifier


def same_twice(layer, x):
    return np.array_equal(
        layer(x, training=True).numpy(), layer(x, training=True).numpy()
    )


@pytest.mark.parametrize(
    "freeze, expected_frozen",
    [
        (lambda model: freeze_layers(model, 2), BERT_EMBEDDINGS + ENCODERS[:2]),
        (freeze_backbone, BERT_EMBEDDINGS + ENCODERS + ["pooled_dense"]),
    ],
    ids=["freeze_layers_2", "freeze_backbone"],
)
def test_frozen_classifier_reloads_frozen(freeze, expected_frozen, tmp_path):
    classifier = tiny_text_classifier(backbone_dropout=0.5)
    freeze(classifier)
    trainable_paths = sorted(v.path for v in classifier.trainable_variables)
    assert classifier.get_config()["frozen_backbone_layers"] == expected_frozen
    path = tmp_path / "frozen.keras"
    classifier.save(path)

    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, TextClassifier)
    assert frozen_layer_names(reloaded) == expected_frozen
    assert sorted(v.path for v in reloaded.trainable_variables) == trainable_paths
    for saved, loaded in zip(classifier.weights, reloaded.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())

    # Dropout 0.5 in every backbone layer: frozen ones run in inference mode.
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    assert same_twice(reloaded.backbone.get_layer("transformer_layer_1"), x)
    assert same_twice(reloaded.backbone.get_layer("embeddings_dropout"), x)
    top = reloaded.backbone.get_layer("transformer_layer_2")
    assert same_twice(top, x) == ("transformer_layer_2" in expected_frozen)

    # A training step moves the trainable weights only.
    before = {v.path: v.numpy().copy() for v in reloaded.weights}
    reloaded.compile(
        optimizer=keras.optimizers.AdamW(1e-2, weight_decay=0.1),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        run_eagerly=True,
    )
    inputs, labels = batches(4)
    reloaded.fit(inputs, labels, batch_size=4, epochs=1, verbose=0)
    after = {v.path: v.numpy() for v in reloaded.weights}
    moved = [path for path in before if not np.array_equal(before[path], after[path])]
    # BERT's pooler, unused by the sequence pooling, is not among them.
    assert not any("pooled_dense" in p for p in trainable_paths)
    assert sorted(moved) == trainable_paths
    assert not set(paths_by_layer(moved)) & set(expected_frozen)


def test_frozen_token_classifier_reloads_frozen(tmp_path):
    tagger = tiny_token_classifier()
    freeze_layers(tagger, 2)
    trainable_paths = sorted(v.path for v in tagger.trainable_variables)
    path = tmp_path / "tagger.keras"
    tagger.save(path)

    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, TokenClassifier)
    assert frozen_layer_names(reloaded) == BERT_EMBEDDINGS + ENCODERS[:2]
    assert sorted(v.path for v in reloaded.trainable_variables) == trainable_paths


def test_unfrozen_classifier_records_nothing():
    assert tiny_text_classifier().get_config()["frozen_backbone_layers"] == []


def test_unknown_frozen_layer_is_refused():
    backbone = tiny_text_classifier().backbone
    with pytest.raises(ValueError, match="no layers named.*'encoder_7'"):
        TextClassifier(backbone, num_classes=2, frozen_backbone_layers=["encoder_7"])
