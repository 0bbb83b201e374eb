"""What `examples/classify.py` does, through the library, for tests."""

import keras

import tftransformer as tft
from tftransformer.training import ClassificationConfig, Trainer


def build_classifier(config, labels):
    return tft.models.TextClassifier.from_preset(
        config.preset,
        num_classes=len(labels),
        sequence_length=config.max_length,
        dtype=config.dtype,
        pooling=config.pooling,
        dropout=config.dropout,
        num_extra_blocks=config.extra_blocks,
        label_names=list(labels),
    )


def run_classification(**settings):
    """Trains and evaluates as the example does; returns a dict of results."""
    config = ClassificationConfig(**settings)
    if config.export_dir:
        tft.export.check_base_path(config.export_dir, name="export_dir")
    trainer = Trainer(config, verbose=0)
    train, validation, test = tft.training.load_classification_splits(config)
    with trainer.scope():
        classifier = build_classifier(config, train.label_vocabulary)
    result = trainer.fit(
        classifier,
        train,
        validation,
        loss=tft.finetune.classification_loss(config.label_smoothing),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    report, _ = tft.evaluation.evaluate_classifier(
        classifier,
        trainer.dataset(test, classifier),
        test.labels,
        train.label_vocabulary,
    )
    report.to_json(f"{config.model_dir}/report.json")
    return {
        "trainer": trainer,
        "model": classifier,
        "result": result,
        "report": report,
        "train": train,
    }
