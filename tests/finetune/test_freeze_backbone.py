import numpy as np
import pytest

from tests.finetune.strategy_models import ENCODERS, tiny_text_classifier
from tests.finetune.tiny_models import BERT_EMBEDDINGS, bert_inputs
from tftransformer.finetune import (
    freeze_backbone,
    freeze_layers,
    freeze_layers_by_name,
    frozen_layer_names,
    is_frozen,
)

BACKBONE_LAYERS = BERT_EMBEDDINGS + ENCODERS + ["pooled_dense"]


def test_linear_probe_trains_only_the_head():
    classifier = tiny_text_classifier(
        backbone_dropout=0.5, dropout=0.5, num_extra_blocks=1
    )
    frozen = freeze_backbone(classifier)
    assert [layer.name for layer in frozen] == BACKBONE_LAYERS
    assert {v.path.split("/")[0] for v in classifier.trainable_variables} == {
        "extra_block_0",
        "logits",
    }
    assert all(not v.trainable for v in classifier.backbone.weights)
    assert frozen_layer_names(classifier) == BACKBONE_LAYERS

    # Dropout 0.5 everywhere: the backbone runs in inference mode under
    # training=True, the head keeps its dropout.
    x = bert_inputs()
    first, second = (
        classifier.backbone(x, training=True)["sequence_output"].numpy()
        for _ in range(2)
    )
    np.testing.assert_array_equal(first, second)
    first, second = (classifier(x, training=True).numpy() for _ in range(2))
    assert not np.array_equal(first, second)


def test_lora_style_frozen_kernels_are_frozen_with_their_layer():
    # keras-hub's enable_lora sets trainable=False on the attention layers
    # but leaves their adapted projections trainable; freezing must reach
    # those too.
    classifier = tiny_text_classifier()
    classifier.backbone.enable_lora(2)
    assert frozen_layer_names(classifier) == []
    freeze_backbone(classifier)
    assert [v.path for v in classifier.trainable_variables] == [
        "logits/kernel",
        "logits/bias",
    ]


def test_frozen_layer_names_round_trip():
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 2)
    names = frozen_layer_names(classifier)
    assert names == BERT_EMBEDDINGS + ENCODERS[:2]

    other = tiny_text_classifier()
    refrozen = freeze_layers_by_name(other, names)
    assert [layer.name for layer in refrozen] == names
    assert [v.path for v in other.trainable_variables] == [
        v.path for v in classifier.trainable_variables
    ]
    assert all(is_frozen(layer) for layer in refrozen)

    # Any iterable of names, a generator included (read once).
    third = tiny_text_classifier()
    freeze_layers_by_name(third, (name for name in names))
    assert frozen_layer_names(third) == names

    # Setting trainable back is an unfreeze.
    refrozen[-1].trainable = True
    assert not is_frozen(refrozen[-1])
    assert frozen_layer_names(other) == names[:-1]


@pytest.mark.parametrize(
    "names, message",
    [
        (["transformer_layer_0", "transformer_layer_9"], r"\['transformer_layer_9'\]"),
        ("transformer_layer_0", "must be a list of layer names"),
        ([3], r"layer_names=\[3\]"),
        (None, "layer_names=None"),
    ],
)
def test_freeze_layers_by_name_rejects_bad_names(names, message):
    with pytest.raises(ValueError, match=message):
        freeze_layers_by_name(tiny_text_classifier(), names)
