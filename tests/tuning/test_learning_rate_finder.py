import keras
import numpy as np
import pytest
import tensorflow as tf

from tftransformer import finetune
from tftransformer.tuning import (
    LearningRateFinderResult,
    find_learning_rate,
    suggest_learning_rate,
)

# Least squares, 2 batches of the same 4 inputs: loss(w) = mean((X w - y)^2)
# has, on either batch, the Hessian 2 X^T X / 4 = diag(2 * 8 / 4, 2 * 2 / 4)
# = diag(4, 1). Gradient descent converges for a learning rate below
# 2 / lambda_max = 0.5 and diverges above it. The two batches' targets
# differ (by X d and -X d), so that their gradients never both vanish and
# float32 rounding cannot park the weights on an exact fixed point; d is
# chosen so that both batches start with the same loss (d^T X^T X w = 0).
X = np.array([[2.0, 0.0], [-2.0, 0.0], [0.0, 1.0], [0.0, -1.0]], "float32")
W = np.array([1.0, 1.0], "float32")
D = np.array([0.05, -0.2], "float32")
LAMBDA_MAX = 4.0


def linear_regression(optimizer):
    inputs = keras.Input((2,))
    outputs = keras.layers.Dense(1, use_bias=False, kernel_initializer="zeros")(inputs)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer, loss="mse")
    return model


def full_batches():
    features = np.concatenate([X, X])
    targets = np.concatenate([X @ (W + D), X @ (W - D)])[:, None]
    return tf.data.Dataset.from_tensor_slices((features, targets)).batch(4)


def test_hessian_by_hand():
    hessian = 2 * X.T @ X / len(X)
    assert np.linalg.eigvalsh(hessian).max() == pytest.approx(LAMBDA_MAX)
    assert float((X @ (W + D)) @ (X @ (W + D))) == pytest.approx(
        float((X @ (W - D)) @ (X @ (W - D)))
    )


def test_suggestion_lies_before_divergence_on_least_squares():
    model = linear_regression(keras.optimizers.SGD(learning_rate=0.01))
    result = find_learning_rate(
        model, full_batches(), min_lr=1e-4, max_lr=10.0, num_steps=100
    )
    assert isinstance(result, LearningRateFinderResult)
    # The loss blew up after the rate crossed 2 / lambda_max, and the test
    # stopped there, before max_lr.
    assert result.diverged
    assert 2 / LAMBDA_MAX < result.learning_rates[-1] < 10.0
    # Learning rates grew exponentially from min_lr.
    ratios = result.learning_rates[1:] / result.learning_rates[:-1]
    np.testing.assert_allclose(ratios, (10.0 / 1e-4) ** (1 / 99), rtol=1e-9)
    assert result.learning_rates[0] == pytest.approx(1e-4)
    # The suggestion is a rate at which gradient descent converges, in the
    # region where the loss was falling.
    assert 1e-4 < result.suggestion < 2 / LAMBDA_MAX
    at = int(np.argmin(np.abs(result.learning_rates - result.suggestion)))
    assert result.smoothed_losses[at + 1] < result.smoothed_losses[at - 1]
    # The first loss is the loss at w = 0: mean(y^2).
    assert result.losses[0] == pytest.approx(np.mean((X @ (W + D)) ** 2))


def test_restores_weights_and_optimizer_state_exactly():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((3,))
    x = keras.layers.Dense(8, activation="relu")(inputs)
    x = keras.layers.Dropout(0.2)(x)
    outputs = keras.layers.Dense(2)(x)
    model = keras.Model(inputs, outputs)
    model.compile(
        optimizer=finetune.create_optimizer(1e-3, num_train_steps=20),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    rng = np.random.default_rng(0)
    features = rng.normal(size=(32, 3)).astype("float32")
    labels = (features[:, 0] > 0).astype("int32")
    dataset = tf.data.Dataset.from_tensor_slices((features, labels)).batch(8)
    model.fit(dataset, epochs=1, verbose=0)  # Adam moments are non-zero now.
    schedule = model.optimizer._learning_rate
    before = [v.numpy().copy() for v in model.variables]
    before_optimizer = [v.numpy().copy() for v in model.optimizer.variables]
    learning_rate = float(model.optimizer.learning_rate)

    result = find_learning_rate(model, dataset, num_steps=10, max_lr=10.0)
    assert result.num_steps >= 3

    after = [v.numpy() for v in model.variables]
    after_optimizer = [v.numpy() for v in model.optimizer.variables]
    assert len(after) == len(before) and len(after_optimizer) == len(before_optimizer)
    for b, a in zip(before + before_optimizer, after + after_optimizer):
        np.testing.assert_array_equal(a, b)
    assert model.optimizer._learning_rate is schedule
    assert float(model.optimizer.learning_rate) == learning_rate

    # Training goes on exactly as it would have without the test.
    model.fit(dataset, epochs=1, verbose=0)
    resumed = [v.numpy() for v in model.variables]
    for variable, value in zip(model.variables, before):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, before_optimizer):
        variable.assign(value)
    model.fit(dataset, epochs=1, verbose=0)
    for a, b in zip(resumed, [v.numpy() for v in model.variables]):
        np.testing.assert_array_equal(a, b)


def test_float_learning_rate_is_restored():
    model = linear_regression(keras.optimizers.SGD(learning_rate=0.01))
    find_learning_rate(model, full_batches(), num_steps=5)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)
    np.testing.assert_array_equal(model.weights[0].numpy(), np.zeros((2, 1)))


def test_unbuilt_optimizer_ends_fresh():
    model = linear_regression(keras.optimizers.Adam(learning_rate=0.01))
    find_learning_rate(model, full_batches(), num_steps=5)
    assert int(model.optimizer.iterations) == 0
    for variable in model.optimizer.variables:
        if "learning_rate" not in variable.path:
            np.testing.assert_array_equal(variable.numpy(), 0)


def test_plot_and_json(tmp_path):
    pytest.importorskip("matplotlib")
    model = linear_regression(keras.optimizers.SGD(learning_rate=0.01))
    result = find_learning_rate(model, full_batches(), min_lr=1e-3, num_steps=20)
    assert (tmp_path / "lr.png").exists() is False
    result.plot(tmp_path / "lr.png")
    assert (tmp_path / "lr.png").stat().st_size > 0
    result.to_json(tmp_path / "lr.json")
    assert "suggestion" in (tmp_path / "lr.json").read_text()


def test_suggest_learning_rate():
    assert suggest_learning_rate([1e-4, 1e-3, 1e-2, 1e-1], [1.0, 0.9, 0.3, 0.25]) == (
        pytest.approx(1e-3)
    )
    assert suggest_learning_rate([1e-3, 1e-2], [1.0, 0.5]) is None
    # The minimum comes first: nothing falls.
    assert suggest_learning_rate([1e-3, 1e-2, 1e-1], [0.1, 0.5, 0.9]) is None
    # The steepest drop ends at the lowest loss: the lowest is not suggested.
    rates = [1e-4, 1e-3, 1e-2, 1e-1, 1.0]
    assert suggest_learning_rate(rates, [1.0, 0.99, 0.98, 0.5, 0.6]) == (
        pytest.approx(1e-2)
    )
    # A noisy first step's drop is no suggestion (it was the first rate
    # tried, 1e-7, from the embedded model's curve): the first tenth is
    # skipped.
    rates = np.geomspace(1e-7, 1.0, 20)
    losses = [0.8, 0.69, 0.69, 0.68, 0.68, 0.69, 0.69, 0.69, 0.69, 0.69]
    losses += [0.69, 0.68, 0.66, 0.62, 0.58, 0.56, 0.57, 0.7, 0.9, 1.2]
    assert suggest_learning_rate(rates, losses) == pytest.approx(rates[13])
    # With the lowest among the first tenth, nothing is suggested.
    assert suggest_learning_rate(rates, [0.9, 0.7, 0.6] + [0.8] * 17) is None


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_lr": 0.0}, "min_lr=0.0"),
        ({"max_lr": 1e-8}, "max_lr=1e-08"),
        ({"max_lr": float("inf")}, "max_lr=inf"),
        ({"max_lr": np.float32("inf")}, r"max_lr=np.float32\(inf\)"),
        ({"min_lr": float("inf")}, "min_lr=inf"),
        ({"num_steps": 2}, "num_steps=2"),
        ({"smoothing": 1.0}, "smoothing=1.0"),
        ({"divergence_factor": 1}, "divergence_factor=1"),
    ],
)
def test_bad_arguments(kwargs, message):
    model = linear_regression(keras.optimizers.SGD())
    with pytest.raises(ValueError, match=message):
        find_learning_rate(model, full_batches(), **kwargs)


def test_a_dataset_without_batches_is_refused():
    model = linear_regression(keras.optimizers.SGD(0.01))
    weights = [v.numpy() for v in model.variables]
    empty = full_batches().take(0)
    with pytest.raises(ValueError, match="dataset yields no batches"):
        find_learning_rate(model, empty)
    # Also when its emptiness is only known by reading it.
    filtered = full_batches().filter(lambda x, y: tf.reduce_all(x > 100.0))
    with pytest.raises(ValueError, match="dataset yields no batches"):
        find_learning_rate(model, filtered)
    for variable, value in zip(model.variables, weights):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_needs_compiled_model_and_dataset():
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compile"):
        find_learning_rate(model, full_batches())
    model.compile("sgd", "mse")
    with pytest.raises(ValueError, match="tf.data.Dataset"):
        find_learning_rate(model, (X, X @ W))


def test_text_classifier_with_fine_tuning_optimizer(tiny_preset):
    """The wiring of `examples/classify.py --find_lr`, on a tiny preset."""
    from tests.tuning.tiny_splits import tiny_splits
    from tftransformer import data, models, presets

    backbone, preprocessor = presets.load_backbone(tiny_preset, sequence_length=32)
    classifier = models.TextClassifier(
        backbone,
        num_classes=2,
        preprocessor=models.TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=32
        ),
        pooling="mean",
    )
    classifier.compile(
        optimizer=finetune.create_optimizer(
            5e-5, num_train_steps=30, layer_decay=0.9, model=classifier
        ),
        loss=finetune.classification_loss(),
        metrics=["accuracy"],
        run_eagerly=True,
    )
    train, _ = tiny_splits(num_train=32)
    dataset = data.make_classification_dataset(
        list(train.texts), train.labels, preprocessor.tokenizer, 8, max_length=32
    )
    before = [v.numpy().copy() for v in classifier.variables]
    result = find_learning_rate(classifier, dataset, num_steps=12, max_lr=10.0)
    assert result.num_steps >= 3
    assert np.all(np.isfinite(result.losses[:-1]))
    for variable, value in zip(classifier.variables, before):
        np.testing.assert_array_equal(variable.numpy(), value)
    assert int(classifier.optimizer.iterations) == 0
