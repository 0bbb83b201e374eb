import keras
import numpy as np
import pytest

from tftransformer.finetune import create_optimizer


def _train(accumulation_steps, batch_size, fused):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, 5)).astype("float32")
    y = rng.normal(size=(32, 1)).astype("float32")
    keras.utils.set_random_seed(1)
    model = keras.Sequential(
        [
            keras.Input((5,)),
            keras.layers.Dense(3, activation="tanh"),
            keras.layers.Dense(1),
        ]
    )
    optimizer = create_optimizer(
        1e-2,
        num_train_steps=2,
        warmup_fraction=0.5,
        fused=fused,
        gradient_accumulation_steps=accumulation_steps,
    )
    model.compile(optimizer, "mse")
    model.fit(x, y, batch_size=batch_size, epochs=1, shuffle=False, verbose=0)
    return model.get_weights(), int(optimizer.iterations.numpy())


@pytest.mark.parametrize("fused", [True, False])
def test_k_batches_accumulated_equal_one_batch_k_times_larger(fused):
    # Two updates: the warmup step and the decay step of the schedule.
    whole, whole_updates = _train(1, 16, fused)
    accumulated, accumulated_updates = _train(4, 4, fused)
    assert whole_updates == accumulated_updates == 2
    for a, b in zip(whole, accumulated):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("steps", [0, 1.5, "2"])
def test_bad_accumulation_steps_are_refused(steps):
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        create_optimizer(1e-3, 10, gradient_accumulation_steps=steps)
