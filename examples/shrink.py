r"""Shrinks a fine-tuned encoder (fewer layers and heads) and fine-tunes it again.

The full pretrained model is fine-tuned on the embedded sentiment data. Its
backbone then keeps its first `--keep_layers` encoder layers and, in each,
the `--keep_heads` attention heads that matter most to its loss on training
batches (Michel et al. 2019, `tftransformer.finetune.head_importance`). The
shrunk backbone is saved as a keras-hub preset, loaded back with
`tftransformer.presets.load_backbone` and fine-tuned with a new head by the
same recipe. Both models are scored on the test split, and their inference
speed (examples/s over the test split) is timed in this process, the two
models alternating, so that the ratio survives a machine shared with others.

Usage:
```
python examples/shrink.py --keep_layers=3 --keep_heads=8 \
    --max_train_examples=2000 --epochs=2
python examples/shrink.py --keep_heads=0   # layers only
```
"""

import inspect
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    preset="embedded",
    keep_layers=3,
    keep_heads=8,
    importance_batches=16,
    epochs=2,
    batch_size=32,
    learning_rate=5e-5,
    max_length=128,
    max_train_examples=2000,
    max_test_examples=None,
    timing_rounds=3,
    model_dir="runs/shrink",
    seed=0,
    verbose=1,
):
    """Fine-tunes the full and the shrunk model; returns both scores.

    Returns:
        A dict with `full` and `shrunk` (each: `accuracy`, `macro_f1`,
        `examples_per_second`, `backbone_parameters`, `train_seconds`,
        `num_layers`, `num_heads`), `speedup` (shrunk over full
        examples/s), `removed_heads` (`{layer: [heads]}`), `preset_dir`
        (the shrunk backbone's preset), `full_model_path` (the fine-tuned
        full model, a `.keras` file) and `models` (the two classifiers).
        Also written, without the models, to `model_dir/shrink_report.json`.
    """
    settings = {k: v for k, v in locals().items() if k != "verbose"}
    import keras
    import keras_hub

    import tftransformer as tft
    from tftransformer._arguments import check_int

    for name in ("epochs", "batch_size", "max_length", "importance_batches"):
        _check_positive_int(name, settings[name])
    _check_positive_int("keep_layers", keep_layers)
    if keep_heads != 0:
        _check_positive_int("keep_heads", keep_heads)
    _check_positive_int("timing_rounds", timing_rounds)
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)

    train = tft.data.load_rotten_tomatoes("train")
    test = tft.data.load_rotten_tomatoes("test")
    if max_train_examples:
        train = train.sample(max_train_examples, seed)
    if max_test_examples:
        test = test.sample(max_test_examples, seed)
    backbone, preprocessor = tft.presets.load_backbone(
        preset, sequence_length=max_length
    )
    # Refuse impossible sizes before any training.
    if keep_layers > backbone.num_layers or keep_heads > backbone.num_heads:
        raise ValueError(
            f"The backbone has {backbone.num_layers} layers of "
            f"{backbone.num_heads} heads. Received: keep_layers={keep_layers}, "
            f"keep_heads={keep_heads}"
        )
    tokenizer = preprocessor.tokenizer

    def dataset(data, shuffle):
        return tft.data.make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            shuffle=shuffle,
            seed=seed,
        )

    def fine_tune(backbone):
        classifier = tft.models.TextClassifier(
            backbone,
            num_classes=len(train.label_vocabulary),
            preprocessor=tft.models.TextClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            pooling="mean",
            label_names=list(train.label_vocabulary),
        )
        train_dataset = dataset(train, True)
        steps = tft.finetune.count_train_steps(train_dataset, epochs)
        classifier.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate, num_train_steps=steps
            ),
            loss=tft.finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
        start = time.perf_counter()
        classifier.fit(train_dataset, epochs=epochs, verbose=verbose)
        return classifier, time.perf_counter() - start

    if verbose:
        print(f"Fine-tuning the full model on {len(train)} examples")
    full, full_seconds = fine_tune(backbone)
    os.makedirs(model_dir, exist_ok=True)
    tft.training.checkpointing.remove_temporary_files(model_dir)
    # Reusable, e.g. as `examples/distill.py --teacher_path`. Atomic: a kill
    # while saving must not leave a torn file.
    full_path = os.path.join(model_dir, "full_model.keras")
    with tft.training.checkpointing.atomic_write(full_path) as temporary:
        full.save(temporary)

    # Heads are ranked by their effect on the fine-tuned model's loss.
    removed_heads = {}
    shrunk_backbone = tft.finetune.keep_layers(full.backbone, keep_layers)
    if keep_heads and keep_heads < backbone.num_heads:
        importance = tft.finetune.head_importance(
            full, dataset(train, False), num_batches=importance_batches
        )[:keep_layers]
        removed_heads = tft.finetune.least_important_heads(importance, keep_heads)
        shrunk_backbone = tft.finetune.prune_heads(shrunk_backbone, removed_heads)

    # The shrunk backbone is a preset like any other.
    preset_dir = os.path.join(model_dir, "shrunk_preset")
    shrunk_backbone.save_to_preset(preset_dir)
    keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=max_length
    ).save_to_preset(preset_dir)
    shrunk_backbone, _ = tft.presets.load_backbone(
        preset_dir, sequence_length=max_length
    )
    if verbose:
        print(
            f"Fine-tuning the shrunk model ({shrunk_backbone.num_layers} layers, "
            f"{shrunk_backbone.num_heads} heads) from {preset_dir}"
        )
    shrunk, shrunk_seconds = fine_tune(shrunk_backbone)

    test_dataset = dataset(test, False)
    speeds = tft.evaluation.compare_inference_speed(
        {"full": full, "shrunk": shrunk}, test_dataset, len(test), timing_rounds
    )
    results = {}
    for name, model, seconds in (
        ("full", full, full_seconds),
        ("shrunk", shrunk, shrunk_seconds),
    ):
        report, _ = tft.evaluation.evaluate_classifier(
            model, test_dataset, test.labels, test.label_vocabulary
        )
        results[name] = {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "examples_per_second": speeds[name],
            "backbone_parameters": int(model.backbone.count_params()),
            "train_seconds": seconds,
            "num_layers": model.backbone.num_layers,
            "num_heads": model.backbone.num_heads,
        }
    summary = {
        "settings": settings,
        **results,
        "speedup": speeds["shrunk"] / speeds["full"],
        "removed_heads": {str(k): v for k, v in removed_heads.items()},
        "train_examples": len(train),
        "test_examples": len(test),
        "preset_dir": preset_dir,
        "full_model_path": full_path,
    }
    with tft.training.checkpointing.atomic_write(
        os.path.join(model_dir, "shrink_report.json")
    ) as temporary:
        with open(temporary, "w") as f:
            json.dump(summary, f, indent=2)
    if verbose:
        print(_format(summary))
    return {**summary, "models": {"full": full, "shrunk": shrunk}}


def _format(summary):
    lines = [
        f"Test split: {summary['test_examples']} examples; trained on "
        f"{summary['train_examples']}.",
        f"{'model':8} {'layers':>6} {'heads':>5} {'params':>11} {'accuracy':>8} "
        f"{'macro F1':>8} {'ex/s':>8}",
    ]
    for name in ("full", "shrunk"):
        r = summary[name]
        lines.append(
            f"{name:8} {r['num_layers']:>6} {r['num_heads']:>5} "
            f"{r['backbone_parameters']:>11,} {r['accuracy']:>8.4f} "
            f"{r['macro_f1']:>8.4f} {r['examples_per_second']:>8.1f}"
        )
    lines.append(
        f"Inference speedup (same run, models alternating): {summary['speedup']:.2f}x"
    )
    return "\n".join(lines)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{name} must be a positive integer. Received: {name}={value!r}"
        )


def define_flags():
    """Defines the script's flags (only when run as a script)."""
    flags.DEFINE_string("preset", "embedded", "Backbone to fine-tune and shrink.")
    flags.DEFINE_integer("keep_layers", 3, "Encoder layers kept (the first N).")
    flags.DEFINE_integer(
        "keep_heads", 8, "Attention heads kept per layer, the most important (0: all)."
    )
    flags.DEFINE_integer(
        "importance_batches", 16, "Training batches that score the heads."
    )
    flags.DEFINE_integer("epochs", 2, "Epochs of each fine-tuning.")
    flags.DEFINE_integer("batch_size", 32, "Batch size (training and timing).")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (AdamW).")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_integer(
        "max_train_examples", 2000, "Train on a seeded subset of this size (0: all)."
    )
    flags.DEFINE_integer(
        "max_test_examples", None, "Score on a seeded test subset of this size."
    )
    flags.DEFINE_integer(
        "timing_rounds", 3, "Timed passes over the test split per model."
    )
    flags.DEFINE_string("model_dir", "runs/shrink", "Output directory.")
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
