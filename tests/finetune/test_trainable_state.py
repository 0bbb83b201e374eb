import keras
import pytest

from tests.finetune.strategy_models import tiny_text_classifier
from tftransformer.finetune import (
    classification_loss,
    freeze_backbone,
    frozen_layer_names,
    is_frozen,
)
from tftransformer.finetune.trainable_state import (
    apply_trainable_change,
    capture_trainable_state,
    prepare_optimizer,
    restore_trainable_state,
)


def trainable_paths(model):
    return [v.path for v in model.trainable_variables]


def layer_flags(model):
    return [(layer.path, layer.trainable) for layer in model._flatten_layers()]


def test_restore_gives_back_layer_and_variable_flags():
    # After keras-hub's enable_lora most layers are flagged non-trainable,
    # the adapted projections are trainable but their kernels are not.
    classifier = tiny_text_classifier()
    classifier.backbone.enable_lora(2)
    paths, flags = trainable_paths(classifier), layer_flags(classifier)
    state = capture_trainable_state(classifier)

    freeze_backbone(classifier)
    assert trainable_paths(classifier) == ["logits/kernel", "logits/bias"]
    restore_trainable_state(state)
    assert trainable_paths(classifier) == paths
    assert layer_flags(classifier) == flags
    assert frozen_layer_names(classifier) == []


def test_restore_of_some_layers_only():
    classifier = tiny_text_classifier()
    state = capture_trainable_state(classifier)
    frozen = freeze_backbone(classifier)
    top = classifier.backbone.get_layer("transformer_layer_2")
    restore_trainable_state(state, [top])
    assert not is_frozen(top)
    assert all(is_frozen(layer) for layer in frozen if layer is not top)
    assert trainable_paths(classifier) == [
        v.path for v in top.weights + classifier.get_layer("logits").weights
    ]


def test_prepare_optimizer_builds_over_the_given_variables_in_model_order():
    classifier = tiny_text_classifier()
    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=classification_loss()
    )
    everything = list(reversed(classifier.trainable_variables))
    prepare_optimizer(classifier, everything)
    freeze_backbone(classifier)
    optimizer = classifier.optimizer
    assert optimizer.built
    # Adam keeps a momentum and a velocity per variable, after its counter
    # and learning rate.
    assert len(optimizer.variables) == 2 + 2 * len(everything)
    first_slot = f"{optimizer.name}/token_embedding_embeddings_momentum"
    assert optimizer.variables[2].path == first_slot
    # Built already, and knowing every variable: nothing to do.
    prepare_optimizer(classifier, everything)
    apply_trainable_change(classifier)


def test_prepare_optimizer_refuses_what_it_cannot_do():
    classifier = tiny_text_classifier()
    # keras-hub tasks compile themselves on construction.
    classifier.optimizer = None
    with pytest.raises(ValueError, match="compiled model.*optimizer=None"):
        prepare_optimizer(classifier, classifier.trainable_variables)

    classifier.compile(
        optimizer=keras.optimizers.Adam(1e-3), loss=classification_loss()
    )
    head = classifier.get_layer("logits").trainable_variables
    classifier.optimizer.build(head)
    # 5 embedding variables and 16 per encoder layer (the unused pooler is
    # not trainable).
    with pytest.raises(ValueError, match=r"built without.*\(53 in all\)"):
        prepare_optimizer(classifier, classifier.trainable_variables)
    with pytest.raises(ValueError, match="built without"):
        apply_trainable_change(classifier)
