"""A `tf.Module` that continues raw prompts with a keras-hub causal LM, or
answers them with a keras-hub encoder-decoder."""

import tensorflow as tf

from tftransformer.export._untracked import set_untracked
from tftransformer.export.text_classifier_serving_module import string_batch
from tftransformer.models._prompt_generation import (
    SAMPLER_NAMES,
    PromptGeneration,
    check_generator,
    get_sampler,
)

__all__ = [
    "PROMPT_INPUT",
    "SAMPLER_NAMES",
    "GeneratorServingModule",
    "check_generator",
    "get_sampler",
]

# The serving signature's input name.
PROMPT_INPUT = "prompt"


class GeneratorServingModule(tf.Module):
    """A `tf.Module` continuing raw prompts with a keras-hub `CausalLM`, or
    generating a target from each with a `Seq2SeqLM` (BART, T5); or with a
    tftransformer `CausalLM` or `Seq2SeqTransformer` and its tokenizers.

    Tokenization (the task's preprocessor), generation (its
    `generate_step`, with cached keys and values, stopping at the end
    token) and detokenization all run in the graph, so the saved signature
    takes strings and needs only TensorFlow and TensorFlow Text ops.

    Args:
        model: a keras-hub `CausalLM` or `Seq2SeqLM` with its preprocessor,
            or a `tftransformer.models.CausalLM` or `Seq2SeqTransformer`
            (then give `tokenizer` and `start_token_id`, and `end_token_id`
            to stop there).
        max_length: int, the prompt and its continuation together, in
            tokens, longer prompts cut to it; for a `Seq2SeqLM`, the
            target's length (the source is cut to the preprocessor's
            `encoder_sequence_length`); for a `Seq2SeqTransformer`, the
            target's length and the source's, each.
        sampler: a keras-hub sampler or its name (`"greedy"`, `"top_k"`,
            `"top_p"`, `"random"`, `"beam"`; see `get_sampler`). Random
            samplers (top-k, top-p, random) draw from a seed state saved
            with the module, which each request advances: a freshly loaded
            SavedModel answers a given sequence of requests the same way
            every time, and a sampler made with `seed=S` draws what
            keras-hub's `generate` with a sampler of seed `S` draws (on
            its first call, for the same batch).
        tokenizer: a tftransformer `CausalLM`'s WordPiece tokenizer (e.g.
            `tft.data.word_piece_tokenizer(vocabulary)`), a
            `Seq2SeqTransformer`'s source tokenizer; keras-hub tasks use
            their preprocessor's.
        start_token_id, end_token_id, pad_token_id: a tftransformer
            model's special token ids (of a `Seq2SeqTransformer`'s target
            vocabulary; `train_causal_lm`'s and `train_translator`'s
            learned vocabularies: 2, 3 and 0).
        prefix: str, text put before every prompt in the graph, e.g. T5's
            task prefix `"translate English to German: "`, so that clients
            send the bare source. A causal LM's `text` starts with it; its
            `completion` does not.
        target_tokenizer: a `Seq2SeqTransformer`'s target tokenizer, whose
            vocabulary names the generated pieces (joined into words as
            `tft.data.join_word_pieces` joins them); defaults to
            `tokenizer` (one shared vocabulary).
        name: optional module name.

    Call arguments (of `serve`):
        prompt: 1-D `tf.string`, one prompt per entry, any batch size.

    Returns (of `serve`):
        A dict of 1-D `tf.string`: `text` (the prompt and its continuation,
        as keras-hub's `generate` returns) and `completion` (the
        continuation alone), special tokens left out, in UTF-8 (pieces
        that end inside a character become U+FFFD). A `Seq2SeqLM` or
        `Seq2SeqTransformer` returns `text` alone: the generated target.

    Example:
    ```python
    module = GeneratorServingModule(gpt2_lm, max_length=32)
    module.serve(tf.constant(["The weather today"]))["completion"]
    ```
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
        name=None,
    ):
        super().__init__(name=name)
        generation = PromptGeneration(
            model,
            max_length,
            sampler=sampler,
            tokenizer=tokenizer,
            start_token_id=start_token_id,
            end_token_id=end_token_id,
            pad_token_id=pad_token_id,
            prefix=prefix,
            target_tokenizer=target_tokenizer,
        )
        set_untracked(self, "_generation", generation)
        # Tracked, so that the tokenizer's lookup tables are saved.
        self._tokenizer = generation.tokenizer
        self._sampler = generation.sampler
        # Lists created here are tracked, so the variables are saved.
        self.model_variables = list(model.variables)
        self.sampler_variables = list(generation.sampler.variables)

        prompt_spec = tf.TensorSpec([None], tf.string, name=PROMPT_INPUT)

        def serve(prompt):
            return self._generation(string_batch(prompt))

        self.serve = tf.function(serve, input_signature=[prompt_spec])
