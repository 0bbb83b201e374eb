import pytest

# A tiny model, one timed call: every system runs, nothing is measured.
TINY = dict(
    batch_sizes=(2,),
    new_tokens=4,
    repeats=1,
    vocabulary_size=50,
    num_layers=1,
    num_heads=2,
    hidden_dim=8,
    verbose=False,
)


def check_rows(rows, systems):
    assert [row["system"] for row in rows] == list(systems)
    for row in rows:
        assert row["batch_size"] == 2 and row["tokens_per_s"] > 0
        assert row["first_call_seconds"] > 0


def test_tiny_run_times_every_system(generation):
    rows = generation.run(prompt_length=3, **TINY)
    check_rows(rows, generation.SYSTEMS)
    assert rows[0]["vs_ours"] == 1.0
    table = generation.format_table(rows, 3, 4)
    assert "| keras-hub GPT2CausalLM.generate | 2 |" in table


def test_tiny_seq2seq_run_times_every_variant(generation):
    rows = generation.run_seq2seq(source_length=3, beam_width=2, **TINY)
    check_rows(rows, generation.SEQ2SEQ_SYSTEMS)
    # Each XLA row is compared with its own decoding without XLA.
    assert rows[0]["vs_ours"] == rows[2]["vs_ours"] == 1.0
    assert rows[1]["vs_ours"] == rows[1]["tokens_per_s"] / rows[0]["tokens_per_s"]
    table = generation.format_seq2seq_table(rows, 3, 4, 2)
    assert "| beam_search(jit_compile=True) | 2 |" in table


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_sizes": (1, 0)}, r"batch_sizes\[1\]=0"),
        ({"batch_sizes": ()}, "at least one batch size"),
        ({"new_tokens": 2.5}, "new_tokens=2.5"),
        ({"repeats": 0}, "repeats=0"),
    ],
)
def test_bad_counts_are_refused_before_building(generation, kwargs, message):
    with pytest.raises(ValueError, match=message):
        generation.run(**kwargs, verbose=False)
