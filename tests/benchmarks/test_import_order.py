"""Every benchmark times the CPU kernels a user of the library gets.

Importing `tftransformer` turns TensorFlow's oneDNN kernels on where
TensorFlow leaves them off (AVX2-only x86 CPUs); TensorFlow reads the switch
once, when it loads. A script that imports TensorFlow, Keras or keras-hub
before `tftransformer` times other kernels there than the library runs.
"""

import ast

import pytest

from tests.benchmarks.conftest import BENCHMARKS

TENSORFLOW = ("tensorflow", "keras", "keras_hub")
# Their peers run in subprocesses, which TensorFlow must not load into (the
# PyTorch peers'): the parent imports tftransformer and passes its
# environment, oneDNN's switch included, to every worker.
PEER_PROCESSES = ("embedding_throughput.py", "few_shot.py", "finetune_throughput.py")


def _imported(node):
    if isinstance(node, ast.Import):
        return [alias.name.split(".")[0] for alias in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and not node.level:
        return [node.module.split(".")[0]]
    return []


@pytest.mark.parametrize(
    "script",
    sorted(
        path.name for path in BENCHMARKS.glob("*.py") if path.name not in PEER_PROCESSES
    ),
)
def test_tftransformer_is_imported_before_tensorflow(script):
    tree = ast.parse((BENCHMARKS / script).read_text(encoding="utf-8"))
    # Module-level statements run first, then functions when called.
    first_tftransformer = min(
        (node.lineno for node in tree.body if "tftransformer" in _imported(node)),
        default=None,
    )
    tensorflow = sorted(
        (node.lineno, name)
        for node in ast.walk(tree)
        for name in _imported(node)
        if name in TENSORFLOW
    )
    if not tensorflow:
        return
    assert first_tftransformer is not None, (
        f"{script} imports {tensorflow[0][1]} (line {tensorflow[0][0]}) "
        "without a module-level `import tftransformer` before it"
    )
    module_level = {node.lineno for node in tree.body}
    early = [(line, name) for line, name in tensorflow if line < first_tftransformer]
    assert not [x for x in early if x[0] in module_level], early
