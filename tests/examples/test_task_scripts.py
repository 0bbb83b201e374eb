"""The thin task scripts: their flags come from their configs' fields."""

import pytest

from tests import fork_server
from tests.fast_exit import python_command

SCRIPTS = {
    "ner.py": [
        "--head_learning_rate",
        "--train_file",
        "--freeze_layers",
        "--export_dir",
    ],
    "export_variants.py": [
        "--variants_dir",
        "--target_columns",
        "--label_delimiter",
        "--null_threshold",
    ],
    "multitask.py": ["--rule", "--ner_loss_weight", "--export_dir"],
    "causal_lm.py": ["--vocabulary", "--preset", "--export_dir"],
    "translate.py": ["--source_prefix", "--beam_width", "--export_dir"],
    "train_from_scratch.py": ["--train_file", "--position_kind", "--export_dir"],
    "long_documents.py": ["--variants", "--stride", "--max_chunks"],
    "question_answering.py": [
        "--doc_stride",
        "--null_threshold",
        "--max_answer_length",
        "--lora_rank",
        "--export_dir",
    ],
    "predict.py": [
        "--model_path",
        "--input_file",
        "--text_pair_column",
        "--on_bad_rows",
        "--max_length",
    ],
    "evaluate.py": [
        "--model_path",
        "--test_file",
        "--label_column",
        "--report_file",
        "--max_length",
    ],
}


@pytest.fixture(scope="module")
def help_texts():
    """(exit status, stdout, stderr) of `examples/SCRIPT --help`, by script."""
    results = {}
    for script in SCRIPTS:
        completed = fork_server.run(
            [*python_command(), f"examples/{script}", "--help"],
            capture_output=True,
            text=True,
            timeout=300,
            preload="tftransformer",
        )
        results[script] = (completed.returncode, completed.stdout, completed.stderr)
    return results


# A real process each (forked after one import of the library): the point
# is what `--help` shows a user.
@pytest.mark.parametrize("script, flags", list(SCRIPTS.items()))
def test_help_lists_the_config_flags(help_texts, script, flags):
    _, stdout, stderr = help_texts[script]  # absl's --help exits with 1
    assert "Traceback" not in stderr, stderr[-2000:]
    # absl lists the main module's key flags under its path.
    listed = stdout.split(f"examples/{script}:", 1)[-1]
    for flag in flags:
        assert f"  {flag}: " in listed, flag
