"""A generator's outputs for raw prompts, as its export answers them."""

import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int, check_strings
from tftransformer._warnings import warn
from tftransformer.models._prompt_generation import PromptGeneration
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer

__all__ = ["generate_texts"]


def generate_texts(
    model,
    prompts,
    max_length=None,
    batch_size=32,
    sampler="greedy",
    tokenizer=None,
    start_token_id=None,
    end_token_id=None,
    pad_token_id=0,
    prefix="",
    target_tokenizer=None,
):
    """Generates from each raw prompt, as the model's SavedModel export does.

    The prompts go through the computation `tftransformer.export.
    export_generator` saves (`GeneratorServingModule`: tokenization,
    generation with cached keys and values up to `max_length` tokens,
    stopping at the end token, detokenization), traced once and run on
    batches of `batch_size` prompts; with the same settings, the export
    answers each prompt with the same text.

    Args:
        model: a keras-hub `CausalLM` or `Seq2SeqLM` with its preprocessor
            (`tftransformer.presets.load_generator`, `train_causal_lm` or
            `train_translator` with a `preset`), or a
            `tftransformer.models.CausalLM` or `Seq2SeqTransformer` with
            `tokenizer` and `start_token_id` (and `end_token_id` to stop
            there).
        prompts: a list of str.
        max_length: int, the prompt and its continuation together, in
            tokens (a `Seq2SeqLM`'s target; a `Seq2SeqTransformer`'s target,
            and its sources cut to it); defaults to the preprocessor's
            `sequence_length` (a `Seq2SeqLM`'s `decoder_sequence_length`).
            Required for a tftransformer model.
        batch_size: int >= 1, prompts generated at once.
        sampler: a keras-hub sampler or its name (`"greedy"`, the default;
            see `tftransformer.export.export_generator`).
        tokenizer, start_token_id, end_token_id, pad_token_id: a
            tftransformer model's WordPiece tokenizer (a
            `Seq2SeqTransformer`'s source tokenizer) and special token ids.
        prefix: str put before every prompt, e.g. T5's task prefix.
        target_tokenizer: a `Seq2SeqTransformer`'s target tokenizer;
            defaults to `tokenizer`.

    Returns:
        A dict of lists of str, one entry per prompt: `text` (a causal LM's
        prompt and continuation; a `Seq2SeqLM`'s or `Seq2SeqTransformer`'s
        generated target) and, for
        a causal LM, `completion` (the continuation alone).

    Raises:
        ValueError: for another model, prompts that are not strings, or a
            `max_length`, `batch_size`, sampler or prefix out of range,
            naming the value received.

    Example:
    ```python
    lm = tftransformer.presets.load_generator("gpt2_base_en")
    generate_texts(lm, ["The weather today"], max_length=32)["completion"]
    ```
    """
    prompts = check_strings("prompts", prompts)
    batch_size = check_int("batch_size", batch_size, 1)
    seq2seq = isinstance(model, (keras_hub.models.Seq2SeqLM, Seq2SeqTransformer))
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
    if not seq2seq and prompts:
        full = np.flatnonzero(generation.full_prompts(tf.constant(prompts)).numpy())
        if len(full):
            warn(
                f"{len(full)} of {len(prompts)} prompt(s) fill all max_length="
                f"{generation.max_length} tokens (the first: prompts[{full[0]}], "
                f"{prompts[full[0]][:60]!r}): cut to fit, they leave no room "
                "for a continuation, whose `completion` is empty. Pass a "
                "larger max_length (the model's own allows "
                "its max_sequence_length) or shorter prompts."
            )
    generate = tf.function(
        generation, input_signature=[tf.TensorSpec([None], tf.string)]
    )
    outputs = {"text": []} if seq2seq else {"text": [], "completion": []}
    for start in range(0, len(prompts), batch_size):
        batch = generate(tf.constant(prompts[start : start + batch_size]))
        for key, texts in outputs.items():
            texts += [value.decode("utf-8") for value in batch[key].numpy()]
    return outputs
