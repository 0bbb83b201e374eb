import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tftransformer.finetune import (
    head_importance,
    keep_layers,
    least_important_heads,
    prune_heads,
)
from tftransformer.models import PrunedBertBackbone
from tftransformer.testing import run_model_test, tiny_bert_backbone

SMALL = dict(
    vocabulary_size=64,
    num_layers=3,
    num_heads=4,
    hidden_dim=16,
    intermediate_dim=24,
    max_sequence_length=32,
)


def small_backbone(dtype=None):
    return tiny_bert_backbone(**SMALL, dtype=dtype)


def inputs(batch_size=3, seq_len=7, seed=0):
    rng = np.random.default_rng(seed)
    mask = np.ones((batch_size, seq_len), "int32")
    mask[0, -2:] = 0  # padding must stay masked in the copy too
    return {
        "token_ids": rng.integers(1, 64, (batch_size, seq_len)).astype("int32"),
        "segment_ids": rng.integers(0, 2, (batch_size, seq_len)).astype("int32"),
        "padding_mask": mask,
    }


def outputs(backbone, x):
    return {k: np.asarray(v) for k, v in backbone(x, training=False).items()}


def output_kernel(backbone, layer):
    attention = backbone.get_layer(f"transformer_layer_{layer}")._self_attention_layer
    return attention.output_dense.kernel


# --- keep_layers -----------------------------------------------------------


@pytest.mark.parametrize("layers", [3, [0, 1, 2]])
def test_keeping_every_layer_reproduces_outputs_exactly(layers):
    backbone, x = small_backbone(), inputs()
    kept = keep_layers(backbone, layers)
    assert type(kept) is keras_hub.models.BertBackbone
    assert kept is not backbone
    for name, value in outputs(backbone, x).items():
        np.testing.assert_array_equal(outputs(kept, x)[name], value)


def test_first_k_layers_equal_the_originals_first_k_layers():
    backbone, x = small_backbone(), inputs()
    kept = keep_layers(backbone, 2)
    assert kept.num_layers == 2 and kept.get_config()["num_layers"] == 2
    assert len(tft.finetune.encoder_layers(kept)) == 2
    # The original's own graph, cut after its second layer.
    hidden = keras.Model(
        backbone.input, backbone.get_layer("transformer_layer_1").output
    )(x)
    pooled = backbone.get_layer("pooled_dense")(hidden[:, 0, :])
    got = outputs(kept, x)
    np.testing.assert_allclose(got["sequence_output"], hidden, atol=1e-6)
    np.testing.assert_allclose(got["pooled_output"], pooled, atol=1e-6)


def test_chosen_layers_run_in_the_order_given():
    backbone, x = small_backbone(), inputs()
    kept = keep_layers(backbone, [2, 0])
    embeddings = keras.Model(
        backbone.input, backbone.get_layer("embeddings_dropout").output
    )(x)
    hidden = embeddings
    for index in (2, 0):
        hidden = backbone.get_layer(f"transformer_layer_{index}")(
            hidden, padding_mask=x["padding_mask"]
        )
    np.testing.assert_allclose(outputs(kept, x)["sequence_output"], hidden, atol=1e-6)
    # The copy shares no variable with the original.
    original = {id(w) for w in backbone.weights}
    assert not any(id(w) in original for w in kept.weights)


def test_shrinking_a_frozen_backbone_gives_a_trainable_one():
    backbone = small_backbone()
    backbone.trainable = False  # e.g. a teacher frozen by Distiller
    for shrunk in (
        keep_layers(backbone, 1),
        prune_heads(backbone, heads={0: [0], 1: [0], 2: [0]}),
    ):
        assert shrunk.trainable
        assert len(shrunk.trainable_weights) == len(shrunk.weights)


def test_keep_layers_reads_a_preset(tiny_preset):
    original, _ = tft.presets.load_backbone(tiny_preset, sequence_length=16)
    kept = keep_layers(tiny_preset, 1)
    x = inputs()
    x["segment_ids"][:] = 0
    hidden = keras.Model(
        original.input, original.get_layer("transformer_layer_0").output
    )(x)
    np.testing.assert_allclose(outputs(kept, x)["sequence_output"], hidden, atol=1e-6)


@pytest.mark.parametrize(
    "layers, message",
    [
        (4, r"in \[1, 3\].*layers=4"),
        (0, r"layers=0"),
        (-1, r"layers=-1"),
        (True, r"layers=True"),
        ([], "at least one layer"),
        ([0, 3], r"in \[0, 3\).*\[0, 3\]"),
        ([1, 1], "distinct"),
        ("2", "count or a list"),
        (1.5, "count or a list"),
    ],
)
def test_keep_layers_refuses_bad_layers(layers, message):
    with pytest.raises(ValueError, match=message):
        keep_layers(small_backbone(), layers)


def test_shrinking_refuses_what_is_not_a_bert_backbone():
    backbone = small_backbone()
    classifier = tft.models.TextClassifier(backbone, num_classes=2)
    with pytest.raises(ValueError, match="classifier.backbone.*TextClassifier"):
        keep_layers(classifier, 1)
    with pytest.raises(ValueError, match="keras-hub Backbone.*TransformerEncoder"):
        prune_heads(
            tft.models.TransformerEncoder(
                vocabulary_size=10,
                num_layers=1,
                num_heads=2,
                hidden_dim=8,
                intermediate_dim=8,
                max_sequence_length=8,
            ),
            heads={0: [0]},
        )


# --- prune_heads -----------------------------------------------------------


def test_keeping_every_head_reproduces_outputs_exactly():
    backbone, x = small_backbone(), inputs()
    expected = outputs(backbone, x)
    for pruned in (
        prune_heads(backbone, heads={}),
        prune_heads(backbone, num_heads_to_keep=4, importance=np.ones((3, 4))),
    ):
        assert type(pruned) is keras_hub.models.BertBackbone
        for name, value in expected.items():
            np.testing.assert_array_equal(outputs(pruned, x)[name], value)


def test_pruning_heads_with_zero_output_rows_keeps_outputs():
    backbone, x = small_backbone(), inputs()
    removed = {0: [1], 1: [3], 2: [0]}
    for layer, heads in removed.items():
        kernel = output_kernel(backbone, layer)
        value = np.array(kernel)
        value[heads] = 0.0  # these heads no longer reach the output
        kernel.assign(value)
    expected = outputs(backbone, x)

    pruned = prune_heads(backbone, heads=removed)
    assert isinstance(pruned, PrunedBertBackbone)
    assert isinstance(pruned, keras_hub.models.BertBackbone)
    assert (pruned.num_heads, pruned.head_dim, pruned.hidden_dim) == (3, 4, 16)
    query = pruned.get_layer("transformer_layer_0")._self_attention_layer
    assert tuple(query.query_dense.kernel.shape) == (16, 3, 4)
    assert tuple(output_kernel(pruned, 0).shape) == (3, 4, 16)
    assert pruned.count_params() < backbone.count_params()
    for name, value in expected.items():
        np.testing.assert_allclose(outputs(pruned, x)[name], value, atol=1e-5)

    # A head that does reach the output changes it when removed.
    other = prune_heads(backbone, heads={0: [2], 1: [3], 2: [0]})
    assert not np.allclose(
        outputs(other, x)["sequence_output"], expected["sequence_output"], atol=1e-4
    )


def test_importance_keeps_the_highest_scoring_heads():
    scores = np.array(
        [[0.1, 0.9, 0.5, 0.7], [0.7, 0.2, 0.3, 0.8], [0.5, 0.5, 0.1, 0.5]]
    )
    # Ties: the higher index goes first.
    assert least_important_heads(scores, 2) == {0: [0, 2], 1: [1, 2], 2: [2, 3]}
    backbone, x = small_backbone(), inputs()
    by_score = prune_heads(backbone, num_heads_to_keep=2, importance=scores)
    by_name = prune_heads(backbone, heads={0: [0, 2], 1: [1, 2], 2: [2, 3]})
    np.testing.assert_array_equal(
        outputs(by_score, x)["sequence_output"], outputs(by_name, x)["sequence_output"]
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"heads": {0: [4]}}, r"in \[0, 4\)"),
        ({"heads": {0: [-1]}}, r"in \[0, 4\)"),
        ({"heads": {3: [0]}}, r"layer indices in \[0, 3\)"),
        ({"heads": {0: [1, 1], 1: [0, 2], 2: [0, 2]}}, "twice"),
        ({"heads": {0: [1], 1: [0]}}, r"same number.*\{0: 1, 1: 1, 2: 0\}"),
        ({"heads": {i: [0, 1, 2, 3] for i in range(3)}}, "at least one"),
        ({"heads": [0, 1]}, "must be a dict"),
        ({"heads": {0: 0, 1: 1}}, r"list of head indices. Received: heads\[0\]=0"),
        ({}, "exactly one"),
        ({"heads": {0: [0]}, "num_heads_to_keep": 2}, "exactly one"),
        ({"num_heads_to_keep": 2}, "needs `importance`"),
        ({"heads": {}, "importance": np.ones((3, 4))}, "only used with"),
        (
            {"num_heads_to_keep": 0, "importance": np.ones((3, 4))},
            "num_heads_to_keep=0",
        ),
        ({"num_heads_to_keep": 5, "importance": np.ones((3, 4))}, r"\[1, 4\]"),
        (
            {"num_heads_to_keep": 2, "importance": np.ones((3, 5))},
            r"\(3, 4\).*\(3, 5\)",
        ),
        ({"num_heads_to_keep": 2, "importance": np.ones(4)}, r"shape \(4,\)"),
        (
            {"num_heads_to_keep": 2, "importance": np.full((3, 4), np.nan)},
            "NaN",
        ),
    ],
)
def test_prune_heads_refuses_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        prune_heads(small_backbone(), **kwargs)


def test_pruning_refuses_lora_adapters():
    backbone = small_backbone()
    backbone.enable_lora(2)
    with pytest.raises(ValueError, match="merge_lora"):
        prune_heads(backbone, heads={})


# --- PrunedBertBackbone as a preset and in a classifier ---------------------


def test_pruned_backbone_saves_loads_and_fine_tunes(tiny_preset, tmp_path):
    backbone, preprocessor = tft.presets.load_backbone(tiny_preset, sequence_length=16)
    pruned = prune_heads(backbone, heads={0: [1], 1: [0]})
    preset = str(tmp_path / "pruned_preset")
    pruned.save_to_preset(preset)
    preprocessor.save_to_preset(preset)

    loaded, loaded_preprocessor = tft.presets.load_backbone(preset, sequence_length=16)
    assert type(loaded) is PrunedBertBackbone and loaded.num_heads == 1
    assert loaded.head_dim == 8
    texts = ["a fine film", "a dull, lifeless mess"]
    x = loaded_preprocessor(texts)
    np.testing.assert_array_equal(x["token_ids"], preprocessor(texts)["token_ids"])
    np.testing.assert_allclose(
        outputs(loaded, x)["sequence_output"],
        outputs(pruned, x)["sequence_output"],
        atol=1e-6,
    )
    # keras-hub's own preset loaders accept the directory too.
    assert len(keras_hub.models.BertTokenizer.from_preset(preset)(["a film"])) == 1
    assert type(keras_hub.models.Backbone.from_preset(preset)) is PrunedBertBackbone

    classifier = tft.models.TextClassifier(
        loaded,
        num_classes=2,
        preprocessor=tft.models.TextClassifierPreprocessor(
            loaded_preprocessor.tokenizer, sequence_length=16
        ),
    )
    classifier.compile(optimizer=keras.optimizers.SGD(0.1), run_eagerly=True)
    attention = loaded.get_layer("transformer_layer_0")._self_attention_layer
    before = np.array(attention.query_dense.kernel)
    classifier.fit(texts, np.array([1, 0]), batch_size=2, epochs=1, verbose=0)
    assert not np.array_equal(np.array(attention.query_dense.kernel), before)

    directory = str(tmp_path / "saved")
    tft.saving.save_model(classifier, directory)
    reloaded = tft.saving.load_model(directory)
    assert type(reloaded.backbone) is PrunedBertBackbone
    np.testing.assert_allclose(
        reloaded.predict(texts, verbose=0),
        classifier.predict(texts, verbose=0),
        atol=1e-6,
    )


def test_pruned_backbone_contract(tmp_path):
    def build(dtype=None):
        return PrunedBertBackbone(**{**SMALL, "num_heads": 3}, head_dim=4, dtype=dtype)

    run_model_test(
        build,
        inputs(batch_size=2, seq_len=5),
        tmp_path,
        {"sequence_output": (2, 5, 16), "pooled_output": (2, 16)},
    )


def test_pruned_backbone_without_head_dim_is_a_bert_backbone():
    backbone, x = small_backbone(), inputs()
    same = PrunedBertBackbone(**SMALL)
    assert same.head_dim == 4
    same.set_weights(backbone.get_weights())
    for name, value in outputs(backbone, x).items():
        np.testing.assert_array_equal(outputs(same, x)[name], value)


@pytest.mark.parametrize("bad", [{"head_dim": 0}, {"head_dim": 2.5}, {"num_heads": 0}])
def test_pruned_backbone_refuses_bad_sizes(bad):
    with pytest.raises(ValueError, match=f"{next(iter(bad))}="):
        PrunedBertBackbone(**{**SMALL, **bad})


# --- head_importance ---------------------------------------------------------


def float64_classifier():
    backbone = tiny_bert_backbone(**SMALL, dropout=0.0, dtype="float64")
    logits = keras.layers.Dense(3, dtype="float64")(
        backbone.output["sequence_output"][:, 0]
    )
    return keras.Model(backbone.input, logits), backbone


def test_head_importance_matches_finite_differences_of_a_head_gate():
    model, backbone = float64_classifier()
    # Larger attention weights than BERT's initialization, so that heads
    # matter to the loss.
    for layer in range(3):
        attention = backbone.get_layer(
            f"transformer_layer_{layer}"
        )._self_attention_layer
        for dense in (
            attention.query_dense,
            attention.key_dense,
            attention.value_dense,
            attention.output_dense,
        ):
            dense.kernel.assign(np.array(dense.kernel) * 20)
    batches = []
    for seed in (1, 2):
        x = inputs(batch_size=4, seq_len=6, seed=seed)
        y = np.random.default_rng(seed).integers(0, 3, 4)
        batches.append((x, y))
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(batches),
        output_signature=(
            {k: tf.TensorSpec((None, None), tf.int32) for k in batches[0][0]},
            tf.TensorSpec((None,), tf.int64),
        ),
    )
    backbone.trainable = False  # frozen heads are measured too
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True, dtype="float64")
    scores = head_importance(model, dataset, loss=loss)
    assert scores.shape == (3, 4)

    def loss_with_gate(x, y, layer, head, gate):
        kernel = output_kernel(backbone, layer)
        original = np.array(kernel)
        scaled = original.copy()
        scaled[head] *= gate
        kernel.assign(scaled)
        value = float(loss(y, model(x, training=False)))
        kernel.assign(original)
        return value

    eps = 1e-4
    expected = np.zeros((3, 4))
    for x, y in batches:
        for layer in range(3):
            for head in range(4):
                slope = (
                    loss_with_gate(x, y, layer, head, 1 + eps)
                    - loss_with_gate(x, y, layer, head, 1 - eps)
                ) / (2 * eps)
                expected[layer, head] += abs(slope) / len(batches)
    assert expected.max() > 1e-3
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-9)
    # num_batches uses only the first batches.
    first = head_importance(model, dataset, num_batches=1, loss=loss)
    assert not np.allclose(first, scores)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_batches": 0}, "num_batches=0"),
        ({"num_batches": True}, "num_batches=True"),
    ],
)
def test_head_importance_refuses_bad_arguments(kwargs, message):
    model, _ = float64_classifier()
    with pytest.raises(ValueError, match=message):
        head_importance(model, [], **kwargs)


def test_head_importance_refuses_lora_adapters():
    model, backbone = float64_classifier()
    backbone.enable_lora(2)
    with pytest.raises(ValueError, match="merge_lora"):
        head_importance(model, [])


def test_head_importance_refuses_empty_or_unlabelled_data():
    model, _ = float64_classifier()
    with pytest.raises(ValueError, match="empty"):
        head_importance(model, [])
    with pytest.raises(ValueError, match="labelled"):
        head_importance(model, [(inputs(),)])
