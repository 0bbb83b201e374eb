"""`TextRegressor` standardizes its targets itself."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer.models import TextRegressor

TEXTS = ["a fine film", "a dull film", "great acting", "a boring plot"]
# Two targets in units far from standardized ones.
TARGETS = np.array([[70.0, 0.3], [30.0, 0.1], [65.0, 0.25], [35.0, 0.05]], "float32")


@pytest.mark.parametrize("layout", ["arrays", "dataset"])
def test_fit_and_evaluate_take_targets_in_their_own_units(
    small_vocabulary_preset, layout
):
    regressor = TextRegressor.from_preset(
        small_vocabulary_preset,
        num_targets=2,
        target_mean=[50.0, 0.2],
        target_std=[20.0, 0.1],
        dropout=0.0,
        sequence_length=16,
    )
    # A step that moves nothing, without dropout: fit's loss is the loss of
    # these weights.
    for layer in regressor.backbone._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    regressor.compile(optimizer=keras.optimizers.SGD(0.0))
    outputs = regressor.predict(TEXTS, verbose=0)
    mean, std = regressor.standardization()
    standardized = (TARGETS - mean) / std
    expected_loss = float(np.mean((outputs - standardized) ** 2))
    expected_mae = float(np.mean(np.abs(outputs - standardized)))
    if layout == "arrays":
        data = {"x": TEXTS, "y": TARGETS, "batch_size": 4}
    else:
        dataset = tf.data.Dataset.from_tensor_slices((TEXTS, TARGETS)).batch(4)
        data = {"x": dataset}
    history = regressor.fit(**data, shuffle=False, verbose=0).history
    assert history["loss"][0] == pytest.approx(expected_loss, rel=1e-4)
    assert history["mae"][0] == pytest.approx(expected_mae, rel=1e-4)
    loss, mae = regressor.evaluate(**data, verbose=0)
    assert (loss, mae) == pytest.approx((expected_loss, expected_mae), rel=1e-4)
    # The outputs are standardized units; predict_targets gives the targets'.
    np.testing.assert_allclose(
        regressor.predict_targets(TEXTS), outputs * std + mean, rtol=1e-5
    )


def _huber(errors):
    errors = np.abs(errors)
    return float(np.mean(np.where(errors <= 1.0, 0.5 * errors**2, errors - 0.5)))


def test_the_huber_loss_is_compiled_from_preset_and_after_a_reload(
    small_vocabulary_preset, tmp_path
):
    # keras-hub compiles its tasks with their defaults when made: the model
    # trained with the mean squared error until compiled again.
    regressor = TextRegressor.from_preset(
        small_vocabulary_preset, num_targets=2, sequence_length=16, loss="huber"
    )
    expected = _huber(regressor.predict(TEXTS, verbose=0) - TARGETS)
    loss, _ = regressor.evaluate(TEXTS, TARGETS, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-4)
    regressor.save_to_preset(tmp_path / "preset")
    reloaded = TextRegressor.from_preset(tmp_path / "preset")
    loss, _ = reloaded.evaluate(TEXTS, TARGETS, verbose=0)
    assert loss == pytest.approx(expected, rel=1e-4)


def test_one_target_given_by_column_or_alone_in_memory_and_in_datasets(
    small_vocabulary_preset,
):
    # The step traced for in-memory targets was traced again for a
    # dataset's (batch,) ones, of unknown rank, which Keras' losses refused.
    regressor = TextRegressor.from_preset(
        small_vocabulary_preset, num_targets=1, sequence_length=16, dropout=0.0
    )
    for layer in regressor.backbone._flatten_layers():
        if isinstance(layer, keras.layers.Dropout):
            layer.rate = 0.0
    regressor.compile(optimizer=keras.optimizers.SGD(0.0))
    targets = TARGETS[:, 0]
    expected = float(
        np.mean((regressor.predict(TEXTS, verbose=0)[:, 0] - targets) ** 2)
    )
    batches = tf.data.Dataset.from_tensor_slices((TEXTS, targets)).batch(4)
    losses = [
        regressor.fit(TEXTS, targets, batch_size=4, verbose=0).history["loss"][0],
        regressor.fit(batches, verbose=0).history["loss"][0],
        regressor.evaluate(batches, verbose=0)[0],
        regressor.evaluate(TEXTS, targets[:, None], verbose=0)[0],
    ]
    assert losses == pytest.approx([expected] * 4, rel=1e-4)


def test_target_names_are_checked_as_such(small_vocabulary_preset):
    # The message named label_names and class ids, which a regressor has not.
    with pytest.raises(
        ValueError, match=r"target_names must hold 2 .* one per target\. .*'valence'"
    ):
        TextRegressor.from_preset(
            small_vocabulary_preset, num_targets=2, target_names=["valence"]
        )
