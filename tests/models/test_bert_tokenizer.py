import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.models import BertTokenizer
from tftransformer.presets import embedded_tokenizer, load_backbone


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def pieces(tokenizer, text):
    return [tokenizer.id_to_token(int(i)) for i in np.asarray(tokenizer(text))]


# As Hugging Face's BERT tokenizer cleans text: space separators are spaces,
# control and format characters are deleted.
@pytest.mark.parametrize(
    "text, same_as",
    [
        ("nice\u00a0film", "nice film"),  # no-break space
        ("a\u2009b\u3000c", "a b c"),  # thin and ideographic spaces
        ("zero\u200bwidth", "zerowidth"),  # zero-width space
        ("co\u00adoperate", "cooperate"),  # soft hyphen
        ("x\u200dy", "xy"),  # zero-width joiner
        ("x\x00y\ufffdz", "xyz"),  # NUL, replacement character
        ("tab\there\nand\rthere", "tab here and there"),
    ],
)
def test_cleans_text_as_hugging_face(tokenizer, text, same_as):
    assert pieces(tokenizer, text) == pieces(tokenizer, same_as)
    # keras-hub alone reads it otherwise (one [UNK], or split words).
    plain = keras_hub.models.BertTokenizer(
        vocabulary=tokenizer.get_vocabulary(), lowercase=True, strip_accents=True
    )
    if "\t" not in text:
        assert pieces(plain, text) != pieces(plain, same_as)


def as_lists(ids):
    return ids.to_list() if hasattr(ids, "to_list") else [list(row) for row in ids]


def test_batches_ragged_words_and_tf_data(tokenizer):
    batch = tokenizer(tf.constant(["nice\u00a0film", "b"]))
    assert as_lists(batch) == as_lists(tokenizer(tf.constant(["nice film", "b"])))
    words = tokenizer(tf.ragged.constant([["nice\u00a0", "film"]]))
    expected = tokenizer(tf.ragged.constant([["nice", "film"]]))
    assert [as_lists(row) for row in words] == [as_lists(row) for row in expected]
    dataset = tf.data.Dataset.from_tensor_slices(["nice\u00a0film"]).map(tokenizer)
    assert [ids.numpy().tolist() for ids in dataset] == [
        np.asarray(tokenizer("nice film")).tolist()
    ]


def test_the_library_tokenizes_with_it(tokenizer):
    assert type(tokenizer) is BertTokenizer
    _, preprocessor = load_backbone("embedded", sequence_length=16)
    assert type(preprocessor.tokenizer) is BertTokenizer
    assert preprocessor.tokenizer.strip_accents and preprocessor.tokenizer.lowercase
    again = BertTokenizer.from_keras_hub(preprocessor.tokenizer, lowercase=False)
    assert not again.lowercase and again.vocabulary_size() == 30522
    with pytest.raises(ValueError, match="Received: str"):
        BertTokenizer.from_keras_hub("vocab.txt")


@pytest.mark.parametrize("preset", ["embedded", "tiny"])
def test_a_preset_makes_its_tokenizer_as_this_class(preset, tiny_preset, monkeypatch):
    # Hugging Face (the embedded checkpoint) and keras-hub (the tiny preset)
    # formats: no keras-hub BertTokenizer made and copied on the way.
    made = []
    init = keras_hub.models.BertTokenizer.__init__

    def counting_init(self, *args, **kwargs):
        made.append(type(self))
        init(self, *args, **kwargs)

    monkeypatch.setattr(keras_hub.models.BertTokenizer, "__init__", counting_init)
    path = tiny_preset if preset == "tiny" else preset
    _, preprocessor = load_backbone(path, sequence_length=16)
    assert made == [BertTokenizer]
    assert type(preprocessor.tokenizer) is BertTokenizer
    assert preprocessor.tokenizer.lowercase
    assert preprocessor.tokenizer.vocabulary_size() == 30522
    assert type(BertTokenizer.from_preset(path)) is BertTokenizer
    assert made == [BertTokenizer, BertTokenizer]


def test_tokenizers_of_one_vocabulary_share_its_built_model(tokenizer):
    # Loading a preset sets its vocabulary twice (the tokenizer, then the
    # preprocessor loading its assets again): one model built.
    _, first = load_backbone("embedded", sequence_length=16)
    _, second = load_backbone("embedded", sequence_length=16)
    shared = first.tokenizer._fast_word_piece
    assert shared is second.tokenizer._fast_word_piece
    assert shared is tokenizer._fast_word_piece
    vocabulary = tokenizer.get_vocabulary()
    # The pieces are plain Python data, no tracked wrappers.
    assert type(first.tokenizer.vocabulary) is list
    assert first.tokenizer.vocabulary == vocabulary
    assert type(first.tokenizer._token_to_id_map) is dict
    # And they tokenize as a tokenizer that built its own.
    texts = ["A naïve, nice film!", "unaffable xylophones", "[SEP] 1999"]
    fresh = keras_hub.models.BertTokenizer(
        vocabulary=vocabulary, lowercase=True, strip_accents=True
    )
    assert as_lists(first.tokenizer(texts)) == as_lists(fresh(texts))
    # Another vocabulary or unknown token builds its own.
    other = BertTokenizer(vocabulary=vocabulary[:3000], lowercase=True)
    assert other._fast_word_piece is not shared
    assert other.vocabulary_size() == 3000
    renamed = BertTokenizer(
        vocabulary=["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "<unk>", "a"],
        oov_token="<unk>",
    )
    plain = BertTokenizer(
        vocabulary=["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]", "<unk>", "a"]
    )
    assert renamed._fast_word_piece is not plain._fast_word_piece
    assert as_lists(renamed(["a b"])) == [[6, 5]]
    assert as_lists(plain(["a b"])) == [[6, 4]]


def test_a_vocabulary_set_in_a_graph_builds_its_own_model(tokenizer):
    vocabulary = tokenizer.get_vocabulary()

    @tf.function
    def tokenize(text):
        inner = BertTokenizer(vocabulary=vocabulary, lowercase=True)
        assert inner._fast_word_piece is not tokenizer._fast_word_piece
        return inner(text)

    ids = tokenize(tf.constant(["nice film"]))
    assert as_lists(ids) == as_lists(tokenizer(tf.constant(["nice film"])))
