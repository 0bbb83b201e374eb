"""The no-transfer baseline: a text classifier trained from random weights."""

import os

import keras

from tftransformer.data.classification_dataset import make_classification_dataset
from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.finetune.losses import classification_loss
from tftransformer.models.transformer_classifier import TransformerClassifier
from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.presets import embedded_tokenizer
from tftransformer.training._subsets import sample_splits
from tftransformer.training.checkpointing import epoch_seed, fingerprint
from tftransformer.training.classification_run import ClassificationRun
from tftransformer.training.trainer import Trainer

__all__ = ["train_classifier_from_scratch"]


def train_classifier_from_scratch(config, verbose=1):
    """Trains, evaluates and saves a `TransformerClassifier` from scratch.

    The model is a `TransformerEncoder` with random weights and a
    classification head, reading the embedded checkpoint's WordPiece ids
    (its inputs match a fine-tuned model's). It trains on the embedded
    sentiment data (seeded subsets of `max_train_examples` and
    `max_eval_examples`) as a resumable `Trainer` run in
    `config.model_dir`, and is evaluated on the test split; the chief
    writes `report.json`. Compare with `train_text_classifier`.

    Args:
        config: a `FromScratchClassificationConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `ClassificationRun`.

    Example:
    ```python
    run = train_classifier_from_scratch(
        FromScratchClassificationConfig(epochs=1, max_train_examples=200))
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = sample_splits(
        config, *(load_rotten_tomatoes(s) for s in ("train", "validation", "test"))
    )
    tokenizer = embedded_tokenizer()

    def dataset(data, epoch=None):
        # Training data (an `epoch`) is shuffled by (seed, epoch) alone.
        return make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=trainer.global_batch_size,
            max_length=config.max_length,
            shuffle=epoch is not None,
            seed=epoch_seed(config.seed, epoch or 0),
            # The encoder takes no segment ids; extra dict keys would make
            # Keras match the inputs by position.
            feature_names=("token_ids", "padding_mask"),
        )

    if trainer.verbose:
        print(
            f"Data: {len(train)} train, {len(validation)} validation, "
            f"{len(test)} test (embedded sentiment data)"
        )
    with trainer.scope():
        encoder = TransformerEncoder(
            vocabulary_size=tokenizer.vocabulary_size(),
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            max_sequence_length=config.max_length,
            position_kind=config.position_kind,
            dropout=config.dropout,
            dtype=config.dtype,
        )
        model = TransformerClassifier(
            encoder,
            num_classes=train.num_classes,
            dropout=config.dropout,
            pooling=config.pooling,
            dtype=config.dtype,
        )
    training = trainer.fit(
        model,
        lambda epoch: dataset(train, epoch),
        dataset(validation),
        loss=classification_loss(),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        run_config={
            "data_sha256": fingerprint(
                train.texts, train.labels, validation.texts, validation.labels
            )
        },
    )
    report, _ = evaluate_classifier(
        model, dataset(test), test.labels, test.label_vocabulary
    )
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
    return ClassificationRun(model, training, report, train, validation, test, trainer)
