"""Packed rows through `TextClassifier`: each text scored as if alone."""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tftransformer.data.classification_dataset import make_classification_dataset
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.testing import TINY_FAMILIES, write_tiny_preset

TEXTS = [
    "a fine film",
    "a dull and tedious mess of a movie",
    "ok",
    "the best thing this year by far",
    "meh meh",
    "long , slow and quite pointless",
]
LABELS = [0, 1, 2, 1, 0, 2]
MAX_LENGTH = 24
# The tiny SentencePiece and byte-pair vocabularies split words finely:
# rows as long as the tiny presets' position tables hold several texts.
FAMILY_MAX_LENGTH = 64


# Labels of each head that reads packed rows, one per text.
HEAD_LABELS = {
    "TextClassifier": LABELS,
    "MultiLabelClassifier": np.eye(3, dtype="int32")[LABELS] | [[0, 0, 1]] * 6,
    "TextRegressor": np.linspace(-1.0, 2.0, 12, dtype="float32").reshape(6, 2),
}
HEAD_SIZES = {"TextClassifier": "num_classes", "MultiLabelClassifier": "num_labels"}


def _classifier(preset, pooling="cls", max_length=MAX_LENGTH, head="TextClassifier"):
    size = HEAD_SIZES.get(head, "num_targets")
    width = np.shape(HEAD_LABELS[head])[1] if head == "TextRegressor" else 3
    model = getattr(tft.models, head).from_preset(
        preset, **{size: width}, pooling=pooling, sequence_length=max_length
    )
    # A random init gives nearly the same logits for every text; a wider
    # head makes the texts' logits differ, so that equality means something.
    kernel = model.get_layer("logits").kernel
    kernel.assign(np.random.default_rng(0).normal(size=kernel.shape) * 3.0)
    return model


def _batches(model, pack, labels=LABELS):
    # Unpacked: one batch of every text, padded; packed: rows of two or
    # three texts, two rows a batch.
    return make_classification_dataset(
        TEXTS,
        labels,
        model.preprocessor.tokenizer,
        batch_size=2 if pack else len(TEXTS),
        max_length=model.preprocessor.sequence_length,
        shuffle=False,
        pack=pack,
    )


def _logits_and_gradients(model, pack):
    logits, labels, gradients = [], [], None
    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, reduction="sum"
    )
    for features, y in _batches(model, pack):
        with tf.GradientTape() as tape:
            batch_logits = model(features, training=False)
            if pack:  # per row slot: the slots that hold a text
                batch_logits = tf.boolean_mask(batch_logits, features["text_mask"])
                y = tf.boolean_mask(y, features["text_mask"])
            loss = loss_fn(y, batch_logits)
        grads = tape.gradient(loss, model.trainable_variables)
        # Embedding gradients come as slices: made dense to be summed.
        grads = [tf.convert_to_tensor(g) for g in grads]
        gradients = (
            grads if gradients is None else [a + b for a, b in zip(gradients, grads)]
        )
        logits.append(batch_logits.numpy())
        labels.append(y.numpy())
    return np.concatenate(logits), np.concatenate(labels), gradients


# Pooling does not depend on the family: every pooling on BERT, and each
# other family's adapter through mean pooling, which reads every token.
@pytest.mark.parametrize(
    "family, pooling",
    [("bert", pooling) for pooling in ("cls", "mean", "max")]
    + [(family, "mean") for family in TINY_FAMILIES if family != "bert"],
)
def test_packed_rows_give_each_texts_unpacked_logits_and_gradients(
    request, tmp_path, family, pooling
):
    if family == "bert":
        preset = request.getfixturevalue("tiny_preset")
    else:
        preset = write_tiny_preset(family, tmp_path)
    model = _classifier(preset, pooling, FAMILY_MAX_LENGTH)
    packed_rows = sum(
        int(features["token_ids"].shape[0]) for features, _ in _batches(model, True)
    )
    assert packed_rows < len(TEXTS)  # the texts did share rows
    packed, packed_labels, packed_grads = _logits_and_gradients(model, pack=True)
    plain, plain_labels, plain_grads = _logits_and_gradients(model, pack=False)
    np.testing.assert_array_equal(packed_labels, LABELS)
    np.testing.assert_array_equal(plain_labels, LABELS)
    # The texts' logits differ from one another: equality is not trivial.
    assert np.ptp(plain, axis=0).max() > 1e-2
    np.testing.assert_allclose(packed, plain, atol=1e-5, rtol=1e-5)
    assert len(packed_grads) == len(plain_grads)
    for variable, a, b in zip(model.trainable_variables, packed_grads, plain_grads):
        np.testing.assert_allclose(
            tf.convert_to_tensor(a).numpy(),
            tf.convert_to_tensor(b).numpy(),
            atol=1e-5,
            rtol=1e-4,
            err_msg=variable.path,
        )


@pytest.mark.parametrize("broken", ["text_ids", "position_ids"])
def test_attention_and_positions_are_kept_per_text(tiny_preset, broken):
    model = _classifier(tiny_preset)
    plain = np.concatenate(
        [model(features).numpy() for features, _ in _batches(model, pack=False)]
    )
    features, _ = next(iter(_batches(model, pack=True)))
    features = dict(features)
    mask = features["padding_mask"]
    if broken == "text_ids":  # one text per row: attention across texts
        features["text_ids"] = tf.cast(mask, "int32")
    else:  # positions running on across texts
        features["position_ids"] = tf.cumsum(tf.cast(mask, "int32"), 1) - 1
    logits = model(features).numpy()[features["text_mask"].numpy()]
    assert np.abs(logits - plain[: len(logits)]).max() > 1e-2


# The full vocabulary packs the six texts into one batch of two rows; the
# 3,000-entry one into two batches of two rows, holding 2 and 4 texts, where
# a loss weighed by rows (as Keras weighs it) would differ from the texts'.
# Every head that reads packed rows, each with its own loss and metric.
@pytest.mark.parametrize(
    "preset, head",
    [("tiny_preset", "TextClassifier")]
    + [("small_vocabulary_preset", head) for head in HEAD_LABELS],
)
def test_loss_and_metrics_count_real_texts_only(request, preset, head):
    model = _classifier(request.getfixturevalue(preset), head=head)
    model.compile(optimizer="adam")
    labels = HEAD_LABELS[head]
    packed_rows = _batches(model, True, labels)
    packed = model.evaluate(packed_rows, verbose=0, return_dict=True)
    plain_rows = _batches(model, False, labels)
    plain = model.evaluate(plain_rows, verbose=0, return_dict=True)
    assert packed.keys() == plain.keys() and len(plain) > 1
    for name in plain:
        assert packed[name] == pytest.approx(plain[name], abs=1e-5), name
    # One prediction per text, in order, however many a row holds.
    predictions = model.predict(packed_rows, verbose=0)
    assert predictions.shape == (len(TEXTS), model.output_shape[-1])
    np.testing.assert_allclose(
        predictions,
        model.predict(plain_rows, verbose=0),
        atol=1e-5,
        rtol=1e-5,
    )
    # One batch: its texts' rows.
    features, _ = next(iter(packed_rows))
    texts = int(features["text_mask"].numpy().sum())
    np.testing.assert_allclose(
        model.predict_on_batch(features), predictions[:texts], atol=1e-5, rtol=1e-5
    )


def _without_dropout(model):
    for layer in model._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    return model


# With a learning rate of 0 and no dropout, an epoch's loss is the loss of
# the same weights on every text, packed or not.
@pytest.mark.parametrize("jit_compile", [False, True])
def test_fit_on_packed_rows_weighs_texts_and_classes_as_unpacked(
    small_vocabulary_preset, jit_compile
):
    model = _without_dropout(_classifier(small_vocabulary_preset))
    model.compile(optimizer=keras.optimizers.SGD(0.0), jit_compile=jit_compile)
    class_weight = {0: 3.0, 1: 0.2, 2: 1.0}

    def epoch_loss(pack, **kwargs):
        history = model.fit(_batches(model, pack), epochs=1, verbose=0, **kwargs)
        return history.history["loss"][0]

    weighted = epoch_loss(True, class_weight=class_weight)
    assert weighted == pytest.approx(
        epoch_loss(False, class_weight=class_weight), rel=1e-5
    )
    # The class weights changed the loss.
    assert abs(weighted - epoch_loss(True)) > 1e-2


def test_class_weights_and_sample_weights_of_packed_rows_are_refused_together(
    small_vocabulary_preset,
):
    model = _classifier(small_vocabulary_preset)
    model.compile(optimizer=keras.optimizers.SGD(0.0))
    weighted = _batches(model, True).map(
        lambda x, y: (x, y, tf.ones_like(y, "float32"))
    )
    with pytest.raises(ValueError, match="class_weight cannot be combined"):
        model.fit(weighted, class_weight={0: 1.0, 1: 2.0}, verbose=0)


def test_a_family_without_packing_is_refused_by_name():
    backbone = keras_hub.models.BartBackbone(
        vocabulary_size=30,
        num_layers=1,
        num_heads=1,
        hidden_dim=4,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    families = ", ".join(sorted(TINY_FAMILIES))
    with pytest.raises(ValueError, match=rf"sequence packing .*\(bart\).*{families}"):
        adapter_for(backbone).check_recipe("sequence packing")
