"""Every fine-tuning recipe and every task on every keras-hub text encoder family.

Each family's tiny preset (from `tftransformer.testing.write_tiny_preset`)
loads through `load_backbone` with its own tokenizer, and the recipes ask
the family's adapter for its layers: freezing, layer-wise decay, gradual
unfreezing, LoRA, head importance, pruning and `keep_layers` either work or
refuse with the reason the adapter gives. The tasks beyond `TextClassifier`
(long documents, multi-task models with a token classification head) build,
take a couple of train steps and predict on each family.
"""

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tftransformer.data import (
    make_classification_dataset,
    tokenize_and_align,
    unknown_piece_share,
)
from tftransformer.finetune import (
    GradualUnfreezing,
    LayerwiseAdamW,
    apply_lora,
    embedding_layers,
    encoder_layers,
    freeze_layers,
    freeze_layers_by_name,
    head_importance,
    keep_layers,
    layer_decay_multipliers,
    merge_lora,
    prune_heads,
)
from tftransformer.models import (
    LongDocumentClassifier,
    MultiTaskModel,
    TextClassifierPreprocessor,
)
from tftransformer.models.backbone_adapter import adapter_for, sequence_output
from tftransformer.presets import load_backbone
from tftransformer.testing import TINY_FAMILIES, write_tiny_preset

TEXTS = ["the movie was wonderful", "a boring story, unforgettable"]
LABELS = np.array([1, 0])
# Distinct encoder layers of each tiny preset (ALBERT: one shared block).
NUM_ENCODER_LAYERS = {family: 2 for family in TINY_FAMILIES} | {"albert": 1}
# The families whose shared weights refuse removing layers or heads.
SHARED = {"albert"}


@pytest.fixture(scope="module", params=TINY_FAMILIES)
def family_preset(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(request.param)
    return request.param, write_tiny_preset(request.param, directory)


def _classifier(preset, dropout=0.0):
    return tft.models.TextClassifier.from_preset(
        preset, num_classes=2, sequence_length=16, dropout=dropout
    )


def _features(classifier):
    x, _, _ = keras.utils.unpack_x_y_sample_weight(classifier.preprocessor(TEXTS))
    return x


def _values(layers):
    return [
        keras.ops.convert_to_numpy(w).copy() for layer in layers for w in layer.weights
    ]


def test_adapter_knows_the_family_and_the_tokenizer_reads_text(family_preset):
    family, preset = family_preset
    classifier = _classifier(preset)
    adapter = adapter_for(classifier)
    assert adapter.family == family
    assert len(encoder_layers(classifier)) == NUM_ENCODER_LAYERS[family]
    assert embedding_layers(classifier)
    assert (adapter.num_heads, adapter.head_dim) == (2, 8)
    # The tokenizer reads the words it was made from: no unknown pieces.
    tokenizer = classifier.preprocessor.tokenizer
    assert len(np.asarray(tokenizer("the movie was wonderful"))) >= 4
    # (SentencePiece vocabularies trained without a comma read it as unknown.)
    assert unknown_piece_share(tokenizer, TEXTS) in (0.0, None) or (
        unknown_piece_share(tokenizer, ["the movie was wonderful"]) == 0.0
    )
    assert tuple(classifier(_features(classifier)).shape) == (2, 2)


def test_freeze_layers_counts_the_familys_layers(family_preset):
    family, preset = family_preset
    classifier = _classifier(preset)
    frozen = freeze_layers(classifier, 1)
    assert frozen == embedding_layers(classifier) + encoder_layers(classifier)[:1]
    frozen_ids = {id(w) for layer in frozen for w in layer.weights}
    assert frozen_ids
    assert not any(id(w) in frozen_ids for w in classifier.trainable_weights)
    with pytest.raises(ValueError, match="num_layers must be an integer in \\[0, "):
        freeze_layers(classifier, NUM_ENCODER_LAYERS[family] + 1)
    # A recipe past the blocks says what it counts where layers share them.
    config = tft.training.FinetuneConfig(freeze_layers=NUM_ENCODER_LAYERS[family] + 1)
    shared = (
        "The albert backbone runs 2 encoder layers with the shared weights of "
        "1 distinct block"
    )
    with pytest.raises(tft.training.ConfigError) as error:
        tft.training.apply_strategy(classifier, config)
    assert (shared in str(error.value)) == (family in SHARED), error.value


def test_layer_decay_and_frozen_embeddings_in_one_train_step(family_preset):
    _, preset = family_preset
    classifier = _classifier(preset)
    frozen = freeze_layers_by_name(
        classifier, [layer.name for layer in embedding_layers(classifier)]
    )
    decay = 0.5
    multipliers = layer_decay_multipliers(classifier, decay)
    encoders = encoder_layers(classifier)
    kernels = [
        next(w for w in layer.weights if "feedforward_output_dense/kernel" in w.path)
        for layer in (encoders[-1], encoders[0])
    ] + [classifier.get_layer("logits").kernel]
    assert [multipliers[k.path] for k in kernels] == [
        decay,
        decay ** len(encoders),
        1.0,
    ]
    classifier.compile(
        optimizer=LayerwiseAdamW(
            learning_rate=1e-3,
            weight_decay=0.0,
            learning_rate_multipliers=multipliers,
            # Far below every gradient, so each step is about lr * multiplier.
            epsilon=1e-20,
        )
    )
    before_frozen = _values(frozen)
    before = [keras.ops.convert_to_numpy(k).copy() for k in kernels]
    classifier.train_on_batch(_features(classifier), LABELS)
    for old, new in zip(before_frozen, _values(frozen)):
        np.testing.assert_array_equal(old, new)
    # Adam's first step moves every weight with a gradient by about the
    # learning rate, so the median steps compare as the multipliers do.
    top, bottom, head = (
        np.median(np.abs(keras.ops.convert_to_numpy(k) - b))
        for k, b in zip(kernels, before)
    )
    np.testing.assert_allclose(top / head, decay, rtol=0.05)
    np.testing.assert_allclose(bottom / head, decay ** len(encoders), rtol=0.05)


def test_a_frozen_backbone_runs_in_inference_mode(family_preset):
    # DeBERTa-v3's encoder layer takes no `training`: its dropout layers read
    # Keras' call context, which a frozen layer must set too.
    _, preset = family_preset
    _, preprocessor = load_backbone(preset, sequence_length=16)
    features = keras.utils.unpack_x_y_sample_weight(preprocessor(TEXTS))[0]
    backbone = keras_hub.models.Backbone.from_preset(preset, dropout=0.5)

    def output(training):
        return keras.ops.convert_to_numpy(
            sequence_output(backbone(features, training=training))
        )

    # Dropout 0.5: unfrozen, two training calls differ.
    assert not np.array_equal(output(True), output(True))
    tft.finetune.freeze_backbone(backbone)
    np.testing.assert_array_equal(output(True), output(False))
    np.testing.assert_array_equal(output(True), output(True))


def test_the_fused_training_path_computes_what_keras_hub_does(family_preset):
    family, preset = family_preset
    _, preprocessor = load_backbone(preset, sequence_length=16)
    features = keras.utils.unpack_x_y_sample_weight(preprocessor(TEXTS))[0]
    backbone = keras_hub.models.Backbone.from_preset(preset, dropout=0.0)

    def outputs_and_gradients():
        with tf.GradientTape() as tape:
            output = sequence_output(backbone(features, training=True))
            loss = tf.reduce_sum(output * tf.sin(output))
        gradients = tape.gradient(loss, backbone.trainable_variables)
        return [output] + [tf.convert_to_tensor(g) for g in gradients if g is not None]

    expected = outputs_and_gradients()
    # DeBERTa-v3's blocks are its own class: left on keras-hub's path.
    blocks = {"deberta_v3": 0}.get(family, NUM_ENCODER_LAYERS[family])
    assert tft.finetune.use_fused_encoder(backbone) == blocks
    actual = outputs_and_gradients()
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        # float32 sums in another order: errors scale with the largest value.
        scale = max(1.0, float(np.abs(want).max()))
        np.testing.assert_allclose(got, want, atol=1e-6 * scale, rtol=1e-4)


def test_gradual_unfreezing_starts_with_the_head_only(family_preset):
    _, preset = family_preset
    classifier = _classifier(preset)
    callback = GradualUnfreezing(every_steps=1)
    callback.set_model(classifier)
    classifier.compile(optimizer=keras.optimizers.Adam(1e-3))
    callback.on_train_begin()
    backbone_ids = {id(w) for w in classifier.backbone.weights}
    assert classifier.trainable_weights
    assert not any(id(w) in backbone_ids for w in classifier.trainable_weights)


def test_lora_merge_keeps_the_outputs(family_preset):
    _, preset = family_preset
    classifier = _classifier(preset)
    adapted = apply_lora(classifier, rank=2)
    assert adapted
    backbone_ids = {id(w) for w in classifier.backbone.weights}
    trainable = [w for w in classifier.trainable_weights if id(w) in backbone_ids]
    assert trainable and all("lora_kernel" in w.path for w in trainable)
    rng = np.random.default_rng(0)
    for layer in adapted:
        layer.lora_kernel_b.assign(
            rng.normal(size=layer.lora_kernel_b.shape).astype("float32")
        )
    features = _features(classifier)
    with_adapters = classifier.predict_on_batch(features)
    merge_lora(classifier)
    np.testing.assert_allclose(
        classifier.predict_on_batch(features), with_adapters, atol=1e-5
    )


def test_shrinking_works_or_says_why_not(family_preset):
    family, preset = family_preset
    classifier = _classifier(preset)
    backbone = classifier.backbone
    dataset = [(_features(classifier), LABELS)]
    if family in SHARED:
        for recipe in (
            lambda: keep_layers(backbone, 1),
            lambda: prune_heads(backbone, heads={0: [0]}),
            lambda: head_importance(classifier, dataset),
        ):
            with pytest.raises(ValueError, match="shares one block of weights"):
                recipe()
        return
    scores = head_importance(classifier, dataset)
    assert scores.shape == (2, 2) and np.all(scores > 0)
    # Keeping only the first layer computes what the first layer computed.
    kept = keep_layers(backbone, [1, 0])
    assert type(kept) is type(backbone) and kept.num_layers == 2
    for old, new in zip(
        _values([encoder_layers(backbone)[1]]), _values([encoder_layers(kept)[0]])
    ):
        np.testing.assert_array_equal(old, new)
    # Keeping every layer in order computes what the original computes.
    # (The backbone's own inputs: a RoBERTa backbone takes no segment ids.)
    features = {
        name: value
        for name, value in _features(classifier).items()
        if name in backbone.input
    }
    same = keep_layers(backbone, 2)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(sequence_output(same(features))),
        keras.ops.convert_to_numpy(sequence_output(backbone(features))),
        atol=1e-6,
    )
    if family == "bert":
        pruned = prune_heads(backbone, heads={0: [0], 1: [1]})
        assert pruned.num_heads == 1
    else:
        with pytest.raises(ValueError, match="prune_heads.*BERT only"):
            prune_heads(backbone, heads={0: [0], 1: [1]})


def test_word_starts_point_at_each_words_first_piece(family_preset):
    family, preset = family_preset
    _, preprocessor = load_backbone(preset, sequence_length=16)
    tokenizer = preprocessor.tokenizer
    words = tf.ragged.constant([["john", "lives", "in", "york"], ["unforgettable"]])
    features = tokenize_and_align(words, tokenizer, 16)
    token_ids = np.asarray(features["token_ids"])
    assert np.all(token_ids[:, 0] == tokenizer.start_token_id)
    for row, starts in enumerate(features["word_starts"].to_list()):
        assert starts[0] == 1
        pieces = [tokenizer.id_to_token(int(token_ids[row, i])) for i in starts]
        # Each word starts as it does inside a sentence: after RoBERTa's
        # space "Ġ" or SentencePiece's "▁", and not as a WordPiece "##".
        marker = {"roberta": "Ġ", "xlm_roberta": "▁", "deberta_v3": "▁"}
        marker["albert"] = "▁"
        if family in marker:
            assert all(piece.startswith(marker[family]) for piece in pieces), pieces
        else:
            assert not any(piece.startswith("##") for piece in pieces), pieces


# 15 to 45 pieces in the tiny vocabularies: 2 to 5 chunks of 14 pieces.
LONG_DOCUMENT = (
    "the movie was great and the actors were wonderful but the plot was predictable"
)


def _pieces(tokenizer, text):
    return [int(i) for i in np.asarray(tokenizer(text))]


def test_long_documents_are_chunked_with_the_familys_tokens(family_preset):
    _, preset = family_preset
    backbone, preprocessor = load_backbone(preset, sequence_length=16)
    tokenizer = preprocessor.tokenizer
    # Chunks of 8 pieces, starting 6 apart.
    model = LongDocumentClassifier(
        backbone, num_classes=2, max_chunks=8, chunk_length=10, stride=6, dropout=0.0
    )
    texts = [LONG_DOCUMENT, "a boring story"]
    features, labels = next(iter(model.make_dataset(texts, LABELS, tokenizer, 2)))
    token_ids = np.asarray(features["token_ids"])
    mask = np.asarray(features["padding_mask"])
    for doc, text in enumerate(texts):
        pieces = _pieces(tokenizer, text)
        chunks = [ids[real] for ids, real in zip(token_ids[doc], mask[doc])]
        chunks = [chunk for chunk in chunks if len(chunk)]
        assert len(chunks) == max(1, 1 + -(-(len(pieces) - 8) // 6))
        # Each chunk is packed with the family's own start and end tokens.
        for chunk in chunks:
            assert chunk[0] == tokenizer.start_token_id
            assert chunk[-1] == tokenizer.end_token_id
        # Chunk k holds pieces [6k, 6k + 8): together, the whole text.
        covered = list(chunks[0][1:-1])
        for chunk in chunks[1:]:
            covered += list(chunk[1:-1][8 - 6 :])
        assert covered == pieces
    assert mask[0].any(axis=-1).sum() >= 2
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        # Eager steps: tracing the train step costs more than the check (the
        # graph step is tested on BERT).
        run_eagerly=True,
    )
    before = _values([model.output_dense])
    for _ in range(2):
        assert np.isfinite(model.train_on_batch(features, labels))
    assert any(
        not np.array_equal(b, a) for b, a in zip(before, _values([model.output_dense]))
    )
    assert tuple(model(features).shape) == (2, 2)


MULTI_TASKS = {
    "sentiment": {"kind": "classification", "num_classes": 2, "dropout": 0.0},
    "ner": {"kind": "token_classification", "num_tags": 3, "dropout": 0.0},
}
WORDS = [["john", "lives", "in", "york"], ["the", "quick", "fox"]]
WORD_TAGS = [[1, 0, 0, 2], [0, 0, 0]]


def test_multi_task_model_trains_and_predicts(family_preset):
    _, preset = family_preset
    backbone, preprocessor = load_backbone(preset, sequence_length=16)
    model = MultiTaskModel(
        backbone, MULTI_TASKS, tokenizer=preprocessor.tokenizer, sequence_length=16
    )
    # Eager steps: tracing one train step per label shape would cost more
    # than the check (the graph step is tested on BERT).
    model.compile(optimizer=keras.optimizers.Adam(1e-3), run_eagerly=True)
    # Each head model's preprocessor reads text with the family's tokenizer;
    # the batches are tokenized eagerly (tracing a tokenizer into tf.data
    # costs more than the whole check).
    sentiment = model.head_model("sentiment")
    ner = model.head_model("ner")
    x_text = sentiment.preprocessor(TEXTS)
    x_words, y_words = ner.preprocessor(WORDS, tf.ragged.constant(WORD_TAGS))
    for task_id, (x, y) in enumerate([(x_text, LABELS), (x_words, y_words)]):
        task = model.task_names[task_id]
        head = model.task_models[task].output_dense
        before = _values([head])
        logs = model.train_on_batch(
            {**x, "task_id": np.full(2, task_id, "int32")}, y, return_dict=True
        )
        assert np.isfinite(logs["loss"]) and logs[f"{task}_loss"] > 0
        assert any(not np.array_equal(b, a) for b, a in zip(before, _values([head])))
    outputs = model(x_words)
    assert tuple(outputs["sentiment"].shape) == (2, 2)
    assert tuple(outputs["ner"].shape) == (2, np.shape(x_words["token_ids"])[1], 3)
    np.testing.assert_allclose(sentiment(x_text), model(x_text)["sentiment"])


# keras-hub's RoBERTa and XLM-RoBERTa preprocessors separate a pair's texts
# with two end tokens, `<s> a </s></s> b </s>`; the other families with one.
PAIR_SEPARATORS = {family: 1 for family in TINY_FAMILIES} | {
    "roberta": 2,
    "xlm_roberta": 2,
}


def test_pairs_are_packed_as_the_familys_keras_hub_preprocessor_packs_them(
    family_preset,
):
    family, preset = family_preset
    # load_backbone gives the family's own keras-hub preprocessor.
    _, keras_hub_preprocessor = load_backbone(preset, sequence_length=16)
    tokenizer = keras_hub_preprocessor.tokenizer
    # The first pair is longer than 16 tokens: both are truncated.
    first = [LONG_DOCUMENT, "the movie was wonderful"]
    second = ["a boring story, unforgettable", "john smith"]
    expected = keras_hub_preprocessor(x=(tf.constant(first), tf.constant(second)))
    preprocessor = TextClassifierPreprocessor(
        tokenizer, sequence_length=16, dynamic_padding=False
    )
    assert preprocessor.pair_separators == PAIR_SEPARATORS[family]
    packed = preprocessor(x=(first, second))
    for name in ("token_ids", "padding_mask"):
        np.testing.assert_array_equal(packed[name], expected[name], err_msg=name)
    token_ids = np.asarray(packed["token_ids"])
    np.testing.assert_array_equal(
        (token_ids == tokenizer.end_token_id).sum(-1), 1 + PAIR_SEPARATORS[family]
    )
    # The data pipeline packs pairs as the preprocessor does.
    dataset = make_classification_dataset(
        first,
        LABELS,
        tokenizer,
        batch_size=2,
        max_length=16,
        shuffle=False,
        text_pairs=second,
        pair_separators=preprocessor.pair_separators,
    )
    features, _ = next(iter(dataset))
    batch_ids = np.asarray(features["token_ids"])
    np.testing.assert_array_equal(batch_ids, token_ids[:, : batch_ids.shape[1]])
    # So does a task model's from_preset.
    classifier = _classifier(preset)
    assert classifier.preprocessor.pair_separators == PAIR_SEPARATORS[family]
