"""Runs Python scripts as real processes forked after one import of the
library, so that each pays no TensorFlow import of its own.

A child runs `script ARGS...` as `__main__`, with its stdout and stderr
going to files, and leaves as the interpreter would leave
(`tests/fast_exit.py`, without its teardown): its exit status and stderr
are what a user gets (except output printed while the library is
imported, which happens once, before the fork). POSIX only (`os.fork`).
"""

import json
import subprocess
import sys
import textwrap

from tests import fast_exit

DRIVER = textwrap.dedent(
    """
    import json
    import os
    import runpy
    import sys

    import tftransformer  # noqa: F401

    out_dir = sys.argv[1]
    command_lines = json.loads(sys.argv[2])
    # tests/fast_exit.py: the child ends as the interpreter would end it,
    # without its 2-second teardown of TensorFlow.
    exit_like_the_interpreter = runpy.run_path(sys.argv[3])[
        "exit_like_the_interpreter"
    ]
    statuses = []
    for index, argv in enumerate(command_lines):
        pid = os.fork()
        if pid == 0:
            for stream, suffix in ((1, "out"), (2, "err")):
                path = os.path.join(out_dir, f"{index}.{suffix}")
                os.dup2(os.open(path, os.O_WRONLY | os.O_CREAT), stream)
            sys.argv = list(argv)
            exit_like_the_interpreter(
                lambda: runpy.run_path(argv[0], run_name="__main__")
            )
        statuses.append(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]))
    with open(os.path.join(out_dir, "statuses.json"), "w") as file:
        json.dump(statuses, file)
    """
)


def run_forked(command_lines, out_dir, timeout=300):
    """Runs each `[script, *args]` of `command_lines` in its own forked
    process; returns one `(exit_status, stdout, stderr)` per command line.

    Args:
        command_lines: lists of strings, a script's path then its arguments.
        out_dir: a `pathlib.Path`, an empty directory for the outputs.
        timeout: seconds the whole run may take.
    """
    driver = out_dir / "driver.py"
    driver.write_text(DRIVER)
    completed = subprocess.run(
        [
            sys.executable,
            str(driver),
            str(out_dir),
            json.dumps(command_lines),
            fast_exit.__file__,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    statuses = json.loads((out_dir / "statuses.json").read_text())
    return [
        (
            status,
            (out_dir / f"{index}.out").read_text(),
            (out_dir / f"{index}.err").read_text(),
        )
        for index, status in enumerate(statuses)
    ]
