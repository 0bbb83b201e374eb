import importlib.util
import json
import pathlib

import keras_hub
import numpy as np
import pytest

from tftransformer.data import load_rotten_tomatoes

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "finetune_throughput.py"


@pytest.fixture(scope="module")
def bench():
    """The benchmark script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("finetune_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def expected_lengths(preset, num_examples, max_length, seed=0):
    """Real packed lengths of the benchmark's training subset, from the
    preset's tokenizer alone: [CLS] + word pieces (truncated) + [SEP]."""
    tokenizer = keras_hub.models.BertTokenizer.from_preset(preset)
    texts = load_rotten_tomatoes("train").sample(num_examples, seed).texts
    return np.array([min(len(tokenizer(text)), max_length - 2) + 2 for text in texts])


def test_flops_formula_by_hand(bench):
    # 6 * 1000 + 12 * 2 layers * 10 tokens * 16 wide = 6000 + 3840.
    assert bench.train_flops_per_token(1000, 2, 16, 10) == 9840
    # Sequences of 3 and 5 real tokens, N=100, L=1, d=4:
    # 3 * (600 + 12*1*3*4) + 5 * (600 + 12*1*5*4) = 3*744 + 5*840 = 6432.
    assert bench.train_flops(100, 1, 4, real_tokens=8, sum_sq=9 + 25) == 6432
    with pytest.raises(ValueError, match="seq_len=-1"):
        bench.train_flops_per_token(1000, 2, 16, -1)


def test_counts_and_timed_window(bench):
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)
    counts = bench.count_batch(mask)
    assert counts == {
        "examples": 2,
        "real_tokens": 5,
        "sum_sq": 13,
        "padded_tokens": 8,
    }
    window = bench.timed_window([counts] * 3, [1.0, 3.0, 6.0], 0.5, 1)
    assert window["steps"] == 2 and window["seconds"] == 5.0
    assert window["examples"] == 4 and window["real_tokens"] == 10
    with pytest.raises(ValueError, match="warmup_steps=3"):
        bench.timed_window([counts] * 3, [1.0, 3.0, 6.0], 0.5, 3)


def test_arguments_are_checked(bench, monkeypatch):
    with pytest.raises(ValueError, match="'bert'"):
        bench.parse_peers("ours,bert")
    with pytest.raises(ValueError, match="distinct"):
        bench.parse_peers(["ours", "ours"])
    assert bench.parse_peers("ours, hub512,torch") == ["ours", "hub512", "torch"]
    with pytest.raises(ValueError, match="batch_size=0"):
        bench.default_config(batch_size=0)
    with pytest.raises(ValueError, match="mixed_precision='fp8'"):
        bench.default_config(mixed_precision="fp8")
    monkeypatch.setattr(
        bench, "torch_unavailable_reason", lambda preset: "torch peer skipped: x"
    )
    with pytest.raises(ValueError, match="torch peer skipped: x"):
        bench.run_benchmark(peers=["torch"], repeats=1, verbose=False)


def test_ours_and_hub_end_to_end(bench, tiny_preset, tmp_path):
    # One epoch of 20 examples, nothing untimed: every example is counted.
    results = bench.run_benchmark(
        peers=["ours", "hub64"],
        repeats=1,
        output_dir=str(tmp_path),
        command="finetune_throughput.py --test",
        verbose=False,
        preset=tiny_preset,
        steps=0,
        warmup_steps=0,
        batch_size=8,
        max_length=64,
        max_train_examples=20,
        matmul_size=128,
        matmul_seconds=0.05,
    )
    lengths = expected_lengths(tiny_preset, 20, 64)
    runs = {run["peer"]: run for run in results["runs"]}
    assert set(runs) == {"ours", "hub64"}
    for run in runs.values():
        assert "error" not in run, run
        assert run["examples"] == 20
        assert run["real_tokens"] == lengths.sum()
        assert run["sum_sq"] == (lengths**2).sum()
        assert run["peak_rss_mib"] > 100
    # keras-hub pads every row to its sequence_length; ours pads each batch
    # to its longest row rounded up to 16.
    assert runs["hub64"]["padded_tokens"] == 20 * 64
    assert runs["hub64"]["steps"] == 3
    assert runs["ours"]["padded_tokens"] % 16 == 0
    assert lengths.sum() <= runs["ours"]["padded_tokens"] < 20 * 64

    rows = {row["peer"]: row for row in results["summary"]}
    for row in rows.values():
        for key in (
            "examples_per_s",
            "real_tokens_per_s",
            "padded_tokens_per_s",
            "peak_rss_mib",
            "examples_per_s_vs_ours",
            "real_tokens_per_s_vs_ours",
            "model_gflops",
            "fraction_of_peak",
        ):
            assert row[key] > 0, (row["peer"], key)
    assert rows["ours"]["examples_per_s_vs_ours"] == 1.0
    assert set(results["gemm_peak_gflops"]) == {"float32", "bfloat16"}
    run = runs["hub64"]
    expected_gflops = (
        bench.train_flops(
            run["non_embedding_params"],
            2,
            16,
            lengths.sum(),
            (lengths**2).sum(),
        )
        / run["seconds"]
        / 1e9
    )
    assert rows["hub64"]["model_gflops"] == pytest.approx(expected_gflops)

    saved = json.loads((tmp_path / "results.json").read_text())
    assert saved["summary"] == json.loads(json.dumps(results["summary"]))
    report = (tmp_path / "results.md").read_text()
    for text in (
        "- date: ",
        saved["machine"]["cpu"],
        "logical cores",
        "`finetune_throughput.py --test`",
        "| peer | examples/s | real tokens/s |",
        "| ours | ",
        "| hub64 | ",
    ):
        assert text in report


def test_warmup_and_repeated_data_in_process(bench, tiny_preset):
    # 20 examples in batches of 8: 8, 8, 4, then the data again. After one
    # warmup batch, three timed steps see 8 + 4 + 8 examples.
    config = bench.default_config(
        preset=tiny_preset,
        steps=3,
        warmup_steps=1,
        batch_size=8,
        max_length=64,
        max_train_examples=20,
        matmul_size=0,
    )
    result = bench.run_worker("hub32", config)
    lengths = expected_lengths(tiny_preset, 20, 32)
    assert result["steps"] == 3 and result["examples"] == 20
    assert result["real_tokens"] == lengths.sum()
    assert result["padded_tokens"] == 20 * 32
    assert result["seconds"] > 0
