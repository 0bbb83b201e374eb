import keras
import numpy as np
import pytest

from tftransformer.finetune import TimeBudget


@pytest.mark.parametrize("minutes", [0, -1, True, "5"])
def test_bad_budget_is_refused(minutes):
    with pytest.raises(ValueError, match="minutes must be a number > 0"):
        TimeBudget(minutes)


@pytest.mark.parametrize("minutes, epochs_run", [(1e-6, 1), (60, 3)])
def test_budget_stops_after_the_epoch_that_would_overrun(minutes, epochs_run):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    history = model.fit(
        np.ones((8, 3)),
        np.zeros(8),
        epochs=3,
        verbose=0,
        callbacks=[TimeBudget(minutes)],
    )
    assert len(history.history["loss"]) == epochs_run
