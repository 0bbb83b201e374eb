import keras
import pytest

from tests.finetune.tiny_models import (
    BERT_EMBEDDINGS,
    tiny_bert_backbone,
    tiny_bert_classifier,
    tiny_functional_encoder,
    tiny_tftransformer_encoder,
)
from tftransformer.finetune import (
    apply_lora,
    embedding_layers,
    encoder_layers,
    find_backbone,
    freeze_backbone,
    use_fused_encoder,
)


def _nested_functional_encoder():
    inner = tiny_functional_encoder()
    outputs = keras.layers.Dense(3, name="head")(inner.output)
    return keras.Model(inner.input, outputs, name="outer")


@pytest.mark.parametrize(
    "build, expected_encoders, expected_embeddings",
    [
        (tiny_bert_backbone, 2, BERT_EMBEDDINGS),
        (tiny_bert_classifier, 2, BERT_EMBEDDINGS),
        (tiny_functional_encoder, 3, ["embeddings", "embeddings_dropout"]),
        (_nested_functional_encoder, 3, ["embeddings", "embeddings_dropout"]),
        (
            tiny_tftransformer_encoder,
            2,
            ["embeddings", "embeddings_layer_norm", "embeddings_dropout"],
        ),
    ],
    ids=["bert_backbone", "bert_classifier", "functional", "nested", "tftransformer"],
)
def test_discovery_by_name(build, expected_encoders, expected_embeddings):
    model = build()
    assert [layer.name for layer in encoder_layers(model)] == [
        f"transformer_layer_{i}" for i in range(expected_encoders)
    ]
    assert [layer.name for layer in embedding_layers(model)] == expected_embeddings


def test_find_backbone_of_task_model_is_its_backbone():
    classifier = tiny_bert_classifier()
    assert find_backbone(classifier) is classifier.backbone
    assert find_backbone(classifier.backbone) is classifier.backbone


def test_model_without_encoder_layers_is_rejected():
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(2)(inputs), name="plain")
    with pytest.raises(ValueError, match="'plain'"):
        encoder_layers(model)


@pytest.mark.parametrize("model", [None, "bert_base_en"])
def test_what_is_not_a_model_is_rejected_by_every_recipe(model):
    # Before: AttributeError ("'NoneType' object has no attribute ...").
    for recipe in (find_backbone, freeze_backbone, apply_lora, use_fused_encoder):
        args = (model, 2) if recipe is apply_lora else (model,)
        with pytest.raises(ValueError, match=f"Received: model={model!r}"):
            recipe(*args)


def test_gap_in_encoder_indices_is_rejected():
    inputs = keras.Input((4,))
    x = keras.layers.Dense(4, name="transformer_layer_0")(inputs)
    x = keras.layers.Dense(4, name="transformer_layer_2")(x)
    with pytest.raises(ValueError, match=r"\[0, 2\]"):
        encoder_layers(keras.Model(inputs, x))
