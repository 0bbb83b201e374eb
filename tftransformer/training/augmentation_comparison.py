"""What `compare_augmentation` returns."""

import dataclasses
import json

from tftransformer.training.checkpointing import atomic_write

__all__ = ["AugmentationComparison"]


@dataclasses.dataclass(frozen=True)
class AugmentationComparison:
    """Test scores of the same classifier trained with and without EDA copies.

    Args:
        settings: the config's fields.
        test_examples: size of the test split every run is scored on.
        results: dict of run name (`baseline`, `eda`, and with `same_steps`
            `baseline_same_steps`) to `train_examples`, `epochs`, `steps`
            (optimizer steps run), `schedule_steps` (the learning-rate
            schedule's length), `best_epoch` (the epoch whose weights were
            scored: the best by the config's `monitor`, the first of a
            tie), `accuracy`, `macro_f1`, `roc_auc` and `train_seconds`.
        examples: a few `(original, augmented copy)` training text pairs.
    """

    settings: dict
    test_examples: int
    results: dict
    examples: list

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self, path):
        """Writes `to_dict()` to `path`, atomically."""
        with atomic_write(path) as temporary:
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(self.to_dict(), f, indent=2)

    def format(self):
        """The runs as a Markdown table, after the example copies."""
        lines = [f"  {original}\n    -> {copy}" for original, copy in self.examples]
        lines += [
            f"\nTest split: {self.test_examples} examples.",
            "| setting | train examples | epochs | steps | epoch scored | "
            "test accuracy | macro F1 | ROC-AUC | train s |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for name, r in self.results.items():
            lines.append(
                f"| {name} | {r['train_examples']} | {r['epochs']} | {r['steps']} | "
                f"{r.get('best_epoch')} | {r['accuracy']:.4f} | "
                f"{r['macro_f1']:.4f} | {r['roc_auc']:.4f} | "
                f"{r['train_seconds']:.0f} |"
            )
        return "\n".join(lines)
