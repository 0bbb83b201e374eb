r"""Compares the fine-tuning strategies of `examples/classify.py` on one budget.

Every strategy fine-tunes the same checkpoint (`--preset`, the embedded
all-MiniLM-L6-v2 by default) on the same seeded subset of the embedded Rotten
Tomatoes training split, for the same epochs, batch size, sequence length and
seed, through `tft.training.train_text_classifier` (what
`examples/classify.py` runs); each is then scored on the same test
split. Each strategy runs in a process of its own, so that its peak memory is
its own and no Keras or TensorFlow state carries over from one to the next.

Strategies, in the order they run and are listed:

| name | `examples/classify.py` flags | peak learning rate |
| --- | --- | --- |
| full | (none) | 5e-5 |
| freeze_layers | `--freeze_layers=N`, N from `--freeze_layers` (3) | 5e-5 |
| linear_probe | `--freeze_backbone` | 1e-3 |
| gradual_unfreeze | `--gradual_unfreeze --unfreeze_every_epochs=1` | 1e-4 |
| layer_decay | `--layer_decay=0.9` | 5e-5 |
| lora | `--lora_rank=8` | 1e-4 |
| extra_block | `--extra_blocks=1` | 5e-5 |
| extra_block_frozen | `--extra_blocks=1 --freeze_backbone` | 1e-3 |
| head_warmup | `--head_warmup_steps=S`, S = ceil(examples / batch) // 2 | 5e-5 |

The learning-rate rule is the one the toolkit's own examples follow:
strategies that train pretrained backbone weights directly use
`examples/classify.py`'s default, 5e-5 (the BERT recipe); strategies that
train only new layers on a frozen backbone use 1e-3 (as
`tftransformer.finetune.freeze_backbone`'s example); LoRA adapters and
gradual unfreezing, whose first steps train only the head, use 1e-4 (as
`apply_lora`'s and `GradualUnfreezing`'s examples). `--learning_rates`
overrides any of them. With `--epochs=3` gradual unfreezing trains the head
alone in the first epoch and reaches the top two encoder layers by the last.
Head warmup lasts about half of the first epoch (batches grouped by length
make an epoch a few steps longer than examples / batch).

Writes to `--output_dir`: `results.json` (every number, the settings, the
machine and the command), `results.md` (a Markdown table: strategy, flags,
learning rate, test accuracy, macro F1, trainable parameters, wall seconds,
training examples per second, peak RSS, and the test-accuracy difference to
full fine-tuning in points) and, per strategy, `<name>/log.txt` (the child's
output) and `<name>/result.json`.

Measures: "wall s" is the whole `train_text_classifier` call (data loading,
model building, training with validation, test evaluation, saving); "train
ex/s" is the training examples processed divided by the time spent in the
training part of the epochs (graph tracing included, validation and
checkpointing left out); "peak RSS" is the child process's maximum resident
set size (`ru_maxrss`), TensorFlow and the data included. "Trainable params"
are `model.trainable_variables` when training ends (what gradual unfreezing
reached). BERT's pooler, which the mean-pooled head does not read, is not
trainable and not counted.

Usage:
```
python benchmarks/strategies.py
python benchmarks/strategies.py --strategies=full,linear_probe,lora \
    --max_train_examples=500 --epochs=1 --output_dir=runs/strategies_small
python benchmarks/strategies.py --learning_rates=lora=5e-4
```
"""

import contextlib
import datetime
import json
import math
import os
import resource
import shlex
import shutil
import subprocess
import sys
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN) a user
# of the library gets.
import tftransformer  # noqa: F401

# isort: split
from absl import app, flags

FLAGS = flags.FLAGS


BACKBONE_LEARNING_RATE = 5e-5
NEW_LAYERS_LEARNING_RATE = 1e-3
ADAPTER_LEARNING_RATE = 1e-4

# Canonical order: runs and table rows follow it whatever `--strategies` says.
LEARNING_RATES = {
    "full": BACKBONE_LEARNING_RATE,
    "freeze_layers": BACKBONE_LEARNING_RATE,
    "linear_probe": NEW_LAYERS_LEARNING_RATE,
    "gradual_unfreeze": ADAPTER_LEARNING_RATE,
    "layer_decay": BACKBONE_LEARNING_RATE,
    "lora": ADAPTER_LEARNING_RATE,
    "extra_block": BACKBONE_LEARNING_RATE,
    "extra_block_frozen": NEW_LAYERS_LEARNING_RATE,
    "head_warmup": BACKBONE_LEARNING_RATE,
}
STRATEGY_NAMES = tuple(LEARNING_RATES)

TABLE_COLUMNS = (
    "strategy",
    "flags",
    "learning rate",
    "test acc",
    "macro F1",
    "trainable params",
    "wall s",
    "train ex/s",
    "peak RSS MiB",
    "vs full",
)


def strategy_options(name, freeze_layers, steps_per_epoch):
    """The `ClassificationConfig` settings of one strategy.

    Args:
        name: one of `STRATEGY_NAMES`.
        freeze_layers: int >= 1, encoder layers the `freeze_layers` strategy
            freezes (with the embeddings).
        steps_per_epoch: int >= 1, ceil(training examples / batch size);
            head warmup lasts half of it.

    Returns:
        A dict of `ClassificationConfig` fields (flags of
        `examples/classify.py`).
    """
    options = {
        "full": {},
        "freeze_layers": {"freeze_layers": freeze_layers},
        "linear_probe": {"freeze_backbone": True},
        "gradual_unfreeze": {"gradual_unfreeze": True, "unfreeze_every_epochs": 1},
        "layer_decay": {"layer_decay": 0.9},
        "lora": {"lora_rank": 8},
        "extra_block": {"extra_blocks": 1},
        "extra_block_frozen": {"extra_blocks": 1, "freeze_backbone": True},
        "head_warmup": {"head_warmup_steps": max(1, steps_per_epoch // 2)},
    }
    if name not in options:
        raise ValueError(
            f"Unknown strategy; expected one of {list(STRATEGY_NAMES)}. "
            f"Received: name={name!r}"
        )
    return options[name]


def format_flags(options):
    """`{"freeze_backbone": True, "extra_blocks": 1}` -> classify.py flags."""
    if not options:
        return "(none)"
    parts = []
    for key, value in options.items():
        parts.append(f"--{key}" if value is True else f"--{key}={value:g}")
    return " ".join(parts)


def parse_learning_rates(overrides):
    """Parses `["lora=5e-4", ...]` into `{"lora": 5e-4}`.

    Args:
        overrides: iterable of `"name=value"` strings; names from
            `STRATEGY_NAMES`, values positive floats.

    Returns:
        A dict from strategy name to learning rate.
    """
    rates = {}
    for item in overrides or ():
        name, sep, value = str(item).partition("=")
        if not sep or name not in LEARNING_RATES:
            raise ValueError(
                "learning_rates takes name=value with a name among "
                f"{list(STRATEGY_NAMES)}. Received: {item!r}"
            )
        try:
            rate = float(value)
        except ValueError:
            rate = float("nan")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(
                f"learning_rates needs a positive number for {name}. Received: {item!r}"
            )
        rates[name] = rate
    return rates


def _check_positive(name, value, allow_none=False):
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int. Received: {name}={value!r}")


def run(
    strategies=STRATEGY_NAMES,
    preset="embedded",
    max_train_examples=2000,
    max_eval_examples=None,
    epochs=3,
    batch_size=32,
    max_length=128,
    seed=0,
    freeze_layers=3,
    learning_rates=None,
    output_dir="runs/strategies",
    keep_models=False,
    command=None,
    verbose=True,
):
    """Runs each strategy in a child process, then writes the comparison.

    Args:
        strategies: names from `STRATEGY_NAMES`; run and listed in that
            tuple's order, each once.
        preset: the backbone, as `examples/classify.py`'s `--preset`.
        max_train_examples: int > 0, the seeded training subset every
            strategy trains on; None trains on the whole split.
        max_eval_examples: int > 0, seeded subsets of the validation and test
            splits (`examples/classify.py` caps both); None keeps them whole.
        epochs: int > 0, training epochs of every strategy.
        batch_size: int > 0.
        max_length: int > 0, longest tokenized sequence.
        seed: int, weights, data order and subsets.
        freeze_layers: int > 0, encoder layers the `freeze_layers` strategy
            freezes.
        learning_rates: optional dict from strategy name to peak learning
            rate, overriding `LEARNING_RATES`.
        output_dir: where results, logs and (with `keep_models`) models go.
        keep_models: bool, keep each strategy's `model_dir`.
        command: str recorded as the command that made the table; defaults
            to this process's command line.
        verbose: bool, print progress and the table.

    Returns:
        The list of result rows (dicts), in `STRATEGY_NAMES` order. A
        strategy whose child failed has an `error` and no measurements.
    """
    if isinstance(strategies, str) or not strategies:
        raise ValueError(
            "strategies must be a non-empty list of names. "
            f"Received: strategies={strategies!r}"
        )
    unknown = [name for name in strategies if name not in STRATEGY_NAMES]
    if unknown:
        raise ValueError(
            f"Unknown strategies {unknown}; expected names among "
            f"{list(STRATEGY_NAMES)}. Received: strategies={list(strategies)}"
        )
    _check_positive("max_train_examples", max_train_examples, allow_none=True)
    _check_positive("max_eval_examples", max_eval_examples, allow_none=True)
    for name, value in (
        ("epochs", epochs),
        ("batch_size", batch_size),
        ("max_length", max_length),
        ("freeze_layers", freeze_layers),
    ):
        _check_positive(name, value)
    for name, rate in (learning_rates or {}).items():
        if name not in LEARNING_RATES or not (
            isinstance(rate, (int, float)) and math.isfinite(rate) and rate > 0
        ):
            raise ValueError(
                "learning_rates maps names among "
                f"{list(STRATEGY_NAMES)} to positive numbers. "
                f"Received: {name!r}: {rate!r}"
            )
    rates = {**LEARNING_RATES, **(learning_rates or {})}
    if command is None:
        command = "python " + shlex.join(sys.argv)
    selected = [name for name in STRATEGY_NAMES if name in strategies]
    output_dir = os.path.abspath(output_dir)
    # A local preset path must survive the child's own working directory.
    if os.path.isdir(preset):
        preset = os.path.abspath(preset)
    os.makedirs(output_dir, exist_ok=True)
    settings = {
        "preset": preset,
        "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_length": max_length,
        "seed": seed,
        "freeze_layers": freeze_layers,
    }

    rows = []
    for index, name in enumerate(selected, 1):
        if verbose:
            print(
                f"[{index}/{len(selected)}] {name} (learning rate {rates[name]:g}) ...",
                flush=True,
            )
        row = _run_child(name, rates[name], settings, output_dir, keep_models)
        rows.append(row)
        if verbose:
            if "error" in row:
                print(f"    failed: {row['error']}", flush=True)
            else:
                print(
                    f"    test accuracy {row['test_accuracy']:.4f}, "
                    f"{row['wall_seconds']:.0f} s",
                    flush=True,
                )

    full = next((r for r in rows if r["strategy"] == "full" and "error" not in r), None)
    for row in rows:
        row["vs_full_points"] = (
            100.0 * (row["test_accuracy"] - full["test_accuracy"])
            if full is not None and "error" not in row
            else None
        )
    finished = [row for row in rows if "error" not in row]
    results = {
        "date": datetime.date.today().isoformat(),
        "finished_at": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": _machine_summary(),
        "versions": finished[0]["versions"] if finished else None,
        "command": command,
        "settings": settings,
        "rows": rows,
    }
    with open(os.path.join(output_dir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    markdown = format_results(results)
    with open(os.path.join(output_dir, "results.md"), "w") as f:
        f.write(markdown)
    if verbose:
        print()
        print(markdown)
        print(f"Written to {output_dir}/results.json and results.md")
    return rows


def _machine_summary():
    # Imported here: the strategies run in child processes.
    import tftransformer as tft

    return tft.hardware.describe_machine()["summary"]


def _run_child(name, learning_rate, settings, output_dir, keep_models):
    """Runs one strategy in a fresh Python process; returns its result row."""
    strategy_dir = os.path.join(output_dir, name)
    model_dir = os.path.join(strategy_dir, "model")
    # classify.py resumes from a model_dir's checkpoint: start from nothing.
    shutil.rmtree(strategy_dir, ignore_errors=True)
    os.makedirs(strategy_dir)
    config_path = os.path.join(strategy_dir, "config.json")
    result_path = os.path.join(strategy_dir, "result.json")
    log_path = os.path.join(strategy_dir, "log.txt")
    with open(config_path, "w") as f:
        json.dump(
            {
                "strategy": name,
                "learning_rate": learning_rate,
                "settings": settings,
                "model_dir": model_dir,
                "result_path": result_path,
            },
            f,
            indent=2,
        )
    load_before = os.getloadavg()[0]
    with open(log_path, "w") as log:
        process = subprocess.run(
            [
                sys.executable,
                os.path.abspath(__file__),
                f"--child_config={config_path}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    load_after = os.getloadavg()[0]
    if not keep_models:
        shutil.rmtree(model_dir, ignore_errors=True)
    if process.returncode != 0 or not os.path.exists(result_path):
        return {
            "strategy": name,
            "learning_rate": learning_rate,
            "error": f"exit status {process.returncode}; see {log_path}",
            "last_log_line": _last_line(log_path),
        }
    with open(result_path) as f:
        row = json.load(f)
    row["load_average"] = [load_before, load_after]
    return row


def _last_line(path):
    with open(path, errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else ""


def format_results(results):
    """The Markdown page of `results.json`: header, table and findings.

    Args:
        results: the dict `run` writes to `results.json`.

    Returns:
        str, Markdown ending with a newline.
    """
    settings = results["settings"]
    rows = results["rows"]
    train = settings["max_train_examples"] or "all"
    epochs = f"{settings['epochs']} epoch" + ("" if settings["epochs"] == 1 else "s")
    lines = [
        f"Fine-tuning strategies, {results['date']}, on {results['machine']}.",
        "",
        f"Command: `{results['command']}`",
        "",
        f"Same for every strategy: preset {settings['preset']}, {train} "
        f"training examples (seed {settings['seed']}), {epochs}, batch "
        f"{settings['batch_size']}, max_length "
        f"{settings['max_length']}; validation and test examples: "
        f"{settings['max_eval_examples'] or 'all'}.",
    ]
    if results.get("versions"):
        lines[-1] += " " + ", ".join(
            f"{package} {version}" for package, version in results["versions"].items()
        )
    lines += [
        "",
        "| " + " | ".join(TABLE_COLUMNS) + " |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        if "error" in row:
            cells = [row["strategy"], "", f"{row['learning_rate']:g}", "failed"]
            cells += [""] * (len(TABLE_COLUMNS) - len(cells))
        else:
            share = 100.0 * row["trainable_parameters"] / row["total_parameters"]
            vs_full = row["vs_full_points"]
            cells = [
                row["strategy"],
                f"`{row['flags']}`" if row["flags"] != "(none)" else row["flags"],
                f"{row['learning_rate']:g}",
                f"{row['test_accuracy']:.4f}",
                f"{row['macro_f1']:.4f}",
                f"{row['trainable_parameters']:,} ({share:.1f}%)",
                f"{row['wall_seconds']:.0f}",
                f"{row['train_examples_per_second']:.1f}",
                f"{row['peak_rss_mib']:.0f}",
                "n/a" if vs_full is None else f"{vs_full:+.1f}",
            ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += [""] + _findings(rows)
    return "\n".join(lines) + "\n"


def _findings(rows):
    """Sentences on which strategies lose to full fine-tuning, and the noise."""
    finished = [row for row in rows if "error" not in row]
    full = next((row for row in finished if row["strategy"] == "full"), None)
    lines = []
    failed = [row["strategy"] for row in rows if "error" in row]
    if failed:
        lines.append(f"Failed (see their log.txt): {', '.join(failed)}.")
    if full is None:
        lines.append("Full fine-tuning was not run: no comparison to it.")
        return lines
    others = [row for row in finished if row is not full]
    below = [row for row in others if row["vs_full_points"] < 0]
    not_below = [row for row in others if row["vs_full_points"] >= 0]
    if below:
        lines.append(
            "Lower test accuracy than full fine-tuning: "
            + ", ".join(
                f"{row['strategy']} ({row['vs_full_points']:+.1f} points)"
                for row in below
            )
            + "."
        )
    if not_below:
        lines.append(
            "As accurate as full fine-tuning or more: "
            + ", ".join(
                f"{row['strategy']} ({row['vs_full_points']:+.1f} points)"
                for row in not_below
            )
            + "."
        )
    accuracy = full["test_accuracy"]
    error = 100.0 * math.sqrt(accuracy * (1 - accuracy) / full["test_examples"])
    lines.append(
        f"One standard error of a test accuracy near {accuracy:.3f} on "
        f"{full['test_examples']} examples is {error:.1f} points: differences "
        f"under about {2 * error:.1f} points are within noise. Load average "
        "(1 minute) before and after each run is in results.json."
    )
    return lines


def run_child(config_path):
    """Trains and scores one strategy in this process; writes its result row.

    Args:
        config_path: JSON written by `run`: `strategy`, `learning_rate`,
            `settings`, `model_dir` and `result_path`.

    Returns:
        The result row (a dict), also written to `result_path`.
    """
    with open(config_path) as f:
        config = json.load(f)
    settings = config["settings"]
    import keras
    import keras_hub
    import tensorflow as tf

    import tftransformer as tft

    num_train = len(tft.datasets.load_rotten_tomatoes("train"))
    if settings["max_train_examples"]:
        num_train = min(num_train, settings["max_train_examples"])
    steps_per_epoch = math.ceil(num_train / settings["batch_size"])
    options = strategy_options(
        config["strategy"], settings["freeze_layers"], steps_per_epoch
    )
    timer = _train_timer()
    start = time.perf_counter()
    with _timed_fit(tft.models.TextClassifier, timer):
        result = tft.training.train_text_classifier(
            tft.training.ClassificationConfig(
                preset=settings["preset"],
                epochs=settings["epochs"],
                batch_size=settings["batch_size"],
                max_length=settings["max_length"],
                seed=settings["seed"],
                max_train_examples=settings["max_train_examples"],
                max_eval_examples=settings["max_eval_examples"],
                learning_rate=config["learning_rate"],
                model_dir=config["model_dir"],
                **options,
            ),
            verbose=1,
        )
    wall_seconds = time.perf_counter() - start
    model = result.model
    report = result.report
    trained = num_train * timer.epochs
    peak_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    row = {
        "strategy": config["strategy"],
        "flags": format_flags(options),
        "options": options,
        "learning_rate": config["learning_rate"],
        "test_accuracy": float(report.accuracy),
        "macro_f1": float(report.averages["macro"]["f1"]),
        "test_examples": int(sum(report.support)),
        # After training: what gradual unfreezing reached, what head warmup
        # gave back.
        "trainable_parameters": _num_params(model.trainable_variables),
        "total_parameters": _num_params(model.weights),
        "wall_seconds": wall_seconds,
        "run_train_seconds": float(result.training.train_seconds),
        "fit_train_seconds": timer.seconds,
        "train_examples": num_train,
        "epochs_trained": timer.epochs,
        "train_examples_per_second": trained / timer.seconds,
        # Linux reports KiB, macOS bytes.
        "peak_rss_mib": peak_rss / (1024**2 if sys.platform == "darwin" else 1024),
        "history": result.training.history,
        "versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "keras-hub": keras_hub.__version__,
        },
    }
    with open(config["result_path"], "w") as f:
        json.dump(row, f, indent=2)
    return row


def _num_params(variables):
    return int(sum(math.prod(v.shape) for v in variables))


def _train_timer():
    """A callback summing the training part of each epoch, validation left out."""
    import keras

    class TrainTimer(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = 0.0
            self.epochs = 0
            self._start = None

        def on_epoch_begin(self, epoch, logs=None):
            self._start = time.perf_counter()

        def _stop(self):
            if self._start is not None:
                self.seconds += time.perf_counter() - self._start
                self.epochs += 1
                self._start = None

        # Validation runs inside the epoch, before `on_epoch_end`.
        def on_test_begin(self, logs=None):
            self._stop()

        def on_epoch_end(self, epoch, logs=None):
            self._stop()

    return TrainTimer()


@contextlib.contextmanager
def _timed_fit(model_cls, timer):
    """Adds `timer` to the callbacks of every `model_cls.fit` call.

    `examples.classify.run` takes no callbacks; this process runs nothing
    else, so changing the class for the duration is contained.
    """
    own = "fit" in vars(model_cls)
    original = model_cls.fit

    def fit(self, *args, callbacks=None, **kwargs):
        return original(self, *args, callbacks=[*(callbacks or []), timer], **kwargs)

    model_cls.fit = fit
    try:
        yield
    finally:
        if own:
            model_cls.fit = original
        else:
            del model_cls.fit


def define_flags():
    """Defines the script's flags; only when it runs as a script."""
    flags.DEFINE_list(
        "strategies",
        list(STRATEGY_NAMES),
        f"Strategies to run, among {', '.join(STRATEGY_NAMES)}; always run "
        "and listed in that order.",
    )
    flags.DEFINE_string("preset", "embedded", "Backbone, as classify.py's --preset.")
    flags.DEFINE_integer(
        "max_train_examples",
        2000,
        "Seeded training subset shared by every strategy (0: the whole split).",
    )
    flags.DEFINE_integer(
        "max_eval_examples",
        None,
        "Seeded validation and test subsets (default: the whole splits).",
    )
    flags.DEFINE_integer("epochs", 3, "Training epochs of every strategy.")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_integer("seed", 0, "Seed of weights, data order and subsets.")
    flags.DEFINE_integer(
        "freeze_layers", 3, "Encoder layers the freeze_layers strategy freezes."
    )
    flags.DEFINE_list(
        "learning_rates",
        [],
        "Overrides of the peak learning rates, e.g. lora=5e-4,linear_probe=3e-3.",
    )
    flags.DEFINE_string("output_dir", "runs/strategies", "Where results go.")
    flags.DEFINE_bool("keep_models", False, "Keep each strategy's model_dir.")
    flags.DEFINE_string(
        "child_config",
        None,
        "Internal: run the one strategy this config file describes.",
    )


def main(argv):
    del argv
    if FLAGS.child_config:
        run_child(FLAGS.child_config)
        return
    rows = run(
        strategies=FLAGS.strategies,
        preset=FLAGS.preset,
        max_train_examples=FLAGS.max_train_examples or None,
        max_eval_examples=FLAGS.max_eval_examples,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        max_length=FLAGS.max_length,
        seed=FLAGS.seed,
        freeze_layers=FLAGS.freeze_layers,
        learning_rates=parse_learning_rates(FLAGS.learning_rates),
        output_dir=FLAGS.output_dir,
        keep_models=FLAGS.keep_models,
    )
    if any("error" in row for row in rows):
        sys.exit(1)


if __name__ == "__main__":
    define_flags()
    app.run(main)
