"""`tft.training.run`: one error line for data and settings errors."""

import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent(
    """
    import tftransformer as tft

    def main(config):
        if config.train_file == "bug":
            raise RuntimeError("a bug keeps its traceback")
        tft.data.load_text_classification_splits(config.train_file)
        print("trained", config.epochs)

    tft.training.run(tft.training.ClassificationConfig, main)
    """
)


def _run(tmp_path, *args):
    script = tmp_path / "script.py"
    script.write_text(SCRIPT)
    return subprocess.run(
        [sys.executable, str(script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


# One process, several command lines: the point is the real exit status and
# what a user sees on stderr.
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--dropout=1.5"], "error: dropout must be in [0, 1). Received: dropout=1.5"),
        (
            ["--train_file=/no/such/file.csv"],
            "error: ",
        ),
    ],
)
def test_settings_and_data_errors_print_one_line_and_exit_2(tmp_path, args, expected):
    result = _run(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


def test_traceback_flag_and_bugs_keep_the_traceback(tmp_path):
    result = _run(tmp_path, "--dropout=1.5", "--traceback")
    assert result.returncode != 0
    assert "Traceback" in result.stderr
    bug = _run(tmp_path, "--train_file=bug")
    assert bug.returncode == 1
    assert "RuntimeError: a bug keeps its traceback" in bug.stderr
