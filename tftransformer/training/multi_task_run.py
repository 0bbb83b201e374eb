"""What `train_multi_task_model` returns."""

import dataclasses

__all__ = ["MultiTaskRun"]


@dataclasses.dataclass(frozen=True)
class MultiTaskRun:
    """A trained and scored multi-task model, with its single-task baselines.

    Args:
        model: the trained `MultiTaskModel` (its best epoch's weights).
        training: the multi-task `TrainingResult` of `Trainer.fit`.
        scores: `{"multi_task" | "single_task": {"sentiment": {...},
            "ner": {...}}}`, each head's test scores ("single_task" only with
            `compare_single_task`).
        single_task: task name to its baseline's `TrainingResult`.
        sampling_probabilities: task name to its share of the batches.
        data: `{task: {split: data}}`, the splits trained and scored.
        trainer: the multi-task run's `Trainer`.
    """

    model: object
    training: object
    scores: dict
    single_task: dict
    sampling_probabilities: dict
    data: dict
    trainer: object

    def format(self):
        """The test scores, a row per task and metric, a column per setup."""
        scores = self.scores
        lines = [
            f"{'task':<10} {'test metric':<18} " + " ".join(f"{k:>12}" for k in scores)
        ]
        for task, metrics in scores["multi_task"].items():
            for metric in metrics:
                if metric in ("examples", "sentences"):
                    continue
                row = " ".join(
                    f"{scores[kind][task][metric]:>12.4f}" for kind in scores
                )
                lines.append(f"{task:<10} {metric:<18} {row}")
        return "\n".join(lines)
