"""The benchmark scripts as modules, for their tests."""

import importlib.util
import pathlib
import sys

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[2] / "benchmarks"


def _load(filename, module_name):
    # benchmarks/ is not a package: load the script from its path.
    spec = importlib.util.spec_from_file_location(module_name, BENCHMARKS / filename)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    """benchmarks/finetune_throughput.py."""
    return _load("finetune_throughput.py", "finetune_throughput")


@pytest.fixture(scope="module")
def profile():
    """benchmarks/step_profile.py."""
    yield _load("step_profile.py", "step_profile")
    # It imports its sibling finetune_throughput by name.
    sys.modules.pop("finetune_throughput", None)


@pytest.fixture(scope="module")
def strategies():
    """benchmarks/strategies.py."""
    return _load("strategies.py", "strategies_benchmark")


@pytest.fixture(scope="module")
def serving():
    """benchmarks/serving_latency.py."""
    return _load("serving_latency.py", "serving_latency")


@pytest.fixture(scope="module")
def generation():
    """benchmarks/generation_speed.py."""
    return _load("generation_speed.py", "generation_speed")


@pytest.fixture(scope="module")
def embedding_bench():
    """benchmarks/embedding_throughput.py."""
    return _load("embedding_throughput.py", "embedding_throughput")


@pytest.fixture(scope="module")
def few_shot_bench():
    """benchmarks/few_shot.py."""
    return _load("few_shot.py", "few_shot_benchmark")


@pytest.fixture(scope="module")
def retrieval_bench():
    """benchmarks/bible_retrieval.py."""
    return _load("bible_retrieval.py", "bible_retrieval")


@pytest.fixture(scope="module")
def litert_bench():
    """benchmarks/litert_kernels.py."""
    return _load("litert_kernels.py", "litert_kernels")
