import json
import math
import pathlib

import pytest

from tests import fork_server
from tests.fast_exit import python_command
from tftransformer.testing import write_tiny_bert_preset

SCRIPT = pathlib.Path(__file__).resolve().parents[2] / "benchmarks" / "strategies.py"


def test_two_strategies_end_to_end(tmp_path):
    # One layer, 8 wide, 3,000 word pieces: each strategy's process mostly
    # imports and traces.
    preset = write_tiny_bert_preset(
        tmp_path / "preset", num_layers=1, hidden_dim=8, vocabulary_size=3000
    )
    output_dir = tmp_path / "out"
    command = [
        *python_command(),
        str(SCRIPT),
        f"--preset={preset}",
        # Listed out of order: rows follow the script's order, full first.
        "--strategies=linear_probe,full",
        "--max_train_examples=8",
        "--max_eval_examples=8",
        "--epochs=1",
        "--batch_size=8",
        "--max_length=16",
        f"--output_dir={output_dir}",
    ]
    process = fork_server.run(
        command, capture_output=True, text=True, timeout=600, preload="tftransformer"
    )
    assert process.returncode == 0, process.stdout[-3000:] + process.stderr[-3000:]

    results = json.loads((output_dir / "results.json").read_text())
    rows = results["rows"]
    assert [row["strategy"] for row in rows] == ["full", "linear_probe"]
    full, probe = rows
    assert probe["trainable_parameters"] < full["trainable_parameters"]
    # Everything trains but BERT's pooler (8 x 8 + 8), unread by the head.
    assert full["trainable_parameters"] == full["total_parameters"] - 72
    assert probe["total_parameters"] == full["total_parameters"]
    assert probe["flags"] == "--freeze_backbone"
    # Head-only training gets the larger learning rate.
    assert probe["learning_rate"] > full["learning_rate"]
    for row in rows:
        assert row["train_examples"] == 8 and row["test_examples"] == 8
        assert row["epochs_trained"] == 1
        assert 0.0 <= row["test_accuracy"] <= 1.0
        assert 0.0 <= row["macro_f1"] <= 1.0
        for key in (
            "wall_seconds",
            "fit_train_seconds",
            "train_examples_per_second",
            "peak_rss_mib",
        ):
            assert math.isfinite(row[key]) and row[key] > 0, (row["strategy"], key)
    assert full["vs_full_points"] == 0.0
    assert probe["vs_full_points"] == pytest.approx(
        100 * (probe["test_accuracy"] - full["test_accuracy"])
    )
    # Models are removed unless --keep_models.
    assert not (output_dir / "full" / "model").exists()

    markdown = (output_dir / "results.md").read_text()
    assert "--strategies=linear_probe,full" in markdown
    assert results["date"] in markdown and "logical cores" in markdown
    table = [line for line in markdown.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in table[0].strip("|").split("|")]
    assert header == [
        "strategy",
        "flags",
        "learning rate",
        "test acc",
        "macro F1",
        "trainable params",
        "wall s",
        "train ex/s",
        "peak RSS MiB",
        "vs full",
    ]
    body = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [cells[0] for cells in body] == ["full", "linear_probe"]
    assert all(len(cells) == len(header) for cells in body)
    assert body[0][-1] == "+0.0"


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"strategies": ["full", "bogus"]}, "bogus"),
        ({"strategies": "full"}, "strategies='full'"),
        ({"epochs": 0}, "epochs=0"),
        ({"max_train_examples": -5}, "max_train_examples=-5"),
        ({"learning_rates": {"lora": 0.0}}, "'lora': 0.0"),
        ({"learning_rates": {"nope": 1e-3}}, "'nope'"),
    ],
)
def test_bad_arguments_fail_before_anything_runs(strategies, tmp_path, bad, message):
    output_dir = tmp_path / "out"
    with pytest.raises(ValueError, match=message):
        strategies.run(output_dir=str(output_dir), verbose=False, **bad)
    assert not output_dir.exists()


def test_learning_rate_overrides_are_parsed(strategies):
    assert strategies.parse_learning_rates(["lora=5e-4", "linear_probe=3e-3"]) == {
        "lora": 5e-4,
        "linear_probe": 3e-3,
    }
    with pytest.raises(ValueError, match="lora=fast"):
        strategies.parse_learning_rates(["lora=fast"])


def test_every_strategy_is_a_valid_classify_combination(strategies):
    from tftransformer.finetune import (
        check_strategy_options,
    )

    names = set()
    for name in strategies.STRATEGY_NAMES:
        options = strategies.strategy_options(name, freeze_layers=3, steps_per_epoch=63)
        options.pop("unfreeze_every_epochs", None)
        names.add(check_strategy_options(**options, num_layers=6))
    assert len(names) == len(strategies.STRATEGY_NAMES)


def test_findings_name_the_strategies_below_full(strategies):
    def row(name, accuracy):
        return {
            "strategy": name,
            "flags": "(none)",
            "learning_rate": 5e-5,
            "test_accuracy": accuracy,
            "macro_f1": accuracy,
            "test_examples": 1000,
            "trainable_parameters": 10,
            "total_parameters": 10,
            "wall_seconds": 1.0,
            "train_examples_per_second": 1.0,
            "peak_rss_mib": 1.0,
            "vs_full_points": 100 * (accuracy - 0.85),
        }

    results = {
        "date": "2026-01-01",
        "machine": "test machine",
        "command": "python benchmarks/strategies.py",
        "settings": {
            "preset": "embedded",
            "max_train_examples": 2000,
            "max_eval_examples": None,
            "epochs": 3,
            "batch_size": 32,
            "max_length": 128,
            "seed": 0,
        },
        "rows": [
            row("full", 0.85),
            row("lora", 0.82),
            row("layer_decay", 0.86),
            {"strategy": "head_warmup", "learning_rate": 5e-5, "error": "exit 1"},
        ],
    }
    markdown = strategies.format_results(results)
    assert "Lower test accuracy than full fine-tuning: lora (-3.0 points)." in markdown
    assert "layer_decay (+1.0 points)" in markdown
    assert "Failed (see their log.txt): head_warmup." in markdown
    assert "| head_warmup |  | 5e-05 | failed |" in markdown
