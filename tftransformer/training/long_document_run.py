"""What `train_long_document_classifiers` returns."""

import dataclasses

__all__ = ["LongDocumentRun"]


@dataclasses.dataclass(frozen=True)
class LongDocumentRun:
    """The long-document classifiers of each variant, trained and tested.

    Args:
        results: variant to `{"accuracy", "macro_f1", "train_seconds",
            "history"}` on the test split.
        majority_accuracy: the test accuracy of predicting the most frequent
            training label.
        chunk_stats: how the chunking covers the training documents
            (`mean_pieces`, `mean_chunks`, `truncated_fraction`,
            `covered_fraction`).
        test_examples: documents in the test split.
        reports: variant to its test `ClassificationReport`.
        models: variant to its trained `LongDocumentClassifier`.
        trainer: the `Trainer` of the whole run (each variant has its own
            in `model_dir/{variant}`), e.g. for `trainer.chief`.
    """

    results: dict
    majority_accuracy: float
    chunk_stats: dict
    test_examples: int
    reports: dict
    models: dict
    trainer: object

    def format(self):
        """A table of each variant's test scores, and the majority baseline."""
        lines = [f"{'variant':<10} {'accuracy':>9} {'macro F1':>9} {'train s':>8}"]
        for variant, result in self.results.items():
            lines.append(
                f"{variant:<10} {result['accuracy']:>9.4f} "
                f"{result['macro_f1']:>9.4f} {result['train_seconds']:>8.0f}"
            )
        lines.append(f"{'majority':<10} {self.majority_accuracy:>9.4f}")
        return "\n".join(lines)
