import json
import subprocess
import sys
import tempfile
import types

import keras_hub
import numpy as np
import pytest

from tests import fork_server
from tests.fast_exit import python_command
from tftransformer.datasets import load_rotten_tomatoes


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
    # The same sequences with 40 of the 100 parameters and the one layer
    # frozen (forward only): (6*60 + 2*40) * 8 + 4*1*4 * 34 = 3520 + 544.
    assert (
        bench.train_flops(
            100, 1, 4, real_tokens=8, sum_sq=34, frozen_params=40, frozen_layers=1
        )
        == 4064
    )
    with pytest.raises(ValueError, match="frozen_layers=2"):
        bench.train_flops(100, 1, 4, 8, 34, frozen_layers=2)


def test_ours_variants(bench):
    assert bench.ours_options("ours") == {}
    assert bench.ours_options("hub128") is None
    assert bench.ours_options("ours+bfloat16+freeze3") == {
        "mixed_precision": "bfloat16",
        "freeze_layers": 3,
    }
    assert bench.ours_options("ours+xla") == {"jit_compile": True}
    assert bench.ours_options("ours+kerasadamw") == {"fused_adamw": False}
    assert bench.ours_options("ours+pack") == {"pack_sequences": True}
    assert bench.ours_options("ours+pack+batch7") == {
        "pack_sequences": True,
        "batch_size": 7,
    }
    assert bench.ours_options("ours+pack+len80") == {
        "pack_sequences": True,
        "max_length": 80,
    }
    for option in ("batch0", "len0"):
        with pytest.raises(ValueError, match=f"'{option}' of peer"):
            bench.ours_options(f"ours+{option}")
    with pytest.raises(ValueError, match="'fp8' of peer 'ours\\+fp8'"):
        bench.parse_peers("ours,ours+fp8")
    with pytest.raises(ValueError, match="sets mixed_precision twice"):
        bench.ours_options("ours+bfloat16+float16")
    assert bench.parse_peers("ours,ours+xla,hub128") == ["ours", "ours+xla", "hub128"]
    # The lever flags are ours' alone: other peers run without them.
    config = bench.default_config(mixed_precision="bfloat16", freeze_layers=2)
    assert bench.peer_config("ours", config)["mixed_precision"] == "bfloat16"
    assert bench.peer_config("ours+float16", config)["mixed_precision"] == "float16"
    assert bench.peer_config("ours+batch7", config)["batch_size"] == 7
    assert bench.peer_config("torch", config)["batch_size"] == 32
    assert bench.peer_config("ours+len80", config)["max_length"] == 80
    assert bench.peer_config("torch", config)["max_length"] == 128
    hub = bench.peer_config("hub128", config)
    assert hub["mixed_precision"] == "none" and hub["freeze_layers"] == 0
    assert bench.peer_config("ours", config)["fused_adamw"] is True
    assert hub["fused_adamw"] is False  # keras-hub steps with Keras' AdamW
    peers = ["ours", "ours+xla", "hub512", "hub128"]
    assert bench.fixed_shape_peers(peers, config) == ["ours", "ours+xla", "hub512"]
    assert bench.fixed_shape_peers(["ours"], dict(config, fixed_length=0)) == []


def test_packed_batches_hold_only_real_tokens(bench, small_vocabulary_preset):
    tokenizer = keras_hub.models.BertTokenizer.from_preset(small_vocabulary_preset)
    texts = ["a good film", "bad", "the plot is thin and the cast is tired"]
    pieces = [list(tokenizer(text)) for text in texts]
    stream = [int(i) for p in pieces for i in p]
    # 2 batches of 3 rows of 6 tokens: 4 word pieces per row, 24 in all,
    # more than the texts hold, so the stream starts again.
    batches = bench.packed_batches(texts, [1, 0, 1], tokenizer, 3, 6, 2)
    assert len(batches) == 2
    rows = np.concatenate([features["token_ids"] for features, _ in batches])
    assert rows.shape == (6, 6)
    assert (rows[:, 0] == tokenizer.cls_token_id).all()
    assert (rows[:, -1] == tokenizer.sep_token_id).all()
    expected = [stream[i % len(stream)] for i in range(24)]
    assert rows[:, 1:-1].reshape(-1).tolist() == expected
    for features, _ in batches:
        assert (features["padding_mask"] == 1).all()
        assert (features["segment_ids"] == 0).all()
    # Each row is labelled by the text its first word piece comes from.
    owners = np.repeat(np.arange(3), [len(p) for p in pieces])
    labels = np.concatenate([y for _, y in batches])
    starts = [owners[(4 * r) % len(stream)] for r in range(6)]
    assert labels.tolist() == [[1, 0, 1][o] for o in starts]
    with pytest.raises(ValueError, match="length=2"):
        bench.packed_batches(texts, [1, 0, 1], tokenizer, 3, 2, 1)


@pytest.mark.parametrize("peer", ["ours+freeze1", "hub32"])
def test_fixed_shape_step_in_process(bench, small_vocabulary_preset, peer):
    config = bench.default_config(
        preset=small_vocabulary_preset,
        warmup_steps=1,
        batch_size=4,
        max_length=32,
        max_train_examples=20,
        fixed_length=16,
        fixed_steps=2,
        matmul_size=64,
        matmul_seconds=0.05,
    )
    result = bench.run_worker(peer, config, mode="fixed")
    # Two timed steps of 4 rows of 16 tokens, every token real.
    assert result["steps"] == 2 and result["examples"] == 8
    assert result["real_tokens"] == result["padded_tokens"] == 8 * 16
    assert result["sum_sq"] == 8 * 16**2
    assert set(result["matmul_gflops"]) == {"float32", "bfloat16"}
    frozen = result["frozen_params"]
    if peer == "hub32":
        assert frozen == 0 and result["frozen_layers"] == 0
    else:
        # Layer 0 and the embeddings' layer norm; never the classifier head.
        assert result["frozen_layers"] == 1
        assert 0 < frozen < result["non_embedding_params"] / 2
    with pytest.raises(ValueError, match="Keras peers only"):
        bench.run_worker("torch", config, mode="fixed")
    if peer == "hub32":
        with pytest.raises(ValueError, match="fixed_length=65"):
            bench.run_worker(peer, dict(config, fixed_length=65), mode="fixed")


def test_counts_and_timed_window(bench):
    mask = np.array([[1, 1, 1, 0], [1, 1, 0, 0]], dtype=bool)
    counts = bench.count_batch(mask)
    assert counts == {
        "examples": 2,
        "real_tokens": 5,
        "sum_sq": 13,
        "padded_tokens": 8,
    }
    # Packed rows count their texts: lengths 2 and 1, then 2.
    text_ids = np.array([[1, 1, 2, 0], [1, 1, 0, 0]])
    assert bench.count_batch(mask, text_ids) == {
        "examples": 3,
        "real_tokens": 5,
        "sum_sq": 9,
        "padded_tokens": 8,
    }
    window = bench.timed_window([counts] * 3, [1.0, 3.0, 6.0], 0.5, 1)
    assert window["steps"] == 2 and window["seconds"] == 5.0
    assert window["examples"] == 4 and window["real_tokens"] == 10
    with pytest.raises(ValueError, match="warmup_steps=3"):
        bench.timed_window([counts] * 3, [1.0, 3.0, 6.0], 0.5, 3)


def test_arguments_are_checked(bench, monkeypatch):
    for peer in ("bert", "oursx", "hub1"):
        with pytest.raises(ValueError, match=f"Unknown peer '{peer}'"):
            bench.parse_peers(f"ours,{peer}")
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


@pytest.fixture
def forked_peers(bench, monkeypatch):
    """The benchmark's peer processes fork from the suite's server that
    imported the library (tests/fork_server.py), which every peer imports.

    Each is still its own process, with the arguments, environment and
    merged output the benchmark gives it; its peak RSS counts the server's
    imports, as a new interpreter's counts its own.
    """

    def run(command, env, stdout, stderr):
        assert command[0] == sys.executable, command
        assert (stdout, stderr) == (subprocess.PIPE, subprocess.STDOUT)
        with tempfile.TemporaryFile() as output:
            process = fork_server.popen(
                python_command(*command[1:]),
                stdout=output,
                stderr=subprocess.STDOUT,
                env=env,
                preload="tftransformer",
            )
            process.wait()
            output.seek(0)
            return subprocess.CompletedProcess(
                command, process.returncode, output.read()
            )

    shim = types.SimpleNamespace(
        run=run, PIPE=subprocess.PIPE, STDOUT=subprocess.STDOUT
    )
    monkeypatch.setattr(bench, "subprocess", shim)


def test_ours_and_hub_end_to_end(
    bench, forked_peers, small_vocabulary_preset, tmp_path
):
    # One epoch of 20 examples, nothing untimed: every example is counted.
    results = bench.run_benchmark(
        peers=["ours", "hub64"],
        repeats=1,
        output_dir=str(tmp_path),
        command="finetune_throughput.py --test",
        verbose=False,
        preset=small_vocabulary_preset,
        steps=0,
        warmup_steps=0,
        batch_size=8,
        max_length=64,
        max_train_examples=20,
        matmul_size=128,
        matmul_seconds=0.05,
        fixed_length=16,
        fixed_steps=1,
    )
    lengths = expected_lengths(small_vocabulary_preset, 20, 64)
    runs = {run["peer"]: run for run in results["runs"] if run["mode"] != "fixed"}
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

    # Both also timed one fixed-shape step of 8 x 16 real tokens.
    fixed = {row["peer"]: row for row in results["fixed_shape"]}
    assert set(fixed) == {"ours", "hub64"}
    for row in fixed.values():
        assert row["steps"] == 1 and row["step_seconds"] > 0
        assert row["compute_dtype"] == "float32" and row["fraction_of_peak"] > 0

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
        "Fixed-shape training step: batches of 8 x 16 real tokens",
    ):
        assert text in report


def test_warmup_and_repeated_data_in_process(bench, small_vocabulary_preset):
    # 20 examples in batches of 8: 8, 8, 4, then the data again. After one
    # warmup batch, three timed steps see 8 + 4 + 8 examples.
    config = bench.default_config(
        preset=small_vocabulary_preset,
        steps=3,
        warmup_steps=1,
        batch_size=8,
        max_length=64,
        max_train_examples=20,
        matmul_size=0,
    )
    result = bench.run_worker("hub32", config)
    lengths = expected_lengths(small_vocabulary_preset, 20, 32)
    assert result["steps"] == 3 and result["examples"] == 20
    assert result["real_tokens"] == lengths.sum()
    assert result["padded_tokens"] == 20 * 32
    assert result["seconds"] > 0


def test_accuracy_mode_in_process(bench, small_vocabulary_preset):
    config = bench.default_config(
        preset=small_vocabulary_preset,
        batch_size=8,
        max_length=32,
        max_train_examples=20,
        accuracy_epochs=1,
        matmul_size=0,
    )
    result = bench.run_worker("ours", config, mode="accuracy")
    # One whole epoch, nothing untimed; accuracy on the whole test split.
    assert result["examples"] == 20 and result["steps"] >= 3
    assert 0.0 <= result["accuracy"] <= 1.0
    n_test = len(load_rotten_tomatoes("test"))
    assert round(result["accuracy"] * n_test, 6) == round(result["accuracy"] * n_test)


def test_accuracy_table(bench):
    def run(peer, mode, examples, seconds, **extra):
        return {
            "peer": peer,
            "mode": mode,
            "steps": 4,
            "seconds": seconds,
            "examples": examples,
            "real_tokens": 10 * examples,
            "sum_sq": 100 * examples,
            "padded_tokens": 16 * examples,
            "non_embedding_params": 1000,
            "num_layers": 2,
            "hidden_dim": 16,
            "peak_rss_mib": 500.0,
            **extra,
        }

    config = bench.default_config(accuracy_epochs=1, fixed_length=0)
    runs = [
        run("ours", "throughput", 64, 2.0),
        run("ours", "accuracy", 100, 4.0, accuracy=0.8),
        run("torch", "accuracy", 100, 8.0, accuracy=0.75),
    ]
    rows, fixed_rows, _ = bench.summarize(runs, config)
    assert fixed_rows == []
    by_peer = {row["peer"]: row for row in rows}
    assert by_peer["ours"]["examples_per_s"] == 32.0
    assert by_peer["torch"]["accuracy_examples_per_s"] == 12.5
    report = bench.format_markdown(
        {
            "date": "today",
            "machine": {
                "cpu": "cpu",
                "logical_cores": 2,
                "usable_cores": 2,
                "summary": "Some CPU; avx2 avx512_bf16",
            },
            "load_average_before": 0.1,
            "load_average_after": 0.1,
            "command": "cmd",
            "config": config,
            "repeats": 1,
            "skipped": {},
            "versions": {},
            "gemm_peak_gflops": {},
            "summary": rows,
            "fixed_shape": fixed_rows,
        }
    )
    # The CPU features decide how a precision compares: they are reported.
    assert "- machine: Some CPU; avx2 avx512_bf16; 1-minute load average" in report
    assert "| ours | 0.800 | 4 | 25.0 | 1.00x | 500 |" in report
    assert "| torch | 0.750 | 8 | 12.5 | 0.50x | 500 |" in report
    # torch ran no throughput repeat: it is not in the throughput table.
    assert "| torch | -" not in report
