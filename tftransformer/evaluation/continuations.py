"""Sampled continuations of held-out texts by a causal language model."""

import numpy as np

from tftransformer.data.sequence_datasets import join_word_pieces

__all__ = ["sample_continuations"]


def sample_continuations(
    model,
    sequences,
    vocabulary,
    num_samples,
    prompt_tokens,
    max_length,
    temperature=1.0,
    top_k=None,
    seed=None,
    start_id=2,
    end_id=3,
    pad_id=0,
):
    """Continues the first tokens of texts by sampling from `model`.

    The prompts are the start token and the first `prompt_tokens` tokens of
    the first `num_samples` sequences that go on past them.

    Args:
        model: a `CausalLM`.
        sequences: lists of token ids, each starting with `start_id`.
        vocabulary: the WordPiece tokens, by id.
        num_samples: int >= 0, the most prompts.
        prompt_tokens: int >= 1, the tokens of each prompt after the start.
        max_length: the length of each output, prompt included.
        temperature, top_k, seed: as `CausalLM.generate` takes them
            (`top_k` 0 or None: the whole vocabulary).
        start_id, end_id, pad_id: the special tokens' ids.

    Returns:
        A list of dicts with the `prompt` and the sampled `text` (the
        prompt and its continuation, decoded whole), both words joined by
        spaces.

    Example:
    ```python
    samples = sample_continuations(model, validation_ids, tokens, 5, 3, 64)
    ```
    """
    prompts = [
        row[: prompt_tokens + 1] for row in sequences if len(row) > prompt_tokens + 1
    ][:num_samples]
    if not prompts:
        return []
    generated = model.generate(
        np.array(prompts, "int32"),
        max_length=max_length,
        temperature=temperature,
        top_k=top_k or None,
        seed=seed,
        end_token_id=end_id,
        pad_token_id=pad_id,
    )
    specials = {pad_id, start_id, end_id}
    return [
        {
            "prompt": join_word_pieces(
                row[: prompt_tokens + 1], vocabulary, end_id, specials
            ),
            # Decoded whole: a continuation may begin inside the prompt's
            # last word.
            "text": join_word_pieces(row, vocabulary, end_id, specials),
        }
        for row in np.asarray(generated).tolist()
    ]
