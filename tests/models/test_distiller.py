import warnings

import keras
import numpy as np
import pytest

from tftransformer.models import Distiller, TextClassifier
from tftransformer.testing import run_model_test, tiny_bert_backbone

X = np.array(
    [[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.0, 0.8, 0.1], [0.0, 1.2, 1.1]],
    "float32",
)
Y = np.array([2, 0, 1, 1])


def linear(seed, num_classes=3, dropout=0.0, name=None):
    inputs = keras.Input((3,), name="features")
    x = keras.layers.Dropout(dropout, seed=seed)(inputs)
    logits = keras.layers.Dense(
        num_classes,
        kernel_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed),
        bias_initializer=keras.initializers.RandomNormal(stddev=1.0, seed=seed + 1),
        name="logits",
    )(x)
    return keras.Model(inputs, logits, name=name)


def dense_weights(model):
    kernel, bias = model.get_layer("logits").get_weights()
    return kernel.astype("float64"), bias.astype("float64")


def log_softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def expected_loss(teacher, student, temperature, alpha, sample_weight=None):
    """The distillation loss in float64 NumPy from the models' weights."""
    t_kernel, t_bias = dense_weights(teacher)
    s_kernel, s_bias = dense_weights(student)
    teacher_logits = X @ t_kernel + t_bias  # teacher dropout off
    student_logits = X @ s_kernel + s_bias
    p_teacher = np.exp(log_softmax(teacher_logits / temperature))
    kl = np.sum(
        p_teacher
        * (
            log_softmax(teacher_logits / temperature)
            - log_softmax(student_logits / temperature)
        ),
        axis=-1,
    )
    ce = -log_softmax(student_logits)[np.arange(len(Y)), Y]
    w = np.ones(len(Y)) if sample_weight is None else sample_weight
    # Keras' default reduction: the weighted sum over the batch size.
    soft = np.sum(kl * w) / len(Y) * temperature**2
    hard = np.sum(ce * w) / len(Y)
    return alpha * soft + (1 - alpha) * hard


@pytest.mark.parametrize("temperature, alpha", [(2.0, 0.5), (4.0, 0.9), (1.0, 1.0)])
def test_loss_matches_numpy(temperature, alpha):
    # A heavy teacher dropout would change every soft target if it ran.
    teacher = linear(seed=1, dropout=0.9)
    student = linear(seed=2)
    distiller = Distiller(teacher, student, temperature=temperature, alpha=alpha)
    distiller.compile(optimizer="sgd")
    loss = distiller.compute_loss(
        x=X, y=Y, y_pred=distiller(X, training=True), training=True
    )
    expected = expected_loss(teacher, student, temperature, alpha)
    np.testing.assert_allclose(float(loss), expected, rtol=1e-5)
    # Keras' own evaluation path reports the same number.
    reported = distiller.evaluate(X, Y, batch_size=4, verbose=0)
    np.testing.assert_allclose(reported, expected, rtol=1e-5)


def test_sample_weights_weight_both_terms():
    teacher, student = linear(seed=1), linear(seed=2)
    distiller = Distiller(teacher, student, temperature=3.0, alpha=0.3)
    distiller.compile(optimizer="sgd")
    weights = np.array([1.0, 0.0, 2.0, 0.5])
    loss = distiller.compute_loss(
        x=X, y=Y, y_pred=distiller(X), sample_weight=weights, training=True
    )
    np.testing.assert_allclose(
        float(loss), expected_loss(teacher, student, 3.0, 0.3, weights), rtol=1e-5
    )


def test_fit_trains_the_student_only_and_reports_student_metrics():
    teacher, student = linear(seed=1, dropout=0.5), linear(seed=2)
    teacher_before = [w.copy() for w in teacher.get_weights()]
    student_before = [w.copy() for w in student.get_weights()]
    distiller = Distiller(teacher, student)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5), metrics=["accuracy"])
    assert not distiller.teacher.trainable
    assert {id(w) for w in distiller.trainable_weights} == {
        id(w) for w in student.trainable_weights
    }
    history = distiller.fit(X, Y, batch_size=2, epochs=2, verbose=0)
    for before, after in zip(teacher_before, teacher.get_weights()):
        np.testing.assert_array_equal(after, before)
    assert any(
        not np.array_equal(b, a) for b, a in zip(student_before, student.get_weights())
    )
    # Accuracy is the student's: recompute it from the student's predictions.
    accuracy = distiller.evaluate(X, Y, verbose=0, return_dict=True)["accuracy"]
    predicted = np.argmax(student.predict(X, verbose=0), axis=-1)
    assert accuracy == pytest.approx(np.mean(predicted == Y))
    assert set(history.history) == {"loss", "accuracy"}


def test_alpha_zero_is_plain_cross_entropy_training():
    teacher = linear(seed=1)
    distilled, plain = linear(seed=2), linear(seed=2)
    distiller = Distiller(teacher, distilled, alpha=0.0)
    distiller.compile(optimizer=keras.optimizers.SGD(0.5))
    plain.compile(
        optimizer=keras.optimizers.SGD(0.5),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    distiller.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    plain.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    for a, b in zip(distilled.get_weights(), plain.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    assert not np.allclose(distilled.get_weights()[0], linear(seed=2).get_weights()[0])


def test_alpha_one_step_follows_the_soft_target_gradient():
    # d(T^2 * KL) / d student_logits = T * (p_student - p_teacher) at
    # temperature T, averaged over the batch.
    temperature, lr = 2.0, 0.5
    teacher, student = linear(seed=1), linear(seed=2)
    t_kernel, t_bias = dense_weights(teacher)
    s_kernel, s_bias = dense_weights(student)
    p_teacher = np.exp(log_softmax((X @ t_kernel + t_bias) / temperature))
    p_student = np.exp(log_softmax((X @ s_kernel + s_bias) / temperature))
    grad_logits = temperature * (p_student - p_teacher) / len(X)
    distiller = Distiller(teacher, student, temperature=temperature, alpha=1.0)
    distiller.compile(optimizer=keras.optimizers.SGD(lr))
    distiller.fit(X, Y, batch_size=4, epochs=1, shuffle=False, verbose=0)
    kernel, bias = dense_weights(student)
    np.testing.assert_allclose(kernel, s_kernel - lr * X.T @ grad_logits, atol=1e-5)
    np.testing.assert_allclose(bias, s_bias - lr * grad_logits.sum(0), atol=1e-5)


def tiny_text_classifier(num_layers, dtype=None):
    backbone = tiny_bert_backbone(
        num_layers=num_layers, max_sequence_length=16, dtype=dtype
    )
    return TextClassifier(backbone, num_classes=3)


def test_distiller_contract(tmp_path):
    def build(dtype=None):
        return Distiller(
            tiny_text_classifier(2, dtype),
            tiny_text_classifier(1, dtype),
            temperature=3.0,
            alpha=0.25,
        )

    features = {
        "token_ids": np.array([[2, 7, 9, 3, 0], [2, 5, 6, 8, 3]], "int32"),
        "segment_ids": np.zeros((2, 5), "int32"),
        "padding_mask": np.array([[1, 1, 1, 1, 0], [1, 1, 1, 1, 1]], "int32"),
    }
    run_model_test(build, features, tmp_path, (2, 3))


def test_saved_distiller_keeps_its_settings(tmp_path):
    distiller = Distiller(linear(seed=1), linear(seed=2), temperature=3.0, alpha=0.25)
    distiller.compile(optimizer="sgd")
    path = str(tmp_path / "distiller.keras")
    with warnings.catch_warnings():
        # Not "You are saving a model that has not yet been built".
        warnings.simplefilter("error", UserWarning)
        distiller.save(path)
    reloaded = keras.saving.load_model(path)
    assert (reloaded.temperature, reloaded.alpha) == (3.0, 0.25)
    assert not reloaded.teacher.trainable and reloaded.student.trainable
    np.testing.assert_allclose(
        reloaded.compute_loss(x=X, y=Y, y_pred=reloaded(X)),
        distiller.compute_loss(x=X, y=Y, y_pred=distiller(X)),
        rtol=1e-6,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "temperature=0"),
        ({"temperature": -1.0}, "temperature=-1.0"),
        ({"temperature": "2"}, "temperature='2'"),
        ({"alpha": 1.5}, "alpha=1.5"),
        ({"alpha": -0.1}, "alpha=-0.1"),
        ({"alpha": None}, "alpha=None"),
    ],
)
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Distiller(linear(seed=1), linear(seed=2), **kwargs)


def test_mismatched_or_shared_models_are_refused():
    teacher = linear(seed=1)
    with pytest.raises(ValueError, match="3 outputs, student with 2"):
        Distiller(teacher, linear(seed=2, num_classes=2))
    with pytest.raises(ValueError, match="two different models"):
        Distiller(teacher, teacher)
    with pytest.raises(ValueError, match="student must be a keras.Model"):
        Distiller(teacher, keras.layers.Dense(3))
