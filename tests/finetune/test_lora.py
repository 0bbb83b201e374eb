import logging
import re
import warnings

import h5py
import keras
import numpy as np
import pytest

from tests.finetune.tiny_models import (
    bert_inputs,
    tiny_bert_backbone,
    tiny_tftransformer_encoder,
)
from tftransformer.finetune import (
    apply_lora,
    classification_loss,
    create_optimizer,
    load_lora_weights,
    lora_variables,
    merge_lora,
    restart_lora_adapters,
    save_lora_weights,
)
from tftransformer.models import TextClassifier

# The tiny backbone: 2 layers; the default targets are the query and value
# projections, EinsumDense kernels of shape (hidden 8, heads 2, head size 4).
ADAPTED = [
    f"transformer_layer_{i}/self_attention_layer/{name}"
    for i in range(2)
    for name in ("query", "value")
]
LORA_PATHS = {f"{layer}/lora_kernel_{ab}" for layer in ADAPTED for ab in "ab"}
HEAD_PATHS = {"logits/kernel", "logits/bias"}


def _classifier(dropout=0.1):
    return TextClassifier(tiny_bert_backbone(dropout), num_classes=2, dropout=dropout)


def _randomize(variables, seed):
    rng = np.random.default_rng(seed)
    for v in variables:
        v.assign(rng.normal(0.0, 0.5, size=v.shape).astype("float32"))


def _outputs(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


@pytest.mark.parametrize("rank", [0, -2, 1.5, True, "8", None])
def test_invalid_rank_is_rejected(rank):
    with pytest.raises(ValueError, match=re.escape(f"rank={rank!r}")):
        apply_lora(_classifier(), rank)


@pytest.mark.parametrize("alpha", [0, -1.0, "16", True, float("nan"), float("inf")])
def test_invalid_alpha_is_rejected(alpha):
    with pytest.raises(ValueError, match=re.escape(f"alpha={alpha!r}")):
        apply_lora(_classifier(), 2, alpha=alpha)


def test_rejects_missing_targets_non_keras_hub_backbones_and_repeats():
    with pytest.raises(ValueError, match="no Dense or EinsumDense layer named"):
        apply_lora(_classifier(), 2, target_layer_names=["nope"])
    # One misspelled name of two: its layers would go without adapters.
    classifier = _classifier()
    with pytest.raises(
        ValueError, match=r"named \['nope'\]; its layer names .*'query'"
    ):
        apply_lora(classifier, 2, target_layer_names=["query", "nope"])
    assert not lora_variables(classifier)
    encoder = TextClassifier(tiny_tftransformer_encoder(), num_classes=2)
    with pytest.raises(ValueError, match="keras-hub Backbone"):
        apply_lora(encoder, 2)
    classifier = _classifier()
    apply_lora(classifier, 2)
    with pytest.raises(ValueError, match="already enabled"):
        apply_lora(classifier, 2)


def test_only_adapters_and_head_are_trainable():
    classifier = _classifier()
    layers = apply_lora(classifier, rank=2)
    assert sorted(layer.path for layer in layers) == sorted(ADAPTED)
    assert {v.path for v in classifier.trainable_variables} == LORA_PATHS | HEAD_PATHS
    assert {v.path for v in lora_variables(classifier)} == LORA_PATHS
    # A: (hidden 8, heads 2, rank 2); B: (rank 2, head size 4).
    query = "transformer_layer_0/self_attention_layer/query"
    shapes = {v.path: tuple(v.shape) for v in lora_variables(classifier)}
    assert shapes[f"{query}/lora_kernel_a"] == (8, 2, 2)
    assert shapes[f"{query}/lora_kernel_b"] == (2, 4)


def test_fit_changes_only_adapters_and_head():
    classifier = _classifier()
    apply_lora(classifier, rank=2)
    before = {v.path: v.numpy().copy() for v in classifier.weights}
    classifier.compile(
        optimizer=create_optimizer(1e-2, num_train_steps=3, warmup_fraction=0.0),
        loss=classification_loss(),
        run_eagerly=True,
    )
    x = bert_inputs(batch_size=6)
    classifier.fit(
        x, np.array([0, 1, 0, 1, 1, 0]), batch_size=2, shuffle=False, verbose=0
    )
    for v in classifier.weights:
        if v.path in LORA_PATHS | HEAD_PATHS:
            assert not np.array_equal(v.numpy(), before[v.path]), v.path
        else:
            np.testing.assert_array_equal(v.numpy(), before[v.path], err_msg=v.path)


def _trained_lora_classifier(rank=2, alpha=None):
    """A classifier with LoRA whose adapters and head hold random values."""
    classifier = _classifier()
    apply_lora(classifier, rank=rank, alpha=alpha)
    _randomize(lora_variables(classifier), seed=1)
    _randomize(classifier.output_dense.weights, seed=2)
    return classifier


def test_adapter_file_round_trip(tmp_path):
    trained = _trained_lora_classifier(alpha=6)
    x = bert_inputs()
    expected = _outputs(trained, x)
    path = save_lora_weights(trained, tmp_path / "adapters.lora.h5")

    # The file holds the adapters and nothing else from the model.
    datasets = {}

    def collect(name, obj):
        if isinstance(obj, h5py.Dataset):
            datasets[name] = obj.size

    with h5py.File(path, "r") as f:
        f.visititems(collect)
    assert {name.rsplit("/", 1)[-1] for name in datasets} == {
        "lora_kernel_a",
        "lora_kernel_b",
        "rank",
        "alpha",
    }
    assert datasets["lora/vars/rank"] == datasets["lora/vars/alpha"] == 1
    # One A and one B for each of the 4 adapted layers.
    assert len(datasets) == 2 + 2 * 4
    lora_size = sum(int(np.prod(v.shape)) for v in lora_variables(trained))
    assert lora_size == 4 * (8 * 2 * 2 + 2 * 4)
    assert sum(datasets.values()) == lora_size + 2

    # A fresh model with the same base and head weights, no adapters yet.
    fresh = _classifier()
    base = {v.path: v for v in trained.weights}
    for v in fresh.weights:
        v.assign(base[v.path])
    assert not np.allclose(_outputs(fresh, x), expected, atol=1e-3)
    layers = load_lora_weights(fresh, path)
    assert sorted(layer.path for layer in layers) == sorted(ADAPTED)
    assert {layer.lora_alpha for layer in layers} == {6.0}
    np.testing.assert_allclose(_outputs(fresh, x), expected, atol=1e-6)
    assert {v.path for v in fresh.trainable_variables} == LORA_PATHS | HEAD_PATHS


def test_load_checks_rank_and_file_name(tmp_path):
    path = save_lora_weights(_trained_lora_classifier(rank=2), tmp_path / "a.lora.h5")
    other = _classifier()
    apply_lora(other, rank=3)
    with pytest.raises(ValueError, match="rank=2.*rank=3"):
        load_lora_weights(other, path)
    with pytest.raises(ValueError, match=r"\.lora\.h5.*adapters\.h5"):
        save_lora_weights(other, tmp_path / "adapters.h5")
    with pytest.raises(ValueError, match="no LoRA adapters"):
        save_lora_weights(_classifier(), tmp_path / "b.lora.h5")
    # A copy cut short, and an HDF5 file without adapters: named, not h5py's
    # "file signature not found" or a missing-object KeyError.
    cut = tmp_path / "cut.lora.h5"
    with open(path, "rb") as f:
        cut.write_bytes(f.read()[:100])
    empty = tmp_path / "empty.lora.h5"
    h5py.File(empty, "w").close()
    for bad in (cut, empty):
        with pytest.raises(ValueError, match="is not an adapter file written by"):
            load_lora_weights(_classifier(), bad)


def test_merge_gives_same_outputs_without_lora_variables():
    # alpha / rank = 2: the scale matters in the merged kernel.
    classifier = _trained_lora_classifier(rank=2, alpha=4)
    x = bert_inputs()
    expected = _outputs(classifier, x)
    predicted = classifier.predict(x, verbose=0)
    layer = classifier.backbone.get_layer("transformer_layer_1")._self_attention_layer
    query = layer._query_dense
    # kernel (8, 2, 4) + 2 * A (8, 2, 2) @ B (2, 4), contracted over the rank.
    merged_by_hand = query._kernel.numpy() + 2.0 * np.einsum(
        "ihr,rd->ihd", query.lora_kernel_a.numpy(), query.lora_kernel_b.numpy()
    )

    merged = merge_lora(classifier)
    assert sorted(layer.path for layer in merged) == sorted(ADAPTED)
    assert not [v.path for v in classifier.weights if "lora" in v.path]
    assert len(classifier.weights) == len(_classifier().weights)
    np.testing.assert_allclose(query.kernel.numpy(), merged_by_hand, atol=1e-6)
    np.testing.assert_allclose(_outputs(classifier, x), expected, atol=1e-5)
    # The traced predict function is rebuilt, not reused with the old state.
    np.testing.assert_allclose(classifier.predict(x, verbose=0), predicted, atol=1e-5)
    assert "lora_rank" not in query.get_config()
    assert {v.path for v in classifier.trainable_variables} == HEAD_PATHS


def test_merged_model_is_a_plain_model(tmp_path):
    classifier = _trained_lora_classifier()
    x = bert_inputs()
    expected = _outputs(classifier, x)
    merge_lora(classifier)
    # Its weights file loads into a model that never had adapters.
    path = str(tmp_path / "merged.weights.h5")
    classifier.save_weights(path)
    plain = _classifier()
    plain.load_weights(path)
    np.testing.assert_allclose(_outputs(plain, x), expected, atol=1e-5)
    # And adapters can be enabled again.
    assert len(apply_lora(classifier, rank=3)) == 4
    np.testing.assert_allclose(_outputs(classifier, x), expected, atol=1e-5)


def test_keras_file_round_trip_loads_merged_weights(tmp_path):
    classifier = _trained_lora_classifier(rank=2, alpha=4)
    x = bert_inputs()
    expected = _outputs(classifier, x)
    path = str(tmp_path / "model.keras")
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(_outputs(loaded, x), expected, atol=1e-5)
    assert not [v.path for v in loaded.weights if "lora" in v.path]


def test_a_trained_merged_model_reloads_frozen_without_an_optimizer_mismatch(
    tmp_path,
):
    # Its optimizer was built over the adapters: saved with the model, it
    # did not load ("Skipping variable loading for optimizer"), and the
    # reloaded backbone was trainable (keras-hub's LoRA freeze is not in
    # the config).
    classifier = _trained_lora_classifier()
    x = bert_inputs()
    _train_one_step(classifier, x)
    merge_lora(classifier)
    expected = _outputs(classifier, x)
    path = str(tmp_path / "model.keras")
    classifier.save(path)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        loaded = keras.saving.load_model(path)
    assert not [w for w in record if "optimizer" in str(w.message)], record
    assert {v.path for v in loaded.trainable_variables} == HEAD_PATHS
    np.testing.assert_allclose(_outputs(loaded, x), expected, atol=1e-5)
    # Unfrozen and compiled again, it trains on.
    loaded.backbone.trainable = True
    _train_one_step(loaded, x)


@pytest.mark.parametrize("rank, warns", [(2, False), (4, True)])
def test_a_rank_that_saves_nothing_is_warned_about(rank, warns, caplog):
    # The tiny kernels hold 8 x 2 x 4 = 64 numbers; rank r adapters 16 r.
    with caplog.at_level(logging.WARNING):
        apply_lora(_classifier(), rank)
    assert ("no saving over training the kernel" in caplog.text) == warns


def _adapters(model):
    return {v.path: v.numpy().copy() for v in lora_variables(model)}


def _train_one_step(model, x):
    model.compile(
        optimizer=create_optimizer(1e-2, num_train_steps=1, warmup_fraction=0.0),
        loss=classification_loss(),
        run_eagerly=True,
    )
    model.fit(x, np.array([0, 1, 0, 1]), batch_size=4, shuffle=False, verbose=0)


def test_restart_gives_adapters_loaded_from_a_weights_file_a_gradient(tmp_path):
    trained = _trained_lora_classifier(rank=2, alpha=4)
    x = bert_inputs()
    expected = _outputs(trained, x)
    path = str(tmp_path / "trial.weights.h5")
    trained.save_weights(path)
    # What a KerasTuner Hyperband continuation trial does: a fresh model
    # with adapters, then the earlier trial's weights.
    loaded = _classifier()
    apply_lora(loaded, rank=2, alpha=4)
    loaded.load_weights(path)
    np.testing.assert_allclose(_outputs(loaded, x), expected, atol=1e-5)
    # Keras loads merged kernels and zeros both adapters.
    assert all(not np.any(v) for v in _adapters(loaded).values())

    restarted = restart_lora_adapters(loaded, seed=0)
    assert sorted(layer.path for layer in restarted) == sorted(ADAPTED)
    np.testing.assert_allclose(_outputs(loaded, x), expected, atol=1e-5)
    before = _adapters(loaded)
    for path, value in before.items():
        if path.endswith("lora_kernel_a"):
            assert np.any(value), path
        else:
            assert not np.any(value), path
    # Each layer draws its own values.
    a_values = [v for p, v in before.items() if p.endswith("lora_kernel_a")]
    assert not np.array_equal(a_values[0], a_values[1])
    _train_one_step(loaded, x)
    after = _adapters(loaded)
    for path in LORA_PATHS:
        if path.endswith("lora_kernel_b"):
            # Only B has a gradient at the first step (B = 0).
            assert np.any(after[path]), path


def test_restart_folds_a_trained_adapter_and_is_seeded():
    classifier = _trained_lora_classifier(rank=2, alpha=4)
    x = bert_inputs()
    expected = _outputs(classifier, x)
    restart_lora_adapters(classifier, seed=3)
    np.testing.assert_allclose(_outputs(classifier, x), expected, atol=1e-5)
    first = _adapters(classifier)
    assert all(not np.any(v) for p, v in first.items() if p.endswith("lora_kernel_b"))
    restart_lora_adapters(classifier, seed=3)
    np.testing.assert_allclose(_outputs(classifier, x), expected, atol=1e-5)
    for path, value in _adapters(classifier).items():
        np.testing.assert_array_equal(value, first[path], err_msg=path)
    assert restart_lora_adapters(_classifier()) == []
    with pytest.raises(ValueError, match="seed=1.5"):
        restart_lora_adapters(classifier, seed=1.5)
