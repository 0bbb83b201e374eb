import keras
import keras_hub
import numpy as np
import pytest

from tftransformer.models import TextClassifier, TextClassifierPreprocessor
from tftransformer.testing import tiny_bert_backbone

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "the",
    "movie",
    "was",
    "great",
    "awful",
    "a",
    "fine",
    "film",
    "dull",
    "mess",
]
TEXTS = ["the movie was great", "awful", "a fine film", "a dull mess the movie was"]
LABELS = np.array([1, 0, 1, 0])


def tiny_backbone():
    return tiny_bert_backbone(vocabulary_size=len(VOCAB))


def tiny_preprocessor(**kwargs):
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    return TextClassifierPreprocessor(tokenizer, sequence_length=16, **kwargs)


@pytest.mark.parametrize("multiple, expected_len", [(None, 7), (1, 7), (4, 8)])
def test_preprocessor_pads_to_longest(multiple, expected_len):
    # [CLS] awful [SEP] is 3 tokens; [CLS] a dull mess the movie [SEP] is 7.
    texts = ["awful", "a dull mess the movie"]
    x = tiny_preprocessor(pad_to_multiple_of=multiple)(texts)
    assert x["token_ids"].shape == (2, expected_len)
    assert int(np.asarray(x["padding_mask"]).sum()) == 3 + 7


def test_preprocessor_truncates_and_can_pad_fixed():
    long_text = " ".join(["great"] * 100)
    x = tiny_preprocessor()([long_text])
    assert x["token_ids"].shape == (1, 16)
    assert int(np.asarray(x["token_ids"])[0, -1]) == VOCAB.index("[SEP]")
    fixed = tiny_preprocessor(dynamic_padding=False)(["awful"])
    assert fixed["token_ids"].shape == (1, 16)


@pytest.mark.parametrize(
    "bad", [{"sequence_length": 1}, {"pad_to_multiple_of": 0}, {"pair_separators": 0}]
)
def test_preprocessor_rejects_bad_arguments(bad):
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    kwargs = {"sequence_length": 16, **bad}
    with pytest.raises(ValueError, match=str(list(bad.values())[0])):
        TextClassifierPreprocessor(tokenizer, **kwargs)


def test_fit_on_raw_strings_save_and_reload(tmp_path):
    kwargs = {"pooling": "mean", "num_extra_blocks": 1}
    classifier = TextClassifier(
        tiny_backbone(),
        num_classes=2,
        preprocessor=tiny_preprocessor(),
        label_names=["negative", "positive"],
        **kwargs,
    )
    classifier.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = classifier.fit(TEXTS, LABELS, batch_size=4, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]
    logits = classifier.predict(TEXTS, verbose=0)
    assert logits.shape == (4, 2) and logits.dtype == np.float32

    path = tmp_path / "classifier.keras"
    classifier.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.label_names == ["negative", "positive"]
    assert reloaded.get_config()["pooling"] == kwargs["pooling"]
    np.testing.assert_allclose(
        reloaded.predict(TEXTS, verbose=0), logits, rtol=1e-5, atol=1e-5
    )


@pytest.mark.parametrize("pooling", ["cls", "max"])
def test_pooling_choice_reaches_the_head(pooling):
    classifier = TextClassifier(tiny_backbone(), num_classes=2, pooling=pooling)
    assert classifier.get_layer("pooling").mode == pooling
    features = tiny_preprocessor()(TEXTS)
    assert classifier.predict(features, verbose=0).shape == (4, 2)


def test_extra_blocks_sit_between_backbone_and_pooling():
    classifier = TextClassifier(tiny_backbone(), num_classes=3, num_extra_blocks=2)
    names = [layer.name for layer in classifier.layers]
    assert names.index("extra_block_0") < names.index("extra_block_1")
    assert names.index("extra_block_1") < names.index("pooling")
    assert classifier.output.shape == (None, 3)


def test_pretokenized_batches_skip_the_preprocessor():
    classifier = TextClassifier(
        tiny_backbone(), num_classes=2, preprocessor=tiny_preprocessor()
    )
    features = tiny_preprocessor()(TEXTS)
    np.testing.assert_allclose(
        classifier.predict(features, verbose=0),
        classifier.predict(TEXTS, verbose=0),
        rtol=1e-6,
        atol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_classes": 1}, "num_classes=1"),
        ({"num_classes": 2, "pooling": "first"}, "pooling='first'"),
        ({"num_classes": 2, "dropout": 1.5}, "dropout=1.5"),
        ({"num_classes": 2, "num_extra_blocks": -1}, "num_extra_blocks=-1"),
        ({"num_classes": 3, "label_names": ["a", "b"]}, "label_names must hold 3"),
        ({"num_classes": 3, "label_names": "abc"}, "label_names='abc'"),
        ({"num_classes": 2, "label_names": ["a", "a"]}, "distinct"),
        ({"num_classes": 2, "label_names": ["a", "b\nc"]}, "line breaks"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TextClassifier(tiny_backbone(), **kwargs)


@pytest.mark.parametrize(
    "empty",
    [[], (), np.array([], dtype=str), {"token_ids": np.zeros((0, 4), "int32")}],
    ids=["list", "tuple", "array", "features"],
)
def test_predict_on_no_texts_is_an_empty_result(empty):
    # Keras' predict fails on no batches; the exported model answers an
    # empty request with an empty result, and so does predict.
    classifier = TextClassifier(
        tiny_backbone(), num_classes=3, preprocessor=tiny_preprocessor()
    )
    logits = classifier.predict(empty, verbose=0)
    assert logits.shape == (0, 3)
    assert logits.dtype == np.float32
    assert classifier.predict(TEXTS[:2], verbose=0).shape == (2, 3)
