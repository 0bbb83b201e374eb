"""The no-transfer baseline: a text classifier trained from random weights."""

import keras

from tftransformer.finetune.losses import classification_loss
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_classifier_preprocessor import (
    TextClassifierPreprocessor,
)
from tftransformer.models.transformer_encoder import TransformerEncoder
from tftransformer.presets import embedded_tokenizer
from tftransformer.training.text_classification import (
    finish_classification_run,
    load_classification_splits,
)
from tftransformer.training.trainer import Trainer

__all__ = ["train_classifier_from_scratch"]


def train_classifier_from_scratch(config, verbose=1):
    """Trains, evaluates and saves a text classifier from scratch.

    The model is a `TextClassifier` on a `TransformerEncoder` with random
    weights, reading the embedded checkpoint's WordPiece ids (its inputs
    match a fine-tuned model's) through its own `TextClassifierPreprocessor`,
    so the saved model answers raw strings and names its labels as a
    fine-tuned one does (`predict_to_file`, `evaluate_saved_model`, the
    exports). It trains on the data `train_text_classifier` reads for the
    same fields (`load_classification_splits`: the config's files or TFDS
    dataset, the embedded sentiment data by default; seeded subsets of
    `max_train_examples` and `max_eval_examples`) as a resumable `Trainer`
    run in `config.model_dir`, and ends as `train_text_classifier` ends:
    a softmax temperature fitted on the validation split (`calibrate`),
    the test split's report, and the chief's `report.json` and plots.
    Compare the two runs' reports.

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
    train, validation, test = load_classification_splits(config)
    trainer.print_splits(
        train, validation, test, f"labels {list(train.label_vocabulary)}"
    )
    with trainer.scope():
        model = build_classifier_from_scratch(config, train.label_vocabulary)
    training = trainer.fit(
        model,
        train,
        validation,
        loss=classification_loss(),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    return finish_classification_run(trainer, model, training, train, validation, test)


def build_classifier_from_scratch(config, label_names):
    """The `TextClassifier` a `FromScratchClassificationConfig` describes:
    a `TransformerEncoder` with random weights, reading the embedded
    checkpoint's WordPiece ids.

    Build it in `trainer.scope()`.
    """
    tokenizer = embedded_tokenizer()
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
    return TextClassifier(
        encoder,
        num_classes=len(label_names),
        preprocessor=TextClassifierPreprocessor(
            tokenizer, sequence_length=config.max_length
        ),
        pooling=config.pooling,
        dropout=config.dropout,
        label_names=list(label_names),
    )
