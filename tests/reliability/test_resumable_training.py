"""`ResumableTraining` against the known pitfalls of resuming a Keras `fit`.

Each test trains a tiny model (dense layers, dropout, AdamW with a warmup and
decay schedule, early stopping) once without interruption and once stopped
by an exception at some point then resumed by a new `fit` with new model and
callback objects, as a restarted process would build them.
"""

import os
import types
import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.data._autotune import without_autotuning
from tftransformer.finetune import (
    classification_loss,
    create_optimizer,
)
from tftransformer.training import (
    ResumableTraining,
    StopOnNonFiniteLoss,
    resumable_training,
    training_callbacks,
)
from tftransformer.training.checkpointing import (
    CHECKPOINT_FILE,
    epoch_seed,
    read_checkpoint,
)

EPOCHS = 5
STEPS_PER_EPOCH = 5  # 40 examples in batches of 8


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 6)).astype("float32")
    y = (x[:, 0] + 0.5 * rng.normal(size=40) > 0).astype("int32")
    return x, y


def _make_dataset(epoch, batch_size=8):
    x, y = _data()
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .shuffle(len(x), seed=epoch_seed(0, epoch))
        .batch(batch_size)
    )


def _model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    hidden = keras.layers.Dropout(0.3)(hidden)
    model = keras.Model(inputs, keras.layers.Dense(2)(hidden))
    model.compile(
        optimizer=create_optimizer(
            1e-2, num_train_steps=EPOCHS * STEPS_PER_EPOCH, warmup_fraction=0.2
        ),
        loss=classification_loss(),
        metrics=["accuracy"],
    )
    return model


class _Interrupt(Exception):
    pass


class _InterruptAt(keras.callbacks.Callback):
    """Raises after `batch` (0-based) of `epoch`, or at its end if None."""

    def __init__(self, epoch, batch=None):
        super().__init__()
        self.at_epoch, self.at_batch = epoch, batch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.at_batch is not None and (self.epoch, batch) == (
            self.at_epoch,
            self.at_batch,
        ):
            raise _Interrupt()

    def on_epoch_end(self, epoch, logs=None):
        if self.at_batch is None and epoch == self.at_epoch:
            raise _Interrupt()


class _ScriptedScore(keras.callbacks.Callback):
    """Logs a given `val_score` per epoch, for early stopping to watch."""

    def __init__(self, scores):
        super().__init__()
        self.scores = scores

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.scores[epoch]


class _Record(keras.callbacks.Callback):
    """Records the epochs run and, per trained step, the learning rate."""

    def __init__(self):
        super().__init__()
        self.epochs, self.learning_rates = [], {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)

    def on_train_batch_begin(self, batch, logs=None):
        optimizer = self.model.optimizer
        if optimizer.built:
            step = int(optimizer.iterations)
            self.learning_rates[step] = float(optimizer.learning_rate)


def _fit(
    directory,
    extra=(),
    scores=None,
    patience=2,
    save_freq=2,
    keep_final_checkpoint=False,
    make_dataset=_make_dataset,
):
    model = _model()
    callbacks = training_callbacks(
        directory,
        monitor="val_score" if scores else "val_accuracy",
        patience=patience,
        tensorboard=False,
        save_freq=save_freq,
        keep_final_checkpoint=keep_final_checkpoint,
    )
    if scores:
        callbacks.insert(0, _ScriptedScore(scores))
    resumable = next(c for c in callbacks if isinstance(c, ResumableTraining))
    early_stopping = next(
        c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)
    )
    record = _Record()
    x, y = _data()
    history = model.fit(
        resumable.epoch_dataset(make_dataset),
        validation_data=(x[:16], y[:16]),
        epochs=EPOCHS,
        verbose=0,
        callbacks=callbacks + [record] + list(extra),
    )
    return model, history.history, early_stopping, record


def _interrupted_then_resumed(directory, epoch, batch=None, **kwargs):
    with pytest.raises(_Interrupt):
        _fit(directory, extra=[_InterruptAt(epoch, batch)], **kwargs)
    assert os.path.isfile(os.path.join(directory, "backup", CHECKPOINT_FILE))
    return _fit(directory, **kwargs)


def _numpy(variables):
    return [np.array(v.numpy()) for v in variables]


def _assert_same_variables(got, want):
    assert len(got) == len(want)
    for a, b in zip(got, want):
        np.testing.assert_array_equal(
            a.numpy(), b if isinstance(b, np.ndarray) else b.numpy(), err_msg=a.path
        )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The state an uninterrupted run (early stopping never fires) ends with."""
    model, history, _, record = _fit(
        tmp_path_factory.mktemp("uninterrupted"), patience=EPOCHS
    )
    return {
        "variables": _numpy(model.variables),
        "optimizer_variables": _numpy(model.optimizer.variables),
        "seed_states": _numpy(v for v in model.variables if "seed_generator" in v.path),
        "history": history,
        "learning_rates": record.learning_rates,
    }


@pytest.mark.parametrize(
    "epoch, batch",
    [(0, 1), (1, 2), (2, 4), (2, None)],
    ids=["first_epoch_step_2", "mid_epoch", "last_step_of_epoch", "epoch_end"],
)
def test_resumed_fit_equals_uninterrupted_fit(uninterrupted, tmp_path, epoch, batch):
    # Dropout draws from seed states, AdamW updates moments: any state left
    # behind shows in the final weights.
    resumed, resumed_history, _, _ = _interrupted_then_resumed(
        tmp_path, epoch, batch, patience=EPOCHS
    )
    _assert_same_variables(resumed.variables, uninterrupted["variables"])
    _assert_same_variables(
        resumed.optimizer.variables, uninterrupted["optimizer_variables"]
    )
    # Also the training metrics of the epoch that was cut: their running
    # totals were checkpointed.
    assert resumed_history == uninterrupted["history"]
    assert int(resumed.optimizer.iterations) == EPOCHS * STEPS_PER_EPOCH


def test_no_epoch_is_lost_or_repeated(tmp_path):
    # Interrupted after step 3 of epoch 2, i.e. global step 13; the last
    # checkpoint (every 2 steps) is at step 12. The resumed fit runs epochs
    # 2-4 and trains from global step 12 on.
    _, _, _, record = _interrupted_then_resumed(
        tmp_path, epoch=2, batch=2, patience=EPOCHS
    )
    assert record.epochs == [2, 3, 4]
    assert min(record.learning_rates) == 2 * STEPS_PER_EPOCH + 2


def test_an_epoch_shorter_than_the_checkpointed_step_leaves_the_next_whole(
    tmp_path,
):
    # Checkpointed at epoch 1, step 3 (global step 8); resumed on batches
    # of 20, two an epoch. Epoch 1 ends after skipping both, with a
    # warning; the skip left over used to eat into epoch 2.
    with pytest.raises(_Interrupt):
        _fit(tmp_path, extra=[_InterruptAt(1, 3)], patience=EPOCHS)

    def larger_batches(epoch):
        return _make_dataset(epoch, batch_size=20)

    with pytest.warns(UserWarning, match="ended after 2 batches, before the 3"):
        model, _, _, record = _fit(
            tmp_path, patience=EPOCHS, make_dataset=larger_batches
        )
    assert record.epochs == [1, 2, 3, 4]
    # Epochs 2-4 train both their batches.
    assert int(model.optimizer.iterations) == 8 + 3 * 2


def test_learning_rate_schedule_continues_from_the_checkpointed_step(
    uninterrupted, tmp_path
):
    _, _, _, resumed = _interrupted_then_resumed(
        tmp_path, epoch=1, batch=3, patience=EPOCHS
    )
    rates = uninterrupted["learning_rates"]
    # Interrupted at global step 9, resumed from the checkpoint at step 8.
    # The warmup ends at step 5: the resumed steps are on the decay.
    assert min(resumed.learning_rates) == STEPS_PER_EPOCH + 3
    for step, rate in resumed.learning_rates.items():
        assert rate == rates[step], step
    assert resumed.learning_rates[9] < rates[5]


def test_early_stopping_state_survives_the_resume(tmp_path):
    # Best at epoch 1; epochs 2 and 3 do not improve: with patience 2 an
    # uninterrupted run stops after epoch 3 and restores epoch 1's weights.
    # Interrupted after epoch 2 (wait = 1), a reset early stopping would
    # take 0.6 as its best and train on.
    scores = [0.5, 0.7, 0.6, 0.65, 0.9]
    model, history, early_stopping, _ = _fit(tmp_path / "uninterrupted", scores=scores)
    assert early_stopping.stopped_epoch == 3
    resumed, resumed_history, resumed_stopping, record = _interrupted_then_resumed(
        tmp_path / "resumed", epoch=2, scores=scores
    )
    assert record.epochs == [3]
    assert resumed_stopping.stopped_epoch == 3
    assert resumed_stopping.best == 0.7 and resumed_stopping.best_epoch == 1
    assert resumed_history == history
    _assert_same_variables(resumed.weights, model.weights)


def test_run_stopped_by_early_stopping_resumes_as_stopped(tmp_path):
    # Interrupted after the checkpoint of the epoch where early stopping
    # decided to stop: the resumed fit trains no further epoch.
    scores = [0.5, 0.7, 0.6, 0.65, 0.9]
    model, _, _, _ = _fit(tmp_path / "uninterrupted", scores=scores)
    resumed, _, _, record = _interrupted_then_resumed(
        tmp_path / "resumed", epoch=3, scores=scores
    )
    assert record.epochs == []
    _assert_same_variables(resumed.weights, model.weights)


@pytest.mark.parametrize("keep_final_checkpoint", [False, "weights", True])
def test_the_last_epochs_checkpoint_holds_optimizer_slots_only_if_the_final_does(
    uninterrupted, tmp_path, keep_final_checkpoint
):
    # A run killed after the last epoch's checkpoint resumes to train
    # nothing more; the slots (twice the weights with Adam) are kept only
    # where the finished run's checkpoint keeps them. Earlier epochs'
    # checkpoints hold them (test_resumed_fit_equals_uninterrupted_fit).
    with pytest.raises(_Interrupt):
        _fit(
            tmp_path,
            extra=[_InterruptAt(EPOCHS - 1)],
            patience=EPOCHS,
            keep_final_checkpoint=keep_final_checkpoint,
        )
    _, state = read_checkpoint(tmp_path / "backup" / CHECKPOINT_FILE)
    assert (state["epoch"], state["step"], state["finished"]) == (EPOCHS, 0, False)
    assert ("optimizer_variables" in state) == (keep_final_checkpoint is True)
    resumed, history, _, record = _fit(
        tmp_path, patience=EPOCHS, keep_final_checkpoint=keep_final_checkpoint
    )
    assert record.epochs == []
    _assert_same_variables(resumed.variables, uninterrupted["variables"])
    assert history == uninterrupted["history"]
    if keep_final_checkpoint is True:
        _assert_same_variables(
            resumed.optimizer.variables, uninterrupted["optimizer_variables"]
        )


def test_dropout_seed_state_is_restored(uninterrupted, tmp_path):
    resumed, _, _, _ = _interrupted_then_resumed(
        tmp_path, epoch=1, batch=1, patience=EPOCHS
    )
    seeds = [v for v in resumed.variables if "seed_generator" in v.path]
    assert seeds
    _assert_same_variables(seeds, uninterrupted["seed_states"])


def test_epoch_order_depends_on_seed_and_epoch_only():
    assert epoch_seed(0, 3) == epoch_seed(0, 3)
    seeds = {epoch_seed(seed, epoch) for seed in range(5) for epoch in range(5)}
    assert len(seeds) == 25
    first = [int(y) for _, y in _make_dataset(2).unbatch()]
    assert first == [int(y) for _, y in _make_dataset(2).unbatch()]
    assert first != [int(y) for _, y in _make_dataset(3).unbatch()]


@pytest.mark.parametrize("interrupted", [False, True])
def test_each_epoch_data_is_made_once(tmp_path, interrupted):
    # Making a dataset may tokenize every text: epoch 0's data is the one
    # made for the element spec, and a resumed run makes only its epochs'.
    made = []

    def make_dataset(epoch):
        made.append(epoch)
        return _make_dataset(epoch)

    def fit(extra=()):
        resumable = ResumableTraining(tmp_path, verbose=0)
        _model().fit(
            resumable.epoch_dataset(make_dataset),
            epochs=3,
            verbose=0,
            callbacks=[resumable, *extra],
        )

    if interrupted:
        with pytest.raises(_Interrupt):
            fit([_InterruptAt(1)])
        assert made == [0, 1]
        made.clear()
    fit()
    # The resumed fit makes epoch 0's data for the element spec only.
    assert made == ([0, 2] if interrupted else [0, 1, 2])


def test_fit_knows_each_epochs_length_from_the_first(tmp_path):
    resumable = ResumableTraining(tmp_path, verbose=0)
    record = _Record()
    dataset = resumable.epoch_dataset(_make_dataset)
    batches = int(_make_dataset(0).cardinality())
    assert batches > 0 and int(dataset.cardinality()) == batches
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        _model().fit(dataset, epochs=2, verbose=0, callbacks=[resumable, record])
    # Keras warned of running out of data when the callback ended an epoch
    # whose length it did not know.
    assert not [w for w in caught if "ran out of data" in str(w.message)]
    assert sorted(record.learning_rates) == list(range(1, 2 * batches))


class _PoisonWeights(keras.callbacks.Callback):
    """Puts a NaN into the first kernel after the given global step."""

    def __init__(self, step):
        super().__init__()
        self.step = step

    def on_train_batch_end(self, batch, logs=None):
        if int(self.model.optimizer.iterations) == self.step:
            kernel = self.model.weights[0]
            kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_non_finite_weights_are_never_checkpointed(tmp_path):
    model = _model()
    resumable = ResumableTraining(tmp_path, save_freq=1, verbose=0)
    x, y = _data()
    with pytest.raises(FloatingPointError, match=r"by step 3 \(epoch 1, batch 3\)"):
        model.fit(
            resumable.epoch_dataset(_make_dataset),
            epochs=2,
            verbose=0,
            callbacks=[_PoisonWeights(3), resumable],
        )
    arrays, state = read_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert state["global_step"] == 2
    assert all(np.isfinite(a).all() for a in arrays.values() if a.dtype.kind == "f")


def test_non_finite_loss_stops_at_its_step(tmp_path):
    # Batch 3 of epoch 1 (global step 3) holds an infinite feature.
    x, y = _data()
    x = x.copy()
    x[17, 0] = np.inf
    # Without autotuning: `info` holds the fit's frames until the garbage
    # collector frees them, and freeing an autotuned iterator can wait up to
    # 60 s for tf.data's thread (`tftransformer.data._autotune`).
    dataset = without_autotuning(tf.data.Dataset.from_tensor_slices((x, y)).batch(8))
    model = _model()
    resumable = ResumableTraining(tmp_path, save_freq=1, verbose=0)
    with pytest.raises(FloatingPointError) as info:
        model.fit(
            dataset,
            epochs=2,
            verbose=0,
            callbacks=[StopOnNonFiniteLoss(), resumable],
        )
    assert "at step 3 (epoch 1, batch 3)" in str(info.value)
    _, state = read_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert (state["epoch"], state["step"]) == (0, 2)


def test_checkpoint_of_other_settings_is_refused(tmp_path):
    model = _model()
    x, y = _data()
    first = ResumableTraining(tmp_path, run_config={"epochs": 3}, verbose=0)
    with pytest.raises(_Interrupt):
        model.fit(x, y, epochs=2, verbose=0, callbacks=[first, _InterruptAt(0)])
    second = ResumableTraining(tmp_path, run_config={"epochs": 4}, verbose=0)
    with pytest.raises(ValueError, match="epochs: 3 then, 4 now"):
        _model().fit(x, y, epochs=2, verbose=0, callbacks=[second])


def test_checkpoint_of_another_model_is_refused(tmp_path):
    x, y = _data()
    with pytest.raises(_Interrupt):
        _model().fit(
            x,
            y,
            epochs=2,
            verbose=0,
            callbacks=[ResumableTraining(tmp_path, verbose=0), _InterruptAt(0)],
        )
    inputs = keras.Input((6,))
    hidden = keras.layers.Dropout(0.3)(keras.layers.Dense(16)(inputs))
    other = keras.Model(inputs, keras.layers.Dense(3)(hidden))
    other.compile(optimizer="adam", loss=classification_loss())
    with pytest.raises(
        ValueError, match=r"does not fit this model.*\(16, 2\).*\(16, 3\)"
    ):
        other.fit(
            x,
            y,
            epochs=1,
            verbose=0,
            callbacks=[ResumableTraining(tmp_path, verbose=0)],
        )


def test_finished_run_keeps_a_final_checkpoint_and_trains_no_more(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[ResumableTraining(tmp_path, keep_final_checkpoint=True, verbose=0)],
    )
    _, state = read_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert state["finished"]
    again = _model()
    record = _Record()
    again.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[
            ResumableTraining(tmp_path, keep_final_checkpoint=True, verbose=0),
            record,
        ],
    )
    assert record.epochs == []
    _assert_same_variables(again.variables, model.variables)
    _assert_same_variables(again.optimizer.variables, model.optimizer.variables)


def test_a_final_checkpoint_of_weights_only_holds_no_optimizer_slots(tmp_path):
    x, y = _data()
    model = _model()
    model.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[
            ResumableTraining(tmp_path, keep_final_checkpoint="weights", verbose=0)
        ],
    )
    _, state = read_checkpoint(tmp_path / CHECKPOINT_FILE)
    assert state["finished"]
    assert "optimizer_variables" not in state
    again = _model()
    record = _Record()
    again.fit(
        x,
        y,
        epochs=2,
        verbose=0,
        callbacks=[
            ResumableTraining(tmp_path, keep_final_checkpoint="weights", verbose=0),
            record,
        ],
    )
    assert record.epochs == []
    _assert_same_variables(again.variables, model.variables)


def test_keep_final_checkpoint_takes_false_true_or_weights(tmp_path):
    with pytest.raises(ValueError, match="keep_final_checkpoint=.optimizer."):
        ResumableTraining(tmp_path, keep_final_checkpoint="optimizer")


class _Clock(keras.callbacks.Callback):
    """A fake clock for `ResumableTraining`: one second per trained batch."""

    def __init__(self):
        super().__init__()
        self.now = 0.0

    def on_train_batch_end(self, batch, logs=None):
        self.now += 1.0


def test_train_seconds_add_up_over_resumes(tmp_path, monkeypatch):
    clock = _Clock()
    monkeypatch.setattr(
        resumable_training, "time", types.SimpleNamespace(monotonic=lambda: clock.now)
    )

    def fit(extra=()):
        resumable = ResumableTraining(tmp_path, keep_final_checkpoint=True, verbose=0)
        _model().fit(
            resumable.epoch_dataset(_make_dataset),
            epochs=EPOCHS,
            verbose=0,
            # The clock first, so that a save sees its batch counted.
            callbacks=[clock, resumable, *extra],
        )
        return resumable

    with pytest.raises(_Interrupt):
        fit([_InterruptAt(2)])
    # 3 epochs before the kill, 2 after it: all counted.
    assert fit().train_seconds == EPOCHS * STEPS_PER_EPOCH
    # A finished run trains no more and keeps its time.
    assert fit().train_seconds == EPOCHS * STEPS_PER_EPOCH


def test_finished_run_deletes_its_checkpoint_by_default(tmp_path):
    x, y = _data()
    _model().fit(
        x, y, epochs=1, verbose=0, callbacks=[ResumableTraining(tmp_path / "b")]
    )
    assert not os.path.exists(tmp_path / "b")


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"save_freq": 0}, "save_freq=0"),
        ({"save_freq": "batch"}, "save_freq='batch'"),
        ({"early_stopping": "yes"}, "early_stopping='yes'"),
        ({"run_config": ["epochs", 3]}, r"\['epochs', 3\]"),
    ],
)
def test_bad_arguments_are_refused(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        ResumableTraining(tmp_path, **kwargs)
