"""A `tf.Module` translating one raw string with a tftransformer
`Seq2SeqTransformer`, in ops a LiteRT export runs."""

import tensorflow as tf

from tftransformer.export._litert_word_piece_generator import LiteRTWordPieceGenerator
from tftransformer.export.litert_tokenizer import as_litert_tokenizer
from tftransformer.models._prompt_generation import target_vocabulary

__all__ = ["LiteRTSeq2SeqTransformerModule"]


class LiteRTSeq2SeqTransformerModule(LiteRTWordPieceGenerator):
    """Greedy translation of one raw source, in LiteRT-compatible ops.

    The source is tokenized with `FastBertTokenizer` (see `LiteRTTokenizer`)
    and cut to `max_length` pieces, as `export_generator`'s SavedModel cuts
    it (no start or end token; an empty source is one pad position); the
    encoder runs once; the decoder runs a token at a time from the start
    token (`Seq2SeqTransformer.call_with_cache` with one cache per layer:
    LiteRT slices at most 5-D tensors) in a `tf.while_loop`, taking the
    most likely token, until the end token or `max_length` tokens;
    `FastWordpieceTokenizer` detokenizes with the target vocabulary, a
    `##` piece continuing the word before it, as the SavedModel joins the
    pieces (see `LiteRTWordPieceGenerator` for a target that starts with
    one). That is what the SavedModel answers with the greedy sampler.
    One prompt per call, as `LiteRTSeq2SeqModule` (see there).

    Args:
        model: a float32 `tftransformer.models.Seq2SeqTransformer`.
        tokenizer: its source keras-hub `WordPieceTokenizer`, or a
            `LiteRTTokenizer` of it.
        target_tokenizer: its target `WordPieceTokenizer` (the decoder's
            vocabulary), or None for `tokenizer`'s.
        max_length: int, the source's length and the target's, each, in
            tokens (the target's start token included).
        start_token_id, end_token_id, pad_token_id: the target vocabulary's
            special token ids (`end_token_id` None: no end token,
            generation runs to `max_length`); the source is padded with
            `pad_token_id` too.
    """

    def __init__(
        self,
        model,
        tokenizer,
        target_tokenizer,
        max_length,
        start_token_id,
        end_token_id,
        pad_token_id,
    ):
        tokenizer = as_litert_tokenizer(tokenizer)
        target_tokenizer = target_tokenizer or tokenizer.keras_tokenizer
        vocabulary = target_vocabulary(model, target_tokenizer)
        specials = (start_token_id, end_token_id, pad_token_id)
        super().__init__(
            model, tokenizer, max_length, specials, target_tokenizer, vocabulary
        )

    def _serve(self, prompt):
        model = self._model
        pieces = self._tokenizer.tokenize(prompt)  # ragged (1, (pieces))
        body = pieces.to_tensor(default_value=self._pad_id)[:, : self._max_length]
        # At least one position, as the SavedModel pads an empty source.
        width = tf.maximum(tf.shape(body)[1], 1)
        source = tf.concat([body, [[self._pad_id]]], axis=1)[:, :width]
        source_mask = source != self._pad_id
        self_caches, cross_caches = model.build_cache(
            1, self._max_length, width, per_layer=True
        )
        columns = tf.range(self._max_length)[tf.newaxis, :]
        tokens = tf.where(columns == 0, self._start_id, self._pad_id)

        def next_token(current, index, self_caches, cross_caches, encoder=None):
            logits, self_caches, cross_caches = model.call_with_cache(
                current, index, self_caches, cross_caches, source_mask, encoder
            )
            # tf.argmax: Keras' argmax adds bitwise ops LiteRT lacks.
            token = tf.argmax(logits[:, 0, :], axis=-1, output_type=tf.int32)
            return token, self_caches, cross_caches

        # The first step reads the start token and fills the cross caches
        # from the encoder; the loop then reads them.
        token, self_caches, cross_caches = next_token(
            tokens[:, :1],
            0,
            self_caches,
            cross_caches,
            model.encode(source, source_mask),
        )

        def step(index, tokens, token, ended, self_caches):
            tokens = tf.where(columns == index, token[:, tf.newaxis], tokens)
            ended = ended | (token == self._end_id)
            # At the last position, computes a token never kept.
            token, self_caches, _ = next_token(
                token[:, tf.newaxis], index, self_caches, cross_caches
            )
            return index + 1, tokens, token, ended, self_caches

        _, tokens, _, _, _ = tf.while_loop(
            lambda index, tokens, token, ended, caches: (
                (index < self._max_length) & ~tf.reduce_all(ended)
            ),
            step,
            (tf.constant(1), tokens, token, tf.constant([False]), self_caches),
        )
        # The generated tokens before the end token, specials left out.
        ended = tf.cumsum(tf.cast(tokens == self._end_id, tf.int32), axis=1) > 0
        keep = (columns >= 1) & ~ended
        for special in {self._start_id, self._pad_id}:
            keep = keep & (tokens != special)
        return {"text": self._detokenize(tokens, keep)}
