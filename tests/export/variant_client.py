"""Runs exported variants in a fresh process, as an app would.

Usage: `python variant_client.py --jobs < jobs.json`, where jobs.json is a
list of `{"path", "output", "kernels" (optional), "batches"}` objects (see
`tests/export/clients.py`), run one after the other in this one process.
PATH is a SavedModel version directory or a `.tflite` file, OUTPUT the
signature's output (`probabilities`, `embedding`, a tagger's `tag_ids`, a
regressor's `score`, a question answerer's `answer` (a SavedModel's, as
strings) or `byte_start`; several names joined by commas, e.g.
`probabilities,predicted`), KERNELS a LiteRT `OpResolverType` name (e.g.
`BUILTIN_REF`, the reference kernels without the XNNPACK delegate; default
`AUTO`) and the batches each a list of strings (or, for a model of sentence
pairs, of `[text, text_pair]` lists; for a question answerer, of
`[question, context]` lists; for a generator, of one prompt). Only
TensorFlow and TF Text are importable: a SavedModel loads after
`import tensorflow_text`; a LiteRT model runs in TensorFlow's LiteRT
interpreter with TF Text's LiteRT kernels registered.
Prints a JSON list, one object per job: the first output per batch
(`outputs`) and their dtypes, every output asked for by name (`by_name`:
name -> {"outputs", "dtypes"}), and the blocked packages' modules that were
loaded once every job had run.
"""

import json
import os
import sys

# TF Text imports Keras itself; the toolkit and keras-hub stay out.
BLOCKED = ["keras_hub", "tftransformer"]
for name in BLOCKED:
    sys.modules[name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402


def runner(path, kernels="AUTO"):
    """A function of one batch's inputs to its outputs, and the input names."""
    if path.endswith(".tflite"):
        from tensorflow.lite.python.interpreter import (
            InterpreterWithCustomOps,
            OpResolverType,
        )

        interpreter = InterpreterWithCustomOps(
            model_path=path,
            custom_op_registerers=list(
                tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS
            ),
            experimental_op_resolver_type=OpResolverType[kernels],
        )
        signature = interpreter.get_signature_runner()

        def run(batch):
            arrays = {
                key: np.array(texts, dtype=object) for key, texts in batch.items()
            }
            return signature(**arrays)

        return run, signature.get_input_details()

    serve = tf.saved_model.load(path).signatures["serving_default"]

    def run(batch):
        tensors = {key: tf.constant(texts, tf.string) for key, texts in batch.items()}
        return {key: value.numpy() for key, value in serve(**tensors).items()}

    return run, serve.structured_input_signature[1]


def inputs(batch, input_names):
    """`text` (and `text_pair`, for pairs) of one batch."""
    # The two inputs of a pair: a question answerer's, or sentence pairs'.
    if "prompt" in input_names:
        # A generator: one prompt per call.
        return {"prompt": batch}
    pair = ("text", "text_pair")
    if "context" in input_names:
        pair = ("question", "context")
    if batch and isinstance(batch[0], list):
        return {pair[0]: [a for a, _ in batch], pair[1]: [b for _, b in batch]}
    return {"text": batch}


def plain(value):
    """An output as JSON takes it: strings (a SavedModel's) decoded."""
    if value.dtype == object:
        return [text.decode("utf-8") for text in value.tolist()]
    return value.tolist()


def answer(path, output, batches, kernels="AUTO"):
    """One variant's outputs of `batches`, named as in the usage above."""
    names = output.split(",")
    run, input_names = runner(path, kernels)
    results = [run(inputs(batch, input_names)) for batch in batches]
    by_name = {
        name: {
            "outputs": [plain(result[name]) for result in results],
            "dtypes": [result[name].dtype.name for result in results],
        }
        for name in names
    }
    return {
        "outputs": by_name[names[0]]["outputs"],
        "dtypes": by_name[names[0]]["dtypes"],
        "by_name": by_name,
    }


def blocked_modules_loaded():
    return sorted(
        name
        for name, module in sys.modules.items()
        if module is not None and name.split(".")[0] in BLOCKED
    )


if sys.argv[1:] != ["--jobs"]:
    sys.exit(f"usage: python variant_client.py --jobs < jobs.json; got {sys.argv[1:]}")
answers = [answer(**job) for job in json.load(sys.stdin)]
loaded = blocked_modules_loaded()
results = [{**a, "blocked_modules_loaded": loaded} for a in answers]
print(json.dumps(results), flush=True)
# The answers are out: TensorFlow's teardown at exit (about a second) checks
# nothing a test reads, so it is skipped.
os._exit(0)
