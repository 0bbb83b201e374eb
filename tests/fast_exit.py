"""Runs a Python script, or `-c` code, as `__main__`, then leaves as the
interpreter leaves, without tearing the interpreter down.

A process that has loaded TensorFlow spends about 2 s of its exit in
CPython's finalization (freeing its modules and the graphs they hold); the
suite starts dozens of such processes, and no test reads what finalization
does. Everything a test or a user sees of the exit stays the interpreter's:
the exit status of `sys.exit` (an argument that is not an int printed to
stderr, status 1), an uncaught exception printed by `sys.excepthook`
(status 1; a `KeyboardInterrupt` ends the process by SIGINT), non-daemon
threads joined, `atexit` handlers run, stdout and stderr flushed; then
`os._exit`. `TFTRANSFORMER_TEST_FULL_EXIT=1` gives
back the interpreter's own exit (and `python_command` a plain `python`).

    python tests/fast_exit.py SCRIPT [ARGS...]
    python tests/fast_exit.py -c CODE [ARGS...]

`python_command(*args)` builds that command line for `subprocess`.
"""

import atexit
import os
import runpy
import signal
import sys
import threading
import types

__all__ = ["FULL_EXIT_ENV", "exit_like_the_interpreter", "python_command"]

FULL_EXIT_ENV = "TFTRANSFORMER_TEST_FULL_EXIT"
_THIS_FILE = os.path.abspath(__file__)


def python_command(*args):
    """`[python, tests/fast_exit.py, *args]`: what `[python, *args]` runs."""
    if os.environ.get(FULL_EXIT_ENV) == "1":
        return [sys.executable, *args]
    return [sys.executable, _THIS_FILE, *args]


def exit_like_the_interpreter(run):
    """Calls `run()`, then ends the process as its end would end it.

    Never returns.
    """
    if os.environ.get(FULL_EXIT_ENV) == "1":
        run()
        sys.exit(0)
    try:
        run()
        status = 0
    except SystemExit as error:
        status = _status(error.code)
    except BaseException as error:
        sys.excepthook(*sys.exc_info())
        status = 1
        if isinstance(error, KeyboardInterrupt):
            # The interpreter ends an interrupted script by SIGINT itself.
            status = -signal.SIGINT
    threading._shutdown()
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    if status < 0:
        signal.signal(-status, signal.SIG_DFL)
        os.kill(os.getpid(), -status)
    os._exit(status)


def _status(code):
    """The exit status the interpreter gives `sys.exit(code)`."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


def _main(args):
    if args[:1] == ["-c"]:
        code, sys.argv = args[1], ["-c", *args[2:]]
        sys.path[0] = ""
        main = types.ModuleType("__main__")
        sys.modules["__main__"] = main

        def run():
            exec(compile(code, "<string>", "exec"), main.__dict__)

    else:
        sys.argv = list(args)
        sys.path[0] = os.path.dirname(os.path.abspath(args[0]))

        def run():
            runpy.run_path(args[0], run_name="__main__")

    exit_like_the_interpreter(run)


if __name__ == "__main__":
    _main(sys.argv[1:])
