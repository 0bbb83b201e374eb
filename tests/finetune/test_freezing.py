import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.finetune.tiny_models import (
    BERT_EMBEDDINGS,
    bert_inputs,
    tiny_bert_backbone,
    tiny_bert_classifier,
    tiny_functional_encoder,
    tiny_tftransformer_encoder,
)
from tftransformer.finetune import (
    classification_loss,
    create_optimizer,
    encoder_layers,
    freeze_layers,
)

BACKBONE_INPUTS = ("token_ids", "padding_mask")


@pytest.mark.parametrize(
    "num_layers, expected_frozen",
    [
        (0, []),
        (1, BERT_EMBEDDINGS + ["transformer_layer_0"]),
        (2, BERT_EMBEDDINGS + ["transformer_layer_0", "transformer_layer_1"]),
    ],
)
def test_freezes_embeddings_and_first_layers(num_layers, expected_frozen):
    classifier = tiny_bert_classifier()
    frozen = freeze_layers(classifier, num_layers)
    assert [layer.name for layer in frozen] == expected_frozen
    for layer in classifier.backbone.layers:
        assert layer.trainable == (layer.name not in expected_frozen), layer.name


@pytest.mark.parametrize("num_layers", [3, -1, 1.5, True, None])
def test_out_of_range_num_layers_is_rejected(num_layers):
    # The tiny backbone has 2 encoder layers: the message names 2 and the value.
    with pytest.raises(ValueError, match=rf"in \[0, 2\].*num_layers={num_layers!r}"):
        freeze_layers(tiny_bert_backbone(), num_layers)


def test_frozen_weights_stay_bit_identical_during_fit():
    classifier = tiny_bert_classifier()
    frozen = freeze_layers(classifier, 1)
    frozen_vars = [v for layer in frozen for v in layer.weights]
    other_vars = classifier.trainable_variables
    assert frozen_vars and other_vars
    assert not {id(v) for v in frozen_vars} & {id(v) for v in other_vars}
    frozen_before = [v.numpy().copy() for v in frozen_vars]
    other_before = [v.numpy().copy() for v in other_vars]

    # A large rate and weight decay: anything the optimizer touches moves.
    classifier.compile(
        optimizer=create_optimizer(
            1e-2, num_train_steps=3, warmup_fraction=0.0, weight_decay=0.1
        ),
        loss=classification_loss(),
        # Tracing the train step would take most of this test's time; the
        # graph-mode inference mode is checked in the dropout test.
        run_eagerly=True,
    )
    x = bert_inputs(batch_size=6)
    y = np.array([0, 1, 0, 1, 1, 0])
    classifier.fit(x, y, batch_size=2, epochs=1, shuffle=False, verbose=0)

    for v, before in zip(frozen_vars, frozen_before):
        np.testing.assert_array_equal(v.numpy(), before, err_msg=v.path)
    for v, before in zip(other_vars, other_before):
        assert not np.array_equal(v.numpy(), before), f"{v.path} did not move"


@pytest.mark.parametrize(
    "layer_name, frozen",
    [
        ("embeddings_dropout", True),
        ("transformer_layer_0", True),
        ("transformer_layer_1", False),
    ],
)
def test_frozen_layers_run_without_dropout(layer_name, frozen):
    backbone = tiny_bert_backbone(dropout=0.5)
    freeze_layers(backbone, 1)
    layer = backbone.get_layer(layer_name)
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    graph_call = tf.function(lambda t: layer(t, training=True))
    for call in (lambda t: layer(t, training=True), graph_call):
        # Dropout 0.5 on 80 values: two identical draws are all but impossible.
        same = np.array_equal(call(x).numpy(), call(x).numpy())
        assert same == frozen

    # Unfreezing brings dropout back.
    layer.trainable = True
    assert not np.array_equal(
        layer(x, training=True).numpy(), layer(x, training=True).numpy()
    )


@pytest.mark.parametrize(
    "build, inputs",
    [
        (tiny_bert_backbone, bert_inputs()),
        (tiny_tftransformer_encoder, {k: bert_inputs()[k] for k in BACKBONE_INPUTS}),
    ],
    ids=["bert", "tftransformer"],
)
@pytest.mark.parametrize("num_layers, deterministic", [(2, True), (1, False)])
def test_fully_frozen_backbone_is_deterministic_in_training_mode(
    build, inputs, num_layers, deterministic
):
    backbone = build(dropout=0.5)
    freeze_layers(backbone, num_layers)
    first = backbone(inputs, training=True)["sequence_output"].numpy()
    second = backbone(inputs, training=True)["sequence_output"].numpy()
    assert np.array_equal(first, second) == deterministic


@pytest.mark.parametrize(
    "build", [tiny_bert_classifier, tiny_functional_encoder], ids=["bert", "functional"]
)
def test_freeze_is_restored_after_keras_reload(build, tmp_path):
    model = build(dropout=0.5)
    frozen_names = [layer.name for layer in freeze_layers(model, 1)]
    trainable_paths = sorted(v.path for v in model.trainable_variables)
    path = os.path.join(tmp_path, "frozen.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)

    # Loading does not keep the freeze (keras-hub rebuilds its layers; a
    # functional model keeps the flags but not its sublayers' variables');
    # freezing again restores it.
    refrozen = freeze_layers(reloaded, 1)
    assert [layer.name for layer in refrozen] == frozen_names
    assert sorted(v.path for v in reloaded.trainable_variables) == trainable_paths
    for saved, loaded in zip(model.weights, reloaded.weights):
        np.testing.assert_array_equal(saved.numpy(), loaded.numpy())
    # Dropout 0.5 is everywhere, but the frozen block runs in inference mode.
    block = encoder_layers(reloaded)[0]
    x = np.random.default_rng(0).normal(size=(2, 5, 8)).astype("float32")
    np.testing.assert_array_equal(
        block(x, training=True).numpy(), block(x, training=True).numpy()
    )
