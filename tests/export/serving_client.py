"""A serving client that runs an exported SavedModel in a fresh process.

Usage: `python serving_client.py VERSION_DIR MODE < batches.json`, where
batches.json is a list of batches, each a list of strings. Prints one JSON
object: the signature's outputs per batch and the Python modules of the
blocked packages that ended up loaded.

MODE `tensorflow_text`: `import tensorflow` and `import tensorflow_text`, as
a Python client does. MODE `kernels_only`: `import tensorflow` and load TF
Text's op kernels with `tf.load_op_library`, as TF Serving links them, with
no TF Text Python code; Keras is then unimportable too.
"""

import glob
import importlib.util
import json
import os
import sys

MODE = sys.argv[2]
# Located (not imported) before it is blocked.
TEXT_OPS_DIR = os.path.join(
    importlib.util.find_spec("tensorflow_text").submodule_search_locations[0],
    "python",
    "ops",
)
# Made unimportable before anything runs: a `None` entry in sys.modules makes
# `import` fail and `importlib.util.find_spec` report the package missing.
BLOCKED = ["keras_hub", "tftransformer"]
if MODE == "kernels_only":
    BLOCKED += ["keras", "tf_keras", "tensorflow_text"]
for name in BLOCKED:
    sys.modules[name] = None

import tensorflow as tf  # noqa: E402

if MODE == "kernels_only":
    for library in sorted(glob.glob(os.path.join(TEXT_OPS_DIR, "*.so"))):
        tf.load_op_library(library)
else:
    import tensorflow_text  # noqa: E402, F401

serve = tf.saved_model.load(sys.argv[1]).signatures["serving_default"]
results = []
for batch in json.load(sys.stdin):
    outputs = serve(text=tf.constant(batch, dtype=tf.string))
    results.append(
        {
            "probabilities": outputs["probabilities"].numpy().tolist(),
            "probabilities_dtype": outputs["probabilities"].dtype.name,
            "label": [label.decode() for label in outputs["label"].numpy()],
            "label_id": outputs["label_id"].numpy().tolist(),
        }
    )
loaded = sorted(
    name
    for name, module in sys.modules.items()
    if module is not None and name.split(".")[0] in BLOCKED
)
print(json.dumps({"results": results, "blocked_modules_loaded": loaded}), flush=True)
# The answers are out: TensorFlow's teardown at exit (about a second) checks
# nothing a test reads, so it is skipped.
os._exit(0)
