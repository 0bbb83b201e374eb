"""A `tf.Module` that continues raw prompts with a keras-hub causal LM, or
answers them with a keras-hub encoder-decoder."""

import keras_hub
import tensorflow as tf

from tftransformer._arguments import is_int

__all__ = ["PROMPT_INPUT", "GeneratorServingModule", "check_generator"]

# The serving signature's input name.
PROMPT_INPUT = "prompt"


def check_generator(model, max_length):
    """Checks what a generator export needs; returns `max_length` as an int.

    Raises:
        ValueError: for a model that is not a keras-hub `CausalLM` or
            `Seq2SeqLM` with a preprocessor, or a `max_length` outside [2,
            the backbone's `max_sequence_length`], naming the values
            received.
    """
    if not isinstance(model, (keras_hub.models.CausalLM, keras_hub.models.Seq2SeqLM)):
        raise ValueError(
            "Expected a keras-hub CausalLM or Seq2SeqLM (e.g. GPT2CausalLM or "
            "BartSeq2SeqLM, what tftransformer.presets.load_generator "
            f"returns). Received: model={type(model).__name__}"
        )
    if getattr(model, "preprocessor", None) is None:
        raise ValueError(
            "Serving raw prompts needs the model's preprocessor (its "
            f"tokenizer). Received: model {model.name!r} with preprocessor=None"
        )
    if not is_int(max_length) or max_length < 2:
        raise ValueError(
            f"max_length must be an integer >= 2. Received: max_length={max_length!r}"
        )
    maximum = getattr(model.backbone, "max_sequence_length", None)
    if maximum is not None and max_length > maximum:
        raise ValueError(
            f"max_length must not exceed the backbone's max_sequence_length "
            f"({maximum}). Received: max_length={max_length}"
        )
    return int(max_length)


class GeneratorServingModule(tf.Module):
    """A `tf.Module` continuing raw prompts with a keras-hub `CausalLM`, or
    generating a target from each with a `Seq2SeqLM` (BART).

    Tokenization (the task's preprocessor), generation (its
    `generate_step`, with cached keys and values, stopping at the end
    token) and detokenization all run in the graph, so the saved signature
    takes strings and needs only TensorFlow and TensorFlow Text ops.

    Args:
        model: a keras-hub `CausalLM` or `Seq2SeqLM` with its preprocessor.
        max_length: int, the prompt and its continuation together, in
            tokens, longer prompts cut to it; for a `Seq2SeqLM`, the
            target's length (the source is cut to the preprocessor's
            `encoder_sequence_length`).
        sampler: a keras-hub sampler or its name (`"greedy"`, `"top_k"`,
            `"top_p"`, `"random"`, `"beam"`); random samplers draw from a
            seed state saved with the module.
        name: optional module name.

    Call arguments (of `serve`):
        prompt: 1-D `tf.string`, one prompt per entry, any batch size.

    Returns (of `serve`):
        A dict of 1-D `tf.string`: `text` (the prompt and its continuation,
        as keras-hub's `generate` returns) and `completion` (the
        continuation alone), special tokens left out, in UTF-8 (pieces
        that end inside a character become U+FFFD). A `Seq2SeqLM` returns
        `text` alone: the generated target.

    Example:
    ```python
    module = GeneratorServingModule(gpt2_lm, max_length=32)
    module.serve(tf.constant(["The weather today"]))["completion"]
    ```
    """

    def __init__(self, model, max_length, sampler="greedy", name=None):
        super().__init__(name=name)
        self._max_length = check_generator(model, max_length)
        self._model = model
        self._sampler = keras_hub.samplers.get(sampler)
        tokenizer = model.preprocessor.tokenizer
        self._tokenizer = tokenizer
        self._special_ids = sorted(
            {
                int(token_id)
                for token_id in (
                    getattr(tokenizer, "start_token_id", None),
                    getattr(tokenizer, "end_token_id", None),
                    getattr(tokenizer, "pad_token_id", None),
                )
                if token_id is not None
            }
        )
        end = getattr(tokenizer, "end_token_id", None)
        self._stop_token_ids = None if end is None else (int(end),)
        # Lists created here are tracked, so the variables are saved.
        self.model_variables = list(model.variables)
        self.sampler_variables = list(self._sampler.variables)

        prompt_spec = tf.TensorSpec([None], tf.string, name=PROMPT_INPUT)

        def serve(prompt):
            return self._generate(prompt)

        self.serve = tf.function(serve, input_signature=[prompt_spec])

    def _generate(self, prompt):
        model = self._model
        seq2seq = isinstance(model, keras_hub.models.Seq2SeqLM)
        # A seq2seq task's prompt is the encoder's text; its decoder starts
        # from the start tokens alone.
        inputs = model.preprocessor.generate_preprocess(
            prompt, sequence_length=self._max_length
        )
        # `generate_step` samples with the task's sampler: this module's
        # while it is traced.
        sampler, model.sampler = model.sampler, self._sampler
        try:
            outputs = model.generate_step(inputs, stop_token_ids=self._stop_token_ids)
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

        def detokenize(ids):
            # A model may end on part of a UTF-8 character: each invalid
            # byte sequence becomes U+FFFD, as keras-hub's generate gives.
            text = self._tokenizer.detokenize(ids)
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
