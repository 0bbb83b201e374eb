"""Size on disk and latency of an exported variant, shared by the variants
reports of every model kind."""

import os
import time

import numpy as np
import tensorflow as tf

__all__ = ["directory_bytes", "latencies", "saved_model_signature"]


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
