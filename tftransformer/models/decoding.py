"""Beam search for encoder-decoder models such as `Seq2SeqTransformer`."""

import weakref

import numpy as np
import tensorflow as tf
from keras import ops

from tftransformer._arguments import (
    check_bool,
    check_ids_below,
    check_int,
    check_positive_number,
    check_whole_numbers,
)

# Compiled decoding functions per model, reused across calls: model ->
# {(name, jit_compile): tf.function}.
_FUNCTIONS = weakref.WeakKeyDictionary()


def check_token_id(name, value, vocabulary_size):
    """Returns a token id as an int in `[0, vocabulary_size)`, or raises."""
    if vocabulary_size is None:
        return check_int(name, value, 0)
    return check_int(
        name, value, 0, vocabulary_size - 1, what=" (an id of the vocabulary)"
    )


def token_id_array(name, values, vocabulary_size=None):
    """`values` (token ids) as an int32 NumPy array; floats only when whole
    numbers (`check_whole_numbers`), ids in `[0, vocabulary_size)` when
    given (the embedding lookup would fail deep in TensorFlow on a CPU, and
    read zeros on a GPU)."""
    array = np.asarray(ops.convert_to_numpy(values))
    array = check_whole_numbers(name, array, "token ids (whole numbers)")
    if vocabulary_size is not None:
        check_ids_below(name, array, vocabulary_size, "token ids")
    return array.astype("int32")


def encoder_arrays(
    encoder_token_ids, encoder_padding_mask, pad_token_id, vocabulary_size=None
):
    """The source ids (in `[0, vocabulary_size)` when given) and padding
    mask as int32 arrays `(batch, enc_seq)`."""
    encoder_token_ids = token_id_array(
        "encoder_token_ids", encoder_token_ids, vocabulary_size
    )
    if encoder_token_ids.ndim != 2:
        raise ValueError(
            "encoder_token_ids must have shape (batch, enc_seq). Received: "
            f"encoder_token_ids with shape {encoder_token_ids.shape}"
        )
    if encoder_padding_mask is None:
        encoder_padding_mask = encoder_token_ids != pad_token_id
    encoder_padding_mask = np.asarray(
        ops.convert_to_numpy(encoder_padding_mask)
    ).astype("int32")
    if encoder_padding_mask.shape != encoder_token_ids.shape:
        raise ValueError(
            "encoder_padding_mask must have the shape of encoder_token_ids "
            f"{encoder_token_ids.shape}. Received: shape "
            f"{encoder_padding_mask.shape}"
        )
    return encoder_token_ids, encoder_padding_mask


def compiled_function(model, name, function, jit_compile=False):
    """Returns `tf.function(function)` bound to `model`, made once per name
    and `jit_compile`.

    Args:
        model: the model passed as the first argument of `function`.
        name: str, the key of this function among the model's.
        function: a Python function `function(model, *args)`.
        jit_compile: bool, whether XLA compiles it; the XLA and plain
            functions of one name are kept apart.

    Returns:
        A `tf.function` of `*args` with `reduce_retracing=True`, so that the
        few input shapes of a decoding loop share traces.
    """
    functions = _FUNCTIONS.setdefault(model, {})
    key = (name, jit_compile)
    if key not in functions:
        # A weak reference, so that the cache never keeps a model alive.
        model_ref = weakref.ref(model)
        functions[key] = tf.function(
            lambda *args: function(model_ref(), *args),
            reduce_retracing=True,
            jit_compile=jit_compile,
        )
    return functions[key]


def last_log_probs(logits):
    """The float32 log-softmax of the last position's logits `(batch, vocab)`."""
    return tf.nn.log_softmax(tf.cast(logits[:, -1, :], "float32"), axis=-1)


def _next_token_log_probs(model):
    """Returns a function of (inputs, index) giving the log-softmax of the
    logits at decoder position `index`, shape `(batch, vocabulary)`."""

    def function(model, inputs, index):
        logits = model(inputs, training=False)
        logits = tf.cast(tf.gather(logits, index, axis=1), "float32")
        return tf.nn.log_softmax(logits, axis=-1)

    return compiled_function(model, "next_token_log_probs", function)


def beam_search(
    model,
    encoder_token_ids,
    start_token_id,
    end_token_id,
    max_length,
    beam_width=4,
    length_penalty=0.0,
    encoder_padding_mask=None,
    pad_token_id=0,
    return_scores=False,
    jit_compile=False,
):
    """Generates target sequences with beam search.

    Each source sentence keeps the `beam_width` most probable unfinished
    prefixes (by summed token log-probabilities). At every step each prefix
    is extended by every token; among the best `2 * beam_width` extensions,
    those ending with `end_token_id` within the top `beam_width` become
    finished hypotheses and the best `beam_width` others the new prefixes.
    Finished hypotheses are ranked by `log P / length ** length_penalty`,
    where `length` counts the generated tokens (the end token included, the
    start token not). A sentence stops once it has `beam_width` finished
    hypotheses and no prefix could still beat the worst of them; prefixes
    still open at `max_length` are ranked as they are.

    With `beam_width=1` and `length_penalty=0` this is greedy decoding:
    the result equals `Seq2SeqTransformer.greedy_decode`.

    Each step runs the model on all prefixes at once (the source repeated
    `beam_width` times). A `Seq2SeqTransformer` encodes the sources once and
    runs only each prefix's newest token, with its key/value cache
    (`call_with_cache`) reordered to follow the surviving prefixes; another
    model runs on the whole prefixes, in a decoder buffer padded to a
    multiple of 8 positions, so a few traced shapes serve every step.

    Args:
        model: a model called on a dict with `"encoder_token_ids"`,
            `"encoder_padding_mask"`, `"decoder_token_ids"` and
            `"decoder_padding_mask"` (each `(batch, seq)`) that returns
            next-token logits `(batch, dec_seq, vocabulary)` with causal
            decoder attention, e.g. a `Seq2SeqTransformer`.
        encoder_token_ids: int array `(batch, enc_seq)`.
        start_token_id: int, the first decoder token.
        end_token_id: int, the token that ends a sequence.
        max_length: int >= 2, the longest output, start token included.
        beam_width: int >= 1, the number of prefixes kept per sentence.
        length_penalty: float >= 0, the exponent `alpha` of the length
            normalization; 0 ranks by probability alone, larger values favour
            longer outputs.
        encoder_padding_mask: optional array `(batch, enc_seq)`, 1 at real
            tokens; defaults to `encoder_token_ids != pad_token_id`.
        pad_token_id: int, the id written after a sequence's end token.
        return_scores: bool, also return each output's summed log-probability.
        jit_compile: bool, whether XLA compiles a `Seq2SeqTransformer`'s
            one-token step (see `Seq2SeqTransformer.greedy_decode`); other
            models ignore it.

    Returns:
        An int32 NumPy array `(batch, length)`, `length <= max_length`:
        column 0 is `start_token_id`, each row runs up to and including its
        end token (if it has one), then holds `pad_token_id`; `length` is the
        shortest that holds every row. With `return_scores=True`, a tuple of
        that array and a float32 array `(batch,)` of the rows' summed
        next-token log-probabilities (the end token's included).

    Example:
    ```python
    model = tftransformer.models.Seq2SeqTransformer(...)
    model.fit(...)
    tokens = tftransformer.models.beam_search(
        model, source_ids, start_token_id=2, end_token_id=3, max_length=40,
        beam_width=4, length_penalty=0.6,
    )
    ```
    """
    max_length = check_int("max_length", max_length, 2)
    beam_width = check_int("beam_width", beam_width, 1)
    length_penalty = check_positive_number(
        "length_penalty", length_penalty, allow_zero=True
    )
    vocabulary_size = getattr(model, "decoder_vocabulary_size", None)
    start_token_id = check_token_id("start_token_id", start_token_id, vocabulary_size)
    end_token_id = check_token_id("end_token_id", end_token_id, vocabulary_size)
    pad_token_id = check_token_id("pad_token_id", pad_token_id, vocabulary_size)
    jit_compile = check_bool("jit_compile", jit_compile)
    if (
        getattr(model, "position_kind", None) == "learned"
        and max_length > model.max_sequence_length
    ):
        raise ValueError(
            "max_length must not exceed max_sequence_length with learned "
            f"positions. Received: max_length={max_length}, "
            f"max_sequence_length={model.max_sequence_length}"
        )
    encoder_token_ids, encoder_padding_mask = encoder_arrays(
        encoder_token_ids,
        encoder_padding_mask,
        pad_token_id,
        getattr(model, "encoder_vocabulary_size", None),
    )

    batch_size, width = encoder_token_ids.shape[0], beam_width
    # Every prefix of a sentence reads the same source.
    encoder_token_ids = np.repeat(encoder_token_ids, width, 0)
    encoder_padding_mask = np.repeat(encoder_padding_mask, width, 0)
    if _has_cached_decoding(model):
        cached_log_probs, cache = model._start_cached_decoding(
            encoder_token_ids, encoder_padding_mask, max_length, jit_compile
        )

        def next_log_probs(tokens, step, parents):
            nonlocal cache
            if parents is not None:
                # Each slot's keys and values become those of the prefix it
                # now extends.
                cache = (tf.gather(cache[0], parents), cache[1])
            log_probs, cache = cached_log_probs(
                tokens[:, :, step - 1].reshape(-1, 1), step - 1, cache
            )
            return log_probs

    else:
        step_log_probs = _next_token_log_probs(model)
        encoder_inputs = {
            "encoder_token_ids": tf.constant(encoder_token_ids),
            "encoder_padding_mask": tf.constant(encoder_padding_mask),
        }

        def next_log_probs(tokens, step, parents):
            # The whole prefix, in a buffer padded to a multiple of 8
            # positions so that a few traced shapes serve every step.
            buffer_length = min(max_length, -(-step // 8) * 8)
            decoder_tokens = tokens[:, :, :buffer_length].reshape(-1, buffer_length)
            decoder_mask = np.broadcast_to(
                np.arange(buffer_length)[None, :] < step, decoder_tokens.shape
            ).astype("int32")
            inputs = {
                **encoder_inputs,
                "decoder_token_ids": tf.constant(decoder_tokens),
                "decoder_padding_mask": tf.constant(decoder_mask),
            }
            return step_log_probs(inputs, tf.constant(step - 1)).numpy()

    tokens = np.full((batch_size, width, max_length), pad_token_id, dtype="int32")
    tokens[:, :, 0] = start_token_id
    # Only one prefix exists at first: the others start at -inf.
    scores = np.full((batch_size, width), -np.inf)
    scores[:, 0] = 0.0
    # Per sentence: finished hypotheses as (ranking score, log P, tokens).
    finished = [[] for _ in range(batch_size)]
    done = np.zeros((batch_size,), dtype=bool)

    def normalized(log_prob, length):
        return log_prob / length**length_penalty

    # Per slot (row-major over sentences and slots): the slot it extended
    # in the last step, as a row of the caches; None before the first step.
    parents = None
    for step in range(1, max_length):
        log_probs = next_log_probs(tokens, step, parents)
        vocabulary_size = log_probs.shape[-1]
        candidates = scores[:, :, None] + log_probs.reshape(batch_size, width, -1)
        candidates = candidates.reshape(batch_size, -1)
        num_best = min(2 * width, candidates.shape[1])
        best = np.argpartition(-candidates, num_best - 1, axis=1)[:, :num_best]
        new_tokens = tokens.copy()
        new_parents = np.arange(batch_size * width)
        for row in np.flatnonzero(~done):
            # Best first; ties go to the lower index, as with argmax.
            order = best[row][np.lexsort((best[row], -candidates[row, best[row]]))]
            prefixes = []
            for rank, index in enumerate(order):
                score = candidates[row, index]
                if not np.isfinite(score):
                    break
                beam, token = divmod(int(index), vocabulary_size)
                if token == end_token_id:
                    if rank < width:
                        sequence = np.append(tokens[row, beam, :step], token)
                        _add_hypothesis(
                            finished[row],
                            (normalized(score, step), score, sequence),
                            width,
                        )
                    continue
                prefixes.append((beam, token, score))
                if len(prefixes) == width:
                    break
            scores[row] = -np.inf
            for slot, (beam, token, score) in enumerate(prefixes):
                new_parents[row * width + slot] = row * width + beam
                new_tokens[row, slot, :step] = tokens[row, beam, :step]
                new_tokens[row, slot, step] = token
                scores[row, slot] = score
            if not prefixes:  # every extension has probability 0
                done[row] = True
            elif len(finished[row]) >= width:
                # Log-probabilities only fall as a prefix grows: the best a
                # prefix could reach is its score at the longest length.
                best_possible = normalized(scores[row].max(), max_length - 1)
                done[row] = finished[row][-1][0] >= best_possible
        tokens, parents = new_tokens, new_parents
        if done.all():
            break

    outputs, output_scores = [], []
    for row in range(batch_size):
        hypotheses = list(finished[row])
        if not done[row]:
            for beam in range(width):
                if np.isfinite(scores[row, beam]):
                    length = max_length - 1
                    hypotheses.append(
                        (
                            normalized(scores[row, beam], length),
                            scores[row, beam],
                            tokens[row, beam],
                        )
                    )
        if not hypotheses:  # no sequence has a nonzero probability
            hypotheses = [(-np.inf, -np.inf, tokens[row, 0, :1])]
        _, score, sequence = max(hypotheses, key=lambda h: h[0])
        outputs.append(sequence)
        output_scores.append(score)
    length = max(len(sequence) for sequence in outputs)
    result = np.full((batch_size, length), pad_token_id, dtype="int32")
    for row, sequence in enumerate(outputs):
        result[row, : len(sequence)] = sequence[:length]
    if return_scores:
        return result, np.asarray(output_scores, dtype="float32")
    return result


def _has_cached_decoding(model):
    """Whether `model` decodes with a key/value cache (`Seq2SeqTransformer`)."""
    # Imported here: the model's module imports this one.
    from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer

    return isinstance(model, Seq2SeqTransformer)


def _add_hypothesis(hypotheses, hypothesis, width):
    """Keeps the `width` best hypotheses, sorted best first."""
    if len(hypotheses) >= width and hypothesis[0] <= hypotheses[-1][0]:
        return
    hypotheses.append(hypothesis)
    hypotheses.sort(key=lambda h: -h[0])
    del hypotheses[width:]
