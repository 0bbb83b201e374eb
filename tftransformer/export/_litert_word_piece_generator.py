"""The shared part of the LiteRT modules that generate WordPiece tokens from
one raw prompt (`LiteRTCausalLMModule`, `LiteRTSeq2SeqTransformerModule`)."""

import keras_hub
import tensorflow as tf
import tensorflow_text as tf_text

from tftransformer.export.generator_serving_module import PROMPT_INPUT
from tftransformer.export.litert_tokenizer import as_litert_tokenizer

__all__ = ["LiteRTWordPieceGenerator"]


class LiteRTWordPieceGenerator(tf.Module):
    """A `tf.Module` whose `serve` generates from one raw prompt (batch size
    1) and detokenizes with `FastWordpieceTokenizer`, as keras-hub's
    WordPiece tokenizer does, but for a text that starts with a `##` piece
    (a continuation that goes on with the prompt's last word): it starts
    with the piece's word, as the SavedModel joins it. The detokenizer's
    vocabulary has a word for each such piece, which a text's first piece
    is mapped to. Subclasses define `_serve(prompt)`.

    Args:
        model: the float32 generator.
        tokenizer: the prompt's tokenizer, or a `LiteRTTokenizer` of it.
        max_length: int, the generation's length in tokens.
        special_token_ids: `(start_token_id, end_token_id, pad_token_id)`
            of the generated vocabulary (`end_token_id` None: no end
            token).
        output_tokenizer: the keras-hub `WordPieceTokenizer` of the
            generated vocabulary.
        output_vocabulary: optional list, the detokenizer's vocabulary
            (defaults to `output_tokenizer`'s).
    """

    inputs = (PROMPT_INPUT,)

    def __init__(
        self,
        model,
        tokenizer,
        max_length,
        special_token_ids,
        output_tokenizer,
        output_vocabulary=None,
    ):
        super().__init__()
        if not isinstance(output_tokenizer, keras_hub.tokenizers.WordPieceTokenizer):
            raise ValueError(
                f"A {type(model).__name__}'s LiteRT export detokenizes with "
                "FastWordpieceTokenizer: give its keras-hub WordPieceTokenizer. "
                f"Received: tokenizer of class {type(output_tokenizer).__name__}"
            )
        self._tokenizer = as_litert_tokenizer(tokenizer)
        self._model = model
        self._max_length = int(max_length)
        vocabulary, self._first_ids = _words_of_suffixes(
            output_vocabulary or output_tokenizer.get_vocabulary(),
            output_tokenizer.suffix_indicator,
        )
        self._detokenizer = tf_text.FastWordpieceTokenizer(
            vocab=vocabulary,
            suffix_indicator=output_tokenizer.suffix_indicator,
            unknown_token=output_tokenizer.oov_token,
            no_pretokenization=True,
            support_detokenization=True,
        )
        start, end, pad = special_token_ids
        self._start_id, self._pad_id = int(start), int(pad)
        self._end_id = -1 if end is None else int(end)
        self.model_variables = list(model.variables)
        spec = tf.TensorSpec([1], tf.string, name=PROMPT_INPUT)
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, prompt):
        raise NotImplementedError

    def _detokenize(self, tokens, keep):
        """The text of the tokens `(1, length)` where `keep` is true."""
        # The first kept piece, if a `##` one, as its word.
        first = keep & (tf.cumsum(tf.cast(keep, tf.int32), axis=1) == 1)
        tokens = tf.where(first, tf.gather(self._first_ids, tokens), tokens)
        # FastWordpieceDetokenize takes int64 row splits.
        counts = tf.reduce_sum(tf.cast(keep, tf.int64), axis=1)
        ids = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(tokens, keep), counts, validate=False
        )
        return self._detokenizer.detokenize(ids)


def _words_of_suffixes(vocabulary, suffix):
    """The vocabulary with a word for each suffix piece that has none
    (`"##ing"`: `"ing"`), and each id's id as a text's first piece.

    Returns:
        `(vocabulary, first_ids)`: the longer vocabulary (a list) and an
        int32 constant mapping each id to the id of its piece's word (its
        own for a word).
    """
    vocabulary = list(vocabulary)
    ids = {token: i for i, token in enumerate(vocabulary)}
    first_ids = list(range(len(vocabulary)))
    for i, token in enumerate(list(vocabulary)):
        word = token[len(suffix) :]
        if not token.startswith(suffix) or not word:
            continue
        if word not in ids:
            ids[word] = len(vocabulary)
            vocabulary.append(word)
        first_ids[i] = ids[word]
    return vocabulary, tf.constant(first_ids, tf.int32)
