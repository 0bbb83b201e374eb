"""A `tf.Module` continuing one raw prompt with a tftransformer `CausalLM`, in
ops a LiteRT export runs."""

import tensorflow as tf

from tftransformer.export._litert_word_piece_generator import LiteRTWordPieceGenerator
from tftransformer.export.litert_tokenizer import as_litert_tokenizer

__all__ = ["LiteRTCausalLMModule"]


class LiteRTCausalLMModule(LiteRTWordPieceGenerator):
    """Greedy continuation of one raw prompt, in LiteRT-compatible ops.

    The prompt is tokenized with `FastBertTokenizer` (see
    `LiteRTTokenizer`) after the start token, cut to `max_length - 1`
    pieces; the model reads it once, then one token at a time
    (`CausalLM.call_with_cache` with one cache per layer: LiteRT slices at
    most 5-D tensors) in a `tf.while_loop`, taking the most likely token,
    until the end token or `max_length` tokens; `FastWordpieceTokenizer`
    detokenizes, as keras-hub's WordPiece tokenizer does. That is what
    `export_generator`'s SavedModel answers with the greedy sampler. One
    prompt per call, as `LiteRTSeq2SeqModule` (see there).

    Args:
        model: a float32 `tftransformer.models.CausalLM`.
        tokenizer: its keras-hub `WordPieceTokenizer`, or a `LiteRTTokenizer`
            of it.
        max_length: int, the prompt and its continuation in tokens.
        start_token_id, end_token_id, pad_token_id: its special token ids
            (`end_token_id` None: no end token, generation runs to
            `max_length`).
    """

    def __init__(
        self, model, tokenizer, max_length, start_token_id, end_token_id, pad_token_id
    ):
        tokenizer = as_litert_tokenizer(tokenizer)
        specials = (start_token_id, end_token_id, pad_token_id)
        super().__init__(
            model, tokenizer, max_length, specials, tokenizer.keras_tokenizer
        )

    def _next_token(self, token_ids, caches, index, position=0):
        logits, caches = self._model.call_with_cache(token_ids, caches, index)
        logits = tf.gather(logits, position, axis=1)  # (1, vocabulary)
        # tf.argmax: Keras' argmax adds bitwise ops LiteRT lacks.
        return tf.argmax(logits, axis=-1, output_type=tf.int32), caches

    def _serve(self, prompt):
        model = self._model
        pieces = self._tokenizer.tokenize(prompt)  # ragged (1, (pieces))
        # Fixed shapes: the start token, the pieces, padding. (An empty
        # prompt's zero-width pieces went wrong in LiteRT.)
        limit = self._max_length - 1
        body = pieces.to_tensor(default_value=self._pad_id, shape=[1, limit])
        tokens = tf.concat([[[self._start_id]], body], axis=1)
        length = 1 + tf.minimum(tf.cast(pieces.row_lengths()[0], tf.int32), limit)
        caches = model.build_cache(1, self._max_length, per_layer=True)
        # The whole row fills the caches, as in the SavedModel; each position
        # after the prompt is written again before any later one reads it.
        token, caches = self._next_token(tokens, caches, 0, length - 1)
        columns = tf.range(self._max_length)[tf.newaxis, :]

        def step(index, tokens, token, ended, caches):
            tokens = tf.where(columns == index, token[:, tf.newaxis], tokens)
            ended = ended | (token == self._end_id)
            # At the last position, computes a token never kept.
            token, caches = self._next_token(token[:, tf.newaxis], caches, index)
            return index + 1, tokens, token, ended, caches

        index, tokens, _, _, _ = tf.while_loop(
            lambda index, tokens, token, ended, caches: (
                (index < self._max_length) & ~tf.reduce_all(ended)
            ),
            step,
            (length, tokens, token, tf.constant([False]), caches),
        )
        # Written positions before the first generated end token, specials
        # left out.
        ended = (tokens == self._end_id) & (columns >= length)
        keep = (columns < index) & (tf.cumsum(tf.cast(ended, tf.int32), axis=1) == 0)
        for special in {self._start_id, self._end_id, self._pad_id}:
            keep = keep & (tokens != special)

        return {
            "text": self._detokenize(tokens, keep),
            "completion": self._detokenize(tokens, keep & (columns >= length)),
        }
