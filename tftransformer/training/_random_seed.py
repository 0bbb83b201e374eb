"""Seeding that keeps keras-hub SentencePiece tokenizers usable."""

import keras
import keras_hub

__all__ = ["set_random_seed"]


def set_random_seed(seed, tokenizers=()):
    """`keras.utils.set_random_seed`, then rebuilds the TF Text resource of
    each SentencePiece tokenizer given.

    TensorFlow's `tf.random.set_seed` clears the kernel cache, and with it
    the resource a keras-hub `SentencePieceTokenizer` (ALBERT, DeBERTa-v3,
    XLM-RoBERTa, T5) built before holds: its next traced call fails with
    "Resource .../SentencepieceResource does not exist"
    (tensorflow/text#570). `set_proto` builds the resource again.

    Args:
        seed: int, the seed.
        tokenizers: keras-hub tokenizers built before the call; the others
            than SentencePiece ones are left as they are.
    """
    keras.utils.set_random_seed(seed)
    for tokenizer in tokenizers:
        if isinstance(tokenizer, keras_hub.tokenizers.SentencePieceTokenizer):
            if tokenizer.proto is not None:
                tokenizer.set_proto(tokenizer.proto)
