import keras_hub
import numpy as np
import pytest

from tests.tuning.tiny_splits import tiny_splits
from tftransformer import finetune
from tftransformer.tuning import DEFAULT_HYPERPARAMETERS, TextClassifierHyperModel


def test_every_trial_starts_from_the_pretrained_weights(small_vocabulary_preset):
    train, validation = tiny_splits(num_train=16, num_validation=8)
    hypermodel = TextClassifierHyperModel(
        {
            "learning_rate": [1e-2],
            "batch_size": [8],
            "learning_rate_schedule": ["cosine"],
        },
        num_classes=2,
        preset=small_vocabulary_preset,
        max_length=32,
        run_eagerly=True,
    )
    hp = hypermodel.hyperparameters_for({})
    pretrained = keras_hub.models.Backbone.from_preset(small_vocabulary_preset)
    first = hypermodel.build(hp)
    history = hypermodel.fit(hp, first, train, validation_data=validation, epochs=1)
    assert set(history.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    # The trial's schedule and peak rate reach its optimizer.
    schedule = first.optimizer._learning_rate
    assert type(schedule) is finetune.WarmupCosineDecay
    assert schedule.peak_learning_rate == 1e-2
    trained = first.backbone.get_layer("token_embedding").embeddings.numpy()
    second = hypermodel.build(hp)
    fresh = second.backbone.get_layer("token_embedding").embeddings.numpy()
    original = pretrained.get_layer("token_embedding").embeddings.numpy()
    assert not np.array_equal(trained, original)
    np.testing.assert_array_equal(fresh, original)


@pytest.mark.parametrize("lora_rank, freeze_layers", [(2, 0), (0, 1)])
def test_build_applies_lora_or_freezing(
    small_vocabulary_preset, lora_rank, freeze_layers
):
    hypermodel = TextClassifierHyperModel(
        {"lora_rank": [0, 2], "freeze_layers": [0, 1]},
        num_classes=2,
        preset=small_vocabulary_preset,
        max_length=32,
    )
    hp = hypermodel.hyperparameters_for(
        {"lora_rank": lora_rank, "freeze_layers": freeze_layers}
    )
    model = hypermodel.build(hp)
    trainable = {v.path for v in model.backbone.trainable_variables}
    if lora_rank:
        # Only the adapters train in the backbone.
        assert finetune.lora_variables(model)
        assert trainable and all("lora" in path for path in trainable), trainable
    else:
        assert not finetune.lora_variables(model)
        layers = finetune.encoder_layers(model)
        assert not layers[0].trainable and layers[1].trainable
        assert any(path.startswith("transformer_layer_1/") for path in trainable)
        frozen = ("transformer_layer_0/", "token_embedding/", "position_embedding/")
        assert not any(path.startswith(frozen) for path in trainable), trainable


def test_lora_with_freezing_is_refused():
    with pytest.raises(ValueError, match="lora_rank and freeze_layers"):
        TextClassifierHyperModel(
            {"freeze_layers": [0, 2]}, num_classes=2, fixed_values={"lora_rank": 8}
        )
    with pytest.raises(ValueError, match="lora_rank and freeze_layers"):
        TextClassifierHyperModel(
            {"lora_rank": [0, 8]}, num_classes=2, fixed_values={"freeze_layers": 1}
        )


def test_values_outside_the_space_come_from_fixed_values_then_defaults():
    hypermodel = TextClassifierHyperModel(
        {"learning_rate": [1e-4, 1e-3]}, num_classes=3, fixed_values={"dropout": 0.2}
    )
    values = hypermodel.trial_values(hypermodel.hyperparameters_for({}))
    assert values == {
        **DEFAULT_HYPERPARAMETERS,
        "learning_rate": 1e-4,
        "dropout": 0.2,
    }
    hp = hypermodel.hyperparameters_for({"learning_rate": 1e-3})
    assert hypermodel.trial_values(hp)["learning_rate"] == 1e-3
    with pytest.raises(ValueError, match=r"\['dropout'\].*fixed_values"):
        hypermodel.hyperparameters_for({"dropout": 0.3})


HP_SPACE = {
    "learning_rate": {"min": 1e-5, "max": 1e-3, "sampling": "log"},
    "batch_size": [16, 32],
    "freeze_layers": {"min": 0, "max": 2},
    "lora_rank": [0, 8],
    "dropout": {"min": 0.0, "max": 0.3, "step": 0.1},
    "pooling": ["cls", "max"],
}


@pytest.mark.parametrize(
    "values, message",
    [
        ({"batch_size": 7}, r"batch_size=7 .*one of \[16, 32\]"),
        ({"learning_rate": 5.0}, r"learning_rate=5\.0 .*in \[1e-05, 0\.001\]"),
        ({"dropout": 0.15}, r"dropout=0\.15 .*0\.0 \+ k \* 0\.1"),
        ({"pooling": "first"}, "pooling must be 'cls', 'mean' or 'max'"),
        ({"freeze_layers": 1.5}, "freeze_layers=1.5"),
        (
            {"freeze_layers": 2, "lora_rank": 8},
            r"freeze_layers=2 only applies when lora_rank is one of \[0\]; "
            "received lora_rank=8",
        ),
        ({"epochs": 3}, r"\['epochs'\]"),
    ],
)
def test_hyperparameters_for_refuses_values_the_search_cannot_draw(values, message):
    hypermodel = TextClassifierHyperModel(HP_SPACE, num_classes=2)
    with pytest.raises(ValueError, match=message):
        hypermodel.hyperparameters_for(values)


def test_hyperparameters_for_takes_trial_values_and_the_default_configuration():
    hypermodel = TextClassifierHyperModel(HP_SPACE, num_classes=2)
    # A trial's values, Hyperband's bookkeeping included; with LoRA, a
    # trial has no freeze_layers, and `trial_values` gives 0 for it.
    trial = {
        "learning_rate": np.float64(3e-4),
        "batch_size": np.int64(32),
        "lora_rank": 8,
        "dropout": 0.2,
        "pooling": "max",
        "tuner/epochs": 2,
        "tuner/trial_id": "0003",
    }
    values = hypermodel.trial_values(hypermodel.hyperparameters_for(trial))
    assert values == {
        **DEFAULT_HYPERPARAMETERS,
        **{k: v for k, v in trial.items() if not k.startswith("tuner/")},
        "freeze_layers": 0,
    }
    again = hypermodel.hyperparameters_for({name: values[name] for name in HP_SPACE})
    assert hypermodel.trial_values(again) == values
    hp = hypermodel.hyperparameters_for({"freeze_layers": 2, "batch_size": 16.0})
    assert hypermodel.trial_values(hp)["freeze_layers"] == 2
    assert type(hypermodel.trial_values(hp)["batch_size"]) is int
    # The default configuration, for comparison (examples/tune.py), even
    # where it lies outside the space: pooling "mean" is not a choice.
    default = {name: DEFAULT_HYPERPARAMETERS[name] for name in HP_SPACE}
    hp = hypermodel.hyperparameters_for(default)
    assert hypermodel.trial_values(hp) == DEFAULT_HYPERPARAMETERS


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"max_length": 1}, "max_length=1"),
        ({"fixed_values": {"epochs": 2}}, "'epochs'"),
        ({"fixed_values": {"dropout": 1.5}}, "dropout=1.5"),
        ({"search_space": "space.json"}, "SearchSpace or a dict"),
        ({"monitor": "val_f1"}, "monitor must be one of .*Received: monitor='val_f1'"),
    ],
)
def test_bad_arguments(kwargs, message):
    arguments = {"search_space": {"dropout": [0.0, 0.1]}, "num_classes": 2, **kwargs}
    with pytest.raises(ValueError, match=message):
        TextClassifierHyperModel(**arguments)


def test_strategies_missing_from_finetune_are_refused_early(monkeypatch):
    monkeypatch.delattr(finetune, "apply_lora")
    with pytest.raises(ValueError, match="apply_lora"):
        TextClassifierHyperModel({"lora_rank": [0, 8]}, num_classes=2)
    # A space that never turns LoRA on does not need it.
    TextClassifierHyperModel({"lora_rank": 0}, num_classes=2)
