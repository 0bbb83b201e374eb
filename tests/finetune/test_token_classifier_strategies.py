"""Every fine-tuning strategy applies to a TokenClassifier, unchanged.

Each case applies one strategy to a tiny BERT tagger, trains a few steps and
checks which weights stayed bit-identical and which moved. BERT's
`pooled_dense` feeds nothing a tagger computes, so the tagger leaves it
non-trainable and it never moves, whatever the strategy.

`TokenClassifier` has no extra encoder blocks (`TextClassifier`'s
`num_extra_blocks`), so that strategy has no counterpart here.
"""

import keras
import numpy as np
import pytest

from tests.finetune.strategy_models import (
    EMBEDDINGS_WITH_WEIGHTS,
    ENCODERS,
    Recorder,
    top_layer,
)
from tests.finetune.tiny_models import bert_inputs
from tftransformer.data import IGNORE_LABEL
from tftransformer.finetune import (
    GradualUnfreezing,
    HeadWarmup,
    apply_lora,
    create_optimizer,
    freeze_backbone,
    freeze_layers,
    load_lora_weights,
    lora_variables,
    merge_lora,
    save_lora_weights,
)
from tftransformer.models import TokenClassifier
from tftransformer.testing import tiny_bert_backbone

NUM_TAGS = 3
STEPS = 4
LR = 1e-2
HEAD = "tag_logits"
BACKBONE = EMBEDDINGS_WITH_WEIGHTS + ENCODERS + ["pooled_dense"]


def tiny_tagger(dropout=0.1):
    backbone = tiny_bert_backbone(num_layers=3, dropout=dropout)
    return TokenClassifier(backbone, num_tags=NUM_TAGS, dropout=dropout)


def tagging_batches(num_examples, seed=0):
    x = bert_inputs(batch_size=num_examples, seq_len=6, seed=seed)
    y = np.random.default_rng(seed).integers(0, NUM_TAGS, size=(num_examples, 6))
    y = y.astype("int32")
    # As tokenize_and_align labels [CLS] and continuation pieces.
    y[:, 0] = IGNORE_LABEL
    y[:, 3] = IGNORE_LABEL
    return x, y


def train(tagger, steps=STEPS, callbacks=(), **optimizer_args):
    """Fits `steps` batches of 2, eagerly: the tiny model trains faster so.

    The traced train step's retracing is tested on TextClassifier in
    test_gradual_unfreezing.py and test_head_warmup.py.
    """
    optimizer_args = {"warmup_fraction": 0.0, **optimizer_args}
    tagger.compile(
        optimizer=create_optimizer(LR, num_train_steps=steps, **optimizer_args),
        jit_compile=False,
        run_eagerly=True,
    )
    recorder = Recorder()
    x, y = tagging_batches(2 * steps)
    tagger.fit(
        x,
        y,
        batch_size=2,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[*callbacks, recorder],
    )
    return recorder


def in_layers(*names):
    return lambda path: top_layer(path) in names


def is_lora(path):
    return "lora_kernel" in path


def _freeze_layers(tagger):
    freeze_layers(tagger, 2)
    return [], {}


def _freeze_backbone(tagger):
    freeze_backbone(tagger)
    return [], {}


def _gradual_unfreezing(tagger):
    return [GradualUnfreezing(every_steps=2)], {}


def _layer_decay(tagger):
    return [], {"layer_decay": 0.5, "model": tagger}


def _lora(tagger):
    apply_lora(tagger, 2)
    return [], {}


def _head_warmup(tagger):
    freeze_layers(tagger, 1)
    return [HeadWarmup(2)], {}


# name: (apply the strategy, returning the fit callbacks and the optimizer
# arguments; which variables must stay bit-identical; the top-level layers
# that must move over the run; how many first steps train the head alone).
CASES = {
    "freeze_layers": (
        _freeze_layers,
        in_layers(*EMBEDDINGS_WITH_WEIGHTS, *ENCODERS[:2], "pooled_dense"),
        [ENCODERS[2], HEAD],
        0,
    ),
    "freeze_backbone": (_freeze_backbone, in_layers(*BACKBONE), [HEAD], 0),
    "gradual_unfreezing": (
        _gradual_unfreezing,
        in_layers(*EMBEDDINGS_WITH_WEIGHTS, *ENCODERS[:2], "pooled_dense"),
        [ENCODERS[2], HEAD],
        2,
    ),
    "layer_decay": (
        _layer_decay,
        in_layers("pooled_dense"),
        EMBEDDINGS_WITH_WEIGHTS + ENCODERS + [HEAD],
        0,
    ),
    "lora": (
        _lora,
        lambda path: top_layer(path) in BACKBONE and not is_lora(path),
        ENCODERS + [HEAD],
        0,
    ),
    "head_warmup": (
        _head_warmup,
        in_layers(*EMBEDDINGS_WITH_WEIGHTS, ENCODERS[0], "pooled_dense"),
        ENCODERS[1:] + [HEAD],
        2,
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_strategy_freezes_and_trains_the_expected_weights(name):
    apply, stays, expected_moved, head_only_steps = CASES[name]
    tagger = tiny_tagger()
    callbacks, optimizer_args = apply(tagger)
    recorder = train(tagger, callbacks=callbacks, **optimizer_args)

    initial, final = recorder.initial, recorder.weights[-1]
    still = [path for path in final if stays(path)]
    assert still, "the case names no variable that must stay"
    for path in still:
        np.testing.assert_array_equal(final[path], initial[path], err_msg=path)
    moved = sorted(
        {
            top_layer(path)
            for path in final
            if not np.array_equal(final[path], initial[path])
        }
    )
    assert moved == sorted(expected_moved)
    for step in range(1, head_only_steps + 1):
        assert recorder.moved_layers(step) == [HEAD], step
    if head_only_steps:
        assert HEAD in recorder.moved_layers(head_only_steps + 1)
        assert len(recorder.moved_layers(head_only_steps + 1)) > 1
    if name == "lora":
        # Every adapter trained (B from the first step, A once B is nonzero).
        for variable in lora_variables(tagger):
            assert not np.array_equal(final[variable.path], initial[variable.path])


def test_layer_decay_scales_each_layers_first_adam_step():
    # Adam's first step moves each weight by about lr * multiplier (the
    # first moment over the root of the second is the gradient's sign), so
    # the largest move in each layer gives that layer's rate.
    tagger = tiny_tagger(dropout=0.0)
    recorder = train(
        tagger,
        steps=1,
        layer_decay=0.5,
        model=tagger,
        weight_decay=0.0,
        clipnorm=None,
    )
    # Not the token and segment embeddings: Keras' Adam adds up the squares
    # of a gathered row's repeated gradient slices, which shrinks the step.
    expected = {HEAD: LR}
    expected.update(
        {name: LR * 0.5**4 for name in ("position_embedding", "embeddings_layer_norm")}
    )
    expected.update({name: LR * 0.5 ** (3 - i) for i, name in enumerate(ENCODERS)})
    largest = {}
    for path, value in recorder.weights[0].items():
        step = np.max(np.abs(value - recorder.initial[path]))
        largest[top_layer(path)] = max(largest.get(top_layer(path), 0.0), step)
    for name, rate in expected.items():
        assert largest[name] == pytest.approx(rate, rel=0.02), name
    assert largest["pooled_dense"] == 0.0


def _outputs(model, inputs):
    return keras.ops.convert_to_numpy(model(inputs, training=False))


def test_lora_adapters_save_load_alone_and_merge(tmp_path):
    trained = tiny_tagger()
    apply_lora(trained, 2)
    train(trained, steps=3)
    x, _ = tagging_batches(4, seed=5)
    expected = _outputs(trained, x)
    path = save_lora_weights(trained, tmp_path / "adapters.lora.h5")

    # Same base and head weights, no adapters: other outputs.
    fresh = tiny_tagger()
    fresh_paths = {v.path for v in fresh.weights}
    base = {v.path: v for v in trained.weights if v.path in fresh_paths}
    for variable in fresh.weights:
        variable.assign(base[variable.path])
    assert not np.allclose(_outputs(fresh, x), expected, atol=1e-4)
    load_lora_weights(fresh, path)
    np.testing.assert_allclose(_outputs(fresh, x), expected, atol=1e-5)

    # The merged kernel is W + A @ B (alpha = rank: a scale of 1).
    query = fresh.backbone.get_layer("transformer_layer_0")._self_attention_layer
    query = query._query_dense
    a, b = (v.numpy() for v in (query.lora_kernel_a, query.lora_kernel_b))
    kernel = query._kernel.numpy()
    merge_lora(fresh)
    assert lora_variables(fresh) == []
    assert not any(is_lora(v.path) for v in fresh.weights)
    np.testing.assert_allclose(
        query._kernel.numpy(), kernel + np.einsum("dhr,rk->dhk", a, b), atol=1e-6
    )
    np.testing.assert_allclose(_outputs(fresh, x), expected, atol=1e-5)
