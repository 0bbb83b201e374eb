"""The transfer recipes on pretrained generators: a decoder (GPT-2) and the
encoder-decoders (BART, T5), whose layers the family adapters order as the
encoder's blocks and then the decoder's."""

import pytest

import tftransformer as tft
from tftransformer.finetune import layer_decay_multipliers
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.backbone_layers import encoder_layers

TASKS = {"gpt2": "causal_lm", "bart": "seq2seq_lm", "t5": "seq2seq_lm"}


@pytest.fixture
def generator(request):
    family = request.param
    preset = request.getfixturevalue(f"tiny_{family}_preset")
    return tft.presets.load_generator(preset, task=TASKS[family], sequence_length=8)


def _trainable_blocks(model):
    return [layer.name for layer in encoder_layers(model) if layer.trainable_weights]


@pytest.mark.parametrize(
    "generator, blocks",
    [
        ("gpt2", ["transformer_layer_0"]),
        ("bart", ["transformer_encoder_layer_0", "transformer_decoder_layer_0"]),
        ("t5", ["transformer_encoder_layer_0", "transformer_decoder_layer_0"]),
    ],
    indirect=["generator"],
)
def test_blocks_are_the_encoders_then_the_decoders(generator, blocks):
    assert [layer.name for layer in encoder_layers(generator)] == blocks


@pytest.mark.parametrize("generator", ["bart", "t5"], indirect=True)
def test_freeze_layers_freezes_the_embeddings_then_the_encoder_first(generator):
    config = tft.training.TranslationConfig(preset="p", freeze_layers=1)
    assert tft.training.apply_strategy(generator, config) == "freeze 1 layer"
    assert _trainable_blocks(generator) == ["transformer_decoder_layer_0"]
    embeddings = adapter_for(generator).embedding_layers()
    assert embeddings and not any(layer.trainable_weights for layer in embeddings)


@pytest.mark.parametrize("generator", ["bart", "t5"], indirect=True)
def test_lora_adapts_every_query_and_value_projection(generator):
    config = tft.training.TranslationConfig(preset="p", lora_rank=2)
    tft.training.apply_strategy(generator, config)
    names = {v.path.split("/")[-1] for v in generator.trainable_weights}
    assert names == {"lora_kernel_a", "lora_kernel_b"}
    # Self-attention in both stacks and the decoder's cross-attention, query
    # and value: 3 attention layers x 2 projections x 2 adapters.
    assert len(generator.trainable_weights) == 12


@pytest.mark.parametrize(
    "generator, rates",
    [
        ("gpt2", {"transformer_layer_0": 0.5}),
        (
            "bart",
            {"transformer_decoder_layer_0": 0.5, "transformer_encoder_layer_0": 0.25},
        ),
    ],
    indirect=["generator"],
)
def test_layer_decay_slows_lower_blocks_and_the_embeddings_most(generator, rates):
    multipliers = layer_decay_multipliers(generator, 0.5)
    blocks = {layer.name: layer for layer in encoder_layers(generator)}
    assert {
        name: {multipliers[v.path] for v in layer.weights}
        for name, layer in blocks.items()
    } == {name: {rate} for name, rate in rates.items()}
    lowest = min(rates.values()) / 2
    token_embedding = generator.backbone.token_embedding
    assert {multipliers[v.path] for v in token_embedding.weights} == {lowest}


@pytest.mark.parametrize("generator", ["t5"], indirect=True)
def test_t5_refuses_layer_decay_and_says_why(generator):
    with pytest.raises(ValueError, match="layer_decay does not work on a T5"):
        layer_decay_multipliers(generator, 0.5)


@pytest.mark.parametrize("generator", ["bart"], indirect=True)
@pytest.mark.parametrize("recipe", ["keep_layers", "head_importance"])
def test_encoder_decoders_refuse_the_recipes_that_shrink_an_encoder(generator, recipe):
    with pytest.raises(ValueError, match=f"{recipe} does not work on a Bart"):
        adapter_for(generator).check_recipe(recipe)


@pytest.mark.parametrize(
    "config_cls",
    [tft.training.LanguageModelConfig, tft.training.TranslationConfig],
)
@pytest.mark.parametrize(
    "recipe, message",
    [
        ({"layer_decay": 0.8}, "set preset too. Received: preset=None"),
        ({"freeze_layers": 1}, "freeze_layers=1"),
        ({"preset": "p", "lora_rank": 2, "freeze_layers": 1}, "lora_rank=2"),
        ({"preset": "p", "layer_decay": 1.5}, "layer_decay"),
    ],
)
def test_configs_refuse_a_recipe_without_preset_or_contradicting_itself(
    config_cls, recipe, message
):
    with pytest.raises(tft.training.ConfigError, match=message):
        config_cls(**recipe)
