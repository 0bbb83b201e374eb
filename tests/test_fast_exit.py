"""`tests/fast_exit.py` ends a script as the interpreter ends it."""

import subprocess
import sys

import pytest

from tests.fast_exit import FULL_EXIT_ENV, python_command

SCRIPTS = {
    "returns": "print('done')",
    "exits_with_a_status": "import sys\nprint('out')\nsys.exit(3)",
    "exits_with_a_message": "import sys\nsys.exit('bad input')",
    "raises": "def fail():\n    raise ValueError('boom')\nfail()",
    "is_interrupted": "print('started')\nraise KeyboardInterrupt",
    "leaves_work_to_atexit_and_a_thread": (
        "import atexit, sys, threading, time\n"
        "atexit.register(lambda: print('atexit ran', flush=True))\n"
        "def late():\n"
        "    time.sleep(0.2)\n"
        "    print('thread joined', flush=True)\n"
        "threading.Thread(target=late).start()\n"
        "sys.stdout.write('unflushed')\n"
    ),
    "sees_its_arguments": (
        "import os, sys\n"
        "print(__name__, sys.argv[1:], os.path.basename(sys.argv[0]))\n"
        "print(sys.path[0] == os.path.dirname(os.path.abspath(sys.argv[0])))"
    ),
}


def _run(command):
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60)
    return completed.returncode, completed.stdout, completed.stderr


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_ends_as_in_a_plain_interpreter(tmp_path, name, monkeypatch):
    monkeypatch.delenv(FULL_EXIT_ENV, raising=False)
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPTS[name])
    args = [str(script), "a", "--b=1"]
    assert python_command(*args)[:1] == [sys.executable]
    assert python_command(*args)[1].endswith("fast_exit.py")
    plain_status, plain_out, plain_err = _run([sys.executable, *args])
    status, out, err = _run(python_command(*args))
    assert (status, out) == (plain_status, plain_out)
    # A traceback also shows the runner's frames; its last line is the same.
    assert err.splitlines()[-1:] == plain_err.splitlines()[-1:]


def test_code_runs_as_python_c_does(monkeypatch):
    monkeypatch.delenv(FULL_EXIT_ENV, raising=False)
    code = "import sys; print(__name__, sys.argv, repr(sys.path[0])); sys.exit(4)"
    assert _run(python_command("-c", code, "x")) == _run(
        [sys.executable, "-c", code, "x"]
    )


def test_the_switch_gives_a_plain_interpreter(monkeypatch):
    monkeypatch.setenv(FULL_EXIT_ENV, "1")
    assert python_command("s.py", "a") == [sys.executable, "s.py", "a"]
