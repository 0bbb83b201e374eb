"""Runs an exported variant in a fresh process, as an app would.

Usage: `python variant_client.py PATH OUTPUT [KERNELS] < batches.json`,
where PATH is a SavedModel version directory or a `.tflite` file, OUTPUT
the signature's output (`probabilities`, `embedding`, a tagger's `tag_ids`,
a regressor's `score`, a question answerer's `answer` (a SavedModel's, as
strings) or `byte_start`; several names joined by commas, e.g.
`probabilities,predicted`), KERNELS optionally a LiteRT `OpResolverType`
name (e.g. `BUILTIN_REF`, the reference kernels without the XNNPACK
delegate; default `AUTO`) and batches.json a list of batches, each a list
of strings (or, for a model of sentence pairs, of `[text, text_pair]`
lists; for a question answerer, of `[question, context]` lists). Only TensorFlow and
TF Text are importable: a SavedModel loads after `import tensorflow_text`; a
LiteRT model runs in TensorFlow's LiteRT interpreter with TF Text's LiteRT
kernels registered. Prints one JSON object: the first output per batch
(`outputs`) and their dtypes, every output asked for by name (`by_name`:
name -> {"outputs", "dtypes"}), and the blocked packages' modules that ended
up loaded.
"""

import json
import sys

# TF Text imports Keras itself; the toolkit and keras-hub stay out.
BLOCKED = ["keras_hub", "tftransformer"]
for name in BLOCKED:
    sys.modules[name] = None

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
import tensorflow_text  # noqa: E402

path, names = sys.argv[1], sys.argv[2].split(",")
if path.endswith(".tflite"):
    from tensorflow.lite.python.interpreter import (
        InterpreterWithCustomOps,
        OpResolverType,
    )

    kernels = sys.argv[3] if len(sys.argv) > 3 else "AUTO"
    interpreter = InterpreterWithCustomOps(
        model_path=path,
        custom_op_registerers=list(tensorflow_text.tflite_registrar.SELECT_TFTEXT_OPS),
        experimental_op_resolver_type=OpResolverType[kernels],
    )
    runner = interpreter.get_signature_runner()
    input_names = runner.get_input_details()

    def run(batch):
        inputs = {key: np.array(texts, dtype=object) for key, texts in batch.items()}
        return runner(**inputs)

else:
    serve = tf.saved_model.load(path).signatures["serving_default"]
    input_names = serve.structured_input_signature[1]

    def run(batch):
        inputs = {key: tf.constant(texts, tf.string) for key, texts in batch.items()}
        return {key: value.numpy() for key, value in serve(**inputs).items()}


# The two inputs of a pair: a question answerer's, or sentence pairs'.
PAIR = ("question", "context") if "context" in input_names else ("text", "text_pair")


def inputs(batch):
    """`text` (and `text_pair`, for pairs) of one batch."""
    if batch and isinstance(batch[0], list):
        return {PAIR[0]: [a for a, _ in batch], PAIR[1]: [b for _, b in batch]}
    return {"text": batch}


def plain(value):
    """An output as JSON takes it: strings (a SavedModel's) decoded."""
    if value.dtype == object:
        return [text.decode("utf-8") for text in value.tolist()]
    return value.tolist()


results = [run(inputs(batch)) for batch in json.load(sys.stdin)]
by_name = {
    name: {
        "outputs": [plain(result[name]) for result in results],
        "dtypes": [result[name].dtype.name for result in results],
    }
    for name in names
}
loaded = sorted(
    name
    for name, module in sys.modules.items()
    if module is not None and name.split(".")[0] in BLOCKED
)
print(
    json.dumps(
        {
            "outputs": by_name[names[0]]["outputs"],
            "dtypes": by_name[names[0]]["dtypes"],
            "by_name": by_name,
            "blocked_modules_loaded": loaded,
        }
    )
)
