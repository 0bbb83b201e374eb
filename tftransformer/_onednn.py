"""TensorFlow's oneDNN switch, which must be set before TensorFlow loads.

TensorFlow turns its oneDNN kernels on by default only on x86 CPUs with
AVX-512 VNNI / BF16 or AMX; on AVX2-only CPUs (many AMD EPYC cloud
machines) they train and embed faster than the Eigen kernels TensorFlow
falls back to (docs/benchmarks.md, "oneDNN on AVX2-only CPUs"). TensorFlow
reads the switch once, when it is imported: `TF_ENABLE_ONEDNN_OPTS=0` (or
importing TensorFlow first) keeps its own default. No TensorFlow import
here.
"""

import os
import platform


def machine_is_x86():
    """Whether this process runs on an x86-64 CPU."""
    return platform.machine().lower() in ("x86_64", "amd64")


def prefer_onednn():
    """Sets `TF_ENABLE_ONEDNN_OPTS=1` on x86 unless it is set already."""
    if machine_is_x86():
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
