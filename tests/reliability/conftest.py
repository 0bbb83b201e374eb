"""Fixtures of the reliability tests: a tiny BERT preset and tiny CSV files."""

import csv
import os
import pathlib
import subprocess
import time

import pytest

from tests import fork_server
from tests.fast_exit import python_command
from tftransformer.datasets import load_rotten_tomatoes

ROOT = pathlib.Path(__file__).resolve().parents[2]
CLASSIFY = str(ROOT / "examples" / "classify.py")


def write_csv(path, rows, header=("text", "label")):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory):
    """Train (48), validation (16) and test (16) CSV files of review snippets."""
    directory = tmp_path_factory.mktemp("tiny_data")
    data = load_rotten_tomatoes("train")
    files = {}
    for name, start, count in [
        ("train", 0, 48),
        ("validation", 100, 16),
        ("test", 200, 16),
    ]:
        rows = [
            (text, ["bad", "good"][label])
            for text, label in zip(
                data.texts[start : start + count], data.labels[start : start + count]
            )
        ]
        files[name] = write_csv(directory / f"{name}.csv", rows)
    return files


def subprocess_env(**extra):
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(ROOT),
        KERAS_BACKEND="tensorflow",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
    )
    env.update(extra)
    return env


def classify_command(preset, data, model_dir, **flags):
    args = {
        "preset": preset,
        "train_file": data["train"],
        "validation_file": data["validation"],
        "test_file": data["test"],
        "epochs": 3,
        "batch_size": 8,
        "max_length": 32,
        "learning_rate": 1e-3,
        "model_dir": model_dir,
        **flags,
    }
    return [*python_command(), CLASSIFY] + [f"--{k}={v}" for k, v in args.items()]


def run_to_completion(command, log_path, env=None, timeout=600):
    """Runs a command; fails the test with its log if it does not succeed."""
    with open(log_path, "ab") as log:
        process = fork_server.popen(
            command,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env or subprocess_env(),
            preload="tftransformer",
        )
        try:
            returncode = process.wait(timeout=timeout)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    if returncode != 0:
        pytest.fail(
            f"{command} exited with {returncode}:\n"
            + pathlib.Path(log_path).read_text(errors="replace")[-5000:]
        )


def wait_for(condition, process, log_path, timeout=600, interval=0.01):
    """Polls `condition()` until it holds; fails if the process ends first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            pytest.fail(
                f"The process ended (exit {process.returncode}) before the kill "
                "point:\n" + pathlib.Path(log_path).read_text(errors="replace")[-5000:]
            )
        time.sleep(interval)
    pytest.fail(f"No kill point within {timeout} s")
