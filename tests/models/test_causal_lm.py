import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.models.causal_lm import CausalLM, _sample
from tftransformer.testing import run_model_test

CYCLE = [3, 4, 5, 6, 7, 8]  # the text: this cycle repeated
VOCAB = 10


def tiny_lm(dtype=None, **kwargs):
    args = dict(
        vocabulary_size=VOCAB,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=24,
        dropout=0.0,
    )
    return CausalLM(**{**args, **kwargs}, dtype=dtype)


def windows(n, length, seed):
    """Windows of the repeated cycle, starting at random offsets."""
    starts = np.random.default_rng(seed).integers(0, len(CYCLE), size=n)
    text = np.array(CYCLE * (length // len(CYCLE) + 2), "int32")
    return np.stack([text[s : s + length] for s in starts])


def continuation(prompt, length):
    position = CYCLE.index(prompt[-1])
    return [CYCLE[(position + 1 + i) % len(CYCLE)] for i in range(length)]


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = tiny_lm(hidden_dim=32, intermediate_dim=64)
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    ids = windows(512, 17, seed=0)
    inputs = {"token_ids": ids[:, :-1], "padding_mask": np.ones_like(ids[:, :-1])}
    history = model.fit(inputs, ids[:, 1:], batch_size=32, epochs=3, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position_kind": "learned"},
        {"position_kind": "relative", "norm_first": True, "dropout": 0.1},
    ],
)
def test_model_contract(kwargs, tmp_path):
    ids = windows(2, 6, seed=1)
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    run_model_test(
        lambda dtype=None: tiny_lm(dtype, **kwargs), inputs, tmp_path, (2, 6, VOCAB)
    )


def test_logits_are_causal():
    model = tiny_lm()
    ids = windows(2, 8, seed=2)
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    changed = ids.copy()
    changed[:, 5:] = 9
    reference = np.asarray(model(inputs))
    logits = np.asarray(model({**inputs, "token_ids": changed}))
    np.testing.assert_allclose(logits[:, :5], reference[:, :5], atol=1e-5)
    assert not np.allclose(logits[:, 5:], reference[:, 5:], atol=1e-3)


def test_learns_to_continue_the_repeated_text(trained):
    model, losses = trained
    # Uniform guessing over 10 ids costs log(10) = 2.3 nats per token.
    assert losses[-1] < 0.1, losses
    prompts = np.array([[5, 6], [8, 3], [4, 5]], "int32")
    generated = model.generate(prompts, max_length=14, top_k=1)
    assert generated.shape == (3, 14)
    for prompt, row in zip(prompts, generated):
        np.testing.assert_array_equal(row[:2], prompt)
        np.testing.assert_array_equal(row[2:], continuation(list(prompt), 12))
    # Sampling at a low temperature follows the cycle as well.
    sampled = model.generate(prompts, max_length=14, temperature=0.5, seed=0)
    for prompt, row in zip(prompts, sampled):
        np.testing.assert_array_equal(row[2:], continuation(list(prompt), 12))


@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"position_kind": "sine", "norm_first": True},
        {"position_kind": "relative", "num_layers": 2},
    ],
)
def test_top_k_one_is_greedy(kwargs):
    # Untrained: arbitrary but deterministic logits. Generation reads a
    # key/value cache; the check is against full calls of the model.
    model = tiny_lm(**kwargs)
    prompts = windows(4, 3, seed=3)
    greedy = model.generate(prompts, max_length=12, top_k=1, seed=0)
    assert (
        greedy == model.generate(prompts, 12, temperature=3.0, top_k=1, seed=7)
    ).all()
    logits = np.asarray(
        model(
            {"token_ids": greedy[:, :-1], "padding_mask": np.ones_like(greedy[:, :-1])}
        )
    )
    np.testing.assert_array_equal(logits.argmax(-1)[:, 2:], greedy[:, 3:])


@pytest.mark.parametrize("position_kind", ["learned", "sine", "relative"])
def test_compiled_step_takes_the_position_at_run_time(position_kind):
    # A value XLA needs at compile time (a slice's start) would make
    # generate's compiled step recompile at every position: the programs for
    # two positions must be the same.
    model = tiny_lm(position_kind=position_kind)
    cache = model.build_cache(2, 12)
    step = tf.function(model.call_with_cache, jit_compile=True)
    ids = tf.constant(windows(2, 1, seed=0))
    programs = [
        step.experimental_get_compiler_ir(ids, cache, tf.constant(index))(stage="hlo")
        for index in (3, 7)
    ]
    assert programs[0] == programs[1]


def test_generation_without_xla_gives_the_same_tokens():
    model = tiny_lm(position_kind="relative")
    prompts = windows(3, 4, seed=6)
    np.testing.assert_array_equal(
        model.generate(prompts, max_length=10, top_k=3, seed=1),
        model.generate(prompts, max_length=10, top_k=3, seed=1, jit_compile=False),
    )


@pytest.mark.parametrize(
    "dtype, kwargs, atol",
    [
        (None, {"position_kind": "learned"}, 1e-5),
        (None, {"position_kind": "sine", "norm_first": True}, 1e-5),
        (None, {"position_kind": "relative", "num_layers": 2}, 1e-5),
        ("mixed_bfloat16", {"position_kind": "relative", "norm_first": True}, 0.1),
    ],
)
def test_call_with_cache_gives_the_logits_of_one_call(dtype, kwargs, atol):
    keras.utils.set_random_seed(0)
    model = tiny_lm(dtype, dropout=0.1, **kwargs)  # inactive: inference
    ids = windows(3, 9, seed=5)
    expected = np.asarray(model({"token_ids": ids, "padding_mask": np.ones_like(ids)}))
    cache = model.build_cache(3, 12)
    assert tuple(cache.shape) == (3, model.num_layers, 2, 12, 2, 4)
    logits, cache = model.call_with_cache(ids[:, :4], cache, 0)
    pieces = [logits]
    for index in range(4, 9):
        logits, cache = model.call_with_cache(ids[:, index : index + 1], cache, index)
        pieces.append(logits)
    logits = np.concatenate(pieces, 1)
    assert logits.dtype == np.float32
    np.testing.assert_allclose(logits, expected, atol=atol)


def test_sampling_is_reproducible_and_top_k_restricts_it():
    model = tiny_lm()
    prompts = windows(8, 2, seed=4)
    first = model.generate(prompts, max_length=16, top_k=3, seed=11)
    np.testing.assert_array_equal(
        first, model.generate(prompts, max_length=16, top_k=3, seed=11)
    )
    assert not np.array_equal(
        first, model.generate(prompts, max_length=16, top_k=3, seed=12)
    )
    # Every sampled token is among the 3 most likely at its position.
    logits = np.asarray(
        model({"token_ids": first[:, :-1], "padding_mask": np.ones_like(first[:, :-1])})
    )
    top3 = np.argsort(-logits, axis=-1)[..., :3]
    for position in range(1, 15):
        assert (top3[:, position] == first[:, position + 1, None]).any(-1).all()


def test_prompts_of_different_lengths_and_end_token(trained):
    model, _ = trained
    prompts = np.array([[3, 4, 5], [6, 0, 0]], "int32")
    mask = np.array([[1, 1, 1], [1, 0, 0]], "int32")
    generated = model.generate(
        prompts, max_length=12, top_k=1, end_token_id=8, prompt_padding_mask=mask
    )
    # Row 0 continues 6, 7, 8 and stops; row 1 continues 7, 8 and stops.
    np.testing.assert_array_equal(generated, [[3, 4, 5, 6, 7, 8], [6, 7, 8, 0, 0, 0]])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0.0}, "temperature=0.0"),
        ({"temperature": -1}, "temperature=-1"),
        ({"top_k": 0}, "top_k=0"),
        ({"jit_compile": "yes"}, "jit_compile='yes'"),
        ({"top_k": 11}, r"\[1, 10\].*top_k=11"),
        ({"max_length": 3}, "max_length=3, prompt length 3"),
        ({"max_length": 25}, "max_length=25, max_sequence_length=24"),
        ({"temperature": float("inf")}, "temperature=inf"),
        ({"end_token_id": "x"}, "end_token_id='x'"),
        ({"end_token_id": 10}, r"\[0, 9\].*end_token_id=10"),
        ({"pad_token_id": -1}, "pad_token_id=-1"),
        # NumPy's errors did not name the seed.
        ({"seed": -1}, r"seed must be an integer >= 0 or None. Received: seed=-1"),
        ({"seed": "abc"}, "seed='abc'"),
        # Generation writes at each row's length: anything but right
        # padding would overwrite prompt tokens.
        ({"prompt_padding_mask": [[0, 1, 1], [1, 1, 1]]}, r"row 0 is \[0, 1, 1\]"),
        ({"prompt_padding_mask": [[1, 1, 1], [1, 0, 1]]}, r"row 1 is \[1, 0, 1\]"),
        ({"prompt_padding_mask": [1, 1, 1]}, r"shape of prompt_ids \(2, 3\)"),
    ],
)
def test_generate_rejects_bad_arguments(kwargs, message):
    arguments = {"max_length": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        tiny_lm().generate(np.ones((2, 3), "int32"), **arguments)


@pytest.mark.parametrize("bad_id, where", [(10, "[0, 1]"), (-1, "[1, 2]")])
def test_generate_rejects_prompt_ids_past_the_vocabulary(bad_id, where):
    prompts = np.ones((2, 3), "int32")
    prompts[tuple(int(i) for i in where.strip("[]").split(", "))] = bad_id
    with pytest.raises(ValueError) as info:
        tiny_lm().generate(prompts, max_length=8)
    assert str(info.value) == (
        "prompt_ids must hold token ids in [0, 10). "
        f"Received: prompt_ids{where}={bad_id}"
    )


def test_generate_takes_whole_numbers_as_prompt_ids_and_refuses_fractions():
    # A cast cut 4.7 to token 4 without a word.
    model = tiny_lm()
    whole = model.generate(np.ones((1, 3), "float32"), max_length=5, top_k=1)
    np.testing.assert_array_equal(
        whole, model.generate(np.ones((1, 3), "int32"), max_length=5, top_k=1)
    )
    with pytest.raises(ValueError, match=r"whole numbers\). .*prompt_ids\[0, 1\]=4.7"):
        model.generate(np.array([[1.0, 4.7, 2.0]]), max_length=5)
    with pytest.raises(
        ValueError, match=r"ids \(whole numbers\)\. .*prompt_ids of dtype"
    ):
        model.generate([["a", "b"]], max_length=5)


def test_numpy_integers_are_sizes():
    # Sizes often come out of NumPy (`ids.max() + 1`).
    model = tiny_lm(vocabulary_size=np.int64(VOCAB), num_layers=np.int32(1))
    assert type(model.get_config()["vocabulary_size"]) is int
    prompts = np.ones((1, 3), "int32")
    generated = model.generate(
        prompts, max_length=np.int64(6), top_k=np.int64(2), end_token_id=np.int64(9)
    )
    assert generated.shape[1] <= 6


def test_top_k_keeps_exactly_k_tokens_when_logits_tie():
    # bfloat16 logits often tie: the k-th value must not let more in.
    log_probs = np.log(np.full((20_000, 6), 1 / 6))
    drawn = _sample(log_probs, 1.0, 2, np.random.default_rng(0))
    assert len(np.unique(drawn)) == 2


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"position_kind": "none"}, "position_kind='none'"),
        ({"hidden_dim": 6, "num_heads": 4}, "hidden_dim=6, num_heads=4"),
        ({"vocabulary_size": 0}, "vocabulary_size=0"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_lm(**kwargs)
