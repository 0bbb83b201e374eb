r"""LiteRT's interpreter next to TensorFlow's, op by op and on exported files.

`tft.export.LiteRTModel` runs on LiteRT's interpreter (`ai_edge_litert`) by
default and on TensorFlow's `tf.lite.Interpreter` with `runtime="tensorflow"`.
This times both on single-op files of a Transformer step at
all-MiniLM-L6-v2's sizes (fully connected, attention's batch matmul, softmax,
GELU, layer norm, add), each with the interpreter's default delegate
(XNNPACK) and with its built-in kernels only (the kernels that run what
XNNPACK does not take). With `--tflite_file`, it also times that exported file
(every string input gets `--text`) the same four ways. A single-op file's
outputs must match TensorFlow's built-in kernels' (`same_outputs`) in every
configuration, or it fails; the exported file's rows say whether they do.
Prints the median over `--repeats` of each repeat's median call time, the
spread of those medians, and LiteRT's time over TensorFlow's.

Usage:
```
python benchmarks/litert_kernels.py
python benchmarks/litert_kernels.py \
    --tflite_file=runs/translate/variants/litert_float32/model.tflite \
    --text="And God said, Let there be light: and there was light."
```
"""

import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN) a user
# of the library gets.
import tftransformer  # noqa: F401

# isort: split
import numpy as np
from absl import app, flags, logging

FLAGS = flags.FLAGS
RUNTIMES = ("litert", "tensorflow")
KERNELS = {"XNNPACK": "AUTO", "built-in": "BUILTIN_WITHOUT_DEFAULT_DELEGATES"}


def single_op_files():
    """`{name: (tflite bytes, input array)}` for one op each at MiniLM's sizes.

    64 tokens, hidden 384, 12 heads of 32, intermediate 1536.
    """
    import tensorflow as tf

    rng = np.random.default_rng(0)
    kernel = tf.constant(rng.normal(size=(384, 1536)).astype("float32"))
    ops = {
        "fully connected 64x384 @ 384x1536": (
            lambda x: tf.matmul(x, kernel),
            (64, 384),
        ),
        "batch matmul 12x64x32 @ 12x32x64": (
            lambda x: tf.matmul(x, x, transpose_b=True),
            (12, 64, 32),
        ),
        "softmax 12x64x64": (tf.nn.softmax, (12, 64, 64)),
        "GELU (tanh) 64x1536": (lambda x: tf.nn.gelu(x, approximate=True), (64, 1536)),
        "layer norm 64x384": (
            lambda x: tf.nn.batch_normalization(
                x, *tf.nn.moments(x, [-1], keepdims=True), None, None, 1e-6
            ),
            (64, 384),
        ),
        "add 64x1536": (lambda x: x + 1.0, (64, 1536)),
    }
    files = {}
    for name, (fn, shape) in ops.items():
        module = tf.Module()
        module.call = tf.function(fn, input_signature=[tf.TensorSpec(shape)])
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [module.call.get_concrete_function()], module
        )
        files[name] = (converter.convert(), rng.normal(size=shape).astype("float32"))
    return files


def make_call(runtime, kernels, model_content, inputs):
    """A no-argument call of the file's default signature on `inputs`.

    `inputs` is an array for a single-op file, or a string for an exported
    file (TF Text's ops registered), fed to each of its string inputs.
    """
    from tftransformer.export._litert_interpreter import make_interpreter

    interpreter, _ = make_interpreter(
        runtime, op_resolver_type=KERNELS[kernels], model_content=model_content
    )
    runner = interpreter.get_signature_runner()
    if isinstance(inputs, str):
        feed = {
            name: np.array([inputs], dtype=object)
            for name, detail in runner.get_input_details().items()
            if detail["dtype"] in (np.bytes_, np.object_)
        }
    else:
        (name,) = runner.get_input_details()
        feed = {name: inputs}
    return lambda: runner(**feed)


def same_outputs(reference, outputs):
    """Whether `outputs` match `reference`: floats within 1e-4 of the
    reference's largest magnitude (or of 1, if larger), others exactly."""
    for key, expected in reference.items():
        got = outputs[key]
        if expected.dtype.kind in "fc":
            scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
            if np.max(np.abs(got - expected), initial=0.0) > 1e-4 * scale:
                return False
        elif not np.array_equal(got, expected):
            return False
    return True


def time_file(name, model_content, inputs, calls, repeats, check=True):
    """Rows for one file: each runtime and kernel set, and LiteRT's ratio.

    With `check`, outputs that differ from TensorFlow's built-in kernels'
    fail; without, each row says whether they match (a full-int8 file's may
    not).
    """
    configs = [(r, k) for k in KERNELS for r in RUNTIMES]
    callers = {c: make_call(*c, model_content, inputs) for c in configs}
    reference = callers[("tensorflow", "built-in")]()
    same = {c: same_outputs(reference, callers[c]()) for c in configs}
    if check and not all(same.values()):
        differing = [c for c in configs if not same[c]]
        raise AssertionError(f"{name}: outputs differ on {differing}.")
    medians = {c: [] for c in configs}
    # Repeats interleave the configurations, so a busy moment slows all alike.
    for _ in range(repeats):
        for c in configs:
            seconds = []
            for _ in range(calls):
                start = time.perf_counter()
                callers[c]()
                seconds.append(time.perf_counter() - start)
            medians[c].append(1000.0 * float(np.median(seconds)))
    rows = []
    for runtime, kernels in configs:
        values = medians[(runtime, kernels)]
        rows.append(
            {
                "file": name,
                "runtime": runtime,
                "kernels": kernels,
                "p50_ms": float(np.median(values)),
                "spread_ms": (min(values), max(values)),
                "same_outputs": same[(runtime, kernels)],
            }
        )
    for row in rows:
        (tensorflow,) = [
            r["p50_ms"]
            for r in rows
            if r["kernels"] == row["kernels"] and r["runtime"] == "tensorflow"
        ]
        row["vs_tensorflow"] = row["p50_ms"] / tensorflow
    return rows


def run(calls=50, repeats=5, tflite_file=None, text="", verbose=True):
    """Runs the benchmark; returns its rows (dicts)."""
    for flag, value in (("calls", calls), ("repeats", repeats)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(
                f"{flag} must be a positive integer. Received: {flag}={value!r}"
            )
    if tflite_file is not None and not os.path.isfile(tflite_file):
        raise ValueError(
            f"tflite_file must be an existing .tflite file. Received: {tflite_file!r}"
        )
    if tflite_file is not None and not text:
        raise ValueError(f"Pass `text` to time {tflite_file}. Received: text={text!r}")
    import ai_edge_litert
    import tensorflow as tf

    import tftransformer as tft

    load_before = os.getloadavg()[0]
    rows = []
    for name, (content, inputs) in single_op_files().items():
        rows += time_file(name, content, inputs, calls, repeats)
    if tflite_file is not None:
        with open(tflite_file, "rb") as f:
            content = f.read()
        rows += time_file(tflite_file, content, text, calls, repeats, check=False)
    if verbose:
        version = getattr(ai_edge_litert, "__version__", "?")
        print(
            f"\nMachine: {tft.hardware.describe_machine()['summary']}\n"
            f"ai-edge-litert {version}, TensorFlow {tf.__version__}; "
            f"{repeats} repeats of {calls} calls; 1-minute load average "
            f"{load_before:.2f} before timing, {os.getloadavg()[0]:.2f} after\n"
        )
        print(format_table(rows))
    return rows


def format_table(rows):
    lines = [
        "| file | runtime | kernels | p50 ms | spread ms | vs TensorFlow's "
        "| same outputs |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        low, high = row["spread_ms"]
        lines.append(
            f"| {row['file']} | {row['runtime']} | {row['kernels']} "
            f"| {row['p50_ms']:.3f} | {low:.3f}-{high:.3f} "
            f"| {row['vs_tensorflow']:.2f}x "
            f"| {'yes' if row['same_outputs'] else 'no'} |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    # The converter's notes on each single-op file.
    logging.set_verbosity(logging.ERROR)
    run(
        calls=FLAGS.calls,
        repeats=FLAGS.repeats,
        tflite_file=FLAGS.tflite_file,
        text=FLAGS.text,
    )


if __name__ == "__main__":
    flags.DEFINE_integer("calls", 50, "Timed calls per repeat and configuration.")
    flags.DEFINE_integer("repeats", 5, "Repeats; the table gives their median.")
    flags.DEFINE_string("tflite_file", None, "An exported .tflite file to time too.")
    flags.DEFINE_string("text", "", "The string each of its string inputs gets.")
    app.run(main)
