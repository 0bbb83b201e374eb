"""Raw prompts to generated texts in TensorFlow ops: what a generator's
export serves and what its file predictions hold."""

import contextlib
import inspect

import keras_hub
import tensorflow as tf
from keras import ops

from tftransformer._arguments import check_int, is_finite_number, is_int
from tftransformer.models.causal_lm import CausalLM
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer

__all__ = [
    "SAMPLER_NAMES",
    "PromptGeneration",
    "check_generator",
    "get_sampler",
    "is_generator",
    "is_keras_hub_generator",
    "target_vocabulary",
]

# keras-hub samplers a generation takes by name (with their default settings).
SAMPLER_NAMES = ("greedy", "top_k", "top_p", "random", "beam")


def is_keras_hub_generator(model):
    """Whether `model` is a keras-hub `CausalLM` or `Seq2SeqLM`."""
    return isinstance(model, (keras_hub.models.CausalLM, keras_hub.models.Seq2SeqLM))


def is_generator(model):
    """Whether `model` generates text: a keras-hub `CausalLM` or
    `Seq2SeqLM`, or a tftransformer `CausalLM` or `Seq2SeqTransformer`."""
    return is_keras_hub_generator(model) or isinstance(
        model, (CausalLM, Seq2SeqTransformer)
    )


class _PromptBeamSampler(keras_hub.samplers.BeamSampler):
    """keras-hub's `BeamSampler`, answering each prompt of a batch as alone.

    keras-hub samples a batch from its shortest prompt's end. At a longer
    prompt's own positions, its `BeamSampler` still expands every beam by its
    top tokens, then writes the prompt's token over them: the beams become
    copies of one text, and their scores count tokens the text does not
    hold, so a prompt's answer depended on the other prompts in its batch
    (a served request, on the other requests batched with it). Here a
    position inside a row's prompt allows only the prompt's token: every
    beam goes on with its own score, and each row's search starts at its
    prompt's end, as it would alone.
    """

    def __call__(self, next, prompt, cache=None, index=0, mask=None, **kwargs):
        if mask is None:
            return super().__call__(next, prompt, cache, index, mask, **kwargs)
        # keras-hub's sampler repeats the rows for its beams the same way.
        in_prompt = ops.repeat(ops.cast(mask, "bool"), self.num_beams, axis=0)

        def next_in_prompt(beam_prompt, cache, index):
            logits, hidden_states, cache = next(beam_prompt, cache, index)
            only_prompt_token = ops.where(
                ops.one_hot(beam_prompt[:, index], ops.shape(logits)[-1]) > 0,
                ops.zeros_like(logits),
                ops.full_like(logits, -1e9),
            )
            logits = ops.where(in_prompt[:, index, None], only_prompt_token, logits)
            return logits, hidden_states, cache

        return super().__call__(next_in_prompt, prompt, cache, index, mask, **kwargs)


def get_sampler(sampler):
    """The keras-hub sampler a generation from raw prompts uses.

    Args:
        sampler: one of `SAMPLER_NAMES`, or a `keras_hub.samplers.Sampler`
            (e.g. `TopPSampler(p=0.9, seed=1)`, `BeamSampler(num_beams=4)`).

    Returns:
        A `keras_hub.samplers.Sampler`: `sampler`, or a new one of that name.
        A beam sampler is keras-hub's with its settings, but answers each
        prompt of a batch as it would answer it alone: keras-hub's own
        lets the beams of a prompt longer than the batch's shortest
        collapse into copies of one text.

    Raises:
        ValueError: for another name or object, a setting out of range
            (`temperature` > 0, `k` and `num_beams` >= 1, `p` in (0, 1]), or
            a `BeamSampler` that returns every beam (the export answers one
            text per prompt), naming the value received.
    """
    if isinstance(sampler, str):
        if sampler not in SAMPLER_NAMES:
            raise ValueError(
                f"`sampler` must be one of {SAMPLER_NAMES} or a keras-hub "
                f"sampler. Received: sampler={sampler!r}"
            )
        sampler = keras_hub.samplers.get(sampler)
    elif not isinstance(sampler, keras_hub.samplers.Sampler):
        raise ValueError(
            f"`sampler` must be one of {SAMPLER_NAMES} or a keras-hub sampler "
            f"(keras_hub.samplers.Sampler). Received: sampler={sampler!r}"
        )
    _check_sampler_settings(sampler)
    if getattr(sampler, "return_all_beams", False):
        raise ValueError(
            "The export answers one text per prompt: give a BeamSampler "
            "with return_all_beams=False. Received: sampler=BeamSampler("
            f"num_beams={sampler.num_beams}, return_all_beams=True)"
        )
    if type(sampler) is keras_hub.samplers.BeamSampler:
        sampler = _PromptBeamSampler.from_config(sampler.get_config())
    return sampler


def _check_sampler_settings(sampler):
    """Refuses a keras-hub sampler's settings out of range, naming them: the
    samplers take them unchecked, then fail in a TensorFlow op (`k=0`,
    `num_beams=0`, `temperature=0`) or sample otherwise than asked
    (`p=1.5`, a negative temperature)."""
    config = sampler.get_config()
    name = type(sampler).__name__

    def refuse(setting, expected):
        raise ValueError(
            f"{name}'s {setting} must be {expected}. Received: "
            f"{setting}={config[setting]!r}"
        )

    temperature = config.get("temperature", 1.0)
    if not is_finite_number(temperature) or temperature <= 0:
        refuse("temperature", "a finite number > 0")
    for setting in ("k", "num_beams"):
        value = config.get(setting)
        if value is not None and (not is_int(value) or value < 1):
            refuse(setting, "an integer >= 1")
    p = config.get("p")
    if p is not None and (not is_finite_number(p) or not 0 < p <= 1):
        refuse("p", "a number in (0, 1]")
    alpha = config.get("alpha")
    if alpha is not None and (not is_finite_number(alpha) or not 0 <= alpha <= 1):
        refuse("alpha", "a number in [0, 1]")


def check_generator(model, max_length=None, tokenizer=None, start_token_id=None):
    """Checks what a generator export needs; returns `max_length` as an int.

    `max_length=None` is a keras-hub task's preprocessor's `sequence_length`
    (a `Seq2SeqLM`'s `decoder_sequence_length`); a tftransformer `CausalLM`
    or `Seq2SeqTransformer` needs one, and its tokenizer and start token.

    Raises:
        ValueError: for a model that is not a keras-hub `CausalLM` or
            `Seq2SeqLM` with a preprocessor, or a `max_length` outside [2,
            the backbone's `max_sequence_length`], naming the values
            received.
    """
    if isinstance(model, (CausalLM, Seq2SeqTransformer)):
        if tokenizer is None or start_token_id is None:
            raise ValueError(
                f"A tftransformer {type(model).__name__} has no tokenizer of "
                "its own: pass `tokenizer=` (its WordPiece tokenizer) and "
                f"`start_token_id=`. Received: tokenizer={tokenizer!r}, "
                f"start_token_id={start_token_id!r}"
            )
        maximum = (
            model.max_sequence_length if model.position_kind == "learned" else None
        )
    elif not is_keras_hub_generator(model):
        raise ValueError(
            "Expected a keras-hub CausalLM or Seq2SeqLM (e.g. GPT2CausalLM or "
            "BartSeq2SeqLM, what tftransformer.presets.load_generator "
            "returns) or a tftransformer CausalLM or Seq2SeqTransformer. "
            f"Received: model={type(model).__name__}"
        )
    elif getattr(model, "preprocessor", None) is None:
        raise ValueError(
            "Serving raw prompts needs the model's preprocessor (its "
            f"tokenizer). Received: model {model.name!r} with preprocessor=None"
        )
    else:
        maximum = getattr(model.backbone, "max_sequence_length", None)
        if max_length is None:
            max_length = model.preprocessor.sequence_length
        sources = getattr(model.preprocessor, "encoder_sequence_length", None)
        if maximum is not None and sources is not None and sources > maximum:
            # keras-hub 0.32's BART and T5 preprocessors save no lengths: a
            # reloaded one reads sources of 1,024 tokens.
            raise ValueError(
                "The preprocessor reads sources of up to encoder_sequence_length="
                f"{sources} tokens, more than the model's max_sequence_length "
                f"({maximum}); keras-hub's seq2seq preprocessors forget their "
                "lengths when saved. Set model.preprocessor.encoder_sequence_"
                f"length (at most {maximum}), as "
                "tftransformer.training.generation_settings does for a run's model."
            )
    max_length = check_int("max_length", max_length, 2)
    if maximum is not None and max_length > maximum:
        raise ValueError(
            f"max_length must not exceed the model's max_sequence_length "
            f"({maximum}). Received: max_length={max_length}"
        )
    return max_length


def target_vocabulary(model, target_tokenizer):
    """A `Seq2SeqTransformer`'s target tokenizer's vocabulary (a list).

    Raises:
        ValueError: a vocabulary that is not the decoder's size, naming it.
    """
    vocabulary = target_tokenizer.get_vocabulary()
    if len(vocabulary) != model.decoder_vocabulary_size:
        raise ValueError(
            "target_tokenizer must have the decoder's vocabulary "
            f"({model.decoder_vocabulary_size} tokens). Received: a "
            f"vocabulary of {len(vocabulary)} tokens"
        )
    return vocabulary


@contextlib.contextmanager
def _decoder_step_lengths(model):
    """Gives a `Seq2SeqLM` decoder step's outputs the static length of its
    input tokens while `generate_step` is traced.

    keras-hub 0.32's T5 attention reshapes to `(batch, -1, ...)`: with the
    signature's unknown batch size the length of a one-token step becomes
    unknown too, and `generate_step` cannot squeeze it out. (keras-hub's
    own `generate` traces each batch size, so the length stays known.)
    """
    call = getattr(model, "call_decoder_with_cache", None)
    if call is None:
        yield
        return
    signature = inspect.signature(call)

    def with_lengths(*args, **kwargs):
        token_ids = signature.bind(*args, **kwargs).arguments["decoder_token_ids"]
        logits, hidden_states, *caches = call(*args, **kwargs)
        shape = [None, token_ids.shape[1], None]
        return (
            tf.ensure_shape(logits, shape),  # (batch, length, vocabulary)
            tf.ensure_shape(hidden_states, shape),  # (batch, length, hidden)
            *caches,
        )

    # Set past Keras' attribute tracking; the class' method is found again
    # once the instance's is deleted.
    object.__setattr__(model, "call_decoder_with_cache", with_lengths)
    try:
        yield
    finally:
        object.__delattr__(model, "call_decoder_with_cache")


class PromptGeneration:
    """Generates from a batch of raw prompts with TensorFlow ops alone.

    Tokenization (a keras-hub task's preprocessor, or the tokenizer given
    for a `tftransformer.models.CausalLM` or `Seq2SeqTransformer`),
    generation (keras-hub's `generate_step`, or the tftransformer model's
    cache, stopping at the end token) and detokenization, so that a
    `tf.function` of it, or a SavedModel signature, takes strings.
    `GeneratorServingModule` documents the arguments.

    Call arguments:
        prompt: 1-D `tf.string`, one prompt per entry.

    Returns:
        A dict of 1-D `tf.string`: `text` and, for a causal LM,
        `completion` (see `GeneratorServingModule`).
    """

    def __init__(
        self,
        model,
        max_length,
        sampler="greedy",
        tokenizer=None,
        start_token_id=None,
        end_token_id=None,
        pad_token_id=0,
        prefix="",
        target_tokenizer=None,
    ):
        if not isinstance(prefix, str):
            raise ValueError(
                "`prefix` must be a str put before every prompt. "
                f"Received: prefix={prefix!r} of type {type(prefix).__name__}"
            )
        self._prefix = prefix
        self._max_length = check_generator(model, max_length, tokenizer, start_token_id)
        self._model = model
        self._sampler = get_sampler(sampler)
        if is_keras_hub_generator(model):
            given = {
                name: value
                for name, value in (
                    ("tokenizer", tokenizer),
                    ("start_token_id", start_token_id),
                    ("end_token_id", end_token_id),
                    ("target_tokenizer", target_tokenizer),
                )
                if value is not None
            }
            if given:
                # They would be ignored: the preprocessor's are used.
                raise ValueError(
                    f"A keras-hub {type(model).__name__} generates with its "
                    "preprocessor's tokenizer and special tokens: "
                    f"{', '.join(given)} are a tftransformer model's. "
                    f"Received: {', '.join(f'{k}={v!r:.60}' for k, v in given.items())}"
                )
            tokenizer = model.preprocessor.tokenizer
            start_token_id = getattr(tokenizer, "start_token_id", None)
            end_token_id = getattr(tokenizer, "end_token_id", None)
            pad_token_id = getattr(tokenizer, "pad_token_id", None)
        self._tokenizer = tokenizer
        if isinstance(model, Seq2SeqTransformer):
            # Only its vocabulary: the generated pieces are joined by name.
            vocabulary = target_vocabulary(model, target_tokenizer or tokenizer)
            self._target_vocabulary = tf.constant(vocabulary)
        self._start_token_id = start_token_id
        self._pad_token_id = pad_token_id
        self._special_ids = sorted(
            {
                int(token_id)
                for token_id in (start_token_id, end_token_id, pad_token_id)
                if token_id is not None
            }
        )
        end = end_token_id
        self._stop_token_ids = None if end is None else (int(end),)

    @property
    def max_length(self):
        """The prompt and its continuation (a `Seq2SeqLM`'s target), in tokens."""
        return self._max_length

    @property
    def sampler(self):
        """The keras-hub sampler."""
        return self._sampler

    @property
    def tokenizer(self):
        """The tokenizer: the preprocessor's, or the one given."""
        return self._tokenizer

    def full_prompts(self, prompt):
        """Whether each prompt fills all `max_length` positions (cut to fit,
        or exactly), which leaves a causal LM no room to continue it; a
        seq2seq model's prompt is its source: False.

        Args:
            prompt: 1-D `tf.string`, one prompt per entry.

        Returns:
            A 1-D bool `tf.Tensor`.
        """
        if self._prefix:
            prompt = tf.strings.join([self._prefix, prompt])
        model = self._model
        if isinstance(model, (Seq2SeqTransformer, keras_hub.models.Seq2SeqLM)):
            return tf.zeros(tf.shape(prompt), tf.bool)
        if is_keras_hub_generator(model):
            mask = model.preprocessor.generate_preprocess(
                prompt, sequence_length=self._max_length
            )["padding_mask"]
        else:
            _, mask = self._pack(prompt)
        return tf.reduce_sum(tf.cast(mask, tf.int32), axis=1) >= self._max_length

    def _pack(self, prompt):
        """A tftransformer `CausalLM`'s prompt rows: a start token, the
        prompt's pieces, padding; with their padding mask."""
        packer = keras_hub.layers.StartEndPacker(
            sequence_length=self._max_length,
            start_value=self._start_token_id,
            pad_value=self._pad_token_id,
            return_padding_mask=True,
        )
        return packer(self._tokenizer(prompt))

    def __call__(self, prompt):
        if self._prefix:
            prompt = tf.strings.join([self._prefix, prompt])
        return self._generate(prompt)

    def _generate_with_cache(self, prompt):
        """keras-hub's `CausalLM.generate_step`, for a tftransformer
        `CausalLM`: a start token, the prompt's pieces, then sampling."""
        model = self._model
        token_ids, padding_mask = self._pack(prompt)
        inputs = {"token_ids": token_ids, "padding_mask": padding_mask}
        batch_size = tf.shape(token_ids)[0]
        cache = model.build_cache(batch_size, self._max_length)
        # The whole padded rows fill the cache; sampling rewrites each
        # position after a row's prompt before any later one reads it.
        _, cache = model.call_with_cache(token_ids, cache, 0)
        index = tf.reduce_min(tf.reduce_sum(tf.cast(padding_mask, tf.int32), axis=1))

        def next(prompt, cache, index):
            logits, cache = model.call_with_cache(
                prompt[:, index - 1 : index], cache, index - 1
            )
            return logits[:, 0, :], None, cache  # (batch, vocabulary)

        token_ids = self._sampler(
            next=next,
            prompt=token_ids,
            cache=cache,
            index=index,
            mask=padding_mask,
            stop_token_ids=self._stop_token_ids,
            model=model,
        )
        # Positions from a row's first generated end token on are dropped.
        mask = padding_mask
        if self._stop_token_ids:
            ended = (token_ids == self._stop_token_ids[0]) & ~padding_mask
            mask = tf.cumsum(tf.cast(ended, tf.int32), axis=1) == 0
        return inputs, {"token_ids": token_ids, "padding_mask": mask}

    def _translate(self, prompt):
        """A `Seq2SeqTransformer`'s generated targets: each source cut to
        `max_length` pieces and encoded once, the target sampled with the
        decoder's cache from the start token, its pieces joined as
        `tftransformer.data.join_word_pieces` joins them."""
        model = self._model
        pad = self._pad_token_id
        source = self._tokenizer(prompt)[:, : self._max_length]
        source = source.to_tensor(default_value=pad)  # (batch, source_length)
        # At least one position, as `seq2seq_translator` pads a batch of
        # empty sources.
        source = tf.pad(
            source,
            [[0, 0], [0, tf.maximum(0, 1 - tf.shape(source)[1])]],
            constant_values=pad,
        )
        source_mask = source != pad
        batch_size = tf.shape(source)[0]
        start = tf.fill([batch_size, 1], tf.constant(self._start_token_id, "int32"))
        self_cache, cross_cache = model.build_cache(
            batch_size, self._max_length, tf.shape(source)[1]
        )
        # The first step fills the cross-attention cache from the encoder.
        _, self_cache, cross_cache = model.call_with_cache(
            start,
            0,
            self_cache,
            cross_cache,
            source_mask,
            model.encode(source, source_mask),
        )
        target = tf.concat(
            [start, tf.fill([batch_size, self._max_length - 1], pad)], axis=1
        )
        prompt_mask = tf.range(self._max_length)[tf.newaxis, :] < 1
        prompt_mask = tf.tile(prompt_mask, [batch_size, 1])

        def next(target, cache, index):
            # The source mask rides in the cache, so that a beam sampler
            # repeats it with the caches for each beam.
            logits, *caches = model.call_with_cache(
                target[:, index - 1 : index], index - 1, *cache
            )
            return logits[:, 0, :], None, (*caches, cache[2])

        target = self._sampler(
            next=next,
            prompt=target,
            cache=(self_cache, cross_cache, source_mask),
            index=tf.constant(1),
            mask=prompt_mask,
            stop_token_ids=self._stop_token_ids,
            model=model,
        )
        keep = ~prompt_mask
        if self._stop_token_ids:
            ended = (target == self._stop_token_ids[0]) & keep
            keep &= tf.cumsum(tf.cast(ended, tf.int32), axis=1) == 0
        keep &= (target != pad) & (target != self._start_token_id)
        pieces = tf.gather(
            self._target_vocabulary, tf.ragged.boolean_mask(target, keep)
        )
        text = tf.strings.reduce_join(pieces, axis=-1, separator=" ")
        # A "##" piece continues the word before it (or starts the text).
        text = tf.strings.regex_replace(text, " ##", "")
        return {"text": tf.strings.regex_replace(text, "^##", "")}

    def _generate(self, prompt):
        model = self._model
        if isinstance(model, Seq2SeqTransformer):
            return self._translate(prompt)
        seq2seq = isinstance(model, keras_hub.models.Seq2SeqLM)
        if not is_keras_hub_generator(model):
            inputs, outputs = self._generate_with_cache(prompt)
        else:
            # A seq2seq task's prompt is the encoder's text; its decoder
            # starts from the start tokens alone.
            inputs = model.preprocessor.generate_preprocess(
                prompt, sequence_length=self._max_length
            )
            # `generate_step` samples with the task's sampler: this
            # module's while it is traced.
            sampler, model.sampler = model.sampler, self._sampler
            try:
                with _decoder_step_lengths(model):
                    outputs = model.generate_step(
                        inputs, stop_token_ids=self._stop_token_ids
                    )
            finally:
                model.sampler = sampler
        prefix = "decoder_" if seq2seq else ""
        token_ids = outputs[prefix + "token_ids"]  # (batch, max_length)
        keep = outputs[prefix + "padding_mask"]
        for special in self._special_ids:
            keep = keep & (token_ids != special)
        positions = tf.range(tf.shape(token_ids)[1])[tf.newaxis, :]
        prompt_lengths = tf.reduce_sum(
            tf.cast(inputs[prefix + "padding_mask"], tf.int32), axis=1, keepdims=True
        )

        word_pieces = isinstance(
            self._tokenizer, keras_hub.tokenizers.WordPieceTokenizer
        )

        def detokenize(ids):
            # A model may end on part of a UTF-8 character: each invalid
            # byte sequence becomes U+FFFD, as keras-hub's generate gives.
            text = self._tokenizer.detokenize(ids)
            if word_pieces:
                # A continuation may open with a "##" piece (the prompt's
                # last word goes on): it starts the text with its word, as
                # `join_word_pieces` and a Seq2SeqTransformer's graph join it.
                text = tf.strings.regex_replace(text, "^##", "")
            return tf.strings.unicode_transcode(
                text, "UTF-8", "UTF-8", errors="replace"
            )

        if seq2seq:
            return {"text": detokenize(tf.ragged.boolean_mask(token_ids, keep))}
        return {
            "text": detokenize(tf.ragged.boolean_mask(token_ids, keep)),
            "completion": detokenize(
                tf.ragged.boolean_mask(token_ids, keep & (positions >= prompt_lengths))
            ),
        }
