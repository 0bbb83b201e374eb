"""What `shrink_classifier` and `distill_classifier` share: scores, reports."""

import json

from tftransformer.evaluation.inference_speed import compare_inference_speed
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.training.checkpointing import atomic_write


def score_models(models, dataset, test, timing_rounds, train_seconds):
    """Test scores and inference speed (models alternating) of each model."""
    speeds = compare_inference_speed(models, dataset, len(test), timing_rounds)
    scores = {}
    for name, model in models.items():
        report, _ = evaluate_classifier(
            model, dataset, test.labels, test.label_vocabulary
        )
        scores[name] = {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "examples_per_second": speeds[name],
            "backbone_parameters": int(model.backbone.count_params()),
            "train_seconds": train_seconds[name],
            "num_layers": model.backbone.num_layers,
            "num_heads": model.backbone.num_heads,
        }
    return scores


def write_report(summary, path):
    """Writes `summary` as JSON, atomically."""
    with atomic_write(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            json.dump(summary, f, indent=2)


def format_scores(summary, names, speedup_of):
    """A table of the models' scores, then the speedup."""
    lines = [
        f"Test split: {summary['test_examples']} examples; trained on "
        f"{summary['train_examples']}.",
        f"{'model':20} {'layers':>6} {'heads':>5} {'params':>11} {'accuracy':>8} "
        f"{'macro F1':>8} {'ex/s':>8}",
    ]
    for name in names:
        r = summary[name]
        lines.append(
            f"{name:20} {r['num_layers']:>6} {r['num_heads']:>5} "
            f"{r['backbone_parameters']:>11,} {r['accuracy']:>8.4f} "
            f"{r['macro_f1']:>8.4f} {r['examples_per_second']:>8.1f}"
        )
    lines.append(
        f"{speedup_of} inference speedup (same run, models alternating): "
        f"{summary['speedup']:.2f}x"
    )
    return "\n".join(lines)
