"""`tft.training.run`: one error line for data and settings errors."""

import textwrap

import pytest

from tests import fork_server
from tests.fast_exit import python_command

SCRIPT = textwrap.dedent(
    """
    import os
    import socket
    import tempfile

    import tftransformer as tft

    # No name resolves, as on a machine without network; nothing is cached.
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    socket.getaddrinfo = no_dns
    os.environ["KAGGLEHUB_CACHE"] = tempfile.mkdtemp()

    def main(config):
        if config.train_file == "bug":
            raise RuntimeError("a bug keeps its traceback")
        if config.preset != "embedded":
            tft.presets.load_backbone(config.preset)
        tft.data.load_text_classification_splits(config.train_file)
        print("trained", config.epochs)

    tft.training.run(tft.training.ClassificationConfig, main)
    """
)

COMMAND_LINES = [
    ["--dropout=1.5"],
    ["--train_file=/no/such/file.csv"],
    ["--preset=bert_tiny_en_uncased"],
    ["--dropout=1.5", "--traceback"],
    ["--train_file=bug"],
]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """(exit status, stderr) of the script run with each of COMMAND_LINES."""
    out_dir = tmp_path_factory.mktemp("entry_point")
    script = out_dir / "script.py"
    script.write_text(SCRIPT)
    results = {}
    for args in COMMAND_LINES:
        completed = fork_server.run(
            [*python_command(), str(script), *args],
            capture_output=True,
            text=True,
            timeout=300,
            preload="tftransformer",
        )
        results[tuple(args)] = (completed.returncode, completed.stderr)
    return results


# Real processes: the point is the real exit status and what a user sees on
# stderr.
@pytest.mark.parametrize(
    "args, expected",
    [
        (["--dropout=1.5"], "error: dropout must be in [0, 1). Received: dropout=1.5"),
        (
            ["--train_file=/no/such/file.csv"],
            "error: ",
        ),
        (
            ["--preset=bert_tiny_en_uncased"],
            "error: Could not load preset 'bert_tiny_en_uncased': it has to be "
            "downloaded from Kaggle, and the download failed",
        ),
    ],
)
def test_settings_and_data_errors_print_one_line_and_exit_2(results, args, expected):
    returncode, stderr = results[tuple(args)]
    assert returncode == 2, stderr
    assert expected in stderr
    assert "Traceback" not in stderr


def test_traceback_flag_and_bugs_keep_the_traceback(results):
    returncode, stderr = results[("--dropout=1.5", "--traceback")]
    assert returncode != 0
    assert "Traceback" in stderr
    returncode, stderr = results[("--train_file=bug",)]
    assert returncode == 1
    assert "RuntimeError: a bug keeps its traceback" in stderr
