"""`_distribute_compat` patches two private Keras functions and mirrors the
conditions of a third (`Trainer._symbolic_build`): pin them.

A Keras patch release that changes either function must be read before the
patches are trusted again; this test fails loudly when that happens.
"""

import ast
import hashlib

import keras
import keras.src.backend.tensorflow.trainer as tensorflow_trainer
import keras.src.trainers.trainer as base_trainer
import pytest

from tftransformer import _distribute_compat

# sha256 of each function's source in Keras 3.15.1, by module.
PATCHED_SOURCES = {
    "_maybe_symbolic_build": (
        "d5301f7a561c075800bc172bf245d2dfcb7e5c6fc1e6976c34cf15882f12f1ff"
    ),
    "reduce_per_replica": (
        "94857c5856b1e55dbad9d21de9e3e8eeca886bd71b87fedb1b41758ea412155c"
    ),
    # `_reads_a_batch` repeats when this one reads a batch.
    "_symbolic_build": (
        "aaa1682b30a4d358ef18938bca25fa497ceb60acd0dacd21b97b1a4dfefc299a"
    ),
}
MODULES = {
    "_maybe_symbolic_build": tensorflow_trainer,
    "reduce_per_replica": tensorflow_trainer,
    "_symbolic_build": base_trainer,
}


def _upstream_sources():
    # The files, not the (maybe patched) objects in memory.
    sources = {}
    for module in {id(m): m for m in MODULES.values()}.values():
        with open(module.__file__, encoding="utf-8") as f:
            source = f.read()
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.FunctionDef) and MODULES.get(node.name) is module:
                sources[node.name] = ast.get_source_segment(source, node)
    return sources


@pytest.mark.skipif(
    not _distribute_compat.is_needed(),
    reason=f"Keras {keras.__version__} is past the versions that need the patches",
)
def test_the_patched_keras_functions_are_the_ones_the_patches_were_written_for():
    sources = _upstream_sources()
    assert set(sources) == set(PATCHED_SOURCES), sorted(sources)
    changed = {
        name: hashlib.sha256(source.encode()).hexdigest()
        for name, source in sources.items()
        if hashlib.sha256(source.encode()).hexdigest() != PATCHED_SOURCES[name]
    }
    assert not changed, (
        f"Keras {keras.__version__} changed {sorted(changed)}: read the new "
        "source against tftransformer/_distribute_compat.py, then update "
        f"PATCHED_SOURCES to {changed}"
    )
