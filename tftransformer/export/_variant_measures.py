"""The test set's check, and loading, size on disk and latency of an
exported variant, shared by the variants reports of every model kind."""

import os
import time

import numpy as np
import tensorflow as tf

from tftransformer.export._litert_interpreter import resolve_runtime
from tftransformer.export.litert_export import export_litert
from tftransformer.export.litert_model import LiteRTModel
from tftransformer.hardware import describe_machine

__all__ = [
    "check_test_set",
    "directory_bytes",
    "latencies",
    "litert_variant",
    "saved_model_signature",
    "timing_machine",
]


def timing_machine(litert_runtime="auto"):
    """What a report's latencies were timed on: `describe_machine()` and
    `litert_runtime`, the interpreter its LiteRT variants ran on (`"litert"`,
    `ai_edge_litert`'s, or `"tensorflow"`, `tf.lite.Interpreter`)."""
    runtime = resolve_runtime(litert_runtime, "litert_runtime")
    return {**describe_machine(), "litert_runtime": runtime}


def check_test_set(texts, labels, what="", roles=None):
    """Refuses empty `texts`, or `labels` of another length: `test_texts`
    and `test_labels` of `export_variants`.

    Args:
        what: prefixes the message, e.g. `"For a generator, "`.
        roles: `(texts, labels, one label)` as the message names them, e.g.
            `("prompts", "references", "each prompt's reference")`; None
            for plain texts and labels.
    """
    if texts and len(texts) == len(labels):
        return
    if roles:
        texts_as, labels_as, label_is = roles
        named = f"`test_texts` ({texts_as}) and `test_labels` ({label_is})"
    else:
        texts_as, labels_as = "texts", "labels"
        named = "`test_texts` and `test_labels`"
    raise ValueError(
        f"{what}{named} must be non-empty and of equal length. "
        f"Received: {len(texts)} {texts_as} and {len(labels)} {labels_as}"
    )


def directory_bytes(path):
    """The bytes of every file under `path`."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _latency_ms(predict, texts, batch_size, calls):
    """p50 and p99 of `calls` timed calls on batches cycling through `texts`."""
    batches = [
        [texts[(i * batch_size + j) % len(texts)] for j in range(batch_size)]
        for i in range(calls + 2)
    ]
    for batch in batches[:2]:
        predict(batch)
    times = []
    for batch in batches[2:]:
        start = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))


def latencies(predict, texts, batch_sizes, calls):
    """A report row's `p50_ms_batch_<n>` and `p99_ms_batch_<n>` entries:
    `calls[i]` timed calls of `predict` at each `batch_sizes[i]`."""
    row = {}
    for size, count in zip(batch_sizes, calls):
        p50, p99 = _latency_ms(predict, texts, size, count)
        row[f"p50_ms_batch_{size}"] = p50
        row[f"p99_ms_batch_{size}"] = p99
    return row


def saved_model_signature(path, name):
    """`(signature, size_bytes)` of the SavedModel version at `path`."""
    return tf.saved_model.load(path).signatures[name], directory_bytes(path)


def litert_variant(
    model, path, quantization, overwrite, runtime="auto", **export_arguments
):
    """`(LiteRTModel, tflite_file, size_bytes)` of `model` exported by
    `export_litert` to `path` with `quantization` and `export_arguments`,
    run on the LiteRT interpreter `runtime` names (see `LiteRTModel`)."""
    tflite_file = export_litert(
        model,
        path,
        quantization=quantization,
        overwrite=overwrite,
        **export_arguments,
    )
    litert = LiteRTModel(tflite_file, runtime=runtime)
    return litert, tflite_file, os.path.getsize(tflite_file)
