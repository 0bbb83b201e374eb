import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data import (
    IGNORE_LABEL,
    make_tagging_dataset,
)
from tftransformer.evaluation import evaluate_tagger, predict_entities, predict_tags
from tftransformer.finetune import (
    freeze_layers,
)
from tftransformer.models import TokenClassifier, TokenClassifierPreprocessor
from tftransformer.presets import embedded_tokenizer
from tftransformer.testing import tiny_bert_backbone

TAGS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SENTENCES = [
    ["Barack", "Obama", "visits", "Paris"],
    ["Angela", "Merkel", "met", "Obama", "in", "Berlin"],
    ["rain", "in", "Paris", "today"],
    ["Merkel", "flies", "to", "New", "York"],
]
SENTENCE_TAGS = [
    ["B-PER", "I-PER", "O", "B-LOC"],
    ["B-PER", "I-PER", "O", "B-PER", "O", "B-LOC"],
    ["O", "O", "B-LOC", "O"],
    ["B-PER", "O", "O", "B-LOC", "I-LOC"],
]


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def tiny_tagger(tokenizer, sequence_length=32, dropout=0.0, **kwargs):
    backbone = tiny_bert_backbone(
        vocabulary_size=tokenizer.vocabulary_size(),
        num_layers=1,
        hidden_dim=16,
        max_sequence_length=64,
        dropout=dropout,
    )
    return TokenClassifier(
        backbone,
        num_tags=len(TAGS),
        preprocessor=TokenClassifierPreprocessor(
            tokenizer, sequence_length=sequence_length
        ),
        dropout=dropout,
        tag_names=TAGS,
        **kwargs,
    )


def tag_ids(tags):
    return [np.array([TAGS.index(t) for t in sentence]) for sentence in tags]


def force_tag(tagger, tag):
    """Makes every position predict `tag`: zero kernel, one-hot bias."""
    dense = tagger.output_dense
    bias = np.zeros(len(TAGS), "float32")
    bias[TAGS.index(tag)] = 10.0
    dense.set_weights([np.zeros_like(dense.get_weights()[0]), bias])


def test_logits_are_per_token(tokenizer):
    tagger = tiny_tagger(tokenizer)
    x = tagger.preprocessor(["Obama visits Paris", "rain"])
    assert x["token_ids"].shape == (2, 16)
    logits = tagger(x)
    assert logits.shape == (2, 16, len(TAGS))
    assert logits.dtype == "float32"
    assert tagger.tag_names == TAGS


def test_default_loss_ignores_unlabelled_positions(tokenizer):
    tagger = tiny_tagger(tokenizer)
    x = tagger.preprocessor(["Obama visits Paris", "rain"])
    labels = np.full(x["token_ids"].shape, -100, "int32")
    labels[0, 1:4] = [3, 0, 1]
    labels[1, 1] = 0
    logits = np.asarray(tagger(x))
    log_probs = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    mask = labels != -100
    expected = -np.mean(log_probs[mask, labels[mask]])
    loss = tagger.loss(labels, logits)
    assert float(loss) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "sentences",
    [[["Obama", "visits"], ["Paris", "rains"]], ["Obama visits", "Paris rains"]],
    ids=["word lists", "strings"],
)
def test_sentences_of_equal_lengths_fit_and_predict_as_ragged_ones(
    tokenizer, sentences
):
    # Keras made them one dense tensor, which the preprocessor refused ("y
    # must hold one tag id per word ... not a dense tensor").
    tagger = tiny_tagger(tokenizer)
    tagger.compile(optimizer=keras.optimizers.SGD(0.0))  # moves nothing
    tags = [[3, 0], [1, 0]]
    ragged = tf.ragged.constant([["Obama", "visits"], ["Paris", "rains"]])
    expected = tagger.evaluate(ragged, tf.ragged.constant(tags), verbose=0)
    history = tagger.fit(sentences, tags, shuffle=False, verbose=0).history
    assert history["loss"][0] == pytest.approx(expected[0], rel=1e-5)
    assert tagger.evaluate(sentences, tags, verbose=0) == pytest.approx(expected)
    np.testing.assert_allclose(
        tagger.predict(sentences, verbose=0), tagger.predict(ragged, verbose=0)
    )


def test_fit_learns_the_training_entities(tokenizer):
    keras.utils.set_random_seed(0)
    tagger = tiny_tagger(tokenizer)
    tagger.compile(optimizer=keras.optimizers.Adam(3e-3))
    dataset = make_tagging_dataset(
        SENTENCES, tag_ids(SENTENCE_TAGS), tokenizer, batch_size=4, max_length=32
    )
    history = tagger.fit(dataset.repeat(60), epochs=1, verbose=0).history
    assert history["token_accuracy"][-1] > 0.5
    predicted = predict_tags(tagger, SENTENCES)
    assert predicted["tags"] == SENTENCE_TAGS
    entities = predict_entities(tagger, [" ".join(SENTENCES[3])])[0]["entities"]
    assert entities == [
        {"type": "PER", "start": 0, "end": 1, "text": "Merkel"},
        {"type": "LOC", "start": 3, "end": 5, "text": "New York"},
    ]


def test_a_weight_per_sentence_weighs_each_of_its_positions(tokenizer):
    # Keras compared (sentences,) weights with (sentences, length) labels.
    tagger = tiny_tagger(tokenizer)
    tagger.compile(optimizer=keras.optimizers.SGD(0.0))
    tags = tag_ids(SENTENCE_TAGS)
    weights = np.array([2.0, 0.0, 1.0, 0.5], "float32")
    per_position = np.repeat(weights[:, None], 32, axis=1)
    by_sentence = tagger.evaluate(SENTENCES, tags, sample_weight=weights, verbose=0)
    by_position = tagger.evaluate(
        SENTENCES, tags, sample_weight=per_position, verbose=0
    )
    unweighted = tagger.evaluate(SENTENCES, tags, verbose=0)
    assert by_sentence == pytest.approx(by_position, rel=1e-5)
    assert by_sentence[0] != pytest.approx(unweighted[0], rel=1e-3)
    history = tagger.fit(
        SENTENCES, tags, sample_weight=weights, batch_size=4, shuffle=False, verbose=0
    ).history
    assert history["loss"][0] == pytest.approx(by_sentence[0], rel=1e-5)
    # Keras' class_weight read each sentence's tags as one-hot rows.
    with pytest.raises(ValueError, match=r"no class_weight.*class_weight=\{0: 2\.0\}"):
        tagger.fit(SENTENCES, tags, class_weight={0: 2.0})


def test_predict_entities_reads_conlleval_spans(tokenizer):
    tagger = tiny_tagger(tokenizer)
    # Every word I-PER: one entity over the whole sentence, as conlleval reads
    # an I- that follows nothing.
    force_tag(tagger, "I-PER")
    result = predict_entities(tagger, ["Barack  Obama\tspeaks", ""])
    assert result[0]["words"] == ["Barack", "Obama", "speaks"]
    assert result[0]["tags"] == ["I-PER", "I-PER", "I-PER"]
    assert result[0]["entities"] == [
        {"type": "PER", "start": 0, "end": 3, "text": "Barack Obama speaks"}
    ]
    assert result[1] == {"words": [], "tags": [], "truncated": [], "entities": []}
    # Every word B-LOC: one entity per word.
    force_tag(tagger, "B-LOC")
    result = predict_entities(tagger, [["New", "York"]])
    assert [(e["start"], e["end"]) for e in result[0]["entities"]] == [(0, 1), (1, 2)]


def test_truncated_words_are_reported_as_o(tokenizer):
    tagger = tiny_tagger(tokenizer, sequence_length=6)
    force_tag(tagger, "B-PER")
    # 4 pieces fit: "obama @ paul ##walk"; the two last words are cut off.
    result = predict_tags(tagger, ["Obama @paulwalk visits Paris"])
    assert result["tags"] == [["B-PER", "B-PER", "O", "O"]]
    assert result["truncated"] == [[False, False, True, True]]
    # A larger max_length than the preprocessor's is honoured.
    result = predict_tags(tagger, ["Obama @paulwalk visits Paris"], max_length=16)
    assert result["truncated"] == [[False] * 4]


def test_evaluate_tagger_scores_predictions(tokenizer):
    from tftransformer.data import TaggingData

    tagger = tiny_tagger(tokenizer)
    force_tag(tagger, "O")
    data = TaggingData(SENTENCES, SENTENCE_TAGS, TAGS)
    report, predicted = evaluate_tagger(tagger, data)
    assert predicted == [["O"] * len(s) for s in SENTENCES]
    assert report.micro["support"] == 8
    assert report.micro["f1"] == 0.0
    assert report.token_accuracy == pytest.approx(8 / 19)


def test_calibration_fits_one_temperature_over_labelled_tokens(tokenizer):
    from tftransformer.data import TaggingData
    from tftransformer.evaluation import EntityReport, fit_temperature
    from tftransformer.training import calibrate_classifier

    tagger = tiny_tagger(tokenizer)
    # A random head with large logits: confident and mostly wrong.
    dense = tagger.output_dense
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 5.0, dense.get_weights()[0].shape).astype("float32")
    dense.set_weights([kernel, np.zeros(len(TAGS), "float32")])
    dataset = make_tagging_dataset(
        SENTENCES, tag_ids(SENTENCE_TAGS), tokenizer, batch_size=3, shuffle=False
    )
    temperature = calibrate_classifier(tagger, dataset)
    assert tagger.temperature == temperature > 1
    # Fitted on the words' first pieces only: padding, [CLS], [SEP] and
    # later pieces (labelled -100) are left out.
    word_logits = np.concatenate(predict_tags(tagger, SENTENCES)["logits"])
    assert temperature == pytest.approx(
        fit_temperature(word_logits, np.concatenate(tag_ids(SENTENCE_TAGS))),
        rel=1e-3,
    )
    report, _ = evaluate_tagger(tagger, TaggingData(SENTENCES, SENTENCE_TAGS, TAGS))
    calibration = report.calibration
    assert calibration["temperature"] == temperature
    assert sum(calibration["before"]["bins"]["count"]) == 19  # one per word
    assert calibration["after"]["nll"] < calibration["before"]["nll"]
    again = EntityReport.from_dict(report.to_dict())
    assert again.calibration["after"]["ece"] == calibration["after"]["ece"]
    assert "expected calibration error" in again.format()


@pytest.mark.parametrize("num_extra_blocks", [0, 1])
def test_save_and_load_keeps_tags_and_tokenizer(tokenizer, tmp_path, num_extra_blocks):
    tagger = tiny_tagger(tokenizer, num_extra_blocks=num_extra_blocks, temperature=1.7)
    assert len(tagger.extra_blocks) == num_extra_blocks
    path = str(tmp_path / "tagger.keras")
    tagger.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, TokenClassifier)
    assert loaded.tag_names == TAGS
    assert loaded.num_extra_blocks == num_extra_blocks
    assert isinstance(loaded.preprocessor, TokenClassifierPreprocessor)
    assert loaded.preprocessor.sequence_length == 32
    x = tagger.preprocessor(["Obama visits Paris"])
    np.testing.assert_allclose(loaded(x), tagger(x), atol=1e-6)
    assert loaded.temperature == 1.7
    # The reloaded model predicts with its own saved tokenizer.
    expected = predict_tags(tagger, ["Obama visits Paris"])
    result = predict_tags(loaded, ["Obama visits Paris"])
    for key in ("words", "tags", "truncated"):
        assert result[key] == expected[key]
    # Calibrated probabilities: softmax(logits / 1.7) at each first piece.
    logits = expected["logits"][0]
    calibrated = np.exp(logits / 1.7) / np.exp(logits / 1.7).sum(-1, keepdims=True)
    np.testing.assert_allclose(result["probabilities"][0], calibrated, atol=1e-5)


def test_preprocessor_aligns_labels_in_a_pipeline(tokenizer):
    preprocessor = TokenClassifierPreprocessor(tokenizer, sequence_length=16)
    dataset = tf.data.Dataset.from_tensor_slices(
        (
            tf.constant(["Obama visits Paris", "@paulwalk hi"]),
            tf.ragged.constant([[3, 0, 1], [3, 0]]),
        )
    ).batch(2)
    x, y = next(iter(dataset.map(preprocessor)))
    assert y.numpy().tolist()[0][:5] == [-100, 3, 0, 1, -100]
    # "@paulwalk" is "@", "paul", "##walk": only the first piece is labelled.
    assert y.numpy().tolist()[1][:6] == [-100, 3, -100, -100, 0, -100]
    assert x["token_ids"].shape == (2, 16)
    config = preprocessor.get_config()
    assert config["sequence_length"] == 16
    assert TokenClassifierPreprocessor.from_config(config).pad_to_multiple_of == 16


def test_fine_tuning_strategies_find_the_backbone(tokenizer):
    tagger = tiny_tagger(tokenizer)
    frozen = freeze_layers(tagger, 1)
    assert frozen
    assert tagger.output_dense.trainable


def test_arguments_are_checked(tokenizer):
    backbone = tiny_tagger(tokenizer).backbone
    with pytest.raises(ValueError, match="num_tags must be an integer >= 2"):
        TokenClassifier(backbone, num_tags=1)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        TokenClassifier(backbone, num_tags=3, dropout=1.0)
    with pytest.raises(ValueError, match="num_extra_blocks=-1"):
        TokenClassifier(backbone, num_tags=3, num_extra_blocks=-1)
    with pytest.raises(ValueError, match="tag_names must hold 3 distinct"):
        TokenClassifier(backbone, num_tags=3, tag_names=["O", "B-X"])
    with pytest.raises(ValueError, match="temperature=0"):
        TokenClassifier(backbone, num_tags=3, temperature=0)
    with pytest.raises(ValueError, match="sequence_length must be an integer >= 2"):
        TokenClassifierPreprocessor(tokenizer, sequence_length=1)
    tagger = TokenClassifier(backbone, num_tags=len(TAGS))
    with pytest.raises(ValueError, match="pass `tokenizer=`"):
        predict_tags(tagger, ["a b"])
    with pytest.raises(ValueError, match="pass `tag_names=`"):
        predict_tags(tagger, ["a b"], tokenizer=tokenizer)


@pytest.mark.parametrize(
    "empty, length",
    [
        ([], 0),
        (np.array([], dtype=str), 0),
        (
            {
                "token_ids": np.zeros((0, 16), "int32"),
                "padding_mask": np.zeros((0, 16), bool),
                "segment_ids": np.zeros((0, 16), "int32"),
            },
            16,
        ),
    ],
    ids=["list", "array", "features"],
)
def test_predict_on_no_sentences_is_an_empty_result(tokenizer, empty, length):
    # Keras' predict fails on no batches. No texts pad to length 0 (what the
    # preprocessor gives for them); features keep their own length.
    tagger = tiny_tagger(tokenizer)
    logits = tagger.predict(empty, verbose=0)
    assert logits.shape == (0, length, len(TAGS))
    assert logits.dtype == np.float32
    assert tagger.predict(["Obama visits Paris"], verbose=0).shape == (1, 16, len(TAGS))


@pytest.mark.parametrize("num_extra_blocks", [0, 1])
def test_packed_rows_tag_each_sentence_as_if_alone(tokenizer, num_extra_blocks):
    tagger = tiny_tagger(tokenizer, num_extra_blocks=num_extra_blocks)
    # A random init gives nearly the same logits everywhere; a wider head
    # makes them differ, so that equality means something.
    kernel = tagger.output_dense.kernel
    kernel.assign(np.random.default_rng(0).normal(size=kernel.shape) * 3.0)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(
        from_logits=True, ignore_class=IGNORE_LABEL, reduction="sum"
    )

    def labelled_logits_loss_and_gradients(pack):
        # Unpacked: one padded batch of every sentence; packed (in input
        # order, without shuffling): rows of 32 tokens, two rows a batch.
        dataset = make_tagging_dataset(
            SENTENCES,
            tag_ids(SENTENCE_TAGS),
            tokenizer,
            batch_size=2 if pack else len(SENTENCES),
            max_length=32,
            shuffle=False,
            pack=pack,
        )
        logits, total, gradients, rows = [], 0.0, None, 0
        for features, labels in dataset:
            if pack:
                assert features["token_ids"].shape[1] == 32
            rows += int(features["token_ids"].shape[0])
            with tf.GradientTape() as tape:
                batch = tagger(features, training=False)
                loss = loss_fn(labels, batch)
            grads = tape.gradient(loss, tagger.trainable_variables)
            grads = [tf.convert_to_tensor(g) for g in grads]
            gradients = (
                grads
                if gradients is None
                else [a + b for a, b in zip(gradients, grads)]
            )
            logits.append(tf.boolean_mask(batch, labels != IGNORE_LABEL))
            total += float(loss)
        return tf.concat(logits, 0).numpy(), total, gradients, rows

    unpacked = labelled_logits_loss_and_gradients(pack=False)
    packed = labelled_logits_loss_and_gradients(pack=True)
    # Several sentences shared a row, and each word's first piece got the
    # logits it gets alone, in the same order.
    assert packed[3] < unpacked[3] == len(SENTENCES)
    assert len(packed[0]) == sum(len(s) for s in SENTENCES)
    np.testing.assert_allclose(packed[0], unpacked[0], atol=1e-5)
    assert packed[1] == pytest.approx(unpacked[1], rel=1e-5)
    for a, b in zip(packed[2], unpacked[2], strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


def test_fit_on_packed_rows_learns_the_training_entities(tokenizer):
    # As `test_fit_learns_the_training_entities`, on rows of packed sentences.
    keras.utils.set_random_seed(0)
    tagger = tiny_tagger(tokenizer)
    tagger.compile(optimizer=keras.optimizers.Adam(3e-3))
    dataset = make_tagging_dataset(
        SENTENCES,
        tag_ids(SENTENCE_TAGS),
        tokenizer,
        batch_size=2,
        max_length=32,
        pack=True,
    )
    history = tagger.fit(dataset.repeat(60), epochs=1, verbose=0).history
    assert history["token_accuracy"][-1] > 0.5
    # Tagged one sentence a row, as they were not packed.
    assert predict_tags(tagger, SENTENCES)["tags"] == SENTENCE_TAGS
