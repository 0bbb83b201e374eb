r"""Fine-tunes with and without EDA augmentation on a small training set.

A seeded subset of the embedded sentiment training split (500 snippets by
default) trains the same classifier three times, each from the pretrained
weights with the same seed, and each is scored on the test split:

- `baseline`: the subset alone, `--epochs` epochs;
- `eda`: the subset plus `--num_aug` EDA copies of each snippet
  (`tftransformer.data.augment_classification_data`), `--epochs` epochs;
- `baseline_same_steps` (with `--same_steps`): the subset alone for
  `(1 + num_aug) * epochs` epochs, about as many optimizer steps as `eda`
  takes, so that a gain of `eda` cannot come from more updates alone.

Usage:
```
python examples/augment_compare.py
python examples/augment_compare.py --num_aug=4 --alpha=0.05 \
    --synonym_source=embedding --max_test_examples=500
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
    train_examples=500,
    num_aug=2,
    alpha=0.1,
    synonym_source="roget+embedding",
    same_steps=True,
    epochs=3,
    batch_size=16,
    learning_rate=1e-4,
    max_length=128,
    max_test_examples=None,
    preset="embedded",
    seed=0,
    output=None,
    verbose=1,
):
    """Trains and scores each setting; returns their results.

    Returns:
        A dict with `settings` (the arguments) and `results`: per setting,
        `train_examples`, `epochs`, `steps` (optimizer steps run),
        `schedule_steps` (the learning-rate schedule's length), `accuracy`,
        `macro_f1`, `roc_auc` and `train_seconds`. With `output`, the same is written
        there as JSON.
    """
    settings = {k: v for k, v in locals().items() if k not in ("verbose", "output")}
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    for name, value in {
        "train_examples": train_examples,
        # 0 copies would make the `eda` run the baseline again.
        "num_aug": num_aug,
        "epochs": epochs,
        "batch_size": batch_size,
        "max_length": max_length,
    }.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{name} must be a positive integer. Received: {name}={value!r}"
            )
    if not learning_rate > 0:
        raise ValueError(
            f"learning_rate must be positive. Received: learning_rate={learning_rate}"
        )
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)

    train = tft.data.load_rotten_tomatoes("train").sample(train_examples, seed)
    test = tft.data.load_rotten_tomatoes("test")
    if max_test_examples:
        test = test.sample(max_test_examples, seed)
    start = time.time()
    augmented = tft.data.augment_classification_data(
        train,
        num_aug=num_aug,
        alpha=alpha,
        synonym_source=synonym_source,
        seed=seed,
    )
    augment_seconds = time.time() - start
    if verbose:
        print(
            f"Train: {len(train)} snippets, {len(augmented)} with {num_aug} EDA "
            f"copies each (alpha={alpha}, synonyms: {synonym_source}; "
            f"{augment_seconds:.1f} s). Test: {len(test)} snippets."
        )
        for original, copy in zip(train.texts[:3], augmented.texts[1 :: 1 + num_aug]):
            print(f"  {original}\n    -> {copy}")

    runs = [("baseline", train, epochs), ("eda", augmented, epochs)]
    if same_steps and num_aug:
        # (1 + num_aug) times the epochs of the subset: the augmented run's
        # number of steps, up to rounding of the last batch of each epoch.
        runs.append(("baseline_same_steps", train, epochs * (1 + num_aug)))

    results = {}
    for name, data, run_epochs in runs:
        keras.utils.set_random_seed(seed)
        backbone, preprocessor = tft.presets.load_backbone(
            preset, sequence_length=max_length
        )
        tokenizer = preprocessor.tokenizer
        classifier = tft.models.TextClassifier(
            backbone,
            num_classes=train.num_classes,
            preprocessor=tft.models.TextClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            pooling="mean",
            label_names=list(train.label_vocabulary),
        )
        dataset = tft.data.make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            shuffle=True,
            seed=seed,
        )
        steps = tft.finetune.count_train_steps(dataset, run_epochs)
        classifier.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate, num_train_steps=steps
            ),
            loss=tft.finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
        start = time.time()
        classifier.fit(dataset, epochs=run_epochs, verbose=2 if verbose else 0)
        train_seconds = time.time() - start
        test_dataset = tft.data.make_classification_dataset(
            list(test.texts),
            test.labels,
            tokenizer,
            batch_size=64,
            max_length=max_length,
            shuffle=False,
        )
        report, _ = tft.evaluation.evaluate_classifier(
            classifier, test_dataset, test.labels, test.label_vocabulary
        )
        results[name] = {
            "train_examples": len(data),
            "epochs": run_epochs,
            # Length bucketing makes a few more batches than the schedule's
            # estimate; this is what ran.
            "steps": int(classifier.optimizer.iterations),
            "schedule_steps": steps,
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "roc_auc": report.roc_auc_macro,
            "train_seconds": train_seconds,
        }
        if verbose:
            print(f"{name}: test accuracy {report.accuracy:.4f}")
        keras.backend.clear_session()

    summary = {
        "settings": settings,
        "augment_seconds": augment_seconds,
        "test_examples": len(test),
        "results": results,
    }
    if output:
        parent = os.path.dirname(output)
        if parent:
            os.makedirs(parent, exist_ok=True)
        with open(output, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)
    if verbose:
        print(
            "\n| setting | train examples | epochs | steps | test accuracy | "
            "macro F1 | ROC-AUC | train s |"
        )
        print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for name, r in results.items():
            print(
                f"| {name} | {r['train_examples']} | {r['epochs']} | {r['steps']} | "
                f"{r['accuracy']:.4f} | {r['macro_f1']:.4f} | {r['roc_auc']:.4f} | "
                f"{r['train_seconds']:.0f} |"
            )
    return summary


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    flags.DEFINE_integer(
        "train_examples", 500, "Seeded subset of the embedded training split."
    )
    flags.DEFINE_integer("num_aug", 2, "EDA copies of each training snippet.")
    flags.DEFINE_float("alpha", 0.1, "EDA strength, in [0, 1].")
    flags.DEFINE_string(
        "synonym_source",
        "roget+embedding",
        "Synonyms: roget+embedding, roget or embedding.",
    )
    flags.DEFINE_bool(
        "same_steps",
        True,
        "Also train the baseline for as many steps as the augmented run.",
    )
    flags.DEFINE_integer("epochs", 3, "Training epochs.")
    flags.DEFINE_integer("batch_size", 16, "Batch size.")
    flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (AdamW).")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_integer(
        "max_test_examples", None, "Score on a seeded test subset of this size."
    )
    flags.DEFINE_string("preset", "embedded", "Backbone preset or directory.")
    flags.DEFINE_integer("seed", 0, "Seed of the subset, augmentation and training.")
    flags.DEFINE_string("output", None, "Optional JSON file for the results.")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
