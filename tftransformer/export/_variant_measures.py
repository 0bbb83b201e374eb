"""Size on disk and latency of an exported variant, shared by the variants
reports of every model kind."""

import os
import time

import numpy as np

__all__ = ["directory_bytes", "latency_ms"]


def directory_bytes(path):
    """The bytes of every file under `path`."""
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def latency_ms(predict, texts, batch_size, calls):
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
