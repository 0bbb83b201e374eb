"""`seq2seq_translator`: a trained `Seq2SeqTransformer` as a text callable."""

import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int
from tftransformer.data.sequence_datasets import join_word_pieces
from tftransformer.models.decoding import beam_search

__all__ = ["seq2seq_translator"]


def seq2seq_translator(
    model,
    source_vocabulary,
    target_vocabulary,
    max_length=24,
    beam_width=1,
    length_penalty=0.6,
    batch_size=64,
):
    """Wraps a `Seq2SeqTransformer` from `examples/translate.py` as a callable.

    Texts are tokenized as the example does (lowercased, accents kept, its
    WordPiece vocabulary) and cut to `max_length` tokens; translations are
    decoded greedily (`beam_width=1`) or with beam search, and returned as
    lowercase words and punctuation joined by spaces.

    Args:
        model: a `Seq2SeqTransformer`, or the path of its `model.keras`.
        source_vocabulary: list of tokens, or the path of
            `source_vocabulary.txt` (one token per line).
        target_vocabulary: the same for the target language; it must hold
            `[START]` and `[END]`.
        max_length: int >= 2, the longest source and output, in tokens.
        beam_width: positive int; 1 decodes greedily.
        length_penalty: beam search's length normalization exponent.
        batch_size: positive int, sentences decoded at once.

    Returns:
        A callable `list of str -> list of str`, for `back_translate`.

    Example:
    ```python
    en_es = seq2seq_translator("runs/translate/model.keras",
        "runs/translate/source_vocabulary.txt",
        "runs/translate/target_vocabulary.txt")
    en_es(["Blessed are the peacemakers."])
    ```
    """
    check_int("beam_width", beam_width, 1)
    check_int("batch_size", batch_size, 1)
    check_int("max_length", max_length, 2)
    if isinstance(model, (str, os.PathLike)):
        model = keras.saving.load_model(os.fspath(model))
    source_vocabulary = _read_vocabulary(source_vocabulary, "source_vocabulary")
    target_vocabulary = _read_vocabulary(target_vocabulary, "target_vocabulary")
    missing = [t for t in ("[START]", "[END]") if t not in target_vocabulary]
    if missing:
        raise ValueError(
            f"target_vocabulary must hold [START] and [END]. Missing: {missing}"
        )
    pad = target_vocabulary.index("[PAD]") if "[PAD]" in target_vocabulary else 0
    start_id = target_vocabulary.index("[START]")
    end_id = target_vocabulary.index("[END]")
    tokenizer = keras_hub.tokenizers.WordPieceTokenizer(
        vocabulary=source_vocabulary,
        lowercase=True,
        strip_accents=False,
        oov_token="[UNK]" if "[UNK]" in source_vocabulary else source_vocabulary[1],
        dtype="int32",
    )

    def translate(texts):
        outputs = []
        for begin in range(0, len(texts), batch_size):
            ids = tokenizer(tf.constant(texts[begin : begin + batch_size]))
            # keras-hub returns lists when called eagerly, ragged tensors in
            # graphs.
            ids = ids.to_list() if hasattr(ids, "to_list") else ids
            rows = [list(row)[:max_length] for row in ids]
            width = max(1, max(len(row) for row in rows))
            batch = np.zeros((len(rows), width), "int32")
            for i, row in enumerate(rows):
                batch[i, : len(row)] = row
            if beam_width == 1:
                decoded = model.greedy_decode(batch, start_id, end_id, max_length)
            else:
                decoded = beam_search(
                    model,
                    batch,
                    start_id,
                    end_id,
                    max_length=max_length,
                    beam_width=beam_width,
                    length_penalty=length_penalty,
                )
            for row in np.asarray(decoded):
                outputs.append(
                    join_word_pieces(
                        row.tolist(), target_vocabulary, end_id, (pad, start_id)
                    )
                )
        return outputs

    return translate


def _read_vocabulary(vocabulary, name):
    if isinstance(vocabulary, (str, os.PathLike)):
        with open(vocabulary, encoding="utf-8") as f:
            vocabulary = [line.rstrip("\n") for line in f]
    vocabulary = [str(token) for token in vocabulary]
    if not vocabulary:
        raise ValueError(f"{name} must not be empty.")
    return vocabulary
