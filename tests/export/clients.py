"""Exported variants answered in one clean process (`variant_client.py`)."""

import json
import os

from tests import fork_server
from tests.fast_exit import python_command

CLIENT = os.path.join(os.path.dirname(__file__), "variant_client.py")


def job(path, batches, output="probabilities", kernels="AUTO"):
    """What the client runs of one exported variant: `batches` of raw strings
    (or `[text, text_pair]` lists), answered with the comma-separated
    `output` names."""
    return {"path": path, "output": output, "kernels": kernels, "batches": batches}


def run_clients(jobs):
    """The answers of each job's variant, all loaded in one clean process."""
    process = fork_server.run(
        [*python_command(), CLIENT, "--jobs"],
        input=json.dumps(jobs),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    results = json.loads(process.stdout.strip().splitlines()[-1])
    assert len(results) == len(jobs)
    return results


def run_client(path, batches, output="probabilities", kernels="AUTO"):
    """One variant's answers to `batches`, in a clean process."""
    return run_clients([job(path, batches, output, kernels)])[0]
