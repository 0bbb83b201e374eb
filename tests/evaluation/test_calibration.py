"""Temperature scaling, the expected calibration error and its report."""

import numpy as np
import pytest

from tftransformer.evaluation import (
    ClassificationReport,
    calibration_summary,
    expected_calibration_error,
    fit_temperature,
    plot_reliability_diagram,
    reliability_bins,
)
from tftransformer.evaluation.calibration import MAX_TEMPERATURE, MIN_TEMPERATURE
from tftransformer.testing import identity_logits_model


def overconfident_logits(num_examples=4000, num_classes=3, scale=4.0, seed=0):
    """Logits whose softmax at temperature `scale` is exactly calibrated.

    Labels are drawn from softmax(base); the model reports base * scale, so
    the temperature that calibrates it is `scale`.
    """
    rng = np.random.default_rng(seed)
    base = rng.normal(size=(num_examples, num_classes))
    probabilities = np.exp(base) / np.exp(base).sum(axis=-1, keepdims=True)
    labels = np.array([rng.choice(num_classes, p=p) for p in probabilities])
    return base * scale, labels


@pytest.mark.parametrize("scale", [0.5, 4.0])
def test_fit_temperature_recovers_the_scale_that_calibrates(scale):
    logits, labels = overconfident_logits(scale=scale)
    assert fit_temperature(logits, labels) == pytest.approx(scale, rel=0.1)


def test_fit_temperature_for_independent_sigmoids():
    rng = np.random.default_rng(1)
    base = rng.normal(size=(3000, 4))
    labels = (rng.random(base.shape) < 1 / (1 + np.exp(-base))).astype(int)
    assert fit_temperature(3.0 * base, labels, multi_label=True) == pytest.approx(
        3.0, rel=0.1
    )


def test_per_token_logits_leave_ignored_positions_out():
    # A tagger's (batch, seq, num_tags) logits; -100 marks padding and later
    # word pieces, whose logits here would pull the temperature toward 0.01.
    logits, labels = overconfident_logits(num_examples=3000, scale=4.0)
    logits, labels = logits.reshape(100, 30, 3), labels.reshape(100, 30)
    ignored = np.random.default_rng(2).random(labels.shape) < 0.3
    logits[ignored] = [50.0, -50.0, -50.0]
    labels = np.where(ignored, -100, labels)
    temperature = fit_temperature(logits, labels, ignore_label=-100)
    assert temperature == pytest.approx(4.0, rel=0.15)
    summary = calibration_summary(logits, labels, temperature, ignore_label=-100)
    assert sum(summary["before"]["bins"]["count"]) == int((~ignored).sum())
    assert summary["after"]["nll"] < summary["before"]["nll"]
    assert summary["after"]["ece"] < summary["before"]["ece"]
    assert expected_calibration_error(
        np.exp(logits) / np.exp(logits).sum(-1, keepdims=True),
        labels,
        ignore_label=-100,
    ) == pytest.approx(summary["before"]["ece"])


def test_multi_label_entries_of_ignore_label_are_left_out():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(200, 3)) * 3
    labels = (rng.random((200, 3)) < 1 / (1 + np.exp(-logits / 3))).astype(int)
    unknown = rng.random((200, 3)) < 0.3
    kept_logits, kept_labels = logits[~unknown], labels[~unknown]
    logits[unknown] = np.nan  # Never read.
    labels = np.where(unknown, -100, labels)
    temperature = fit_temperature(logits, labels, multi_label=True, ignore_label=-100)
    assert temperature == pytest.approx(
        fit_temperature(kept_logits[:, None], kept_labels[:, None], multi_label=True)
    )
    assert 2 < temperature < 4.5
    summary = calibration_summary(
        logits, labels, temperature, multi_label=True, ignore_label=-100
    )
    assert summary == calibration_summary(
        kept_logits[:, None], kept_labels[:, None], temperature, multi_label=True
    )


def test_ignored_positions_are_not_checked():
    # Padding may hold anything: only the kept positions must be valid.
    logits = np.array([[[2.0, 0.0], [0.0, 1.0], [np.nan, np.nan]]])
    labels = np.array([[0, 1, -100]])
    assert fit_temperature(logits, labels, ignore_label=-100) == pytest.approx(
        fit_temperature(logits[:, :2], labels[:, :2])
    )
    probabilities = np.array([[[0.9, 0.1], [0.6, 0.4], [3.0, -1.0]]])
    assert expected_calibration_error(
        probabilities, labels, ignore_label=-100
    ) == pytest.approx(0.35)


def test_fit_temperature_on_separable_data_stays_in_range_and_warns():
    # Every example right with a margin: the NLL falls as T goes to 0.
    with pytest.warns(UserWarning, match=r"bound .* 0\.01: .* nearly all, right, and"):
        temperature = fit_temperature([[5.0, 0.0], [0.0, 5.0]], [0, 1])
    assert temperature == 0.01 == MIN_TEMPERATURE
    # Every example wrong: toward infinity.
    with pytest.warns(UserWarning, match=r"bound .* 100: .* on the whole, wrong"):
        temperature = fit_temperature([[0.0, 5.0], [5.0, 0.0]], [0, 1])
    assert temperature == 100 == MAX_TEMPERATURE


def test_expected_calibration_error_by_hand():
    # Confidence 0.9 right, 0.6 wrong, in separate bins: (0.1 + 0.6) / 2.
    ece = expected_calibration_error([[0.9, 0.1], [0.6, 0.4]], [0, 1])
    assert ece == pytest.approx(0.35)
    bins = reliability_bins([[0.9, 0.1], [0.6, 0.4]], [0, 1], num_bins=2)
    assert bins["count"] == [0, 2]
    assert bins["accuracy"] == [None, 0.5]


def test_temperature_scaling_lowers_ece_and_nll_and_keeps_predictions():
    logits, labels = overconfident_logits()
    fit_logits, test_logits = logits[:2000], logits[2000:]
    temperature = fit_temperature(fit_logits, labels[:2000])
    summary = calibration_summary(test_logits, labels[2000:], temperature)
    assert summary["after"]["ece"] < summary["before"]["ece"] / 2
    assert summary["after"]["nll"] < summary["before"]["nll"]
    assert sum(summary["before"]["bins"]["count"]) == 2000


def test_the_report_keeps_calibration_through_json(tmp_path):
    logits, labels = overconfident_logits(num_examples=200)
    summary = calibration_summary(logits, labels, 4.0)
    report = ClassificationReport(np.eye(3, dtype=int) * 5, calibration=summary)
    report.to_json(tmp_path / "report.json")
    again = ClassificationReport.from_json(tmp_path / "report.json")
    assert again.calibration["after"]["ece"] == pytest.approx(summary["after"]["ece"])
    assert "expected calibration error" in again.format()


def test_reliability_diagram_writes_png(tmp_path):
    pytest.importorskip("matplotlib")
    logits, labels = overconfident_logits(num_examples=200)
    path = plot_reliability_diagram(
        calibration_summary(logits, labels, 4.0), tmp_path / "r.png"
    )
    assert path.read_bytes()[:4] == b"\x89PNG"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: fit_temperature([[1.0, 0.0]], [2]), r"ids in \[0, 2\).*labels\[0\]=2"),
        (
            lambda: fit_temperature([[1.0, 0.0], [0.0, 1.0]], [0.0, 1.0]),
            r"integer class ids in \[0, 2\)\. Received: labels of dtype float64",
        ),
        (
            lambda: fit_temperature(
                [[1.0, 0.0]], [[1, -100]], multi_label=True, ignore_label="x"
            ),
            "ignore_label='x'",
        ),
        (lambda: fit_temperature([[1.0, 0.0]], [0, 1]), "one row per label"),
        (
            lambda: fit_temperature([[1.0, 0.0]], [[1, 2]], multi_label=True),
            "must hold 0 or 1",
        ),
        (lambda: calibration_summary([[1.0, 0.0]], [0], 0.0), "temperature=0.0"),
        (
            lambda: fit_temperature([[1.0, 0.0]], [0], ignore_label="pad"),
            "ignore_label='pad'",
        ),
        (
            lambda: fit_temperature([[1.0, 0.0]], [-100], ignore_label=-100),
            "at least one example",
        ),
        (lambda: reliability_bins([[0.5, 0.5]], [0], num_bins=0), "num_bins=0"),
        # Probabilities out of [0, 1] would fall out of every bin.
        (
            lambda: expected_calibration_error(
                [[3.0, -1.0], [0.2, 0.8], [0.7, 0.3]], [0, 1, 1]
            ),
            r"probabilities must be in \[0, 1\] \(softmax outputs, not logits\)\. "
            r"Received: probabilities\[0, 0\]=3\.0",
        ),
        (
            lambda: reliability_bins([[0.2, 0.8], [0.5, -0.5]], [1, 0]),
            r"probabilities\[1, 1\]=-0\.5",
        ),
        (
            lambda: expected_calibration_error([[np.nan, 0.5]], [0]),
            r"probabilities\[0, 0\]=nan",
        ),
        (
            lambda: reliability_bins([[1.5]], [[1]], multi_label=True),
            r"\(sigmoid outputs, not logits\)\. Received: probabilities\[0, 0\]=1\.5",
        ),
        (
            lambda: expected_calibration_error([[0.2, 0.8]], [0, 1]),
            r"probabilities must have shape .* probabilities\.shape=\(1, 2\)",
        ),
        (
            lambda: expected_calibration_error(np.zeros((0, 2)), []),
            "at least one example",
        ),
        (
            lambda: expected_calibration_error(
                np.zeros((0, 2)), np.zeros((0, 2)), multi_label=True
            ),
            "at least one example",
        ),
        (
            lambda: fit_temperature([[np.nan, 0.0], [0.0, 1.0]], [0, 1]),
            r"logits must be finite\. Received: logits\[0, 0\]=nan",
        ),
        (
            lambda: calibration_summary([[np.inf, 0.0]], [0], 1.0),
            r"logits\[0, 0\]=inf",
        ),
        (lambda: ClassificationReport([[1]], calibration={"x": 1}), "calibration="),
    ],
)
def test_bad_input_is_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_calibrate_classifier_sets_the_temperature_evaluation_applies():

    import tftransformer as tft

    logits, labels = overconfident_logits(num_examples=600, scale=3.0)
    model = identity_logits_model(3)  # the logits are its inputs
    with pytest.raises(ValueError, match="`temperature` attribute"):
        tft.training.calibrate_classifier(model, logits, labels)
    model.temperature = 1.0
    temperature = tft.training.calibrate_classifier(model, logits, labels)
    assert model.temperature == temperature == pytest.approx(3.0, rel=0.25)
    report, probabilities = tft.evaluation.evaluate_classifier(model, logits, labels)
    assert report.calibration["temperature"] == temperature
    assert report.calibration["after"]["ece"] < report.calibration["before"]["ece"]
    expected = np.exp(logits / temperature)
    expected /= expected.sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
