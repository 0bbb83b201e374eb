"""Describes what a fine-tuning run trains: parameters, layers, learning rates."""

import json
import math
import os

import keras

from tftransformer._arguments import check_path
from tftransformer.data.text_packing import count_batches, holds_packed_texts
from tftransformer.data.unknown_pieces import unknown_share_warning
from tftransformer.models.freezing import backbone_sublayers

__all__ = [
    "describe_training",
    "format_training_summary",
    "write_training_summary",
]

SUMMARY_FILE = "training_summary.json"


def _num_params(variables):
    return int(sum(math.prod(v.shape) for v in variables))


def _units(model):
    """The layers a summary names: the backbone's layers, then the head's."""
    try:
        backbone = backbone_sublayers(model)
    except ValueError:
        backbone = []
    backbone_ids = {id(v) for layer in backbone for v in layer.weights}
    head = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=False)
        if not isinstance(layer, keras.layers.InputLayer)
        and not any(id(v) in backbone_ids for v in layer.weights)
    ]
    return [layer for layer in backbone + head if layer.weights]


def _innermost(optimizer):
    while hasattr(optimizer, "inner_optimizer"):
        optimizer = optimizer.inner_optimizer
    return optimizer


def _base_learning_rate(optimizer):
    # A warmup schedule starts at 0: its peak says more than today's value.
    # A LossScaleOptimizer holds the schedule on its inner optimizer.
    optimizer = _innermost(optimizer)
    schedule = getattr(optimizer, "_learning_rate", None)
    peak = getattr(schedule, "peak_learning_rate", None)
    if peak is not None:
        return float(peak)
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def describe_training(model, optimizer=None, strategy_name=None):
    """Summarises what training `model` will update, and at which rates.

    Layers are the backbone's direct sublayers (embeddings, encoder layers,
    pooler) and the model's other direct layers (extra blocks, dense head);
    layers without weights are left out. A layer is trainable when any of its
    variables is (e.g. LoRA adapters in a frozen attention layer).

    Learning rates are grouped by multiplier when the optimizer has a
    `learning_rate_multipliers` dict (variable path -> float, as
    `tftransformer.finetune.LayerwiseAdamW`); variables it does not list
    train at 1x. The base rate is a `WarmupLinearDecay`'s peak, otherwise
    the optimizer's current rate.

    Args:
        model: a built `keras.Model`.
        optimizer: optional Keras optimizer; defaults to `model.optimizer`
            when the model is compiled.
        strategy_name: optional str, e.g. from
            `tftransformer.finetune.check_strategy_options`.

    Returns:
        A JSON-serialisable dict with `strategy`, `total_parameters`,
        `trainable_parameters`, `frozen_parameters`, `trainable_layers` and
        `frozen_layers` (names, in model order), `learning_rate` (the base
        rate, None without an optimizer) and `learning_rate_groups`: a list,
        highest multiplier first, of dicts with `multiplier`,
        `learning_rate`, `parameters` and `layers` (trainable layers with a
        variable in the group).

    Example:
    ```python
    summary = describe_training(classifier, strategy_name="freeze 2 layers")
    print(format_training_summary(summary))
    write_training_summary(summary, "runs/sst2")
    ```
    """
    if optimizer is None:
        optimizer = getattr(model, "optimizer", None)
    trainable = model.trainable_variables
    trainable_ids = {id(v) for v in trainable}
    units = _units(model)
    total = _num_params(model.weights)
    trainable_count = _num_params(trainable)
    summary = {
        "strategy": strategy_name,
        "total_parameters": total,
        "trainable_parameters": trainable_count,
        "frozen_parameters": total - trainable_count,
        "trainable_layers": [
            layer.name
            for layer in units
            if any(id(v) in trainable_ids for v in layer.weights)
        ],
        "frozen_layers": [
            layer.name
            for layer in units
            if not any(id(v) in trainable_ids for v in layer.weights)
        ],
        "learning_rate": None,
        "learning_rate_groups": [],
    }
    if optimizer is None:
        return summary

    base = _base_learning_rate(optimizer)
    multipliers = getattr(_innermost(optimizer), "learning_rate_multipliers", None)
    multipliers = dict(multipliers or {})
    owner = {id(v): layer.name for layer in units for v in layer.weights}
    groups = {}
    for variable in trainable:
        multiplier = float(multipliers.get(variable.path, 1.0))
        group = groups.setdefault(
            multiplier,
            {
                "multiplier": multiplier,
                "learning_rate": base * multiplier,
                "parameters": 0,
                "layers": [],
            },
        )
        group["parameters"] += _num_params([variable])
        name = owner.get(id(variable), variable.path)
        if name not in group["layers"]:
            group["layers"].append(name)
    summary["learning_rate"] = base
    summary["learning_rate_groups"] = sorted(
        groups.values(), key=lambda group: -group["multiplier"]
    )
    return summary


def format_training_summary(summary):
    """Formats a `describe_training` summary as lines of text.

    Args:
        summary: a dict from `describe_training`.

    Returns:
        A multi-line str.

    Example:
    ```python
    print(format_training_summary(describe_training(classifier)))
    # Strategy: full fine-tuning
    # Parameters: 2,690 total, 2,690 trainable (100.0%), 0 frozen
    # ...
    ```
    """
    total = summary["total_parameters"]
    trainable = summary["trainable_parameters"]
    share = 100.0 * trainable / total if total else 0.0
    schedule = summary.get("schedule")
    lines = [
        f"Strategy: {summary['strategy'] or 'not named'}",
        *(
            [f"Schedule: {schedule}; the counts below are once it is done"]
            if schedule
            else []
        ),
        f"Parameters: {total:,} total, {trainable:,} trainable ({share:.1f}%), "
        f"{summary['frozen_parameters']:,} frozen",
        f"Trainable layers ({len(summary['trainable_layers'])}): "
        f"{', '.join(summary['trainable_layers']) or 'none'}",
        f"Frozen layers ({len(summary['frozen_layers'])}): "
        f"{', '.join(summary['frozen_layers']) or 'none'}",
    ]
    share = summary.get("unknown_piece_share")
    if share is not None:
        lines.append(f"Unknown word pieces in the training text: {share:.1%}")
        warning = unknown_share_warning(share)
        if warning:
            lines.append(f"Warning: {warning}")
    packing = summary.get("packing")
    if packing:
        per_row = packing["texts"] / packing["rows"]
        # The longest text says how short the rows could be: a row's
        # attention grows with its length squared.
        lines.append(
            f"Packed rows: {packing['texts']:,} texts in {packing['rows']:,} rows "
            f"of {packing['row_length']} tokens ({per_row:.2f} a row, the "
            f"longest text {packing['longest_text']} tokens), "
            f"{packing['padded_token_share']:.1%} padding; a batch of "
            f"{packing['batch_rows']} rows holds about "
            f"{packing['batch_rows'] * per_row:.0f} texts"
        )
    if summary["learning_rate"] is not None:
        lines.append(f"Learning rates (base {summary['learning_rate']:.3g}):")
        for group in summary["learning_rate_groups"]:
            lines.append(
                f"  x{group['multiplier']:.4g} = {group['learning_rate']:.3g}: "
                f"{group['parameters']:,} parameters in "
                f"{', '.join(group['layers'])}"
            )
    return "\n".join(lines)


def describe_packing(dataset):
    """Counts what a dataset of packed rows holds, for the training summary.

    Args:
        dataset: batches of `(features, labels)` from
            `make_classification_dataset(..., pack=True)`.

    Returns:
        `{"packing": {...}}` with `texts`, `rows`, `batch_rows` (the rows of
        the largest batch), `row_length`, `longest_text` (tokens) and
        `padded_token_share`; `{}` for a dataset of
        other rows (e.g. masked language model rows, which pack without
        `text_mask`).
    """
    if not holds_packed_texts(dataset):
        return {}
    counts = count_batches(dataset)
    return {
        "packing": {
            "texts": counts["texts"],
            "rows": counts["rows"],
            "batch_rows": counts["batch_rows"],
            "row_length": counts["row_length"],
            "longest_text": counts["longest_text"],
            "padded_token_share": 1.0 - counts["real_tokens"] / counts["positions"]
            if counts["positions"]
            else 0.0,
        }
    }


def write_training_summary(summary, model_dir):
    """Writes a `describe_training` summary to `model_dir/training_summary.json`.

    Args:
        summary: a dict from `describe_training`.
        model_dir: the run's directory; created if missing.

    Returns:
        str, the path written.

    Example:
    ```python
    write_training_summary(describe_training(classifier), "runs/sst2")
    ```
    """
    model_dir = check_path("model_dir", model_dir)
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, SUMMARY_FILE)
    with open(path, "w") as f:
        json.dump(summary, f, indent=2)
    return path
