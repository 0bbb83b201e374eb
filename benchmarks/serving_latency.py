r"""Latency and throughput of an exported SavedModel next to Keras `predict`.

Exports a `tftransformer.models.TextClassifier` on the embedded
all-MiniLM-L6-v2 checkpoint with `tftransformer.export.export_for_serving`,
loads it back with `tf.saved_model.load`, and times its `serving_default`
signature on the embedded Rotten Tomatoes test snippets, at batch sizes 1 and
32. In the same run it times keras-hub's
`keras_hub.models.BertTextClassifier(...).predict` (with keras-hub's
`BertTextClassifierPreprocessor`, which pads every batch to
`--sequence_length`) and this toolkit's `TextClassifier.predict` (which pads to
the batch's longest row) on the same texts. Prints p50 and p99 latency per
call, throughput, the ratios to the exported signature, and the machine.

Usage:
```
python benchmarks/serving_latency.py
python benchmarks/serving_latency.py --calls_batch_1=20 --calls_batch_32=5
```
"""

import os
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN) a user
# of the library gets.
import tftransformer  # noqa: F401

# isort: split
import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def percentile_ms(seconds, q):
    return 1000.0 * float(np.percentile(seconds, q))


def time_calls(call, batches, warmup_calls):
    """Times `call(batch)` once per batch, after `warmup_calls` untimed calls."""
    for batch in batches[:warmup_calls]:
        call(batch)
    seconds = []
    for batch in batches:
        start = time.perf_counter()
        call(batch)
        seconds.append(time.perf_counter() - start)
    return np.array(seconds)


def make_batches(texts, batch_size, num_calls):
    """`num_calls` consecutive batches, cycling through `texts`."""
    batches = []
    for call in range(num_calls):
        start = call * batch_size
        batches.append([texts[(start + i) % len(texts)] for i in range(batch_size)])
    return batches


def run(
    calls_batch_1=100,
    calls_batch_32=20,
    warmup_calls=3,
    sequence_length=128,
    verbose=True,
    preset="embedded",
):
    """Runs the benchmark; returns a list of result rows (dicts).

    `preset` is the encoder's preset: the embedded all-MiniLM-L6-v2 checkpoint
    unless a test passes a tiny one.
    """
    for name, value, minimum in (
        ("calls_batch_1", calls_batch_1, 1),
        ("calls_batch_32", calls_batch_32, 1),
        ("warmup_calls", warmup_calls, 0),
        ("sequence_length", sequence_length, 2),
    ):
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise ValueError(
                f"{name} must be an integer >= {minimum}. Received: {name}={value!r}"
            )
    import keras
    import keras_hub
    import tensorflow as tf

    import tftransformer as tft

    texts = list(tft.datasets.load_rotten_tomatoes("test").texts)
    backbone, hub_preprocessor = tft.presets.load_backbone(
        preset, sequence_length=sequence_length
    )
    # Both classifiers share the backbone; their heads are untrained, which
    # does not change the work a call does.
    classifier = tft.models.TextClassifier(
        backbone,
        num_classes=2,
        preprocessor=tft.models.TextClassifierPreprocessor(
            hub_preprocessor.tokenizer, sequence_length=sequence_length
        ),
        pooling="mean",
        label_names=list(tft.datasets.SENTIMENT_LABELS),
    )
    hub_classifier = keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=hub_preprocessor
    )

    with tempfile.TemporaryDirectory() as tmp:
        version_dir = tft.export.export_for_serving(
            classifier, os.path.join(tmp, "sentiment"), warmup_texts=texts[:2]
        )
        signature = tf.saved_model.load(version_dir).signatures["serving_default"]

        # The export answers what the Keras model answers.
        check = texts[:32]
        exported = signature(text=tf.constant(check))["probabilities"].numpy()
        logits = classifier.predict(check, batch_size=32, verbose=0)
        keras_probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
        max_difference = float(np.max(np.abs(exported - keras_probabilities)))
        if max_difference > 1e-4:
            raise AssertionError(
                f"Exported and Keras probabilities differ by {max_difference}."
            )

        systems = {
            "exported SavedModel signature": lambda batch: signature(
                text=tf.constant(batch)
            ),
            "keras-hub BertTextClassifier.predict": lambda batch: (
                hub_classifier.predict(batch, batch_size=len(batch), verbose=0)
            ),
            "tftransformer TextClassifier.predict": lambda batch: classifier.predict(
                batch, batch_size=len(batch), verbose=0
            ),
        }
        # Other processes on the machine slow every system down alike.
        load_before = os.getloadavg()[0]
        rows = []
        for batch_size, num_calls in ((1, calls_batch_1), (32, calls_batch_32)):
            batches = make_batches(texts, batch_size, num_calls)
            for name, call in systems.items():
                seconds = time_calls(call, batches, warmup_calls)
                rows.append(
                    {
                        "system": name,
                        "batch_size": batch_size,
                        "calls": num_calls,
                        "p50_ms": percentile_ms(seconds, 50),
                        "p99_ms": percentile_ms(seconds, 99),
                        "examples_per_s": batch_size * num_calls / seconds.sum(),
                    }
                )

    baseline = {
        row["batch_size"]: row
        for row in rows
        if row["system"] == "exported SavedModel signature"
    }
    for row in rows:
        base = baseline[row["batch_size"]]
        row["p50_vs_export"] = row["p50_ms"] / base["p50_ms"]
        row["throughput_vs_export"] = row["examples_per_s"] / base["examples_per_s"]

    if verbose:
        lengths = [len(t.split()) for t in texts]
        print(
            f"\nMachine: {tft.hardware.describe_machine()['summary']}\n"
            f"TensorFlow {tf.__version__}, Keras {keras.__version__}, keras-hub "
            f"{keras_hub.__version__}; 1-minute load average {load_before:.2f} "
            f"before timing, {os.getloadavg()[0]:.2f} after\n"
            f"Model: {'embedded all-MiniLM-L6-v2' if preset == 'embedded' else preset}"
            f", sequence_length={sequence_length}; "
            f"texts: {len(texts)} Rotten Tomatoes test snippets "
            f"(median {int(np.median(lengths))} words); "
            f"export vs Keras max |probability difference| {max_difference:.1e}\n"
        )
        print(format_table(rows))
    return rows


def format_table(rows):
    header = (
        "| system | batch | calls | p50 ms | p99 ms | examples/s "
        "| p50 / export | throughput / export |"
    )
    lines = [header, "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in rows:
        lines.append(
            f"| {row['system']} | {row['batch_size']} | {row['calls']} "
            f"| {row['p50_ms']:.1f} | {row['p99_ms']:.1f} "
            f"| {row['examples_per_s']:.1f} | {row['p50_vs_export']:.3g}x "
            f"| {row['throughput_vs_export']:.3g}x |"
        )
    return "\n".join(lines)


def main(argv):
    del argv
    run(
        calls_batch_1=FLAGS.calls_batch_1,
        calls_batch_32=FLAGS.calls_batch_32,
        warmup_calls=FLAGS.warmup_calls,
        sequence_length=FLAGS.sequence_length,
    )


if __name__ == "__main__":
    flags.DEFINE_integer("calls_batch_1", 100, "Timed calls per system, batch 1.")
    flags.DEFINE_integer("calls_batch_32", 20, "Timed calls per system, batch 32.")
    flags.DEFINE_integer("warmup_calls", 3, "Untimed calls before timing.")
    flags.DEFINE_integer("sequence_length", 128, "Maximum tokens per text.")
    app.run(main)
