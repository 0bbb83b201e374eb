"""A `tf.Module` translating one raw string with a keras-hub encoder-decoder,
in ops a LiteRT export runs."""

import tensorflow as tf
import tensorflow_text as tf_text

from tftransformer.export.generator_serving_module import PROMPT_INPUT
from tftransformer.export.litert_tokenizer import as_litert_tokenizer
from tftransformer.models.backbone_adapter import adapter_for

__all__ = ["LiteRTSeq2SeqModule", "check_litert_seq2seq"]


def check_litert_seq2seq(model):
    """The model's backbone adapter, if a LiteRT export can run its decoder.

    Raises:
        ValueError: for a model whose family has no per-layer decoder step,
            naming its class and family.
    """
    adapter = adapter_for(model)
    if not getattr(adapter, "steps_decoder", False):
        raise ValueError(
            "A LiteRT export generates with a decoder stepped one token at a "
            "time with a cache per layer, which tftransformer has for T5 "
            "(keras_hub.models.T5Seq2SeqLM). Received: a "
            f"{type(model).__name__} ({adapter.family})"
        )
    return adapter


class LiteRTSeq2SeqModule(tf.Module):
    """Greedy generation from one raw source, in LiteRT-compatible ops.

    The source is tokenized with `FastSentencepieceTokenizer` (see
    `LiteRTTokenizer`), cut to the preprocessor's `encoder_sequence_length`
    with the end token appended, as keras-hub's preprocessor packs it; the
    encoder runs once; the decoder runs a token at a time from the start
    token (T5: the pad token) in a `tf.while_loop`, each step's keys and
    values cached per layer (`BackboneAdapter.decoder_step`), taking the
    most likely token, until the end token or `max_length` tokens; the
    tokens are detokenized with `FastSentencepieceDetokenize`. That is
    keras-hub's `generate` with the greedy sampler, except that its ties
    between equally likely tokens may break differently.

    One prompt per call: LiteRT's interpreter, given a batch of several,
    failed (a segmentation fault) inside the decoding loop, so the batch
    size is fixed at 1 and `LiteRTModel` calls the model once per prompt.

    Args:
        model: a float32 keras-hub `Seq2SeqLM` whose family steps its
            decoder (`check_litert_seq2seq`), with its preprocessor.
        max_length: int >= 2, the generated target's length in tokens,
            the start token included.
        tokenizer: optional `LiteRTTokenizer` of the preprocessor's
            tokenizer, already built (and checked) by the caller.
    """

    inputs = (PROMPT_INPUT,)

    def __init__(self, model, max_length, tokenizer=None):
        super().__init__()
        self._adapter = check_litert_seq2seq(model)
        self._model = model
        self._max_length = int(max_length)
        preprocessor = model.preprocessor
        self._tokenizer = as_litert_tokenizer(tokenizer or preprocessor.tokenizer)
        tokenizer = self._tokenizer.keras_tokenizer
        self._detokenizer = tf_text.FastSentencepieceTokenizer(tokenizer.proto)
        self._source_length = int(preprocessor.encoder_sequence_length)
        self._end_id = int(tokenizer.end_token_id)
        self._pad_id = int(tokenizer.pad_token_id)
        # The decoder's first token: the preprocessor's decoder start (T5's
        # is its pad token).
        if not preprocessor.built:
            preprocessor.build(None)
        self._start_id = _start_value(preprocessor.decoder_packer)
        self.model_variables = list(model.variables)
        spec = tf.TensorSpec([1], tf.string, name=PROMPT_INPUT)
        self.serve = tf.function(self._serve, input_signature=[spec])

    def _serve(self, prompt):
        pieces = self._tokenizer.tokenize(prompt)  # ragged (1, (pieces))
        limit = self._source_length - 1
        length = tf.minimum(tf.cast(pieces.row_lengths(), tf.int32), limit)
        body = pieces.to_tensor(default_value=self._pad_id)[:, :limit]
        # The kept pieces, then the end token.
        token_ids = tf.concat([body, [[self._pad_id]]], 1)
        positions = tf.range(tf.shape(token_ids)[1])[tf.newaxis, :]
        token_ids = tf.where(
            positions == length[:, tf.newaxis], self._end_id, token_ids
        )
        padding_mask = positions <= length[:, tf.newaxis]
        encoder_outputs = self._model.call_encoder(token_ids, padding_mask)

        adapter = self._adapter
        shape = adapter.decoder_cache_shape(self._max_length)
        cross_shape = adapter.decoder_cache_shape(tf.shape(token_ids)[1])
        caches = [
            (tf.zeros((1, *shape)), tf.zeros(tf.stack([1, *cross_shape])))
            for _ in adapter.decoder_layers()
        ]
        columns = tf.range(self._max_length)[tf.newaxis, :]
        tokens = tf.where(columns == 0, self._start_id, self._pad_id)

        def step(index, tokens, ended, caches, first=False):
            current = tf.gather(tokens, [index], axis=1)  # (1, 1)
            logits, caches = adapter.decoder_step(
                current, encoder_outputs, padding_mask, caches, index, first
            )
            # tf.argmax: Keras' argmax adds bitwise ops LiteRT lacks.
            token = tf.argmax(logits[:, 0, :], axis=-1, output_type=tf.int32)
            token = tf.where(ended, self._pad_id, token)
            tokens = tf.where(columns == index + 1, token[:, tf.newaxis], tokens)
            return index + 1, tokens, ended | (token == self._end_id), caches

        # The first step fills the cross caches, which the loop then reads.
        state = step(tf.constant(0), tokens, tf.constant([False]), caches, True)
        cross = [cross_cache for _, cross_cache in state[3]]

        def loop_step(index, tokens, ended, self_caches):
            index, tokens, ended, caches = step(
                index, tokens, ended, list(zip(self_caches, cross))
            )
            return index, tokens, ended, [cache for cache, _ in caches]

        _, tokens, _, _ = tf.while_loop(
            lambda index, tokens, ended, _: (
                (index < self._max_length - 1) & ~tf.reduce_all(ended)
            ),
            loop_step,
            (*state[:3], [cache for cache, _ in state[3]]),
        )
        # The generated tokens before the end token, specials left out.
        ended = tf.cumsum(tf.cast(tokens == self._end_id, tf.int32), axis=1) > 0
        keep = (columns >= 1) & ~ended & (tokens != self._pad_id)
        counts = tf.reduce_sum(tf.cast(keep, tf.int32), axis=1)
        generated = tf.RaggedTensor.from_row_lengths(
            tf.boolean_mask(tokens, keep), counts, validate=False
        )
        return {"text": self._detokenizer.detokenize(generated)}


def _start_value(packer):
    start = packer.start_value
    if isinstance(start, (list, tuple)):
        (start,) = start
    return int(start)
