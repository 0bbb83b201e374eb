import re

import keras
import numpy as np
import pytest

from tftransformer.training import (
    ResumableTraining,
    TimeBudget,
)
from tftransformer.training.checkpointing import (
    CHECKPOINT_FILE,
    read_checkpoint,
    write_checkpoint,
)


@pytest.mark.parametrize("minutes", [0, -1, True, "5"])
def test_bad_budget_is_refused(minutes):
    message = f"minutes must be a finite number > 0. Received: minutes={minutes!r}"
    with pytest.raises(ValueError, match=re.escape(message)):
        TimeBudget(minutes)


def test_resumable_must_be_a_resumable_training():
    with pytest.raises(ValueError, match="resumable must be None or a Resumable"):
        TimeBudget(5, resumable=keras.callbacks.EarlyStopping())


def _model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


@pytest.mark.parametrize("minutes, epochs_run", [(1e-6, 1), (60, 3)])
def test_budget_stops_after_the_epoch_that_would_overrun(minutes, epochs_run):
    history = _model().fit(
        np.ones((8, 3)),
        np.zeros(8),
        epochs=3,
        verbose=0,
        callbacks=[TimeBudget(minutes)],
    )
    assert len(history.history["loss"]) == epochs_run


class _Interrupt(Exception):
    pass


class _InterruptAfterFirstEpoch(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise _Interrupt


def _resume_after_one_epoch(tmp_path, train_seconds, minutes, whole_run=True):
    """Kills a fit after its first epoch, records `train_seconds` of training
    in its checkpoint, resumes with a `minutes` budget and returns
    `(history, resumable)` of the resumed fit of up to 4 epochs."""
    x, y = np.ones((8, 3)), np.zeros(8)
    model = _model()
    with pytest.raises(_Interrupt):
        model.fit(
            x,
            y,
            epochs=4,
            verbose=0,
            callbacks=[ResumableTraining(tmp_path), _InterruptAfterFirstEpoch()],
        )
    path = tmp_path / CHECKPOINT_FILE
    arrays, state = read_checkpoint(path)
    write_checkpoint(path, arrays, {**state, "train_seconds": float(train_seconds)})

    resumable = ResumableTraining(tmp_path, verbose=0)
    budget = TimeBudget(minutes, resumable=resumable if whole_run else None)
    # The budget first: the order the examples use.
    history = _model().fit(x, y, epochs=4, verbose=0, callbacks=[budget, resumable])
    return history, resumable


# A run killed after an hour of training, resumed with a 30-minute budget:
# the budget is spent, so the resumed fit stops after its first epoch. A
# budget that ignores the run's earlier time would let it train all 4.
@pytest.mark.parametrize("whole_run, epochs_run", [(True, 2), (False, 4)])
def test_a_resumed_run_does_not_get_a_fresh_budget(tmp_path, whole_run, epochs_run):
    history, resumable = _resume_after_one_epoch(tmp_path, 3600, 30, whole_run)
    assert len(history.history["loss"]) == epochs_run
    assert resumable.train_seconds > 3600


# 45 minutes for the first epoch, then a resumed epoch that took no time
# (as the rest of an epoch checkpointed midway can): 15 minutes of a
# 60-minute budget are left, less than the run's mean epoch of 22.5, so it
# stops. Judged by the resumed fit's own epochs (milliseconds) it went on.
@pytest.mark.parametrize("seconds, epochs_run", [(45 * 60, 2), (35 * 60, 4)])
def test_a_resumed_run_estimates_the_next_epoch_from_the_whole_run(
    tmp_path, seconds, epochs_run
):
    history, _ = _resume_after_one_epoch(tmp_path, seconds, 60)
    assert len(history.history["loss"]) == epochs_run
