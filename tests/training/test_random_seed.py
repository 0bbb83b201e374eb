"""Seeding after a SentencePiece tokenizer was built (tensorflow/text#570)."""

import keras
import keras_hub
import pytest
import tensorflow as tf

from tftransformer.testing import write_tiny_preset
from tftransformer.training._random_seed import set_random_seed


def test_a_seed_keeps_the_tokenizers_given_usable(tmp_path):
    preset = write_tiny_preset("xlm_roberta", tmp_path / "preset")
    tokenizer = keras_hub.models.XLMRobertaTokenizer.from_preset(preset)
    texts = tf.constant(["the movie was great", ""])
    expected = tf.function(tokenizer.tokenize)(texts).to_list()
    # Keras' own seeding loses the tokenizer's TF Text resource: the reason
    # for the helper.
    keras.utils.set_random_seed(0)
    with pytest.raises(tf.errors.NotFoundError, match="SentencepieceResource"):
        tf.function(tokenizer.tokenize)(texts)
    set_random_seed(0, [tokenizer])
    assert tf.function(tokenizer.tokenize)(texts).to_list() == expected
    set_random_seed(1, [keras_hub.tokenizers.WordPieceTokenizer(["[UNK]", "a"])])
