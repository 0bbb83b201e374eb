r"""Where the time of one fine-tuning step goes, by kind of op.

Builds tftransformer's default fine-tune path on the embedded checkpoint
(`TextClassifier`, mean pooling, `create_optimizer`), trains it on the fixed-shape
batches of `finetune_throughput.py` (training texts packed into rows of
`--length` real tokens, no padding), times `--steps` steps, then records
`--profile_steps` more with the TensorFlow profiler and sums the op time per
step by kind: GEMMs (`MatMul`, `BatchMatMul`, a MatMul fused with its bias),
dropout, GELU, softmax, layer normalization, dtype casts, the optimizer
update, the XLA-compiled functions of `--fused_encoder` (their GELU, softmax,
dropout and layer norms), everything else.

TensorFlow runs independent ops side by side (`--inter_op_threads=0`, its
default), so their times can add up to more than the step. With
`--inter_op_threads=1` ops run one at a time: the kinds add up to the step, and
the GEMMs' GFLOP/s (the step's training FLOPs over their time) is what they
reach inside the step, to set against the GEMM peak `finetune_throughput.py`
measures.

Usage:
```
python benchmarks/step_profile.py --inter_op_threads=1
python benchmarks/step_profile.py --mixed_precision=bfloat16
```
"""

import collections
import glob
import os
import re
import sys
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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import finetune_throughput  # noqa: E402

FLAGS = flags.FLAGS

# `op_kind` tries GEMMs first (a MatMul is a GEMM in any scope), then the
# optimizer's scope, then KINDS in order, each searched in
# "scope/op_name:OpType": a Mul under "Gelu/" is GELU, a Cast inside a layer
# norm counts as layer norm, "cast" holds the casts outside these scopes.
# The graph optimizer fuses a MatMul with its BiasAdd (`_FusedMatMul`, with
# oneDNN `_MklNativeFusedMatMul`): a GEMM too.
_GEMM = re.compile(
    r":_?(Mkl)?(Native)?(Fused)?(Batch)?MatMul(V2|V3)?$|:_?(Mkl)?Einsum$"
)
# One run of an XLA-compiled function (the fused encoder path's elementwise
# work), on the thread that launched it.
_XLA_RUN = re.compile(r"^[A-Z]\w*Executable::ExecuteAsyncOnStream$")
KINDS = (
    ("dropout", re.compile(r"dropout", re.IGNORECASE)),
    ("GELU", re.compile(r"gelu", re.IGNORECASE)),
    ("softmax", re.compile(r"softmax", re.IGNORECASE)),
    ("layer norm", re.compile(r"layer_norm|layernorm", re.IGNORECASE)),
    ("cast", re.compile(r":Cast$")),
)


_OP_TYPE = re.compile(r"^[A-Za-z_]\w*$")


def op_kind(event_name, optimizer_names):
    """The kind of a profiled op, from its `"scope/name:OpType"` event name.

    Args:
        event_name: a TensorFlow op event's name, e.g.
            `"text_classifier/bert_backbone/..._dropout/SelectV2:SelectV2"`.
        optimizer_names: a set of the names of the optimizer and, for a
            `LossScaleOptimizer`, of its inner optimizer: the scopes of the
            update ops.

    Returns:
        One of `"GEMM"`, `"optimizer"`, `"dropout"`, `"GELU"`, `"softmax"`,
        `"layer norm"`, `"cast"`, `"XLA"` (a run of an XLA-compiled
        function), `"other"`; `None` for events that are not single ops
        (executor bookkeeping, the step function itself).
    """
    if _XLA_RUN.match(event_name):
        return "XLA"
    name, _, op_type = event_name.rpartition(":")
    if not name or " " in name or ":" in name or not _OP_TYPE.match(op_type):
        return None
    if _GEMM.search(event_name):
        return "GEMM"
    # Its own scope, or nested: a LossScaleOptimizer updates inside a cond.
    if not optimizer_names.isdisjoint(name.split("/")[:-1]):
        return "optimizer"
    for kind, pattern in KINDS:
        if pattern.search(event_name):
            return kind
    return "other"


def op_seconds(logdir, optimizer_names):
    """Seconds of op time by kind, summed over one profile in `logdir`.

    Args:
        logdir: the directory given to `tf.profiler.experimental.start`.
        optimizer_names: see `op_kind`.

    Returns:
        A `collections.Counter` from kind to seconds.

    Raises:
        FileNotFoundError: if `logdir` holds no profile.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = sorted(glob.glob(os.path.join(logdir, "**", "*.xplane.pb"), recursive=True))
    if not paths:
        raise FileNotFoundError(f"No *.xplane.pb profile under logdir={logdir!r}.")
    space = xplane_pb2.XSpace()
    with open(paths[-1], "rb") as f:
        space.ParseFromString(f.read())
    seconds = collections.Counter()
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                kind = op_kind(name, optimizer_names)
                if kind is not None:
                    seconds[kind] += event.duration_ps * 1e-12
    return seconds


def run(
    preset="embedded",
    batch_size=32,
    length=128,
    steps=5,
    warmup_steps=3,
    profile_steps=2,
    mixed_precision="none",
    freeze_layers=0,
    inter_op_threads=0,
    seed=0,
    logdir=None,
    fused_encoder=False,
):
    """Times the fixed-shape step and splits its op time by kind.

    Args:
        preset: `"embedded"` or a keras-hub BERT preset or directory.
        batch_size: rows per batch.
        length: real tokens per row.
        steps: timed steps (median reported).
        warmup_steps: untimed steps first (tracing).
        profile_steps: profiled steps after the timed ones.
        mixed_precision: `"none"`, `"bfloat16"` or `"float16"`.
        freeze_layers: lower encoder layers frozen (`freeze_layers`).
        inter_op_threads: TensorFlow inter-op threads; 0 leaves the default.
            Takes effect only before TensorFlow's first op.
        seed: random seed.
        logdir: where the profile goes; a temporary directory by default.
        fused_encoder: bool, whether the encoder blocks train on the fused
            path (`finetune.use_fused_encoder`).

    Returns:
        A dict of `step_seconds` (median), `op_seconds` (kind to seconds per
        step), `train_gflop` (training GFLOP per step, frozen layers counted
        forward only) and `gemm_gflops` (`train_gflop` over the GEMMs'
        seconds per step).
    """
    import tensorflow as tf

    import tftransformer as tft

    # The benchmark's settings and checks (batch size, length, precision,
    # frozen layers), and its model: what the profile shows is the step
    # `finetune_throughput.py` times.
    config = finetune_throughput.default_config(
        preset=preset,
        batch_size=batch_size,
        max_length=length,
        mixed_precision=mixed_precision,
        freeze_layers=freeze_layers,
        seed=seed,
        fused_encoder=fused_encoder,
    )
    for name, value, low in (
        ("steps", steps, 1),
        ("warmup_steps", warmup_steps, 1),
        ("profile_steps", profile_steps, 1),
        ("inter_op_threads", inter_op_threads, 0),
    ):
        if value < low:
            raise ValueError(f"{name} must be >= {low}. Received: {name}={value}")
    if inter_op_threads:
        tf.config.threading.set_inter_op_parallelism_threads(inter_op_threads)
    classifier, backbone, tokenizer = finetune_throughput.build_ours(config)
    train = tft.datasets.load_rotten_tomatoes("train")
    # One batch, trained on again and again: the step's cost does not depend
    # on which real tokens it holds.
    ((features, labels),) = finetune_throughput.packed_batches(
        list(train.texts), train.labels, tokenizer, batch_size, length, 1
    )
    optimizer = finetune_throughput.compile_for_benchmark(
        classifier, config, num_train_steps=warmup_steps + steps + profile_steps
    )
    for _ in range(warmup_steps):
        classifier.train_on_batch(features, labels)
    seconds = []
    for _ in range(steps):
        start = time.perf_counter()
        classifier.train_on_batch(features, labels)
        seconds.append(time.perf_counter() - start)

    with tempfile.TemporaryDirectory() as tmp:
        logdir = logdir or tmp
        tf.profiler.experimental.start(logdir)
        for _ in range(profile_steps):
            classifier.train_on_batch(features, labels)
        tf.profiler.experimental.stop()
        inner = getattr(optimizer, "inner_optimizer", optimizer)
        totals = op_seconds(logdir, {optimizer.name, inner.name})

    dims = finetune_throughput._keras_dims(classifier, backbone, freeze_layers)
    tokens = batch_size * length
    flop = finetune_throughput.train_flops(
        dims["non_embedding_params"],
        dims["num_layers"],
        dims["hidden_dim"],
        real_tokens=tokens,
        sum_sq=tokens * length,
        frozen_params=dims["frozen_params"],
        frozen_layers=dims["frozen_layers"],
    )
    per_step = {kind: value / profile_steps for kind, value in totals.items()}
    gemm = per_step.get("GEMM", 0.0)
    return {
        "step_seconds": float(np.median(seconds)),
        "op_seconds": per_step,
        "train_gflop": flop / 1e9,
        "gemm_gflops": flop / 1e9 / gemm if gemm else None,
    }


def format_table(result):
    """A markdown table of `run`'s result: seconds and share per kind."""
    step = result["step_seconds"]
    ops = result["op_seconds"]
    total = sum(ops.values())
    lines = [
        "| kind | op seconds per step | share of op time |",
        "| --- | ---: | ---: |",
    ]
    for kind, value in sorted(ops.items(), key=lambda item: -item[1]):
        lines.append(f"| {kind} | {value:.3f} | {value / total:.0%} |")
    lines.append(f"| all ops | {total:.3f} | |")
    lines.append(f"| step (wall, median, unprofiled) | {step:.3f} | |")
    lines.append("")
    gflops = result["gemm_gflops"]
    lines.append(
        f"{result['train_gflop']:.3g} training GFLOP per step"
        + (f"; GEMMs at {gflops:.3g} GFLOP/s of their own time" if gflops else "")
    )
    return "\n".join(lines)


def main(argv):
    del argv
    result = run(
        preset=FLAGS.preset,
        batch_size=FLAGS.batch_size,
        length=FLAGS.length,
        steps=FLAGS.steps,
        warmup_steps=FLAGS.warmup_steps,
        profile_steps=FLAGS.profile_steps,
        mixed_precision=FLAGS.mixed_precision,
        freeze_layers=FLAGS.freeze_layers,
        inter_op_threads=FLAGS.inter_op_threads,
        seed=FLAGS.seed,
        logdir=FLAGS.logdir,
        fused_encoder=FLAGS.fused_encoder,
    )
    print(format_table(result))


if __name__ == "__main__":
    flags.DEFINE_string("preset", "embedded", "keras-hub BERT preset or directory.")
    flags.DEFINE_integer("batch_size", 32, "Rows per batch.")
    flags.DEFINE_integer("length", 128, "Real tokens per row.")
    flags.DEFINE_integer("steps", 5, "Timed steps.")
    flags.DEFINE_integer("warmup_steps", 3, "Untimed steps first.")
    flags.DEFINE_integer("profile_steps", 2, "Profiled steps.")
    flags.DEFINE_enum(
        "mixed_precision", "none", ["none", "bfloat16", "float16"], "Precision."
    )
    flags.DEFINE_integer("freeze_layers", 0, "Lower encoder layers frozen.")
    flags.DEFINE_integer(
        "inter_op_threads", 0, "TensorFlow inter-op threads (0: its default)."
    )
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_string("logdir", None, "Keep the profile here (TensorBoard).")
    flags.DEFINE_bool("fused_encoder", False, "Encoder blocks on the fused path.")
    app.run(main)
