import keras
import numpy as np
import pytest

from tftransformer.training import EpochWeightsCheckpoint


class _Scores(keras.callbacks.Callback):
    """Logs scripted scores as `val_score`, before the checkpoint reads them."""

    def __init__(self, scores, first_epoch=0):
        super().__init__()
        self.scores = scores
        self.first_epoch = first_epoch

    def on_epoch_end(self, epoch, logs=None):
        logs["val_score"] = self.scores[epoch - self.first_epoch]


def _fit(tmp_path, scores, keep, mode="min", initial_epoch=0):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    checkpoint = EpochWeightsCheckpoint(
        str(tmp_path / "epoch_{epoch:03d}.weights.h5"),
        keep=keep,
        monitor="val_score",
        mode=mode,
    )
    x = np.ones((4, 2), "float32")
    model.fit(
        x,
        x[:, :1],
        epochs=initial_epoch + len(scores),
        initial_epoch=initial_epoch,
        verbose=0,
        callbacks=[_Scores(scores, initial_epoch), checkpoint],
    )
    return sorted(p.name for p in tmp_path.glob("*.weights.h5"))


def _names(*epochs):
    return [f"epoch_{e:03d}.weights.h5" for e in epochs]


@pytest.mark.parametrize(
    "scores, keep, mode, kept",
    [
        ([3.0, 1.0, 2.0, 4.0], 1, "min", (2, 4)),  # the best and the last
        ([3.0, 2.0, 1.0], 1, "min", (3,)),  # the best is the last
        ([3.0, 1.0, 2.0, 4.0], None, "min", (1, 2, 3, 4)),
        ([3.0, 1.0, 2.0, 4.0], 0, "min", (2,)),
        ([3.0, 1.0, 2.0, 4.0], 2, "max", (3, 4)),
        ([1.0, 3.0, 3.0, 2.0], 1, "max", (2, 4)),  # the earliest of equals
        ([float("nan"), 2.0, 1.0], 1, "max", (2, 3)),
    ],
)
def test_checkpoints_are_bounded_to_the_recent_and_the_best(
    tmp_path, scores, keep, mode, kept
):
    assert _fit(tmp_path, scores, keep, mode) == _names(*kept)


def test_a_resumed_run_keeps_the_bound_and_the_earlier_best(tmp_path):
    assert _fit(tmp_path, [1.0, 5.0], keep=1) == _names(1, 2)
    # A new process resumes at epoch 2: the best (epoch 1) is remembered.
    assert _fit(tmp_path, [6.0, 7.0], keep=1, initial_epoch=2) == _names(1, 4)


@pytest.mark.parametrize("keep", [-1, 1.5, "2", True])
def test_a_bad_bound_is_refused(tmp_path, keep):
    with pytest.raises(ValueError, match="keep must be an integer >= 0"):
        EpochWeightsCheckpoint(str(tmp_path / "e_{epoch}.weights.h5"), keep=keep)


def test_weight_files_hold_the_weights_not_the_optimizer_slots(tmp_path):
    from tftransformer.training.checkpointing import save_weights_atomically

    model = keras.Sequential([keras.Input((256,)), keras.layers.Dense(256)])
    model.compile(keras.optimizers.Adam(), "mse")
    x = np.ones((4, 256), "float32")
    model.fit(x, x, verbose=0)
    path = save_weights_atomically(model, tmp_path / "epoch_001.weights.h5")
    weight_bytes = sum(w.numpy().nbytes for w in model.weights)
    # Adam's two slots would make it three times larger.
    assert (tmp_path / "epoch_001.weights.h5").stat().st_size < 1.5 * weight_bytes
    fresh = keras.Sequential([keras.Input((256,)), keras.layers.Dense(256)])
    fresh.load_weights(path)
    for a, b in zip(fresh.weights, model.weights):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    # The model keeps its optimizer and trains on.
    assert model.optimizer.built and model.compiled
    model.fit(x, x, verbose=0)
