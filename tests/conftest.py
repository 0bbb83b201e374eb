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


@pytest.fixture(scope="session")
def task_models(small_vocabulary_preset):
    """Tiny untrained task models of every kind, by kind (`classifier`,
    `multi_label`, `regressor`, `tagger`, `answerer`, `embedder`), their
    weights moved off the initializers'. Shared: tests only read them.
    """
    from tftransformer.models import (
        MultiLabelClassifier,
        QuestionAnswerer,
        TextClassifier,
        TextEmbedder,
        TextRegressor,
        TokenClassifier,
    )
    from tftransformer.testing import move_weights

    preset = small_vocabulary_preset
    return {
        "classifier": move_weights(
            TextClassifier.from_preset(
                preset,
                num_classes=3,
                label_names=["neg", "mid", "pos"],
                temperature=2.0,
                sequence_length=16,
            )
        ),
        "multi_label": move_weights(
            MultiLabelClassifier.from_preset(
                preset,
                num_labels=2,
                label_names=["a", "b"],
                thresholds=[0.4, 0.6],
                sequence_length=16,
            )
        ),
        "regressor": move_weights(
            TextRegressor.from_preset(
                preset,
                num_targets=2,
                target_names=["x", "y"],
                target_mean=[1.0, -2.0],
                target_std=[2.0, 0.5],
                sequence_length=16,
            )
        ),
        "tagger": move_weights(
            TokenClassifier.from_preset(
                preset, num_tags=3, tag_names=["O", "B-x", "I-x"], sequence_length=16
            )
        ),
        "answerer": move_weights(
            QuestionAnswerer.from_preset(
                preset, sequence_length=32, doc_stride=8, max_question_length=8
            )
        ),
        "embedder": move_weights(TextEmbedder.from_preset(preset, sequence_length=16)),
    }


@pytest.fixture(scope="session")
def generator_runs(tiny_gpt2_preset, tiny_t5_preset, tmp_path_factory):
    """Tiny untrained generators of every kind saved as run directories, by
    kind, each with its greedy generations of the prompts of
    `tests.training.saved_files.PROMPT_ROWS` (see `generator_runs` there).
    Shared: tests only read them."""
    from tests.training.saved_files import generator_runs

    return generator_runs(
        tmp_path_factory.mktemp("generator_runs"), tiny_gpt2_preset, tiny_t5_preset
    )
