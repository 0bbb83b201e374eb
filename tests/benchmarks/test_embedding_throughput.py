import importlib.util

import pytest


def config(preset, **overrides):
    return {
        "preset": preset,
        "num_sentences": 6,
        "max_length": 32,
        "seed": 0,
        "batch_sizes": [2, 4],
        **overrides,
    }


def test_summary_medians_spread_and_ratio(embedding_bench):
    # 100 sentences; ours takes 1, 2, 4 s at batch 8, torch 4, 5, 10 s.
    runs = [
        {"peer": peer, "sentences": 100, "seconds": {"8": seconds}}
        for peer, seconds in [
            ("ours", 1.0),
            ("torch", 4.0),
            ("ours", 2.0),
            ("torch", 5.0),
            ("ours", 4.0),
            ("torch", 10.0),
        ]
    ]
    rows = embedding_bench.summarize(runs, [8], ["ours", "torch"])
    ours, torch = rows
    assert (ours["median"], ours["min"], ours["max"]) == (50.0, 25.0, 100.0)
    assert (torch["median"], torch["min"], torch["max"]) == (20.0, 10.0, 25.0)
    assert ours["vs_ours"] == 1.0 and torch["vs_ours"] == pytest.approx(0.4)
    table = embedding_bench.format_table(rows)
    assert "| ours | 8 | 50.0 (25.0-100.0) | 1.00x |" in table
    assert "| torch | 8 | 20.0 (10.0-25.0) | 0.40x |" in table
    # Without ours there is no ratio.
    (alone,) = embedding_bench.summarize(runs, [8], ["torch"])
    assert alone["vs_ours"] is None
    assert "| torch | 8 | 20.0 (10.0-25.0) | - |" in embedding_bench.format_table(
        [alone]
    )


def test_ours_in_process(embedding_bench, small_vocabulary_preset):
    results = embedding_bench.run_benchmark(
        ["ours"],
        config(small_vocabulary_preset),
        repeats=2,
        in_process=True,
        verbose=False,
    )
    assert [run["repeat"] for run in results["runs"]] == [0, 1]
    for run in results["runs"]:
        assert run["sentences"] == 6
        assert set(run["seconds"]) == {"2", "4"}
        assert all(seconds > 0 for seconds in run["seconds"].values())
    rows = results["summary"]
    assert [(row["batch_size"], row["repeats"]) for row in rows] == [(2, 2), (4, 2)]
    for row in rows:
        assert row["min"] <= row["median"] <= row["max"] and row["vs_ours"] == 1.0
    report = embedding_bench.format_report(results)
    assert "1-minute load average" in report and "logical cores" in report
    assert "6 sentences (embedded sentiment training split, seed 0)" in report


def test_arguments_are_checked(embedding_bench, monkeypatch):
    with pytest.raises(ValueError, match="'bert'"):
        embedding_bench.run_benchmark(["ours", "bert"], config("embedded"), 1)
    with pytest.raises(ValueError, match="repeats=0"):
        embedding_bench.run_benchmark(["ours"], config("embedded"), 0)
    with pytest.raises(ValueError, match=r"batch_sizes=\[0\]"):
        embedding_bench.run_benchmark(["ours"], config("embedded", batch_sizes=[0]), 1)
    with pytest.raises(ValueError, match="num_sentences=0"):
        embedding_bench.load_sentences(0)
    with pytest.raises(ValueError, match="peer='jax'"):
        embedding_bench.run_worker("jax", config("embedded"))
    # A missing peer is skipped with the reason, not run.
    monkeypatch.setattr(
        embedding_bench, "torch_unavailable_reason", lambda: "torch peer skipped: x"
    )
    monkeypatch.setattr(embedding_bench, "run_worker", None)
    results = embedding_bench.run_benchmark(
        ["torch"], config("embedded"), 1, in_process=True, verbose=False
    )
    assert results["skipped"] == {"torch": "torch peer skipped: x"}
    assert results["runs"] == [] and results["summary"] == []


@pytest.mark.skipif(
    importlib.util.find_spec("sentence_transformers") is None,
    reason="sentence-transformers lives in .venv-bench only",
)
def test_torch_peer_in_process(embedding_bench):
    run = embedding_bench.run_worker("torch", config("embedded", batch_sizes=[4]))
    assert run["sentences"] == 6 and run["seconds"]["4"] > 0
    assert "sentence_transformers" in run["versions"]
