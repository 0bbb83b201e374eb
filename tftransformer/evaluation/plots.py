"""PNG plots of evaluation results (needs the `plots` extra: matplotlib)."""

import math
import os

import numpy as np

from tftransformer._arguments import check_path

# Beyond this many classes the confusion matrix plot has no cell counts or
# tick labels.
MAX_ANNOTATED_CLASSES = 50


def plot_confusion_matrix(matrix, label_names, path, title="Confusion matrix"):
    """Writes a confusion matrix heat map with the counts in the cells.

    Args:
        matrix: non-negative array of shape `(num_classes, num_classes)`;
            rows are true classes, columns predicted classes.
        label_names: sequence of `num_classes` names, or `None` for `0, 1, ...`.
        path: the PNG file to write; missing parent directories are created.
        title: the figure title.

    Returns:
        `path`.

    Example:
    ```python
    report = classification_report(y_true, y_pred, label_names=["neg", "pos"])
    plot_confusion_matrix(report.confusion_matrix, report.label_names, "cm.png")
    ```
    """
    check_path("path", path)
    matrix = np.asarray(matrix)
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1] or matrix.size == 0:
        raise ValueError(
            "matrix must be a non-empty square 2-D array. "
            f"Received: matrix.shape={matrix.shape}"
        )
    if matrix.dtype.kind not in "iuf" or np.any(~np.isfinite(matrix) | (matrix < 0)):
        raise ValueError(
            f"matrix must hold non-negative numbers. Received: matrix={matrix.tolist()}"
        )
    num_classes = matrix.shape[0]
    if label_names is None:
        label_names = [str(i) for i in range(num_classes)]
    label_names = [str(name) for name in label_names]
    if len(label_names) != num_classes:
        raise ValueError(
            f"label_names must have one name per class ({num_classes}). "
            f"Received: label_names={label_names}"
        )
    figure_class, canvas_class, _ = _import_matplotlib()

    # Names and counts are legible up to about 50 classes; beyond, a heat map
    # of fixed size (one text per cell made the plot of 5,000 classes hang).
    legible = num_classes <= MAX_ANNOTATED_CLASSES
    size = max(4.0, 0.6 * num_classes + 2.5) if legible else 12.0
    figure = figure_class(figsize=(size + 1.0, size))
    canvas_class(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="Blues", interpolation="nearest")
    figure.colorbar(image, ax=axes)
    if legible:
        ticks = np.arange(num_classes)
        axes.set_xticks(ticks, labels=label_names, rotation=45, ha="right")
        axes.set_yticks(ticks, labels=label_names)
    axes.set_xlabel("Predicted")
    axes.set_ylabel("True")
    axes.set_title(title)
    # Light text on dark cells and dark text on light ones keeps counts legible.
    threshold = (matrix.max() + matrix.min()) / 2.0
    integral = matrix.dtype.kind in "iu" or np.all(matrix == np.round(matrix))
    for i in range(num_classes if legible else 0):
        for j in range(num_classes):
            value = matrix[i, j]
            text = f"{int(value)}" if integral else f"{value:.2f}"
            color = "white" if value > threshold else "black"
            axes.text(j, i, text, ha="center", va="center", color=color)
    figure.tight_layout()
    _save(figure, path)
    return path


def plot_training_curves(history, path, title="Training curves"):
    """Writes one panel per metric with its training and validation curves.

    Keys named `val_<metric>` are drawn in the panel of `<metric>`, so
    `loss`/`val_loss` share a panel, as do `accuracy`/`val_accuracy`.

    Args:
        history: a Keras `History.history` dict (metric name -> per-epoch
            values), or the `History` object itself.
        path: the PNG file to write; missing parent directories are created.
        title: the figure title.

    Returns:
        `path`.

    Example:
    ```python
    history = model.fit(train_ds, validation_data=val_ds, epochs=3)
    plot_training_curves(history.history, "runs/curves.png")
    ```
    """
    check_path("path", path)
    history = getattr(history, "history", history)
    if not isinstance(history, dict) or not history:
        raise ValueError(
            "history must be a non-empty dict of metric name -> per-epoch values "
            f"(a Keras History.history). Received: history={history!r}"
        )
    curves = {}
    for name, values in history.items():
        values = np.asarray(values, dtype=np.float64)
        if values.ndim != 1 or len(values) == 0:
            raise ValueError(
                f"Each history entry must be a non-empty 1-D sequence. "
                f"Received: {name}={history[name]!r}"
            )
        curves[str(name)] = values
    # Panel order: first appearance of each base metric name.
    panels = {}
    for name in curves:
        base = name[len("val_") :] if name.startswith("val_") else name
        panels.setdefault(base, [])
    for base in panels:
        for key, label in ((base, "training"), (f"val_{base}", "validation")):
            if key in curves:
                panels[base].append((label, curves[key]))
    figure_class, canvas_class, locator_class = _import_matplotlib()

    num_cols = min(len(panels), 2)
    num_rows = math.ceil(len(panels) / num_cols)
    figure = figure_class(figsize=(5.0 * num_cols, 3.5 * num_rows))
    canvas_class(figure)
    for index, (base, lines) in enumerate(panels.items()):
        axes = figure.add_subplot(num_rows, num_cols, index + 1)
        for label, values in lines:
            epochs = np.arange(1, len(values) + 1)
            axes.plot(epochs, values, marker="o", markersize=3, label=label)
        axes.set_title(base)
        axes.set_xlabel("epoch")
        axes.xaxis.set_major_locator(locator_class(integer=True))
        axes.grid(True, alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
    return path


def plot_reliability_diagram(calibration, path, title="Reliability diagram"):
    """Writes accuracy against confidence, before and after temperature scaling.

    Each confidence bin with predictions is a point at (mean confidence,
    accuracy); a calibrated classifier lies on the diagonal. The legend
    gives each curve's expected calibration error.

    Args:
        calibration: a dict of `tftransformer.evaluation.calibration_summary`
            (e.g. `report.calibration`).
        path: the PNG file to write; missing parent directories are created.
        title: the figure title.

    Returns:
        `path`.

    Example:
    ```python
    summary = calibration_summary(test_logits, test_labels, temperature)
    plot_reliability_diagram(summary, "runs/reliability_diagram.png")
    ```
    """
    check_path("path", path)
    if not isinstance(calibration, dict) or not {"before", "after"} <= set(calibration):
        raise ValueError(
            "calibration must be a dict of calibration_summary (with before and "
            f"after). Received: calibration={calibration!r}"
        )
    figure_class, canvas_class, _ = _import_matplotlib()
    figure = figure_class(figsize=(5.0, 5.0))
    canvas_class(figure)
    axes = figure.add_subplot(1, 1, 1)
    axes.plot([0, 1], [0, 1], color="gray", linestyle="--", label="calibrated")
    temperature = calibration.get("temperature", 1.0)
    for name, label in (
        ("before", "before (T = 1)"),
        ("after", f"after (T = {temperature:.2f})"),
    ):
        bins = calibration[name]["bins"]
        points = [
            (confidence, accuracy)
            for confidence, accuracy, count in zip(
                bins["confidence"], bins["accuracy"], bins["count"]
            )
            if count
        ]
        x, y = zip(*points) if points else ((), ())
        axes.plot(
            x,
            y,
            marker="o",
            markersize=4,
            label=f"{label}, ECE {calibration[name]['ece']:.3f}",
        )
    axes.set_xlim(0, 1)
    axes.set_ylim(0, 1)
    axes.set_xlabel("confidence")
    axes.set_ylabel("accuracy")
    axes.grid(True, alpha=0.3)
    axes.legend(loc="upper left")
    axes.set_title(title)
    figure.tight_layout()
    _save(figure, path)
    return path


def plot_predicted_vs_true(report, path, title="Predicted vs true"):
    """Writes one scatter panel per target: prediction against truth.

    Args:
        report: a `RegressionReport` (its kept targets and predictions).
        path: the PNG file to write; missing parent directories are created.
        title: the figure title.

    Returns:
        `path`.

    Example:
    ```python
    report, _ = evaluate_regressor(regressor, test_ds, test.targets)
    plot_predicted_vs_true(report, "runs/predicted_vs_true.png")
    ```
    """
    check_path("path", path)
    if not hasattr(report, "y_pred") or not hasattr(report, "y_true"):
        raise ValueError(
            f"report must be a RegressionReport. Received: {type(report).__name__}"
        )
    figure_class, canvas_class, _ = _import_matplotlib()
    num_targets = len(report.target_names)
    figure = figure_class(figsize=(4.0 * num_targets, 4.0))
    canvas_class(figure)
    for j, name in enumerate(report.target_names):
        axes = figure.add_subplot(1, num_targets, j + 1)
        truth, predicted = report.y_true[:, j], report.y_pred[:, j]
        axes.scatter(truth, predicted, s=6, alpha=0.4)
        low = min(truth.min(), predicted.min())
        high = max(truth.max(), predicted.max())
        axes.plot([low, high], [low, high], color="gray", linestyle="--")
        axes.set_xlabel("true")
        axes.set_ylabel("predicted")
        axes.set_title(
            f"{name}: r = {report.pearson[j]:.3f}, RMSE {report.rmse[j]:.3f}"
        )
        axes.grid(True, alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, path)
    return path


def _import_matplotlib():
    """Imports matplotlib lazily; it is an optional dependency."""
    try:
        # The Agg canvas renders off-screen and leaves pyplot's global backend
        # (and any interactive session) untouched.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise ImportError(
            "Plotting needs matplotlib. Install it with "
            '`pip install "tftransformer[plots]"`.'
        ) from e
    return Figure, FigureCanvasAgg, MaxNLocator


def _save(figure, path):
    path = os.fspath(path)
    parent = os.path.dirname(path)
    if parent:
        os.makedirs(parent, exist_ok=True)
    figure.savefig(path, format="png", dpi=100)


def write_classification_plots(report, directory, history=None):
    """Writes the PNG plots a report has data for, if matplotlib is there.

    `confusion_matrix.png` for a `ClassificationReport`,
    `reliability_diagram.png` for a report with calibration (single- or
    multi-label), `predicted_vs_true.png` for a `RegressionReport`, and
    `training_curves.png` with a history.

    Args:
        report: a `ClassificationReport`, `MultiLabelReport` or
            `RegressionReport`.
        directory: where the PNG files go.
        history: optional dict of per-epoch metric values (`fit`'s history).

    Returns:
        A short note for the user: the files written, or that matplotlib
        (the `plots` extra) is missing.
    """
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "(no plots: install the `plots` extra)"
    written = []
    if hasattr(report, "confusion_matrix"):
        written.append("confusion_matrix.png")
        plot_confusion_matrix(
            report.confusion_matrix,
            report.label_names,
            os.path.join(directory, "confusion_matrix.png"),
        )
    if history:
        written.append("training_curves.png")
        plot_training_curves(history, os.path.join(directory, "training_curves.png"))
    if getattr(report, "calibration", None) is not None:
        written.append("reliability_diagram.png")
        plot_reliability_diagram(
            report.calibration, os.path.join(directory, "reliability_diagram.png")
        )
    if hasattr(report, "y_pred"):
        written.append("predicted_vs_true.png")
        plot_predicted_vs_true(report, os.path.join(directory, "predicted_vs_true.png"))
    return f"(plots: {', '.join(written)})"
