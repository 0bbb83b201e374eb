import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Imported before Keras imports TensorFlow, so that the suite runs on the
# CPU kernels a user's process gets (tftransformer/__init__.py).
import tftransformer  # noqa: E402, F401

# isort: split
import inspect  # noqa: E402

import keras  # noqa: E402
import pytest  # noqa: E402
from tensorflow.python.framework import ops as tf_ops  # noqa: E402


def _skip_op_stacks():
    """Graph ops the suite's own processes build skip their Python stack.

    TensorFlow records the Python stack of every op it adds to a graph, for
    the "defined at" lines of a failing graph op's error: about 4% of the
    wall time of `tests/models`, which traces many small models
    (BUILD_NOTES.md, "Running the tests"). No test reads those lines.
    `TFTRANSFORMER_TEST_OP_STACKS=1` keeps them (to debug a failing op);
    scripts a test runs as a real process keep them too.
    """
    create = tf_ops._create_c_op
    if os.environ.get("TFTRANSFORMER_TEST_OP_STACKS") == "1" or (
        "extract_traceback" not in inspect.signature(create).parameters
    ):
        return

    def create_without_stack(*args, **kwargs):
        kwargs["extract_traceback"] = False
        return create(*args, **kwargs)

    tf_ops._create_c_op = create_without_stack


_skip_op_stacks()


@pytest.fixture(autouse=True)
def _fresh_keras_state():
    """Every test starts from the same seed and the float32 policy.

    `free_memory=False` skips a full `gc.collect()` per test, which costs
    more than most tests here take.
    """
    keras.utils.set_random_seed(1234)
    keras.config.set_dtype_policy("float32")
    yield
    keras.config.set_dtype_policy("float32")
    keras.backend.clear_session(free_memory=False)


@pytest.fixture(scope="session")
def tiny_preset(tmp_path_factory):
    """A 2-layer, 16-wide BERT preset on disk with the embedded vocabulary."""
    from tftransformer.testing import write_tiny_bert_preset

    return write_tiny_bert_preset(tmp_path_factory.mktemp("tiny_preset"))


@pytest.fixture(scope="session")
def small_vocabulary_preset(tmp_path_factory):
    """`tiny_preset` with the embedded vocabulary's first 3,000 entries.

    For tests about training mechanics that load a preset many times: its
    tokenizer and embedding are ten times smaller.
    """
    from tftransformer.testing import write_tiny_bert_preset

    return write_tiny_bert_preset(
        tmp_path_factory.mktemp("small_vocabulary_preset"), vocabulary_size=3000
    )


@pytest.fixture(scope="session")
def embedded_stand_in_preset(tmp_path_factory):
    """`small_vocabulary_preset` with 512 positions, as the embedded checkpoint.

    For code that names the preset `"embedded"` where its weights are not the
    point: set `TFTRANSFORMER_EMBEDDED_PRESET` to this directory.
    """
    from tftransformer.testing import write_tiny_bert_preset

    return write_tiny_bert_preset(
        tmp_path_factory.mktemp("embedded_stand_in_preset"),
        vocabulary_size=3000,
        max_sequence_length=512,
    )


@pytest.fixture(scope="session")
def tiny_gpt2_preset(tmp_path_factory):
    """A 1-layer, 16-wide keras-hub `GPT2CausalLM` preset with random weights."""
    from tftransformer.testing import write_tiny_generator_preset

    return write_tiny_generator_preset("gpt2", tmp_path_factory.mktemp("tiny_gpt2"))


@pytest.fixture(scope="session")
def tiny_bart_preset(tmp_path_factory):
    """A 1-layer, 16-wide keras-hub `BartSeq2SeqLM` preset with random weights."""
    from tftransformer.testing import write_tiny_generator_preset

    return write_tiny_generator_preset("bart", tmp_path_factory.mktemp("tiny_bart"))


@pytest.fixture(scope="session")
def tiny_t5_preset(tmp_path_factory):
    """A 1-layer, 16-wide keras-hub `T5Seq2SeqLM` preset with random weights."""
    from tftransformer.testing import write_tiny_generator_preset

    return write_tiny_generator_preset("t5", tmp_path_factory.mktemp("tiny_t5"))
