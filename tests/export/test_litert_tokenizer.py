"""`LiteRTTokenizer`: the WordPiece tokenizer a LiteRT model runs, and what
it cannot normalize as the Keras model's does."""

import warnings

import keras_hub
import pytest
import tensorflow as tf

from tftransformer import presets
from tftransformer.data import learn_word_piece_vocabulary, word_piece_tokenizer
from tftransformer.export.litert_tokenizer import LiteRTTokenizer, as_litert_tokenizer

TEXTS = ["él está en la casa", "The cat sat", "Ünïcode ok"]


@pytest.fixture(scope="module")
def vocabulary():
    return learn_word_piece_vocabulary(TEXTS * 5, 1)


def litert_ids(tokenizer, texts=TEXTS):
    return LiteRTTokenizer(tokenizer).tokenize(tf.constant(texts)).to_list()


def keras_ids(tokenizer, texts=TEXTS):
    return [list(ids) for ids in tokenizer(tf.constant(texts))]


def test_lowercasing_with_accents_kept_warns_and_differs_on_accents(vocabulary):
    # A learned vocabulary's tokenizer (train_causal_lm's, train_translator's)
    # lower-cases and keeps accents: FastBertTokenizer cannot.
    tokenizer = word_piece_tokenizer(vocabulary)
    with pytest.warns(UserWarning, match=r"lowercase=True, strip_accents=False"):
        ids = litert_ids(tokenizer)
    expected = keras_ids(tokenizer)
    assert ids[1] == expected[1]  # No accents: the same pieces.
    assert ids[0] != expected[0] and ids[2] != expected[2]


def test_lowercasing_and_stripping_together_tokenizes_as_keras(vocabulary):
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary, lowercase=True, strip_accents=True, oov_token="[UNK]"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ids = litert_ids(tokenizer)
    assert ids == keras_ids(tokenizer)


def test_the_embedded_tokenizer_warns_of_the_script_fast_bert_splits_otherwise():
    # keras-hub's tokenizer leaves Hangul syllables whole (one unknown
    # piece); FastBertTokenizer decomposes them into letters it knows.
    tokenizer = presets.embedded_tokenizer()
    korean = "한국어"
    with pytest.warns(UserWarning, match=r"FastBertTokenizer") as record:
        litert = LiteRTTokenizer(tokenizer, texts=["a fine film", korean])
    (warning,) = [w for w in record if "FastBertTokenizer" in str(w.message)]
    assert warning.filename == __file__  # The caller's line, not the library's.
    message = str(warning.message)
    assert "2 of 9 texts checked" in message and repr(korean) in message
    assert "from piece 10 on as [1469," in message and "gives [100, 1195" in message
    assert "'a fine film'" not in message
    expected = keras_ids(tokenizer, [korean, "a fine film"])
    received = litert.tokenize(tf.constant([korean, "a fine film"])).to_list()
    assert received[0] != expected[0] and received[1] == expected[1]


def test_a_warning_points_at_the_callers_line_however_deep_it_is_raised(
    vocabulary,
):
    # as_litert_tokenizer -> LiteRTTokenizer -> _warn_of_accents -> warn.
    with pytest.warns(UserWarning, match="strip_accents=False") as record:
        as_litert_tokenizer(word_piece_tokenizer(vocabulary))
    assert [w.filename for w in record] == [__file__]


def test_the_accents_warning_is_not_repeated_by_the_probe(vocabulary):
    # Accented probe texts differ too; the accents' warning says why, once.
    with pytest.warns(UserWarning) as record:
        LiteRTTokenizer(word_piece_tokenizer(vocabulary), texts=TEXTS)
    messages = [str(w.message) for w in record if "FastBert" in str(w.message)]
    assert len(messages) == 1 and "strip_accents=False" in messages[0]
