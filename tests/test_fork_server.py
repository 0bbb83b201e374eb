"""`tests/fork_server.py` starts a process that behaves as a new one."""

import os
import signal
import subprocess

import pytest

from tests import fork_server
from tests.fast_exit import FULL_EXIT_ENV, python_command
from tests.test_fast_exit import SCRIPTS

SCRIPTS = {
    **SCRIPTS,
    "reads_its_process": (
        "import os, sys\n"
        "print(os.getcwd(), os.environ.get('FORK_TEST'), sys.stdin.read())\n"
        "print(sys.path[1], 'tests' in sys.modules)\n"
        "import marker_module\n"
        "print(marker_module.__file__)\n"
    ),
}
PRINT_PARENT = "import os, sys; print(os.getppid(), 'tensorflow' in sys.modules)"


@pytest.fixture(autouse=True)
def _fork(monkeypatch):
    monkeypatch.delenv(FULL_EXIT_ENV, raising=False)
    monkeypatch.delenv(fork_server.ENABLE_ENV, raising=False)


def _parent(**kwargs):
    completed = fork_server.run(
        [*python_command(), "-c", PRINT_PARENT],
        capture_output=True,
        text=True,
        timeout=120,
        **kwargs,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    parent, preloaded = completed.stdout.split()
    return int(parent), preloaded == "True"


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_forked_script_ends_as_a_new_process_does(tmp_path, name):
    script = tmp_path / f"{name}.py"
    script.write_text(SCRIPTS[name])
    library = tmp_path / "library"
    library.mkdir()
    (library / "marker_module.py").write_text("")
    env = {**os.environ, "FORK_TEST": "seen", "PYTHONPATH": str(library)}
    answers = []
    for run in (subprocess.run, fork_server.run):
        completed = run(
            [*python_command(), str(script), "a", "--b=1"],
            input="from stdin",
            capture_output=True,
            text=True,
            env=env,
            cwd=library,
            timeout=120,
        )
        answers.append((completed.returncode, completed.stdout, completed.stderr))
    (status, out, err), (forked_status, forked_out, forked_err) = answers
    assert (forked_status, forked_out) == (status, out)
    assert forked_err.splitlines()[-1:] == err.splitlines()[-1:]


def test_children_are_forks_of_a_server_that_imported_tensorflow():
    parent, preloaded = _parent()
    assert parent != os.getpid() and preloaded
    assert _parent() == (parent, True)
    # A variable read while TensorFlow imports gets a server of its own; a
    # variable read later does not.
    env = dict(os.environ)
    assert _parent(env={**env, "TF_CONFIG": "{}"}) == (parent, True)
    other = {**env, "TF_CPP_MIN_LOG_LEVEL": str(int(env["TF_CPP_MIN_LOG_LEVEL"]) + 1)}
    assert _parent(env=other)[0] not in (parent, os.getpid())


def test_a_new_interpreter_where_asked_or_switched_off(monkeypatch):
    assert _parent(preload=None) == (os.getpid(), False)
    monkeypatch.setenv(fork_server.ENABLE_ENV, "0")
    assert _parent() == (os.getpid(), False)
    with pytest.raises(ValueError, match="Received: 'keras'"):
        fork_server.popen([*python_command(), "-c", "pass"], preload="keras")


def test_children_draw_their_own_random_numbers():
    code = "import random, numpy; print(random.random(), numpy.random.rand())"
    outputs = [
        fork_server.run(
            [*python_command(), "-c", code], capture_output=True, timeout=120
        ).stdout
        for _ in range(2)
    ]
    assert outputs[0] != outputs[1]
    assert len(set(outputs[0].split() + outputs[1].split())) == 4


def test_a_child_is_signalled_and_waited_for_as_a_process():
    sleep = [*python_command(), "-c", "import time; time.sleep(60)"]
    process = fork_server.popen(sleep, stdout=subprocess.DEVNULL)
    assert process.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        process.wait(timeout=0.1)
    process.send_signal(signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL == process.returncode
    # A finished child is not signalled again (its pid may be reused).
    process.kill()
    stopped = fork_server.popen(sleep)
    stopped.terminate()
    assert stopped.wait(timeout=30) == -signal.SIGTERM
