"""Temperature scaling and calibration measures of classifier probabilities.

A classifier is calibrated when, of the predictions it makes with
confidence 0.8, about 80% are right. Fine-tuned Transformers are usually
overconfident; temperature scaling (Guo et al., 2017, "On Calibration of
Modern Neural Networks") divides the logits by one scalar `T` fitted on
held-out data. `T` changes no arg-max, so accuracy and F1 stay; only the
probabilities move.

Single-label probabilities come from a softmax over classes; with
`multi_label=True` each logit is an independent sigmoid and each
(example, label) pair counts as one binary prediction. Per-token
predictions (a tagger's `(batch, seq, num_tags)` logits with `(batch, seq)`
labels) count one prediction per position, leaving out the positions
labelled `ignore_label` (padding, `[CLS]`, a word's later pieces).
"""

import warnings

import numpy as np

from tftransformer._arguments import (
    check_binary_array,
    check_ids_below,
    check_int,
    check_positive_number,
    check_real_array,
)

__all__ = [
    "calibration_summary",
    "expected_calibration_error",
    "fit_temperature",
    "reliability_bins",
]

# The range of 1 / T searched; wider than any fine-tuned model needs.
_MIN_INVERSE_TEMPERATURE = 1e-2
_MAX_INVERSE_TEMPERATURE = 1e2
# The bounds of the temperatures `fit_temperature` returns: held-out data
# whose every prediction is right (wrong) would push it toward 0 (infinity).
MIN_TEMPERATURE = 1.0 / _MAX_INVERSE_TEMPERATURE
MAX_TEMPERATURE = 1.0 / _MIN_INVERSE_TEMPERATURE


def _check_logits_and_labels(
    logits, labels, multi_label, ignore_label=None, name="logits"
):
    """Checks and flattens `logits` (or, with `name="probabilities"`, the
    probabilities they give) and their `labels`; returns both as float64 /
    int64 (0/1 float64 with `multi_label`) arrays, one row per prediction."""
    labels = np.asarray(labels)
    if ignore_label is not None:
        check_int("ignore_label", ignore_label, what=" or None")
    if name == "logits":
        bounds = {}
    else:
        output = "sigmoid" if multi_label else "softmax"
        bounds = {
            "minimum": 0,
            "maximum": 1,
            "what": f" ({output} outputs, not logits)",
        }
    shape = np.shape(logits)
    skip = None
    if (
        ignore_label is not None
        and not multi_label
        and len(shape) >= 2
        and labels.size == np.prod(shape[:-1])
    ):
        # Ignored positions (padding) may hold anything.
        skip = (labels == ignore_label).reshape(*shape[:-1], 1)
    elif ignore_label is not None and multi_label and labels.shape == shape:
        skip = labels == ignore_label  # Unknown labels of an example.
    logits = check_real_array(name, logits, skip=skip, **bounds)
    if not multi_label and logits.ndim > 2 and labels.shape == logits.shape[:-1]:
        # Per-position predictions: one row per position.
        logits = logits.reshape(-1, logits.shape[-1])
        labels = labels.reshape(-1)
    if ignore_label is not None and not multi_label:
        labels = labels.reshape(-1)
        if len(labels) == len(logits):
            kept = labels != ignore_label
            logits, labels = logits[kept], labels[kept]
    if not labels.size and not logits.size:
        raise ValueError("Calibration needs at least one example. Received: none")
    if multi_label:
        if logits.ndim != 2 or labels.shape != logits.shape:
            raise ValueError(
                f"With multi_label=True, {name} and labels must both have shape "
                f"(num_examples, num_labels). Received: "
                f"{name}.shape={logits.shape}, labels.shape={labels.shape}"
            )
        if ignore_label is not None:
            # Each (example, label) pair is a prediction of its own: the
            # kept ones, one per row.
            kept = labels != ignore_label
            logits, labels = logits[kept][:, None], labels[kept][:, None]
        labels = check_binary_array("labels", labels, what=" with multi_label=True")
        return logits, labels.astype(np.float64)
    labels = labels.reshape(-1)
    if logits.ndim != 2 or logits.shape[-1] < 2 or len(logits) != len(labels):
        raise ValueError(
            f"{name} must have shape (num_examples, num_classes), with at least 2 "
            "classes and one row per label. Received: "
            f"{name}.shape={logits.shape}, {len(labels)} labels"
        )
    if labels.dtype.kind not in "iu":
        raise ValueError(
            f"labels must be integer class ids in [0, {logits.shape[-1]}). "
            f"Received: labels of dtype {labels.dtype} ({labels[:10].tolist()})"
        )
    check_ids_below("labels", labels, logits.shape[-1], "integer class ids")
    return logits, labels.astype(np.int64)


def _sigmoid(logits):
    # The tanh form does not overflow for large negative logits.
    return 0.5 * (1.0 + np.tanh(0.5 * logits))


def _log_softmax(logits):
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def _negative_log_likelihood(logits, labels, multi_label):
    """Mean NLL of `labels` (per example, or per example and label)."""
    if multi_label:
        # log(1 + exp(-z)) for positives, log(1 + exp(z)) for negatives.
        signed = np.where(labels > 0, logits, -logits)
        return float(np.mean(np.logaddexp(0.0, -signed)))
    log_probabilities = _log_softmax(logits)
    return float(-np.mean(log_probabilities[np.arange(len(labels)), labels]))


def _nll_slope(logits, labels, inverse_temperature, multi_label):
    """d NLL / d (1 / T): increasing in 1 / T, as the NLL is convex in it."""
    scaled = logits * inverse_temperature
    if multi_label:
        probabilities = _sigmoid(scaled)
        return float(np.mean((probabilities - labels) * logits))
    probabilities = np.exp(_log_softmax(scaled))
    expected = (probabilities * logits).sum(axis=-1)
    return float(np.mean(expected - logits[np.arange(len(labels)), labels]))


def fit_temperature(logits, labels, multi_label=False, ignore_label=None):
    """The temperature `T` minimizing the NLL of `softmax(logits / T)`.

    The NLL is convex in `1 / T`, so the root of its slope is found by
    bisection (in log space, 60 steps: to float precision). `T` is kept in
    `[0.01, 100]`: data every logit already separates perfectly would push
    it toward 0. Returning a bound warns: such a temperature only makes
    the model surer of what the held-out data happened to get right (or
    wrong), so fit it on more held-out examples.

    Args:
        logits: float array `(num_examples, num_classes)`, the model's
            outputs on held-out (validation) data; or per-position logits
            `(..., num_classes)`, e.g. a tagger's `(batch, seq, num_tags)`.
        labels: int array `(num_examples,)` of class ids (`logits`' shape
            without its last axis); with `multi_label=True`, a 0/1 array
            shaped like `logits`.
        multi_label: whether each logit is an independent sigmoid.
        ignore_label: optional int; positions with this label are left out
            (e.g. `tftransformer.data.IGNORE_LABEL`, -100, on a tagger's
            padding and later word pieces); with `multi_label=True`, the
            (example, label) entries holding it (labels not known).

    Returns:
        A float > 0: divide the logits by it before the softmax (sigmoid).

    Example:
    ```python
    temperature = fit_temperature([[2.0, -2.0], [3.0, -1.0]], [0, 1])
    ```
    """
    logits, labels = _check_logits_and_labels(logits, labels, multi_label, ignore_label)
    low = np.log(_MIN_INVERSE_TEMPERATURE)
    high = np.log(_MAX_INVERSE_TEMPERATURE)
    for inverse, falling in ((high, True), (low, False)):
        slope = _nll_slope(logits, labels, np.exp(inverse), multi_label)
        if (slope <= 0) if falling else (slope >= 0):
            temperature = MIN_TEMPERATURE if falling else MAX_TEMPERATURE
            why = (
                "the held-out predictions are all, or nearly all, right, and "
                "this temperature only makes the model surer of them"
                if falling
                else "the held-out predictions are, on the whole, wrong: their "
                "NLL is lowest with all probabilities equal"
            )
            warnings.warn(
                "The held-out NLL still falls at the bound of the temperatures "
                f"searched, {temperature:g}: {why}. Fit it on more held-out "
                "examples.",
                stacklevel=2,
            )
            return temperature
    for _ in range(60):
        middle = 0.5 * (low + high)
        if _nll_slope(logits, labels, np.exp(middle), multi_label) > 0:
            high = middle
        else:
            low = middle
    return float(np.exp(-0.5 * (low + high)))


def _confidences(probabilities, labels, multi_label):
    """`(confidence, correct)` of each prediction, flattened."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if multi_label:
        predicted = probabilities >= 0.5
        confidence = np.where(predicted, probabilities, 1.0 - probabilities)
        return confidence.reshape(-1), (predicted == (labels > 0)).reshape(-1)
    predicted = probabilities.argmax(axis=-1)
    return probabilities.max(axis=-1), predicted == labels


def reliability_bins(
    probabilities, labels, num_bins=15, multi_label=False, ignore_label=None
):
    """Predictions grouped by confidence into equal-width bins.

    Args:
        probabilities: `(num_examples, num_classes)` class probabilities
            (with `multi_label=True`, per-label sigmoid probabilities).
        labels: class ids `(num_examples,)`, or 0/1 like `probabilities`
            with `multi_label=True`.
        num_bins: int >= 1, bins over the confidence range `[0, 1]`
            (`[1 / num_classes, 1]` holds every arg-max confidence).
        multi_label: whether each probability is its own binary prediction.
        ignore_label: optional int, the label of positions left out (see
            `fit_temperature`).

    Returns:
        A dict of lists, one entry per bin: `"lower"`, `"upper"` (the bin's
        edges), `"count"`, `"confidence"` and `"accuracy"` (means over the
        bin's predictions, `None` for an empty bin).
    """
    num_bins = check_int("num_bins", num_bins, 1)
    probabilities, labels = _check_logits_and_labels(
        probabilities, labels, multi_label, ignore_label, name="probabilities"
    )
    confidence, correct = _confidences(probabilities, labels, multi_label)
    edges = np.linspace(0.0, 1.0, num_bins + 1)
    # Bin i holds (edges[i], edges[i + 1]]; a confidence of 0 goes in bin 0.
    index = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, None)
    bins = {"lower": [], "upper": [], "count": [], "confidence": [], "accuracy": []}
    for i in range(num_bins):
        members = index == i
        count = int(members.sum())
        bins["lower"].append(float(edges[i]))
        bins["upper"].append(float(edges[i + 1]))
        bins["count"].append(count)
        bins["confidence"].append(float(confidence[members].mean()) if count else None)
        bins["accuracy"].append(float(correct[members].mean()) if count else None)
    return bins


def _ece_from_bins(bins):
    total = sum(bins["count"])
    return float(
        sum(
            count * abs(accuracy - confidence)
            for count, accuracy, confidence in zip(
                bins["count"], bins["accuracy"], bins["confidence"]
            )
            if count
        )
        / total
    )


def expected_calibration_error(
    probabilities, labels, num_bins=15, multi_label=False, ignore_label=None
):
    """The expected calibration error (ECE) of predicted probabilities.

    The share-weighted mean, over equal-width confidence bins, of
    `|accuracy - mean confidence|` in the bin: 0 for a perfectly calibrated
    classifier. Single-label predictions are judged by their arg-max
    class and its probability; multi-label ones by each label's decision
    at 0.5 and the probability of that decision.

    Args:
        probabilities: see `reliability_bins`.
        labels: see `reliability_bins`.
        num_bins: int >= 1 (15 as Guo et al.).
        multi_label: whether each probability is its own binary prediction.
        ignore_label: optional int, the label of positions left out.

    Returns:
        A float in `[0, 1]`.

    Example:
    ```python
    expected_calibration_error([[0.9, 0.1], [0.6, 0.4]], [0, 1])  # 0.35
    ```
    """
    return _ece_from_bins(
        reliability_bins(
            probabilities,
            labels,
            num_bins,
            multi_label=multi_label,
            ignore_label=ignore_label,
        )
    )


def _probabilities(logits, multi_label):
    if multi_label:
        return _sigmoid(logits)
    return np.exp(_log_softmax(logits))


def calibration_summary(
    logits, labels, temperature, num_bins=15, multi_label=False, ignore_label=None
):
    """ECE, NLL and reliability bins before and after temperature scaling.

    Args:
        logits: the model's logits on the data judged (e.g. the test split),
            unscaled.
        labels: its labels (see `fit_temperature`).
        temperature: float > 0, the fitted temperature.
        num_bins: int >= 1.
        multi_label: whether each logit is an independent sigmoid.
        ignore_label: optional int, the label of positions left out (see
            `fit_temperature`).

    Returns:
        A JSON-ready dict: `"temperature"`, `"num_bins"`, `"multi_label"`,
        and `"before"` / `"after"`, each with `"ece"`, `"nll"` and `"bins"`
        (see `reliability_bins`).

    Example:
    ```python
    summary = calibration_summary(test_logits, test_labels, temperature=1.7)
    summary["before"]["ece"], summary["after"]["ece"]
    ```
    """
    check_positive_number("temperature", temperature)
    num_bins = check_int("num_bins", num_bins, 1)
    logits, labels = _check_logits_and_labels(logits, labels, multi_label, ignore_label)
    summary = {
        "temperature": float(temperature),
        "num_bins": num_bins,
        "multi_label": multi_label,
    }
    for name, scale in (("before", 1.0), ("after", float(temperature))):
        scaled = logits / scale
        bins = reliability_bins(
            _probabilities(scaled, multi_label), labels, num_bins, multi_label
        )
        summary[name] = {
            "ece": _ece_from_bins(bins),
            "nll": _negative_log_likelihood(scaled, labels, multi_label),
            "bins": bins,
        }
    return summary
