import keras

from tftransformer.evaluation.tagging_predictions import evaluate_tagger


class EntityF1Callback(keras.callbacks.Callback):
    """Adds the entity micro-F1 on held-out tagged data to each epoch's logs.

    At every epoch's end it tags `data` with the model (as
    `evaluate_tagger` does) and writes the entity-level micro-F1 to
    `logs[name]`, so that callbacks placed after it in the list (early
    stopping, checkpoints, TensorBoard, the history) can use it, e.g.
    `EarlyStopping(monitor="val_entity_f1", mode="max")`.

    Args:
        data: a `tftransformer.data.TaggingData`, e.g. the validation split.
        batch_size: sentences per forward pass.
        name: the key written to the logs.
        tokenizer: the WordPiece tokenizer; defaults to the model's
            preprocessor's.
        max_length: the longest sequence; defaults to the model's
            preprocessor's `sequence_length`.

    Example:
    ```python
    callbacks = [EntityF1Callback(validation)] + training_callbacks(
        "runs/ner", monitor="val_entity_f1", mode="max"
    )
    tagger.fit(train_dataset, epochs=3, callbacks=callbacks)
    ```
    """

    def __init__(
        self, data, batch_size=32, name="val_entity_f1", tokenizer=None, max_length=None
    ):
        super().__init__()
        if not len(data):
            raise ValueError("data must hold at least one sentence. Received: 0")
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty string. Received: {name!r}")
        self.data = data
        self.batch_size = batch_size
        self.name = name
        self.tokenizer = tokenizer
        self.max_length = max_length
        self.last_report = None

    def on_epoch_end(self, epoch, logs=None):
        report, _ = evaluate_tagger(
            self.model,
            self.data,
            tokenizer=self.tokenizer,
            max_length=self.max_length,
            batch_size=self.batch_size,
        )
        self.last_report = report
        if logs is not None:
            logs[self.name] = report.micro["f1"]
