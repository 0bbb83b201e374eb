r"""Multi-task fine-tuning: one encoder shared by a sentiment head and an NER head.

Fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on the embedded Rotten
Tomatoes sentiment snippets and the embedded WNUT-16 tweets at once: every
batch comes from one task, drawn by `--rule` (`proportional` to the tasks'
sizes, `equal`, or `temperature` with `--temperature`), and trains the
shared encoder and that task's head. Then it scores each head on its test
split and, with `--compare_single_task` (the default), trains each task
alone with the same recipe, data and epochs for comparison. Everything lands
in `--model_dir`: `model.keras`, `report.json` (both tasks' scores, multi-
and single-task) and `history.json`; `--export_dir` also writes one TF
Serving model per head.

Usage:
```
python examples/multitask.py --max_sentiment_examples=2000 --epochs=2
python examples/multitask.py --rule=temperature --temperature=2 --ner_loss_weight=2
```
"""

import inspect
import json
import numbers
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS
RULES = ("proportional", "equal", "temperature")


def run(
    preset="embedded",
    max_sentiment_examples=2000,
    max_ner_examples=None,
    max_validation_examples=None,
    max_test_examples=None,
    epochs=2,
    batch_size=16,
    learning_rate=1e-4,
    head_learning_rate=3e-3,
    weight_decay=0.01,
    warmup_fraction=0.1,
    dropout=0.1,
    max_length=64,
    rule="proportional",
    temperature=2.0,
    sentiment_loss_weight=1.0,
    ner_loss_weight=1.0,
    compare_single_task=True,
    model_dir="runs/multitask",
    export_dir=None,
    seed=0,
    verbose=1,
):
    """Trains the multi-task model (and single-task baselines); returns the results.

    Returns:
        A dict with `scores` (`{"multi_task" | "single_task": {"sentiment":
        {...}, "ner": {...}}}`), `history` (the multi-task per-epoch logs,
        with `sentiment_accuracy`, `ner_token_accuracy`, ...), `model`,
        `model_path`, `train_seconds` (per run) and `export_dirs`.
    """
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int, is_finite_number

    _check_positive(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    _check_positive(head_learning_rate=head_learning_rate, max_length=max_length)
    limits = dict(
        max_sentiment_examples=max_sentiment_examples,
        max_ner_examples=max_ner_examples,
        max_validation_examples=max_validation_examples,
        max_test_examples=max_test_examples,
    )
    _check_positive(**{name: n for name, n in limits.items() if n is not None})
    if rule not in RULES:
        raise ValueError(f"rule must be one of {RULES}. Received: rule={rule!r}")
    loss_weights = dict(
        sentiment_loss_weight=sentiment_loss_weight, ner_loss_weight=ner_loss_weight
    )
    for name, value in loss_weights.items():
        # A NaN weight would turn every loss into NaN.
        if not (is_finite_number(value) and value >= 0):
            raise ValueError(
                f"{name} must be a finite number >= 0. Received: {name}={value}"
            )
    if not any(loss_weights.values()):
        raise ValueError(
            "At least one task loss weight must be > 0: with all at 0 nothing "
            "trains. Received: "
            + ", ".join(f"{name}={value}" for name, value in loss_weights.items())
        )
    # Here, not at the export: that comes after the whole training.
    if export_dir:
        tft.export.check_base_path(export_dir, name="export_dir")
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)
    os.makedirs(model_dir, exist_ok=True)
    # Left by a run killed while saving model.keras.
    tft.training.checkpointing.remove_temporary_files(model_dir)

    data = _load_data(
        {"sentiment": max_sentiment_examples, "ner": max_ner_examples},
        {"validation": max_validation_examples, "test": max_test_examples},
        seed,
    )
    if verbose:
        print(
            "Data: sentiment {} train / {} validation / {} test snippets; NER {} / "
            "{} / {} tweets".format(*(len(data[k][s]) for k in data for s in data[k]))
        )
    settings = dict(
        preset=preset,
        batch_size=batch_size,
        max_length=max_length,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        weight_decay=weight_decay,
        warmup_fraction=warmup_fraction,
        dropout=dropout,
        seed=seed,
    )

    backbone, preprocessor = tft.presets.load_backbone(
        preset, sequence_length=max_length
    )
    tokenizer = preprocessor.tokenizer
    model = tft.models.MultiTaskModel(
        backbone,
        tasks={
            "sentiment": {
                "kind": "classification",
                "num_classes": 2,
                "pooling": "mean",
                "dropout": dropout,
                "label_names": list(tft.data.SENTIMENT_LABELS),
            },
            "ner": {
                "kind": "token_classification",
                "num_tags": len(tft.data.WNUT16_TAGS),
                "dropout": dropout,
                "tag_names": list(tft.data.WNUT16_TAGS),
            },
        },
        tokenizer=tokenizer,
        sequence_length=max_length,
    )
    datasets = {
        split: _task_datasets(data, split, tokenizer, batch_size, max_length, seed)
        for split in ("train", "validation")
    }
    stream = tft.data.interleave_tasks(
        datasets["train"],
        sizes={task: len(data[task]["train"]) for task in data},
        rule=rule,
        temperature=temperature,
        seed=seed,
        task_names=model.task_names,
    )
    steps = int(stream.cardinality()) * epochs
    heads = [model.head_model(task).output_dense for task in model.task_names]
    model.compile(
        optimizer=_optimizer(model, heads, steps=steps, **settings),
        loss_weights={"sentiment": sentiment_loss_weight, "ner": ner_loss_weight},
    )
    probabilities = tft.data.sampling_probabilities(
        {task: len(data[task]["train"]) for task in data}, rule, temperature
    )
    if verbose:
        print(
            f"Multi-task: {steps} steps ({rule} sampling: "
            + ", ".join(f"{t} {p:.3f}" for t, p in probabilities.items())
            + ")"
        )
    start = time.time()
    history = model.fit(
        stream,
        shuffle=False,  # the pipeline shuffles
        validation_data=tft.data.concatenate_tasks(
            datasets["validation"], model.task_names
        ),
        epochs=epochs,
        verbose=verbose,
    ).history
    train_seconds = {"multi_task": time.time() - start}
    scores = {"multi_task": _score(model, data, tokenizer, batch_size, max_length)}

    if compare_single_task:
        scores["single_task"] = {}
        for task in model.task_names:
            single, seconds = _train_single_task(
                task, data, epochs, verbose, **settings
            )
            train_seconds[f"single_task_{task}"] = seconds
            scores["single_task"][task] = _score_task(
                task, single, data, tokenizer, batch_size, max_length
            )

    model_path = os.path.join(model_dir, "model.keras")
    # Atomic: a kill while saving must not leave a torn model.keras.
    with tft.training.checkpointing.atomic_write(model_path) as temporary:
        model.save(temporary)
    export_dirs = {}
    if export_dir:
        export_dirs["sentiment"] = tft.export.export_for_serving(
            model.head_model("sentiment"), os.path.join(export_dir, "sentiment")
        )
        export_dirs["ner"] = tft.export.export_token_classifier(
            model.head_model("ner"), os.path.join(export_dir, "ner")
        )
    with open(os.path.join(model_dir, "report.json"), "w") as f:
        json.dump(
            {
                "scores": scores,
                "sampling_probabilities": probabilities,
                "train_seconds": train_seconds,
            },
            f,
            indent=2,
        )
    with open(os.path.join(model_dir, "history.json"), "w") as f:
        json.dump({k: [float(v) for v in vs] for k, vs in history.items()}, f, indent=2)
    if verbose:
        print(_format_scores(scores))
        print(f"Model and report written to {model_dir}/")
    return {
        "scores": scores,
        "history": history,
        "model": model,
        "model_path": model_path,
        "train_seconds": train_seconds,
        "export_dirs": export_dirs,
    }


def _load_data(max_train_examples, max_eval_examples, seed):
    from tftransformer import data

    splits = {
        "sentiment": {
            s: data.load_rotten_tomatoes(s) for s in ("train", "validation", "test")
        },
        "ner": {s: data.load_wnut16(s) for s in ("train", "validation", "test")},
    }
    for task in splits:
        limits = {"train": max_train_examples[task], **max_eval_examples}
        for split, limit in limits.items():
            if limit is not None:
                splits[task][split] = splits[task][split].sample(limit, seed)
    return splits


def _task_dataset(task, split_data, tokenizer, batch_size, max_length, seed, training):
    from tftransformer import data

    if task == "sentiment":
        return data.make_classification_dataset(
            split_data.texts,
            split_data.labels,
            tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            shuffle=training,
            seed=seed,
        )
    return data.make_tagging_dataset(
        split_data.words,
        split_data.tag_ids,
        tokenizer,
        batch_size=batch_size,
        max_length=max_length,
        shuffle=training,
        seed=seed,
    )


def _task_datasets(data, split, tokenizer, batch_size, max_length, seed):
    return {
        task: _task_dataset(
            task,
            data[task][split],
            tokenizer,
            batch_size,
            max_length,
            seed,
            split == "train",
        )
        for task in data
    }


def _optimizer(model, heads, steps, learning_rate, head_learning_rate, **settings):
    """`create_optimizer`'s AdamW, the new heads at their own peak rate."""
    from tftransformer import finetune

    optimizer = finetune.create_optimizer(
        learning_rate,
        num_train_steps=steps,
        warmup_fraction=settings["warmup_fraction"],
        weight_decay=settings["weight_decay"],
    )
    if head_learning_rate == learning_rate:
        return optimizer
    config = optimizer.get_config()
    config["learning_rate_multipliers"] = {
        variable.path: head_learning_rate / learning_rate
        for head in heads
        for variable in head.weights
    }
    optimizer = finetune.LayerwiseAdamW.from_config(config)
    # The weight decay exclusions are not part of the config.
    optimizer.exclude_from_weight_decay(
        var_list=[
            v
            for v in model.weights
            if v.path.split("/")[-1] in finetune.WEIGHT_DECAY_EXCLUSIONS
        ]
    )
    return optimizer


def _train_single_task(
    task, data, epochs, verbose, preset, batch_size, max_length, seed, **rest
):
    """The same recipe on one task alone: a TextClassifier or TokenClassifier."""
    import keras

    import tftransformer as tft

    keras.utils.set_random_seed(seed)
    backbone, preprocessor = tft.presets.load_backbone(
        preset, sequence_length=max_length
    )
    tokenizer = preprocessor.tokenizer
    if task == "sentiment":
        model = tft.models.TextClassifier(
            backbone,
            num_classes=2,
            preprocessor=tft.models.TextClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            pooling="mean",
            dropout=rest["dropout"],
            label_names=list(tft.data.SENTIMENT_LABELS),
        )
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
    else:
        model = tft.models.TokenClassifier(
            backbone,
            num_tags=len(tft.data.WNUT16_TAGS),
            preprocessor=tft.models.TokenClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            dropout=rest["dropout"],
            tag_names=list(tft.data.WNUT16_TAGS),
        )
        loss = "auto"
        metrics = "auto"
    dataset = _task_dataset(
        task, data[task]["train"], tokenizer, batch_size, max_length, seed, True
    )
    steps = tft.finetune.count_train_steps(dataset, epochs)
    model.compile(
        optimizer=_optimizer(model, [model.output_dense], steps=steps, **rest),
        loss=loss,
        metrics=metrics,
    )
    if verbose:
        print(f"Single-task {task}: {steps} steps")
    start = time.time()
    # The pipeline shuffles.
    model.fit(dataset, epochs=epochs, shuffle=False, verbose=verbose)
    return model, time.time() - start


def _score_task(task, model, data, tokenizer, batch_size, max_length):
    from tftransformer import evaluation

    test = data[task]["test"]
    if task == "sentiment":
        dataset = _task_dataset(task, test, tokenizer, batch_size, max_length, 0, False)
        report, _ = evaluation.evaluate_classifier(
            model, dataset.map(lambda x, y: x), test.labels, test.label_vocabulary
        )
        return {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "examples": len(test),
        }
    report, _ = evaluation.evaluate_tagger(
        model, test, tokenizer=tokenizer, max_length=max_length, batch_size=batch_size
    )
    return {
        "entity_micro_f1": report.micro["f1"],
        "entity_macro_f1": report.macro["f1"],
        "token_accuracy": report.token_accuracy,
        "sentences": len(test),
    }


def _score(model, data, tokenizer, batch_size, max_length):
    return {
        task: _score_task(
            task, model.head_model(task), data, tokenizer, batch_size, max_length
        )
        for task in model.task_names
    }


def _format_scores(scores):
    lines = [
        f"{'task':<10} {'test metric':<18} " + " ".join(f"{k:>12}" for k in scores)
    ]
    for task, metrics in scores["multi_task"].items():
        for metric, value in metrics.items():
            if metric in ("examples", "sentences"):
                continue
            row = " ".join(f"{scores[kind][task][metric]:>12.4f}" for kind in scores)
            lines.append(f"{task:<10} {metric:<18} {row}")
    return "\n".join(lines)


def _check_positive(**values):
    for name, value in values.items():
        # `not value > 0` also refuses NaN; a string from a --config file is
        # named here rather than failing in a comparison.
        if (
            isinstance(value, bool)
            or not isinstance(value, numbers.Real)
            or not value > 0
        ):
            raise ValueError(f"{name} must be positive. Received: {name}={value!r}")


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    flags.DEFINE_string(
        "preset",
        "embedded",
        "Backbone: 'embedded', a local directory or a preset name.",
    )
    flags.DEFINE_integer(
        "max_sentiment_examples",
        2000,
        "Train on a seeded subset of this many snippets.",
    )
    flags.DEFINE_integer(
        "max_ner_examples", None, "Train on a seeded subset of this many tweets."
    )
    flags.DEFINE_integer(
        "max_validation_examples", None, "Validate on seeded subsets of this size."
    )
    flags.DEFINE_integer(
        "max_test_examples", None, "Test on seeded subsets of this size."
    )
    flags.DEFINE_integer(
        "epochs", 2, "Epochs; one epoch is one pass's worth of batches."
    )
    flags.DEFINE_integer("batch_size", 16, "Batch size (every task).")
    flags.DEFINE_float(
        "learning_rate", 1e-4, "Peak learning rate of the encoder (AdamW)."
    )
    flags.DEFINE_float(
        "head_learning_rate", 3e-3, "Peak learning rate of the new heads."
    )
    flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay.")
    flags.DEFINE_float("warmup_fraction", 0.1, "Fraction of steps of linear warmup.")
    flags.DEFINE_float("dropout", 0.1, "Dropout of the heads.")
    flags.DEFINE_integer("max_length", 64, "Longest word-piece sequence.")
    flags.DEFINE_enum("rule", "proportional", list(RULES), "Task sampling rule.")
    flags.DEFINE_float("temperature", 2.0, "T of --rule=temperature: p_i ~ n_i^(1/T).")
    flags.DEFINE_float("sentiment_loss_weight", 1.0, "Weight of the sentiment loss.")
    flags.DEFINE_float("ner_loss_weight", 1.0, "Weight of the NER loss.")
    flags.DEFINE_boolean(
        "compare_single_task",
        True,
        "Also train each task alone with the same recipe, data and epochs.",
    )
    flags.DEFINE_string("model_dir", "runs/multitask", "Output directory.")
    flags.DEFINE_string("export_dir", None, "Write one TF Serving model per head here.")
    flags.DEFINE_integer("seed", 0, "Random seed (weights, sampling, subsets).")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
