"""Trains and evaluates a tiny text classifier epoch after epoch, as
`examples/classify.py` does, and records memory and tracing per epoch.

Usage: soak_script.py PRESET_DIR TRAIN_CSV MODEL_DIR OUTPUT_JSON SECONDS MIN_EPOCHS

Writes to OUTPUT_JSON, one entry per epoch: the resident set size (RSS, in
bytes, after a garbage collection) and how many times the train and test
steps have been traced so far.
A trace runs the loss' Python code; a traced step that is reused does not.
"""

import gc
import json
import os
import sys
import time

from tftransformer.training.checkpointing import epoch_seed

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import keras

import tftransformer as tft
import tftransformer.presets  # noqa: F401

TRACES = {"count": 0}


class CountingLoss(keras.losses.SparseCategoricalCrossentropy):
    """The classification loss, counting the times its graph is built."""

    def call(self, y_true, y_pred):
        TRACES["count"] += 1
        return super().call(y_true, y_pred)


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


class Recorder(keras.callbacks.Callback):
    def __init__(self, seconds, min_epochs):
        super().__init__()
        self.seconds = seconds
        self.min_epochs = min_epochs
        self.records = []

    def on_train_begin(self, logs=None):
        self.start = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        # Without collecting, RSS saws up and down with the garbage of
        # reference cycles (TensorFlow datasets hold some) and hides a trend.
        gc.collect()
        self.records.append(
            {"epoch": epoch, "rss": rss_bytes(), "traces": TRACES["count"]}
        )
        elapsed = time.monotonic() - self.start
        if epoch + 1 >= self.min_epochs and elapsed >= self.seconds:
            self.model.stop_training = True


def main(preset, train_file, model_dir, output, seconds, min_epochs):
    keras.utils.set_random_seed(0)
    data = tft.data.load_text_classification(train_file)
    backbone, preprocessor = tft.presets.load_backbone(preset, sequence_length=32)
    classifier = tft.models.TextClassifier(
        backbone,
        num_classes=data.num_classes,
        preprocessor=tft.models.TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=32
        ),
        pooling="mean",
    )
    max_epochs = 10_000
    classifier.compile(
        optimizer=tft.finetune.create_optimizer(
            1e-3,
            num_train_steps=tft.finetune.compute_train_steps(len(data), 8, max_epochs),
        ),
        loss=CountingLoss(from_logits=True),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    tokenizer = preprocessor.tokenizer

    def dataset(shuffle, seed):
        return tft.data.make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=8,
            max_length=32,
            shuffle=shuffle,
            seed=seed,
        )

    callbacks = tft.training.training_callbacks(
        model_dir, patience=max_epochs, save_freq=3, keep_final_checkpoint=True
    )
    resumable = next(
        c for c in callbacks if isinstance(c, tft.training.ResumableTraining)
    )
    recorder = Recorder(seconds, min_epochs)
    classifier.fit(
        resumable.epoch_dataset(lambda epoch: dataset(True, epoch_seed(0, epoch))),
        validation_data=dataset(False, 0),
        epochs=max_epochs,
        callbacks=callbacks + [recorder],
        verbose=0,
    )
    with open(output, "w") as f:
        json.dump(recorder.records, f)


if __name__ == "__main__":
    main(*sys.argv[1:5], float(sys.argv[5]), int(sys.argv[6]))
    # The records are written: TensorFlow's teardown at exit (about a second) checks
    # nothing a test reads, so it is skipped.
    os._exit(0)
