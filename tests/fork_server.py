"""Starts the suite's Python processes as forks of a process that has
already imported TensorFlow (or the library), so that none pays the import.

`run` and `popen` take what `subprocess.run` and `subprocess.Popen` take
(the arguments the suite uses) for a `[*python_command(), SCRIPT or -c
CODE, ARGS...]` command line (`tests/fast_exit.py`). The process they start
is a real one: its own pid, environment (the whole `env`, or the test's),
working directory, standard streams and exit status; signals kill it as
they kill any process, and it ends as `tests/fast_exit.py` ends a script.
What differs from a new interpreter is what was imported before the fork:
`preload="tensorflow"` (the default: a clean-process client sees no Keras,
keras-hub or tftransformer module, though `import tensorflow` brings
Keras) or `preload="tftransformer"`; `preload=None` starts a new
interpreter, for a process that must import nothing before its script.

One server per worker process, preload and set of the variables read while
Python and the preloaded modules start (`PYTHON*`, `LC_*`, `LANG`, `TF_*`
but `TF_CONFIG` and the thread counts, `KERAS_*`): a child never runs under
a variable that its server's import read with another value. Anything else
(another command line, `TFTRANSFORMER_TEST_FULL_EXIT=1`,
`TFTRANSFORMER_TEST_FORK_SERVER=0`, a platform without `os.fork`) runs
through `subprocess` itself.

    python tests/fork_server.py PRELOAD SOCKET_FD   # a server (internal)
"""

import atexit
import itertools
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import traceback

__all__ = ["ENABLE_ENV", "popen", "run"]

ENABLE_ENV = "TFTRANSFORMER_TEST_FORK_SERVER"
PRELOADS = ("tensorflow", "tftransformer")
_RUN_TIME_VARIABLES = {"TF_CONFIG", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"}
_THIS_FILE = os.path.abspath(__file__)
_MESSAGE_BYTES = 1 << 20


def _import_time_variables(env):
    """The variables of `env` that starting Python or a preload reads."""
    return tuple(
        sorted(
            (name, value)
            for name, value in env.items()
            if name not in _RUN_TIME_VARIABLES
            and name != "PYTHONPATH"
            and (name.startswith(("PYTHON", "LC_", "TF_", "KERAS_")) or name == "LANG")
        )
    )


def _forkable(args):
    from tests.fast_exit import FULL_EXIT_ENV, python_command

    prefix = python_command()
    return (
        hasattr(os, "fork")
        and hasattr(socket, "send_fds")
        and os.environ.get(FULL_EXIT_ENV) != "1"
        and os.environ.get(ENABLE_ENV) != "0"
        and list(args[: len(prefix)]) == prefix
        and len(args) > len(prefix)
    )


class _Server:
    """One server process and the thread that reads its replies."""

    def __init__(self, preload, env):
        self._socket, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        self._log = tempfile.TemporaryFile()
        server_env = dict(env)
        server_env.pop("PYTHONPATH", None)
        with theirs:
            self._process = subprocess.Popen(
                [sys.executable, _THIS_FILE, preload, str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=server_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._log,
            )
        self._ids = itertools.count()
        self._condition = threading.Condition()
        self._pids, self._statuses = {}, {}
        self._closed = False
        threading.Thread(target=self._read_replies, daemon=True).start()

    def _read_replies(self):
        while True:
            try:
                data = self._socket.recv(_MESSAGE_BYTES)
            except OSError:
                data = b""
            with self._condition:
                if not data:
                    self._closed = True
                    self._condition.notify_all()
                    return
                reply = json.loads(data)
                if "pid" in reply:
                    self._pids[reply["id"]] = reply["pid"]
                else:
                    self._statuses[reply["id"]] = reply["status"]
                self._condition.notify_all()

    def _failure(self, what):
        self._log.seek(0)
        log = self._log.read().decode(errors="replace")[-3000:]
        return RuntimeError(f"The fork server {what}; its stderr:\n{log}")

    def start(self, args, fds, env, cwd):
        """Forks a child running `args` (after `python_command()`); its pid."""
        with self._condition:
            request_id = next(self._ids)
        request = {"id": request_id, "args": args, "env": env, "cwd": cwd}
        try:
            socket.send_fds(self._socket, [json.dumps(request).encode()], fds)
        except OSError as error:
            raise self._failure(f"took no request ({error})") from error
        with self._condition:
            self._condition.wait_for(
                lambda: request_id in self._pids or self._closed, timeout=600
            )
            if request_id not in self._pids:
                raise self._failure("started no process")
            return request_id, self._pids[request_id]

    def status(self, request_id, timeout):
        """The child's exit status once it has one within `timeout`; else None."""
        with self._condition:
            self._condition.wait_for(
                lambda: request_id in self._statuses or self._closed, timeout=timeout
            )
            if request_id in self._statuses:
                return self._statuses[request_id]
            if self._closed:
                raise self._failure("ended before its child")
            return None

    def close(self):
        # shutdown, not close alone, ends the reading thread's recv and
        # gives the server its end of file.
        try:
            self._socket.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._socket.close()

    def wait(self):
        try:
            self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()


_servers = {}
_servers_lock = threading.Lock()


def _server(preload, env):
    # A process forked from the test's own starts servers of its own.
    key = (os.getpid(), preload, _import_time_variables(env))
    with _servers_lock:
        if key not in _servers:
            if not _servers:
                atexit.register(_close_servers)
            _servers[key] = _Server(preload, env)
        return _servers[key]


def _close_servers():
    with _servers_lock:
        for server in _servers.values():
            server.close()
        for server in _servers.values():
            server.wait()
        _servers.clear()


def popen(
    args,
    stdin=None,
    stdout=None,
    stderr=None,
    env=None,
    cwd=None,
    preload="tensorflow",
):
    """`subprocess.Popen(args, ...)` of a forked child (or a new interpreter,
    see above).

    Takes `stdin`, `stdout`, `stderr` (None, a file object, a file
    descriptor, `subprocess.DEVNULL`; `stderr` also `subprocess.STDOUT`),
    `env`, `cwd` and `preload`. Returns a `subprocess.Popen`, or for a
    forked child an object with its `args`, `pid`, `returncode`, `poll`,
    `wait`, `send_signal`, `terminate` and `kill`.
    """
    if preload is not None and preload not in PRELOADS:
        raise ValueError(
            f"preload must be None or one of {PRELOADS}. Received: {preload!r}"
        )
    if preload is None or not _forkable(args):
        return subprocess.Popen(
            args, stdin=stdin, stdout=stdout, stderr=stderr, env=env, cwd=cwd
        )
    from tests.fast_exit import python_command

    env = dict(os.environ if env is None else env)
    opened = []

    def descriptor(stream, default):
        if stream is None:
            return default
        if stream == subprocess.DEVNULL:
            opened.append(os.open(os.devnull, os.O_RDWR))
            return opened[-1]
        if stream == subprocess.PIPE or stream == subprocess.STDOUT:
            raise ValueError(f"Unsupported stream for a forked child: {stream}")
        if isinstance(stream, int):
            return stream
        return stream.fileno()

    out = descriptor(stdout, 1)
    err = out if stderr == subprocess.STDOUT else descriptor(stderr, 2)
    fds = [descriptor(stdin, 0), out, err]
    try:
        server = _server(preload, env)
        request_id, pid = server.start(
            list(args[len(python_command()) :]),
            fds,
            env,
            os.path.abspath(os.fspath(cwd)) if cwd is not None else os.getcwd(),
        )
    finally:
        for fd in opened:
            os.close(fd)
    return _ForkedProcess(args, server, request_id, pid)


class _ForkedProcess:
    """What the suite calls of a `subprocess.Popen`, for a forked child."""

    def __init__(self, args, server, request_id, pid):
        self.args = list(args)
        self.pid = pid
        self.returncode = None
        self._server = server
        self._id = request_id

    def poll(self):
        if self.returncode is None:
            self.returncode = self._server.status(self._id, timeout=0)
        return self.returncode

    def wait(self, timeout=None):
        if self.returncode is None:
            self.returncode = self._server.status(self._id, timeout=timeout)
            if self.returncode is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
        return self.returncode

    def send_signal(self, sig):
        # A finished child is not signalled: its pid may be another's now.
        if self.poll() is None:
            os.kill(self.pid, sig)

    def terminate(self):
        self.send_signal(signal.SIGTERM)

    def kill(self):
        self.send_signal(signal.SIGKILL)


def run(
    args,
    input=None,
    capture_output=False,
    text=False,
    env=None,
    cwd=None,
    timeout=None,
    check=False,
    preload="tensorflow",
):
    """`subprocess.run` for a forked child (or a real one, see above).

    The arguments are `subprocess.run`'s (those the suite uses) and
    `preload`; standard streams not captured are the test's own.
    """
    with tempfile.TemporaryFile() as stdin, tempfile.TemporaryFile() as out:
        with tempfile.TemporaryFile() as err:
            if input is not None:
                stdin.write(input.encode() if text else input)
                stdin.seek(0)
            process = popen(
                args,
                stdin=stdin if input is not None else None,
                stdout=out if capture_output else None,
                stderr=err if capture_output else None,
                env=env,
                cwd=cwd,
                preload=preload,
            )
            try:
                process.wait(timeout=timeout)
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait()
            outputs = []
            for stream in (out, err):
                stream.seek(0)
                data = stream.read() if capture_output else None
                outputs.append(data.decode() if text and data is not None else data)
    completed = subprocess.CompletedProcess(args, process.returncode, *outputs)
    if check:
        completed.check_returncode()
    return completed


# The server's side.


def _child(connection, request, fds, base_path, preload_environment):
    """Runs the request in the forked child; never returns."""
    connection.close()
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
    for fd in set(fds):
        if fd > 2:
            os.close(fd)
    os.chdir(request["cwd"])
    env = request["env"]
    # What importing the preload set (a default of the library) stays set.
    for name, value in preload_environment.items():
        env.setdefault(name, value)
    os.environ.clear()
    os.environ.update(env)
    python_path = [
        os.path.abspath(path)
        for path in env.get("PYTHONPATH", "").split(os.pathsep)
        if path
    ]
    # [0] is the script's directory (or "" for -c), set by fast_exit.
    sys.path[:] = [""] + python_path + base_path
    if "numpy" in sys.modules:
        # A new process draws a new seed; the forks would share the server's.
        sys.modules["numpy"].random.seed()
    _fast_exit._main(request["args"])


def _serve(preload, connection_fd):
    global _fast_exit
    # tests/, this script's directory, leaves sys.path in the children.
    import fast_exit as _fast_exit

    base_path = sys.path[1:]
    before = dict(os.environ)
    __import__(preload)
    preload_environment = {
        name: value for name, value in os.environ.items() if name not in before
    }
    connection = socket.socket(fileno=connection_fd)
    children = {}
    while True:
        while children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                break
            status = os.waitstatus_to_exitcode(status)
            reply = {"id": children.pop(pid), "status": status}
            connection.send(json.dumps(reply).encode())
        if not select.select([connection], [], [], 0.02)[0]:
            continue
        message, fds, _, _ = socket.recv_fds(connection, _MESSAGE_BYTES, 3)
        if not message:
            break
        request = json.loads(message)
        pid = os.fork()
        if pid == 0:
            try:
                _child(connection, request, fds, base_path, preload_environment)
            except BaseException:
                traceback.print_exc()
            finally:
                os._exit(127)
        for fd in fds:
            os.close(fd)
        children[pid] = request["id"]
        connection.send(json.dumps({"id": request["id"], "pid": pid}).encode())
    for pid in children:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    # Without the interpreter's teardown of TensorFlow (seconds).
    os._exit(0)


if __name__ == "__main__":
    _serve(sys.argv[1], int(sys.argv[2]))
