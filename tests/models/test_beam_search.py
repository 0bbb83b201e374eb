import itertools

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.models.decoding import beam_search
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer

PAD, START, END, A, B, C = 0, 1, 2, 3, 4, 5


class BigramModel(keras.Model):
    """A decoder whose next-token distribution is a fixed table indexed by
    the previous token (the source is ignored): every sequence's probability
    is known exactly."""

    def __init__(self, probabilities):
        super().__init__()
        probabilities = np.asarray(probabilities, "float64")
        self.table = keras.layers.Embedding(
            *probabilities.shape,
            embeddings_initializer=keras.initializers.Constant(
                np.log(np.maximum(probabilities, 1e-12))
            ),
        )

    def call(self, inputs, training=False):
        return self.table(inputs["decoder_token_ids"])


def transitions(rows, vocabulary_size=6):
    """Probabilities from {previous: {next: p}}; unlisted entries are ~0."""
    table = np.full((vocabulary_size, vocabulary_size), 1e-12)
    for previous, nexts in rows.items():
        for token, p in nexts.items():
            table[previous, token] = p
    return table


def log_prob(table, sequence):
    return sum(np.log(table[a, b]) for a, b in zip(sequence[:-1], sequence[1:]))


def random_seq2seq(**kwargs):
    keras.utils.set_random_seed(0)
    model = Seq2SeqTransformer(
        encoder_vocabulary_size=10,
        decoder_vocabulary_size=12,
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
        dropout=0.0,
        **kwargs,
    )
    # A large END logit bias makes the random model stop at various lengths.
    kernel, bias = model.get_layer("logits").get_weights()
    bias[END] = 1.5
    model.get_layer("logits").set_weights([kernel, bias])
    return model


def sources(n, seed=0):
    ids = np.random.default_rng(seed).integers(3, 10, size=(n, 6)).astype("int32")
    ids[: n // 2, 4:] = PAD  # some padded sources
    return ids


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
def test_beam_width_one_equals_greedy_decode(position_kind):
    model = random_seq2seq(position_kind=position_kind)
    source = sources(16)
    greedy = model.greedy_decode(source, START, END, max_length=12)
    beam = beam_search(model, source, START, END, max_length=12, beam_width=1)
    lengths = (greedy != PAD).sum(axis=1)
    assert len(set(lengths)) > 1, "want outputs of several lengths"
    np.testing.assert_array_equal(beam, greedy)


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_cached_search_equals_search_over_whole_prefixes(position_kind, length_penalty):
    # A Seq2SeqTransformer decodes with its key/value cache; the same
    # network as a plain functional model is run on the whole prefixes.
    model = random_seq2seq(position_kind=position_kind)
    # A smaller END bias than usual: long outputs, surviving prefixes that
    # swap slots, and several lengths.
    kernel, bias = model.get_layer("logits").get_weights()
    bias[END] = 0.5
    model.get_layer("logits").set_weights([kernel, bias])
    plain = keras.Model(model.inputs, model.outputs)
    assert not isinstance(plain, Seq2SeqTransformer)
    source = sources(8)
    kwargs = dict(
        max_length=12, beam_width=3, length_penalty=length_penalty, return_scores=True
    )
    tokens, scores = beam_search(model, source, START, END, **kwargs)
    plain_tokens, plain_scores = beam_search(plain, source, START, END, **kwargs)
    lengths = (tokens != PAD).sum(axis=1)
    assert len(set(lengths)) > 1, "want outputs of several lengths"
    np.testing.assert_array_equal(tokens, plain_tokens)
    np.testing.assert_allclose(scores, plain_scores, atol=1e-4)


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
def test_xla_compiled_steps_decode_the_same(position_kind):
    model = random_seq2seq(position_kind=position_kind)
    source = sources(8, seed=2)
    kwargs = dict(max_length=12, beam_width=3, return_scores=True)
    tokens, scores = beam_search(model, source, START, END, **kwargs)
    xla_tokens, xla_scores = beam_search(
        model, source, START, END, jit_compile=True, **kwargs
    )
    np.testing.assert_array_equal(xla_tokens, tokens)
    np.testing.assert_allclose(xla_scores, scores, atol=1e-4)
    greedy = model.greedy_decode(source, START, END, max_length=12)
    np.testing.assert_array_equal(
        model.greedy_decode(source, START, END, max_length=12, jit_compile=True),
        greedy,
    )
    assert len(set((greedy != PAD).sum(axis=1))) > 1, "want several lengths"


def test_compiled_step_takes_the_position_at_run_time():
    # As for CausalLM: one XLA program for every position, else each step
    # of a decoding would compile anew.
    model = random_seq2seq(position_kind="learned")
    source = sources(2)
    mask = tf.constant(source != PAD)
    encoded = model.encode(source, mask)
    self_cache, cross_cache = model.build_cache(2, 12, source.shape[1])
    _, self_cache, cross_cache = model.call_with_cache(
        np.full((2, 1), START, "int32"), 0, self_cache, cross_cache, mask, encoded
    )
    step = tf.function(
        lambda *args: model.call_with_cache(*args, encoder_sequence=None),
        jit_compile=True,
    )
    ids = tf.constant(np.full((2, 1), A, "int32"))
    programs = [
        step.experimental_get_compiler_ir(
            ids, tf.constant(index), self_cache, cross_cache, mask
        )(stage="hlo")
        for index in (3, 7)
    ]
    assert programs[0] == programs[1]


def test_scores_are_the_teacher_forced_log_probabilities():
    model = random_seq2seq()
    source = sources(8, seed=1)
    tokens, scores = beam_search(
        model, source, START, END, max_length=10, beam_width=3, return_scores=True
    )
    batch, length = tokens.shape
    logits = model(
        {
            "encoder_token_ids": source,
            "encoder_padding_mask": (source != PAD).astype("int32"),
            "decoder_token_ids": tokens[:, :-1],
            "decoder_padding_mask": np.ones((batch, length - 1), "int32"),
        }
    )
    log_probs = np.asarray(keras.ops.log_softmax(logits, axis=-1))
    for row in range(batch):
        ends = np.flatnonzero(tokens[row] == END)
        stop = ends[0] if len(ends) else length - 1
        expected = sum(
            log_probs[row, t - 1, tokens[row, t]] for t in range(1, stop + 1)
        )
        assert scores[row] == pytest.approx(expected, abs=1e-4)


def test_finds_the_more_probable_sequence_that_greedy_misses():
    # Greedy takes A (0.6) then ends (0.4): P = 0.24. Through B (0.4) the
    # end is certain: P(START B END) = 0.4 * 0.99 = 0.396.
    table = transitions(
        {
            START: {A: 0.6, B: 0.4},
            A: {END: 0.4, C: 0.3, B: 0.3},
            B: {END: 0.99, C: 0.01},
            C: {END: 1.0},
        }
    )
    model = BigramModel(table)
    source = np.ones((1, 3), "int32")
    greedy = beam_search(model, source, START, END, max_length=6, beam_width=1)
    np.testing.assert_array_equal(greedy, [[START, A, END]])
    tokens, scores = beam_search(
        model, source, START, END, max_length=6, beam_width=2, return_scores=True
    )
    np.testing.assert_array_equal(tokens, [[START, B, END]])
    assert scores[0] == pytest.approx(np.log(0.4 * 0.99), abs=1e-5)


def test_length_penalty_favours_longer_outputs():
    # START A END: log P = log 0.5 over 2 tokens; START B C END: log 0.45
    # over 3 tokens. Less probable, but better per token when alpha = 1.
    table = transitions(
        {START: {A: 0.5, B: 0.5}, A: {END: 1.0}, B: {C: 1.0}, C: {END: 0.9, A: 0.1}}
    )
    model = BigramModel(table)
    source = np.ones((1, 3), "int32")
    plain = beam_search(model, source, START, END, max_length=8, beam_width=3)
    np.testing.assert_array_equal(plain, [[START, A, END]])
    normalized = beam_search(
        model, source, START, END, max_length=8, beam_width=3, length_penalty=1.0
    )
    np.testing.assert_array_equal(normalized, [[START, B, C, END]])


@pytest.mark.parametrize("length_penalty", [0.0, 1.0])
def test_wide_beam_returns_the_best_of_all_sequences(length_penalty):
    rng = np.random.default_rng(3)
    table = np.full((6, 6), 1e-12)
    for previous in (START, A, B, C):
        table[previous, [END, A, B, C]] = rng.dirichlet(np.ones(4))
    max_length = 5
    # Every output: up to 3 tokens then END, or 4 tokens and no END.
    candidates = []
    for n in range(max_length - 1):
        for middle in itertools.product((A, B, C), repeat=n):
            candidates.append((START, *middle, END))
    candidates += [(START, *m) for m in itertools.product((A, B, C), repeat=4)]

    def rank(sequence):
        return log_prob(table, sequence) / (len(sequence) - 1) ** length_penalty

    best = max(candidates, key=rank)
    # 64 prefixes hold every real prefix and every real extension ranks
    # within the beam, so the search is exhaustive.
    tokens, scores = beam_search(
        BigramModel(table),
        np.ones((1, 2), "int32"),
        START,
        END,
        max_length=max_length,
        beam_width=64,
        length_penalty=length_penalty,
        return_scores=True,
    )
    assert tuple(t for t in tokens[0] if t != PAD) == best
    assert scores[0] == pytest.approx(log_prob(table, best), abs=1e-4)


def test_rows_are_decoded_independently():
    model = random_seq2seq()
    source = sources(6, seed=2)
    together = beam_search(model, source, START, END, max_length=10, beam_width=3)
    for row in range(len(source)):
        alone = beam_search(
            model, source[row : row + 1], START, END, max_length=10, beam_width=3
        )
        width = alone.shape[1]
        np.testing.assert_array_equal(together[row, :width], alone[0])
        np.testing.assert_array_equal(together[row, width:], PAD)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_length": 1}, "max_length=1"),
        ({"max_length": 17}, "max_length=17, max_sequence_length=16"),
        ({"beam_width": 0}, "beam_width=0"),
        ({"length_penalty": -0.5}, "length_penalty=-0.5"),
        ({"length_penalty": float("inf")}, "length_penalty=inf"),
        ({"end_token_id": 12}, r"\[0, 11\].*end_token_id=12"),
        ({"start_token_id": "1"}, "start_token_id='1'"),
        ({"encoder_padding_mask": np.ones((1, 4))}, r"shape \(1, 4\)"),
        ({"jit_compile": "yes"}, "jit_compile='yes'"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    arguments = {
        "start_token_id": START,
        "end_token_id": END,
        "max_length": 8,
        **kwargs,
    }
    with pytest.raises(ValueError, match=message):
        beam_search(random_seq2seq(), np.ones((1, 3), "int32"), **arguments)


@pytest.mark.parametrize("decode", ["beam_search", "greedy_decode"])
def test_rejects_source_of_wrong_rank(decode):
    model = random_seq2seq()
    source = np.ones((3,), "int32")
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        if decode == "beam_search":
            beam_search(model, source, START, END, 8)
        else:
            model.greedy_decode(source, START, END, 8)


# The embedding lookup failed deep in TensorFlow (on a GPU: read zeros).
@pytest.mark.parametrize("decode", ["beam_search", "greedy_decode"])
@pytest.mark.parametrize("bad_id, where", [(-1, "[0, 1]"), (None, "[1, 2]")])
def test_rejects_source_ids_outside_the_vocabulary(decode, bad_id, where):
    model = random_seq2seq()
    vocabulary_size = model.encoder_vocabulary_size
    bad_id = vocabulary_size if bad_id is None else bad_id
    source = np.ones((2, 3), "int32")
    source[tuple(int(i) for i in where.strip("[]").split(", "))] = bad_id
    message = (
        rf"encoder_token_ids must hold token ids in \[0, {vocabulary_size}\)\. "
        rf"Received: encoder_token_ids\{where[:-1]}\]={bad_id}"
    )
    with pytest.raises(ValueError, match=message):
        if decode == "beam_search":
            beam_search(model, source, START, END, 8)
        else:
            model.greedy_decode(source, START, END, 8)


def test_numpy_integers_are_accepted():
    model = random_seq2seq()
    source = sources(2)
    expected = beam_search(model, source, START, END, 8, beam_width=2)
    np.testing.assert_array_equal(
        beam_search(
            model, source, np.int64(START), np.int32(END), np.int64(8), np.int64(2)
        ),
        expected,
    )
    greedy = model.greedy_decode(source, START, END, 8)
    np.testing.assert_array_equal(
        model.greedy_decode(source, np.int64(START), np.int64(END), np.int64(8)),
        greedy,
    )
