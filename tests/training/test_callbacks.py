import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data._autotune import without_autotuning
from tftransformer.finetune import (
    classification_loss,
)
from tftransformer.training import (
    EpochWeightsCheckpoint,
    ResumableTraining,
    StopOnNonFiniteLoss,
    TimeBudget,
    training_callbacks,
)


def _tiny_classifier(run_eagerly=False):
    inputs = keras.Input((4,))
    outputs = keras.layers.Dense(2)(keras.layers.Dense(8, activation="relu")(inputs))
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=classification_loss(label_smoothing=0.1),
        metrics=["accuracy"],
        run_eagerly=run_eagerly,
    )
    return model


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(16, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("int32")
    return x, y


def _one_batch():
    """`_data()` as one batch, without tf.data's autotuning: a fit that
    raises leaves Keras' validation iterator on the model until the garbage
    collector frees it, and freeing an autotuned one can wait up to 60 s for
    tf.data's thread (`tftransformer.data._autotune`)."""
    return without_autotuning(tf.data.Dataset.from_tensor_slices(_data()).batch(16))


class _RecordWeightsAtEpochBegin(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.weights = [w.numpy().copy() for w in self.model.weights]


class _InterruptAtEpoch(keras.callbacks.Callback):
    """Raises at the start of `epoch`, or with `at_end` at its end."""

    def __init__(self, epoch, at_end=False):
        super().__init__()
        self.epoch = epoch
        self.at_end = at_end

    def _interrupt(self, epoch, at_end):
        if epoch == self.epoch and at_end == self.at_end:
            raise RuntimeError("interrupted")

    def on_epoch_begin(self, epoch, logs=None):
        self._interrupt(epoch, at_end=False)

    def on_epoch_end(self, epoch, logs=None):
        self._interrupt(epoch, at_end=True)


def test_kinds_and_settings(tmp_path):
    callbacks = training_callbacks(tmp_path, monitor="val_loss", mode="min", patience=3)
    by_type = {type(c): c for c in callbacks}
    assert set(by_type) == {
        StopOnNonFiniteLoss,
        ResumableTraining,
        keras.callbacks.EarlyStopping,
        EpochWeightsCheckpoint,
        keras.callbacks.TensorBoard,
    }
    early_stopping = by_type[keras.callbacks.EarlyStopping]
    assert early_stopping.monitor == "val_loss"
    assert early_stopping.patience == 3
    assert early_stopping.restore_best_weights
    without_tensorboard = training_callbacks(tmp_path, tensorboard=False)
    assert keras.callbacks.TensorBoard not in {type(c) for c in without_tensorboard}


def test_a_time_budget_comes_before_the_checkpoint_and_counts_the_whole_run(
    tmp_path,
):
    callbacks = training_callbacks(tmp_path, tensorboard=False, max_train_minutes=1.5)
    assert [type(c) for c in callbacks] == [
        StopOnNonFiniteLoss,
        keras.callbacks.EarlyStopping,
        # Before the checkpoint, which then records its stop.
        TimeBudget,
        EpochWeightsCheckpoint,
        ResumableTraining,
    ]
    assert callbacks[2].minutes == 1.5
    assert callbacks[2].resumable is callbacks[4]


def test_two_epoch_fit_writes_checkpoints_and_logs(tmp_path):
    # Braces in the directory name are plain characters.
    tmp_path = tmp_path / "run_{seed}"
    model = _tiny_classifier()
    x, y = _data()
    history = model.fit(
        x,
        y,
        validation_data=(x, y),
        epochs=2,
        batch_size=8,
        verbose=0,
        callbacks=training_callbacks(tmp_path),
    )
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
    ]
    for split in ("train", "validation"):
        events = os.listdir(tmp_path / "logs" / split)
        assert any(name.startswith("events.out.tfevents") for name in events)
    # A finished fit deletes its backup.
    assert not os.path.exists(tmp_path / "backup")

    # The model ends with the best epoch's weights: the first epoch with the
    # highest val_accuracy (EarlyStopping only counts strict improvements).
    val_accuracy = history.history["val_accuracy"]
    best_epoch = val_accuracy.index(max(val_accuracy)) + 1
    best = _tiny_classifier()
    best.load_weights(tmp_path / "checkpoints" / f"epoch_{best_epoch:03d}.weights.h5")
    for restored, saved in zip(model.weights, best.weights):
        np.testing.assert_array_equal(restored.numpy(), saved.numpy())


def test_a_new_run_removes_the_later_epochs_of_another_run(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    for name in ("epoch_002.weights.h5", "epoch_003.weights.h5", "keep.weights.h5"):
        (checkpoints / name).write_bytes(b"another run's weights")
    x, y = _data()
    _tiny_classifier().fit(
        x, y, epochs=1, batch_size=8, verbose=0, callbacks=training_callbacks(tmp_path)
    )
    assert sorted(os.listdir(checkpoints)) == [
        "epoch_001.weights.h5",
        "keep.weights.h5",
    ]


def test_interrupted_fit_resumes_from_backup(tmp_path):
    data = _one_batch()
    # Eager: tracing three fits would take most of the time.
    model = _tiny_classifier(run_eagerly=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(
            data,
            validation_data=data,
            epochs=3,
            verbose=0,
            callbacks=training_callbacks(tmp_path, tensorboard=False)
            + [_InterruptAtEpoch(1)],
        )
    assert os.path.isdir(tmp_path / "backup")

    # A fresh model and fresh callbacks: epoch 0 (the first) is not run again,
    # and epoch 1 starts from the weights epoch 0 ended with.
    resumed = _tiny_classifier(run_eagerly=True)
    recorder = _RecordWeightsAtEpochBegin()
    history = resumed.fit(
        data,
        validation_data=data,
        epochs=2,
        verbose=0,
        callbacks=training_callbacks(tmp_path, tensorboard=False) + [recorder],
    )
    assert history.epoch == [1]
    assert recorder.epoch == 1
    after_epoch_0 = _tiny_classifier()
    after_epoch_0.load_weights(tmp_path / "checkpoints" / "epoch_001.weights.h5")
    for recorded, saved in zip(recorder.weights, after_epoch_0.weights):
        np.testing.assert_array_equal(recorded, saved.numpy())
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
    ]


def test_a_kill_right_after_the_checkpoint_keeps_every_epoch_file(tmp_path):
    data = _one_batch()
    callbacks = training_callbacks(tmp_path, tensorboard=False)
    (resumable,) = [c for c in callbacks if isinstance(c, ResumableTraining)]
    # Killed just after the second epoch's checkpoint, before any later
    # callback: the resumed run skips that epoch, so its file must exist.
    callbacks.insert(callbacks.index(resumable) + 1, _InterruptAtEpoch(1, at_end=True))
    model = _tiny_classifier(run_eagerly=True)
    with pytest.raises(RuntimeError, match="interrupted"):
        model.fit(data, validation_data=data, epochs=3, verbose=0, callbacks=callbacks)
    after_epoch_1 = [w.numpy().copy() for w in model.weights]

    resumed = _tiny_classifier(run_eagerly=True)
    history = resumed.fit(
        data,
        validation_data=data,
        epochs=3,
        verbose=0,
        callbacks=training_callbacks(tmp_path, tensorboard=False),
    )
    assert history.epoch == [2]
    assert sorted(os.listdir(tmp_path / "checkpoints")) == [
        "epoch_001.weights.h5",
        "epoch_002.weights.h5",
        "epoch_003.weights.h5",
    ]
    saved = _tiny_classifier()
    saved.load_weights(tmp_path / "checkpoints" / "epoch_002.weights.h5")
    for expected, weight in zip(after_epoch_1, saved.weights):
        np.testing.assert_array_equal(expected, weight.numpy())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(mode="maximum"), "mode='maximum'"),
        (dict(patience=-1), "patience=-1"),
        (dict(patience=1.5), "patience=1.5"),
        (dict(max_train_minutes=0), "minutes=0"),
        (dict(max_train_minutes=float("nan")), "minutes=nan"),
    ],
)
def test_invalid_arguments_are_rejected(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        training_callbacks(tmp_path, **kwargs)
