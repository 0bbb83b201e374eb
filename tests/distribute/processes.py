"""Starting and always stopping the worker processes of the distribution tests."""

import os
import socket
import subprocess
import sys
import time

from tests import fork_server
from tests.fast_exit import python_command

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
# Generous: two TensorFlow processes share two busy cores on CI.
PROCESS_TIMEOUT = 600


def free_ports(count):
    """Returns `count` distinct free TCP ports on 127.0.0.1."""
    sockets = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def worker_environment():
    """The test process' environment for a worker: CPU only, no cluster."""
    env = dict(os.environ)
    for name in (
        "TF_CONFIG",
        "TPU_NAME",
        "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS",
        "TPU_CONFIG",
    ):
        env.pop(name, None)
    env["PYTHONPATH"] = os.pathsep.join(
        [REPO_ROOT] + [p for p in [env.get("PYTHONPATH")] if p]
    )
    env["KERAS_BACKEND"] = "tensorflow"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    env["CUDA_VISIBLE_DEVICES"] = "-1"
    return env


def run_scripts(commands, log_dir, timeout=PROCESS_TIMEOUT):
    """Runs Python scripts side by side and returns `(exit_codes, logs)`.

    Every process still running at the deadline, or when anything goes
    wrong, is killed before this returns.

    Args:
        commands: lists of arguments, each starting with a script name in
            this directory.
        log_dir: where each process' combined output goes.
        timeout: seconds allowed for all of them.

    Returns:
        A list of exit codes (-9 for a process killed at the deadline) and
        a list of the processes' output texts.
    """
    processes, log_paths = [], []
    try:
        for i, (script, *args) in enumerate(commands):
            log_path = os.path.join(log_dir, f"process_{i}.log")
            log_paths.append(log_path)
            with open(log_path, "w") as log:
                processes.append(
                    fork_server.popen(
                        [*python_command(), os.path.join(HERE, script), *args],
                        stdout=log,
                        stderr=subprocess.STDOUT,
                        env=worker_environment(),
                        cwd=REPO_ROOT,
                        preload="tftransformer",
                    )
                )
        deadline = time.monotonic() + timeout
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                break
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    exit_codes = [p.returncode for p in processes]
    logs = []
    for path in log_paths:
        with open(path, errors="replace") as f:
            logs.append(f.read())
    return exit_codes, logs


def describe(exit_codes, logs, tail=3000):
    """A failure message with each process' exit code and last output."""
    return "\n".join(
        f"--- process {i}: exit code {code} ---\n{log[-tail:]}"
        for i, (code, log) in enumerate(zip(exit_codes, logs))
    )


def exit_without_teardown(code=0):
    """Ends a worker script whose results are written, with exit `code`.

    TensorFlow's teardown at exit takes seconds (a multi-worker strategy's
    coordination service shutting down, the run's functions and variables
    freed) and checks nothing the tests read, so it is skipped.
    """
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def exit_together(arrival_files, own_index, code=0, timeout=120):
    """Ends one of several worker processes once all have reached this call.

    A worker that exits as soon as its last collective returns can take
    buffers a peer has yet to fetch with it; the peer then fails with
    "Socket closed". Each worker writes its file of `arrival_files` and waits
    (at most `timeout` seconds) for the others' before it exits.
    """
    open(arrival_files[own_index], "w").close()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not all(
        os.path.exists(path) for path in arrival_files
    ):
        time.sleep(0.1)
    exit_without_teardown(code)
