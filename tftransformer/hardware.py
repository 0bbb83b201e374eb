"""What this machine computes natively: CPU features, GPUs, memory.

`precision_warning` says when a 16-bit compute dtype would be emulated (and
so train slower than float32); `describe_machine` records the machine a
benchmark or run measured on.
"""

import os
import platform

import tensorflow as tf

__all__ = ["describe_machine", "onednn_enabled", "precision_warning"]


# CPU flags (Linux /proc/cpuinfo) of native low-precision matrix math: x86
# AVX-512 / AMX, and Arm's BF16 extension. Without them oneDNN converts to
# float32 and back around every op.
_NATIVE_CPU_FLAGS = {
    "bfloat16": ("avx512_bf16", "amx_bf16", "bf16"),
    "float16": ("avx512_fp16", "amx_fp16"),
}
# Tensor cores: float16 from Volta (7.0), bfloat16 from Ampere (8.0).
_NATIVE_GPU_CAPABILITY = {"bfloat16": (8, 0), "float16": (7, 0)}


def precision_warning(precision, strategy=None):
    """Says why `precision` would train slower than float32 here, or None.

    Mixed precision only pays on hardware that multiplies in 16 bits:
    GPUs with tensor cores (float16 from compute capability 7.0, bfloat16
    from 8.0), TPUs (bfloat16 only), and CPUs with AVX512_BF16 or AMX
    (bfloat16), or AVX512_FP16 or AMX-FP16 (float16). Elsewhere every
    16-bit op is emulated, and training is usually slower than in float32.
    CPUs are read from Linux's `/proc/cpuinfo`; where it cannot be read,
    nothing is known and None is returned.

    Args:
        precision: `"bfloat16"`, `"float16"`, or a Keras dtype policy name
            such as `"mixed_bfloat16"`; `"float32"` and `"none"` (no mixed
            precision) always return None.
        strategy: the `tf.distribute.Strategy` that will train; its devices
            are checked. Defaults to the strategy whose scope is open, else
            the devices TensorFlow places ops on: the GPUs if there are any,
            else the CPU.

    Returns:
        A sentence naming the precision, the device and what it lacks, or
        None when the precision runs natively (or nothing is known).

    Example:
    ```python
    strategy = tft.distribute.get_strategy()
    message = tft.hardware.precision_warning("bfloat16", strategy)
    if message:
        print(message)  # e.g. on a CPU without AVX512_BF16 or AMX
    ```
    """
    names = ("none", "float32", "bfloat16", "float16")
    names += ("mixed_bfloat16", "mixed_float16")
    if not isinstance(precision, str) or precision not in names:
        raise ValueError(
            f"precision must be one of {names}. Received: precision={precision!r}"
        )
    name = precision.removeprefix("mixed_")
    if name not in _NATIVE_CPU_FLAGS:
        return None
    kind = _compute_device_kind(strategy)
    if kind == "TPU":
        if name == "bfloat16":
            return None
        return (
            f"{name} on a TPU: TPUs multiply in bfloat16, not float16; use "
            "bfloat16 there."
        )
    if kind == "GPU":
        needed = _NATIVE_GPU_CAPABILITY[name]
        for gpu_name, capability in _gpu_details():
            if capability is not None and capability < needed:
                return (
                    f"{name} on {gpu_name} (compute "
                    f"capability {capability[0]}.{capability[1]}): {name} "
                    f"tensor cores need {needed[0]}.{needed[1]} or higher, so "
                    "it is emulated and usually slower than float32."
                )
        return None
    flags = _cpu_flags()
    if flags is None or flags & set(_NATIVE_CPU_FLAGS[name]):
        return None
    return (
        f"{name} on this CPU ({_cpu_model()}): its /proc/cpuinfo flags include "
        f"none of {', '.join(_NATIVE_CPU_FLAGS[name])}, so {name} is emulated "
        "and training is usually slower than in float32."
    )


# The CPU features that decide how fast a training step runs: vector width
# and native 16-bit matrix math (x86 AVX / AMX, Arm SVE and BF16).
_REPORTED_CPU_FLAGS = (
    "avx2",
    "avx512f",
    "avx512_bf16",
    "avx512_fp16",
    "amx_bf16",
    "amx_fp16",
    "sve",
    "bf16",
)


def describe_machine():
    """Describes this machine's CPU, memory and GPUs, for a run's report.

    Timings from machines with other CPU features do not compare: the same
    bfloat16 step is faster than float32 with AVX512_BF16 and slower
    without it. Benchmarks record this next to their figures.

    Returns:
        A dict: `cpu` (model name), `logical_cores`, `usable_cores` (the
        cores this process may run on), `cpu_features` (those of
        AVX2, AVX-512, AVX512_BF16/FP16, AMX and Arm's SVE/BF16 present),
        `memory_gib` (None where unknown), `gpus` (name and compute
        capability of each), `onednn` (whether TensorFlow's oneDNN CPU
        kernels are on: `onednn_enabled`), `intra_op_threads` and
        `inter_op_threads` (TensorFlow's thread pools as this process set
        them, through `tf.config.threading` or `TF_NUM_INTRAOP_THREADS` /
        `TF_NUM_INTEROP_THREADS`; None: TensorFlow's default, about one per
        core) and `summary`, all of it as one line.

    Example:
    ```python
    print(tft.hardware.describe_machine()["summary"])
    # AMD EPYC; 2 logical cores, 2 usable; avx2; oneDNN; 23 GiB memory; no GPU
    ```
    """
    onednn = onednn_enabled()
    flags = _cpu_flags() or set()
    features = [flag for flag in _REPORTED_CPU_FLAGS if flag in flags]
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    memory = None
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    memory = round(int(line.split()[1]) / 1024**2, 1)
                    break
    except (OSError, ValueError, IndexError):
        pass
    gpus = [
        {
            "name": name,
            "compute_capability": (
                None if capability is None else ".".join(map(str, capability))
            ),
        }
        for name, capability in _gpu_details()
    ]
    model = _cpu_model()
    parts = [
        model,
        f"{os.cpu_count()} logical cores, {usable} usable",
        " ".join(features) or "no AVX2, AVX-512, AMX, SVE or BF16",
        "oneDNN" if onednn else "no oneDNN",
    ]
    threads = {}
    for pool, configured, variable in (
        (
            "intra",
            tf.config.threading.get_intra_op_parallelism_threads,
            "TF_NUM_INTRAOP_THREADS",
        ),
        (
            "inter",
            tf.config.threading.get_inter_op_parallelism_threads,
            "TF_NUM_INTEROP_THREADS",
        ),
    ):
        count = _thread_setting(configured, variable)
        threads[f"{pool}_op_threads"] = count
        if count is not None:
            parts.append(f"{count} {pool}-op thread{'' if count == 1 else 's'}")
    if memory is not None:
        parts.append(f"{memory:.0f} GiB memory")
    parts.append(
        ", ".join(
            f"{gpu['name']} (compute capability {gpu['compute_capability']})"
            for gpu in gpus
        )
        or "no GPU"
    )
    return {
        "cpu": model,
        "logical_cores": os.cpu_count(),
        "usable_cores": usable,
        "cpu_features": features,
        "memory_gib": memory,
        "gpus": gpus,
        "onednn": onednn,
        **threads,
        "summary": "; ".join(parts),
    }


def _thread_setting(configured, variable):
    """A TensorFlow thread pool's size as this process set it, or None.

    `tf.config.threading` reports 0 (TensorFlow's default) when only the
    environment variable that TensorFlow reads at start-up sets it.
    """
    count = configured()
    if count:
        return int(count)
    try:
        count = int(os.environ.get(variable, ""))
    except ValueError:
        return None
    return count if count > 0 else None


def onednn_enabled():
    """Whether TensorFlow runs its oneDNN CPU kernels in this process.

    TensorFlow decides once, when it is imported: from
    `TF_ENABLE_ONEDNN_OPTS` when it is set, else on for x86 CPUs with
    AVX-512 VNNI / BF16 or AMX only. Importing `tftransformer` before
    TensorFlow sets `TF_ENABLE_ONEDNN_OPTS=1` on x86 unless it is set
    already: on AVX2-only CPUs oneDNN trains and embeds faster than the
    Eigen kernels TensorFlow otherwise uses (docs/benchmarks.md).

    Returns:
        bool.

    Example:
    ```python
    tft.hardware.onednn_enabled()  # True on x86 unless turned off
    ```
    """
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def _gpu_details():
    """(name, compute capability tuple or None) of each physical GPU."""
    details = []
    for gpu in tf.config.list_physical_devices("GPU"):
        info = tf.config.experimental.get_device_details(gpu)
        capability = info.get("compute_capability")
        details.append(
            (
                info.get("device_name", gpu.name),
                None if capability is None else tuple(capability),
            )
        )
    return details


def _compute_device_kind(strategy):
    """`"TPU"`, `"GPU"` or `"CPU"`: where `strategy` (or TensorFlow) computes."""
    if strategy is None and tf.distribute.has_strategy():
        strategy = tf.distribute.get_strategy()
    if strategy is not None:
        devices = " ".join(strategy.extended.worker_devices).upper()
        for kind in ("TPU", "GPU"):
            if f"{kind}:" in devices:
                return kind
        if "CPU:" in devices:
            return "CPU"
    return "GPU" if tf.config.list_logical_devices("GPU") else "CPU"


def _cpu_info_lines():
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            return f.read().splitlines()
    except OSError:
        return None


def _cpu_flags():
    """The first CPU's feature flags, or None where they cannot be read."""
    lines = _cpu_info_lines()
    if lines is None:
        return None
    for line in lines:
        # x86 says "flags", Arm "Features".
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return set(value.split())
    return None


def _cpu_model():
    for line in _cpu_info_lines() or ():
        key, _, value = line.partition(":")
        if key.strip() == "model name" and value.strip():
            return value.strip()
    return platform.processor() or platform.machine() or "unknown model"
