"""Token classification (NER) runs from a `TokenClassificationConfig`."""

import dataclasses
import json
import os

from tftransformer._warnings import warn
from tftransformer.data.hold_out import hold_out_validation
from tftransformer.data.tagging import (
    build_tag_vocabulary,
    load_tagging_file,
    make_tagging_dataset,
)
from tftransformer.data.wnut import load_wnut16
from tftransformer.evaluation.entity_f1_callback import EntityF1Callback
from tftransformer.evaluation.plots import write_classification_plots
from tftransformer.evaluation.tagging_predictions import evaluate_tagger
from tftransformer.models.backbone_adapter import adapter_for
from tftransformer.models.token_classifier import TokenClassifier
from tftransformer.training._subsets import sample_splits
from tftransformer.training.checkpointing import atomic_write, epoch_seed, fingerprint
from tftransformer.training.text_classification import calibrate_classifier
from tftransformer.training.token_classification_run import TokenClassificationRun
from tftransformer.training.trainer import Trainer

__all__ = [
    "build_token_classifier",
    "load_tagging_splits",
    "train_token_classifier",
]


def load_tagging_splits(config):
    """The train, validation and test data a `TokenClassificationConfig` names.

    Without `train_file`, the embedded WNUT-16 splits. With it, the file
    (CoNLL-style or JSONL) and `validation_file` (default: a seeded 10% of
    the training sentences held out) and `test_file` (default: the
    validation data). All three share one tag vocabulary: a type seen only
    in evaluation data gets output ids too (never trained, so its entities
    count as missed), with a warning naming it. `max_train_examples` and
    `max_eval_examples` draw seeded subsets.

    Returns:
        `(train, validation, test)`, each a `TaggingData`.

    Raises:
        ValueError: `validation_file` or `test_file` without `train_file`,
            or a train file of one sentence and no `validation_file`.
    """
    if config.train_file is None:
        if config.validation_file or config.test_file:
            raise ValueError(
                "validation_file and test_file need a train_file. Received: "
                f"validation_file={config.validation_file!r}, "
                f"test_file={config.test_file!r}"
            )
        splits = [load_wnut16(s) for s in ("train", "validation", "test")]
    else:
        train = load_tagging_file(config.train_file)
        if config.validation_file:
            validation = load_tagging_file(config.validation_file)
        else:
            kept, held_out = hold_out_validation(
                len(train), 0.1, config.seed, config.train_file, "sentences"
            )
            train, validation = train.take(kept), train.take(held_out)
        test = load_tagging_file(config.test_file) if config.test_file else validation
        vocabulary = build_tag_vocabulary(train.tags + validation.tags + test.tags)
        trained = set(build_tag_vocabulary(train.tags))
        untrained = sorted({tag[2:] for tag in vocabulary if tag not in trained})
        if untrained:
            warn(
                f"Entity types only in the validation or test data: {untrained}. "
                "They get output ids too, never trained: their entities count "
                "as missed, and an undertrained model may still predict them. "
                f"Tag them in the training file {config.train_file!r} too."
            )
        splits = [
            dataclasses.replace(split, tag_vocabulary=vocabulary)
            for split in (train, validation, test)
        ]
    return sample_splits(config, *splits)


def tagging_dataset(data, tokenizer, config, batch_size, epoch=None):
    """Batches of `TaggingData`; training data (an `epoch`) is shuffled by
    `(config.seed, epoch)` alone, so a resumed epoch sees the batches the
    interrupted one saw, and packed into rows with `config.pack_sequences`."""
    return make_tagging_dataset(
        data.words,
        data.tag_ids,
        tokenizer,
        batch_size=batch_size,
        max_length=config.max_length,
        shuffle=epoch is not None,
        seed=epoch_seed(config.seed, epoch or 0),
        # Training epochs only: validation and test sentences are tagged
        # row by row, as `predict_tags` tags them.
        pack=config.pack_sequences and epoch is not None,
    )


def build_token_classifier(config, tag_names):
    """The `TokenClassifier` a `TokenClassificationConfig` describes.

    Build it in `trainer.scope()`.
    """
    return TokenClassifier.from_preset(
        config.preset,
        num_tags=len(tag_names),
        sequence_length=config.max_length,
        dtype=config.dtype,
        dropout=config.dropout,
        num_extra_blocks=config.extra_blocks,
        tag_names=list(tag_names),
    )


def train_token_classifier(config, verbose=1):
    """Fine-tunes, evaluates and reports a token classifier, as a `Trainer` run.

    Loads the config's data (`load_tagging_splits`), builds the tagger on
    its preset, trains it in `config.model_dir` (resumable, refusing another
    run's directory; early stopping on the validation entity micro-F1; the
    head at `head_learning_rate`), tags the test split, and has the chief
    write `report.json` (the `EntityReport`) and `predictions.jsonl` (one
    `{"tokens", "tags", "predicted"}` record per test sentence). With
    `config.calibrate`, one softmax temperature over tags is fitted on the
    validation tokens after training (`calibrate_classifier`), saved in
    `model.keras` and applied by exports; the report's `calibration` gives
    the test tokens' expected calibration error before and after (and, with
    matplotlib, `reliability_diagram.png`).

    Args:
        config: a `TokenClassificationConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `TokenClassificationRun`.

    Example:
    ```python
    run = train_token_classifier(TokenClassificationConfig(epochs=1))
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = load_tagging_splits(config)
    tags = train.tag_vocabulary
    trainer.print_splits(
        train,
        validation,
        test,
        f"{len(tags)} tags, entity types {list(train.entity_types)}",
        unit="sentences",
    )
    with trainer.scope():
        tagger = build_token_classifier(config, tags)
    if config.pack_sequences:
        # Refused before any sentence is tokenized, naming the family.
        adapter_for(tagger).check_recipe("sequence packing")
    batch_size = trainer.global_batch_size
    tokenizer = tagger.preprocessor.tokenizer
    training = trainer.fit(
        tagger,
        lambda epoch: tagging_dataset(train, tokenizer, config, batch_size, epoch),
        tagging_dataset(validation, tokenizer, config, batch_size),
        label_names=list(tags),
        run_config={
            "data_sha256": fingerprint(
                train.words, train.tags, validation.words, validation.tags
            )
        },
        head_layers=[tagger.output_dense],
        evaluation_callbacks=[EntityF1Callback(validation, batch_size)],
    )
    if config.calibrate:
        calibrate_classifier(
            tagger, tagging_dataset(validation, tokenizer, config, batch_size)
        )
        trainer.save(tagger)
        if trainer.verbose:
            print(f"Temperature fitted on validation tokens: {tagger.temperature:.3f}")
    report, predicted = evaluate_tagger(tagger, test, batch_size=batch_size)
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
        write_classification_plots(report, config.model_dir)
        with atomic_write(os.path.join(config.model_dir, "predictions.jsonl")) as temp:
            with open(temp, "w", encoding="utf-8") as f:
                for words, true_tags, tags_out in zip(test.words, test.tags, predicted):
                    record = {"tokens": words, "tags": true_tags, "predicted": tags_out}
                    f.write(json.dumps(record) + "\n")
    return TokenClassificationRun(
        tagger, training, report, predicted, train, validation, test, trainer
    )
