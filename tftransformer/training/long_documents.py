"""Long-document classification runs from a `LongDocumentConfig`: one
chunked classifier per variant, compared on the test split."""

import dataclasses
import json
import os

import keras
import numpy as np

from tftransformer.data.chunking import chunk_documents
from tftransformer.data.political_speeches import load_political_speeches
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.models.long_document_classifier import LongDocumentClassifier
from tftransformer.presets import load_backbone
from tftransformer.training._several_models import trains_several_models
from tftransformer.training._subsets import sample_splits
from tftransformer.training.checkpointing import (
    atomic_write,
    epoch_seed,
    fingerprint,
    remove_temporary_files,
)
from tftransformer.training.long_document_run import LongDocumentRun
from tftransformer.training.text_classification import calibrate_classifier
from tftransformer.training.trainer import Trainer

__all__ = ["chunk_statistics", "train_long_document_classifiers"]


def chunk_statistics(texts, tokenizer, chunk_length, stride, max_chunks):
    """How chunks of `chunk_length` tokens cover tokenized documents.

    Returns:
        A dict: `mean_pieces` (word pieces per document), `mean_chunks`
        (chunks kept per document), `truncated_fraction` (documents with
        more than `max_chunks` chunks) and `covered_fraction` (the share of
        all word pieces inside a kept chunk).
    """
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


def _load_splits(config):
    return sample_splits(
        config, *(load_political_speeches(s) for s in ("train", "validation", "test"))
    )


def _train_variant(variant, config, splits, strategy, verbose):
    """One variant, a `Trainer` run in `model_dir/{variant}`."""
    train, validation, test = splits
    trainer = Trainer(
        dataclasses.replace(config, model_dir=os.path.join(config.model_dir, variant)),
        strategy=strategy,
        verbose=verbose,
    )
    with trainer.scope():
        backbone, preprocessor = load_backbone(
            config.preset, sequence_length=config.max_length, dtype=config.dtype
        )
        model = LongDocumentClassifier(
            backbone,
            num_classes=train.num_classes,
            max_chunks=1 if variant == "truncate" else config.max_chunks,
            chunk_length=config.max_length,
            stride=config.stride,
            pooling="attention" if variant == "attention" else "mean",
            dropout=config.dropout,
            label_names=list(train.label_vocabulary),
        )
    tokenizer = preprocessor.tokenizer
    batch_size = trainer.global_batch_size

    def dataset(data, epoch=None):
        # Training data (an `epoch`) is shuffled by (seed, epoch) alone.
        return model.make_dataset(
            data.texts,
            data.labels,
            tokenizer,
            batch_size,
            shuffle=epoch is not None,
            seed=epoch_seed(config.seed, epoch or 0),
        )

    if trainer.verbose:
        print(f"\n{variant}:")
    training = trainer.fit(
        model,
        lambda epoch: dataset(train, epoch),
        dataset(validation),
        run_config={
            "variant": variant,
            "data_sha256": fingerprint(
                train.texts, train.labels, validation.texts, validation.labels
            ),
        },
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
        head_layers=[model.chunk_pooler, model.output_dense],
    )
    if config.calibrate:
        calibrate_classifier(model, dataset(validation))
        trainer.save(model)
    report, _ = evaluate_classifier(
        model,
        dataset(test).map(lambda x, y: x),
        test.labels,
        test.label_vocabulary,
    )
    return trainer, model, training, report


@trains_several_models
def train_long_document_classifiers(config, verbose=1):
    """Trains and tests one long-document classifier per variant.

    The embedded 2012 US convention speeches (`load_political_speeches`),
    far longer than one window, are cut into chunks (`max_length`,
    `stride`, `max_chunks`); every chunk is encoded by the shared backbone
    and the chunk vectors are pooled as the variant says, all trained end to
    end. Each variant starts from the same pretrained weights and seed, as a
    `Trainer` run in `model_dir/{variant}` (resumable, refusing another
    run's directory). Once every variant has trained, the chief writes
    `model_dir/report.json`: each variant's test accuracy and macro F1 next
    to the majority-class baseline, and the chunking statistics. With
    `config.calibrate`, each variant's softmax temperature is fitted on the
    validation documents after training (`calibrate_classifier`) and saved
    in its `model.keras`; its `calibration` in the report gives the test
    split's expected calibration error and reliability bins before and
    after.

    Args:
        config: a `LongDocumentConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `LongDocumentRun`.

    Example:
    ```python
    run = train_long_document_classifiers(LongDocumentConfig(epochs=1))
    print(run.format())
    ```
    """
    # First: the strategy configures the devices; the variants share it.
    trainer = Trainer(config, verbose=verbose)
    splits = _load_splits(config)
    train, validation, test = splits
    _, preprocessor = load_backbone(config.preset, sequence_length=config.max_length)
    chunk_stats = chunk_statistics(
        train.texts,
        preprocessor.tokenizer,
        config.max_length,
        config.stride,
        config.max_chunks,
    )
    majority = int(np.bincount(train.labels).argmax())
    majority_accuracy = float(np.mean(test.labels == majority))
    if trainer.verbose:
        print(
            f"Data: {len(train)} train / {len(validation)} validation / "
            f"{len(test)} test documents. Train documents: "
            f"{chunk_stats['mean_pieces']:.0f} word pieces on average, "
            f"{chunk_stats['mean_chunks']:.1f} chunks of {config.max_length} "
            f"(stride {config.stride}) kept on average, "
            f"{chunk_stats['truncated_fraction']:.0%} longer than "
            f"{config.max_chunks} chunks; {chunk_stats['covered_fraction']:.0%} "
            f"of all pieces kept. Majority class "
            f"({train.label_vocabulary[majority]}): {majority_accuracy:.3f} test "
            "accuracy."
        )
    results, reports, models = {}, {}, {}
    for variant in config.variant_names:
        _, model, training, report = _train_variant(
            variant, config, splits, trainer.strategy, verbose
        )
        models[variant], reports[variant] = model, report
        results[variant] = {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "train_seconds": training.train_seconds,
            "history": training.history,
        }
        if report.calibration is not None:
            results[variant]["calibration"] = report.calibration
    summary = {
        "results": results,
        "majority_accuracy": majority_accuracy,
        "chunk_stats": chunk_stats,
        "test_examples": len(test),
    }
    if trainer.chief:
        # Left by a run killed while writing the report.
        remove_temporary_files(config.model_dir)
        with atomic_write(os.path.join(config.model_dir, "report.json")) as temporary:
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(summary, f, indent=2)
    return LongDocumentRun(**summary, reports=reports, models=models, trainer=trainer)
