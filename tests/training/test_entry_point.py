"""`tft.training.run`: one error line for data and settings errors."""

import json
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

COMMAND_LINES = [
    ["--dropout=1.5"],
    ["--train_file=/no/such/file.csv"],
    ["--dropout=1.5", "--traceback"],
    ["--train_file=bug"],
]

# Imports the library once, then forks a real process per command line that
# runs the script as `script.py ARGS...`: an exception or exit leaves the
# child through the interpreter's own handling, so its exit status and
# stderr are what a user gets.
DRIVER = textwrap.dedent(
    """
    import json
    import os
    import runpy
    import sys

    import tftransformer  # noqa: F401

    out_dir, script = sys.argv[1], sys.argv[2]
    command_lines = json.loads(sys.argv[3])
    statuses = []
    for index, args in enumerate(command_lines):
        pid = os.fork()
        if pid == 0:
            path = os.path.join(out_dir, f"{index}.err")
            os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT), 2)
            sys.argv = [script, *args]
            runpy.run_path(script, run_name="__main__")
            sys.exit(0)
        statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    with open(os.path.join(out_dir, "statuses.json"), "w") as file:
        json.dump(statuses, file)
    """
)


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """(exit status, stderr) of the script run with each of COMMAND_LINES."""
    out_dir = tmp_path_factory.mktemp("entry_point")
    (out_dir / "script.py").write_text(SCRIPT)
    (out_dir / "driver.py").write_text(DRIVER)
    completed = subprocess.run(
        [
            sys.executable,
            str(out_dir / "driver.py"),
            str(out_dir),
            str(out_dir / "script.py"),
            json.dumps(COMMAND_LINES),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    statuses = json.loads((out_dir / "statuses.json").read_text())
    return {
        tuple(args): (status, (out_dir / f"{index}.err").read_text())
        for index, (args, status) in enumerate(zip(COMMAND_LINES, statuses))
    }


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
