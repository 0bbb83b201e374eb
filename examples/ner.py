r"""Fine-tunes a pretrained BERT-family encoder for named entity recognition.

With no data flags it fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on
the embedded WNUT-16 Twitter NER split, then prints and writes the test
entity report (per-type precision / recall / F1, micro and macro averages,
token accuracy, scored as CoNLL's conlleval does). Everything lands in
`--model_dir`: the model (`model.keras`), the report (`report.json`), the
test predictions (`predictions.jsonl`), the training history, checkpoints
and TensorBoard logs. Early stopping watches the validation entity micro-F1.

Usage:
```
python examples/ner.py --epochs=4 --max_length=64
python examples/ner.py --train_file=train.conll --validation_file=dev.conll \
    --test_file=test.conll
python examples/ner.py --train_file=train.jsonl --freeze_layers=2
python examples/ner.py --lora_rank=8 --head_warmup_steps=100
python examples/ner.py --gradual_unfreeze --unfreeze_every_epochs=1 --epochs=8
```

The fine-tuning strategies are those of `examples/classify.py`, with the
same flags; senseless combinations are refused before anything loads, and
each run prints the strategy and writes it to `training_summary.json`.
"""

import dataclasses
import inspect
import json
import numbers
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS


def run(
    preset="embedded",
    train_file=None,
    validation_file=None,
    test_file=None,
    freeze_layers=0,
    extra_blocks=0,
    freeze_backbone=False,
    gradual_unfreeze=False,
    unfreeze_every_epochs=1,
    unfreeze_every_steps=0,
    head_warmup_steps=0,
    layer_decay=None,
    lora_rank=0,
    mixed_precision="none",
    jit_compile=False,
    epochs=4,
    batch_size=16,
    learning_rate=1e-4,
    head_learning_rate=3e-3,
    weight_decay=0.01,
    warmup_fraction=0.1,
    dropout=0.1,
    patience=2,
    max_length=64,
    model_dir="runs/ner",
    distribution="auto",
    seed=0,
    max_train_examples=None,
    verbose=1,
):
    """Fine-tunes, evaluates and saves a token classifier; returns the results.

    Returns:
        A dict with `report` (the test `EntityReport`), `history` (per-epoch
        logs), `model_path`, `model`, `train_seconds` (of `fit`, summed over
        resumes), `predictions` (the
        test tags, one list per sentence) and `summary` (what trained, from
        `tftransformer.training.describe_training`).
    """
    # The settings a resumed run must share with the run that checkpointed.
    run_config = {
        name: value
        for name, value in locals().items()
        if name not in ("verbose", "model_dir", "distribution")
    }
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    # Before any other TensorFlow call: strategies configure the devices.
    strategy = tft.distribute.get_strategy(distribution)
    chief = tft.distribute.is_chief(strategy)
    verbose = verbose if chief else 0
    _check_positive(epochs=epochs, batch_size=batch_size, learning_rate=learning_rate)
    if head_learning_rate is not None:
        _check_positive(head_learning_rate=head_learning_rate)
    if max_train_examples is not None:
        _check_positive(max_train_examples=max_train_examples)
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    if max_length is None or max_length < 2:
        raise ValueError(
            "max_length must be an integer >= 2 (room for [CLS] and [SEP]). "
            f"Received: max_length={max_length}"
        )
    if mixed_precision not in MIXED_PRECISION:
        raise ValueError(
            f"mixed_precision must be one of {MIXED_PRECISION}. "
            f"Received: mixed_precision={mixed_precision!r}"
        )
    strategy_options = dict(
        freeze_layers=freeze_layers,
        freeze_backbone=freeze_backbone,
        gradual_unfreeze=gradual_unfreeze,
        layer_decay=layer_decay,
        lora_rank=lora_rank or None,
        extra_blocks=extra_blocks,
        head_warmup_steps=head_warmup_steps,
    )
    # Refuse senseless combinations before loading anything.
    tft.finetune.check_strategy_options(
        **strategy_options,
        num_layers=None,
        unfreeze_every_epochs=unfreeze_every_epochs,
        unfreeze_every_steps=unfreeze_every_steps,
    )
    # `batch_size` is per replica.
    global_batch = tft.distribute.global_batch_size(batch_size, strategy)
    keras.utils.set_random_seed(seed)

    train, validation, test = _load_splits(train_file, validation_file, test_file, seed)
    if max_train_examples is not None:
        train = train.sample(max_train_examples, seed)
    tags = train.tag_vocabulary
    if verbose:
        print(
            f"Data: {len(train)} train ({train.source}), {len(validation)} "
            f"validation, {len(test)} test sentences; {len(tags)} tags, "
            f"entity types {list(train.entity_types)}"
        )
    # Refuse another run's output directory before writing anything.
    run_config["data_sha256"] = tft.training.checkpointing.fingerprint(
        train.words, train.tags, validation.words, validation.tags
    )
    tft.training.check_run_directory(model_dir, run_config, list(tags))
    if chief:
        # Left by a run killed while saving model.keras.
        tft.training.checkpointing.remove_temporary_files(model_dir)

    backbone_dtype = None if mixed_precision == "none" else f"mixed_{mixed_precision}"
    # Model, optimizer and metrics live in the strategy's scope.
    with strategy.scope():
        backbone, preprocessor = tft.presets.load_backbone(
            preset, sequence_length=max_length, dtype=backbone_dtype
        )
    tokenizer = preprocessor.tokenizer

    def dataset(data, epoch=None):
        # Training data (an `epoch`) is shuffled by (seed, epoch) alone, so a
        # resumed epoch sees the batches the interrupted one saw.
        return tft.data.make_tagging_dataset(
            data.words,
            data.tag_ids,
            tokenizer,
            batch_size=global_batch,
            max_length=max_length,
            shuffle=epoch is not None,
            seed=tft.training.checkpointing.epoch_seed(seed, epoch or 0),
        )

    # Length buckets each end with a partial batch: the schedule counts the
    # batches the dataset declares.
    first_epoch = dataset(train, epoch=0)
    steps = tft.finetune.count_train_steps(first_epoch, epochs)
    with strategy.scope():
        tagger = tft.models.TokenClassifier(
            backbone,
            num_tags=len(tags),
            preprocessor=tft.models.TokenClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            dropout=dropout,
            tag_names=list(tags),
            num_extra_blocks=extra_blocks,
        )
        strategy_name = tft.finetune.check_strategy_options(
            **strategy_options,
            num_layers=len(tft.finetune.encoder_layers(tagger)),
        )
        if lora_rank:
            tft.finetune.apply_lora(tagger, lora_rank)
        if freeze_backbone:
            tft.finetune.freeze_backbone(tagger)
        else:
            tft.finetune.freeze_layers(tagger, freeze_layers)
        optimizer = _optimizer(
            tagger,
            learning_rate,
            head_learning_rate,
            layer_decay=layer_decay,
            num_train_steps=steps,
            warmup_fraction=warmup_fraction,
            weight_decay=weight_decay,
        )
        if mixed_precision == "float16":
            # float16 needs loss scaling; bfloat16 has float32's range.
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        tagger.compile(optimizer=optimizer, jit_compile=jit_compile)
    summary = tft.training.describe_training(tagger, optimizer, strategy_name)
    if chief:
        tft.training.write_training_summary(summary, model_dir)
    if verbose:
        print(tft.training.format_training_summary(summary))
        print(f"Model: {preset} backbone, {steps} steps")

    # Before the default callbacks, so that they see `val_entity_f1`.
    callbacks = [tft.evaluation.EntityF1Callback(validation, global_batch)]
    callbacks += tft.training.training_callbacks(
        model_dir,
        strategy,
        monitor="val_entity_f1",
        mode="max",
        patience=patience,
        run_config=run_config,
        # A run killed after training (while evaluating or saving) reruns
        # from the final weights instead of training again.
        keep_final_checkpoint=True,
    )
    resumable = next(
        c for c in callbacks if isinstance(c, tft.training.ResumableTraining)
    )
    # After the resume callback, so that they read the restored step.
    if gradual_unfreeze:
        callbacks.append(
            tft.finetune.GradualUnfreezing(
                every_epochs=None if unfreeze_every_steps else unfreeze_every_epochs,
                every_steps=unfreeze_every_steps or None,
                verbose=bool(verbose),
            )
        )
    if head_warmup_steps:
        callbacks.append(
            tft.finetune.HeadWarmup(head_warmup_steps, verbose=bool(verbose))
        )
    history = tagger.fit(
        resumable.epoch_dataset(
            lambda epoch: first_epoch if epoch == 0 else dataset(train, epoch)
        ),
        validation_data=dataset(validation),
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    ).history
    # Summed over the resumes of a killed run.
    train_seconds = resumable.train_seconds

    report, predicted = tft.evaluation.evaluate_tagger(
        tagger, test, batch_size=global_batch
    )
    # Every worker saves (a collective operation); only the chief writes
    # into model_dir, the others into temporary directories.
    model_path = os.path.join(
        tft.distribute.write_dir(model_dir, strategy), "model.keras"
    )
    # Atomic: a kill while saving must not leave a torn model.keras, which a
    # rerun's check of model_dir could not read.
    with tft.training.checkpointing.atomic_write(model_path) as temporary:
        tagger.save(temporary)
    tft.distribute.cleanup_write_dir(model_dir, strategy)
    if chief:
        report.to_json(os.path.join(model_dir, "report.json"))
        with open(os.path.join(model_dir, "predictions.jsonl"), "w") as f:
            for words, true_tags, tags_out in zip(test.words, test.tags, predicted):
                record = {"tokens": words, "tags": true_tags, "predicted": tags_out}
                f.write(json.dumps(record) + "\n")
        with open(os.path.join(model_dir, "history.json"), "w") as f:
            json.dump(
                {"history": _jsonable(history), "train_seconds": train_seconds},
                f,
                indent=2,
            )
        if lora_rank:
            tft.finetune.save_lora_weights(
                tagger, os.path.join(model_dir, "adapters.lora.h5")
            )
    if verbose:
        print(f"\nTest entities ({len(test)} sentences, {test.source}):")
        print(report.format())
        print(f"Model, report and predictions written to {model_dir}/")
    return {
        "report": report,
        "history": history,
        "model_path": model_path,
        "model": tagger,
        "train_seconds": train_seconds,
        "predictions": predicted,
        "summary": summary,
    }


MIXED_PRECISION = ("none", "bfloat16", "float16")


def _optimizer(tagger, learning_rate, head_learning_rate, layer_decay, **schedule):
    """`create_optimizer`'s AdamW, the tagging head at its own peak rate.

    With `layer_decay`, the head's multiplier replaces the 1.0 that layer-wise
    decay gives the head.
    """
    from tftransformer import finetune

    optimizer = finetune.create_optimizer(
        learning_rate, layer_decay=layer_decay, model=tagger, **schedule
    )
    if head_learning_rate is None or head_learning_rate == learning_rate:
        return optimizer
    multiplier = head_learning_rate / learning_rate
    config = optimizer.get_config()
    multipliers = dict(config.get("learning_rate_multipliers") or {})
    multipliers.update(
        {variable.path: multiplier for variable in tagger.output_dense.weights}
    )
    config["learning_rate_multipliers"] = multipliers
    optimizer = finetune.LayerwiseAdamW.from_config(config)
    # The weight decay exclusions are not part of the config.
    optimizer.exclude_from_weight_decay(
        var_list=[
            variable
            for variable in tagger.weights
            if variable.path.split("/")[-1] in finetune.WEIGHT_DECAY_EXCLUSIONS
        ]
    )
    return optimizer


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


def _load_splits(train_file, validation_file, test_file, seed):
    from tftransformer import data

    if train_file is None:
        if validation_file or test_file:
            raise ValueError(
                "validation_file and test_file need a train_file. Received: "
                f"validation_file={validation_file!r}, test_file={test_file!r}"
            )
        return (
            data.load_wnut16("train"),
            data.load_wnut16("validation"),
            data.load_wnut16("test"),
        )
    train = data.load_tagging_file(train_file)
    if validation_file:
        validation = data.load_tagging_file(validation_file)
    else:
        if len(train) < 2:
            raise ValueError(
                f"{train_file} has {len(train)} sentence; holding out validation "
                "data needs at least 2. Pass --validation_file."
            )
        # Hold out a seeded 10% of the training sentences.
        order = np.random.default_rng(seed).permutation(len(train))
        held_out = max(1, len(train) // 10)
        validation = train.take(np.sort(order[:held_out]))
        train = train.take(np.sort(order[held_out:]))
    test = data.load_tagging_file(test_file) if test_file else validation
    # One tag vocabulary for all splits: a type seen only in evaluation data
    # gets output ids too (never trained, so its entities count as missed).
    vocabulary = data.build_tag_vocabulary(train.tags + validation.tags + test.tags)
    return tuple(
        dataclasses.replace(split, tag_vocabulary=vocabulary)
        for split in (train, validation, test)
    )


def _jsonable(history):
    return {k: [float(v) for v in values] for k, values in history.items()}


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES
    from tftransformer.finetune import (
        define_strategy_flags,
    )

    flags.DEFINE_string(
        "preset",
        "embedded",
        "Backbone: 'embedded', a local directory, or a keras-hub preset name "
        "(needs network).",
    )
    flags.DEFINE_string(
        "train_file",
        None,
        "CoNLL-style (word and tag columns, blank line between sentences) or "
        "JSONL (tokens, tags) file; default: the embedded WNUT-16 split.",
    )
    flags.DEFINE_string(
        "validation_file",
        None,
        "Validation data; default: the embedded split, or 10% of --train_file "
        "held out.",
    )
    flags.DEFINE_string(
        "test_file", None, "Test data; default: the embedded split, or validation."
    )
    define_strategy_flags(flags.FLAGS)
    flags.DEFINE_enum(
        "mixed_precision", "none", list(MIXED_PRECISION), "Compute precision."
    )
    flags.DEFINE_bool("jit_compile", False, "Compile the train step with XLA.")
    flags.DEFINE_integer("epochs", 4, "Training epochs.")
    flags.DEFINE_integer("batch_size", 16, "Batch size (sentences) per replica.")
    flags.DEFINE_float("learning_rate", 1e-4, "Peak learning rate (AdamW).")
    flags.DEFINE_float(
        "head_learning_rate",
        3e-3,
        "Peak learning rate of the new tagging head, which starts from random "
        "weights over small backbone features.",
    )
    flags.DEFINE_float(
        "weight_decay", 0.01, "Decoupled weight decay (not on LayerNorm and biases)."
    )
    flags.DEFINE_float("warmup_fraction", 0.1, "Fraction of steps of linear warmup.")
    flags.DEFINE_float("dropout", 0.1, "Dropout of the tagging head.")
    flags.DEFINE_integer(
        "patience",
        2,
        "Early stopping patience (epochs without a better validation entity F1).",
    )
    flags.DEFINE_integer(
        "max_length",
        64,
        "Longest word-piece sequence; words past it are left out of the loss "
        "and predicted 'O'.",
    )
    flags.DEFINE_string("model_dir", "runs/ner", "Output directory.")
    flags.DEFINE_enum(
        "distribution",
        "auto",
        list(STRATEGY_NAMES),
        "tf.distribute strategy; --batch_size is per replica.",
    )
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")
    flags.DEFINE_integer(
        "max_train_examples", None, "Train on a seeded subset of this many sentences."
    )


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
