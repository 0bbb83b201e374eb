"""The thin task scripts: their flags come from their configs' fields."""

import subprocess
import sys

import pytest


# A real process each: the point is what `--help` shows a user.
@pytest.mark.parametrize(
    "script, flags",
    [
        ("ner.py", ["--head_learning_rate", "--train_file", "--freeze_layers"]),
        (
            "export_variants.py",
            [
                "--variants_dir",
                "--target_columns",
                "--label_delimiter",
                "--null_threshold",
            ],
        ),
        ("multitask.py", ["--rule", "--ner_loss_weight", "--export_dir"]),
        ("long_documents.py", ["--variants", "--stride", "--max_chunks"]),
        (
            "question_answering.py",
            ["--doc_stride", "--null_threshold", "--max_answer_length", "--lora_rank"],
        ),
    ],
)
def test_help_lists_the_config_flags(script, flags):
    completed = subprocess.run(
        [sys.executable, f"examples/{script}", "--help"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert "Traceback" not in completed.stderr, completed.stderr[-2000:]
    # absl lists the main module's key flags under its path.
    listed = completed.stdout.split(f"examples/{script}:", 1)[-1]
    for flag in flags:
        assert f"  {flag}: " in listed, flag
