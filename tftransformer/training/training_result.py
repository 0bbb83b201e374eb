"""What `Trainer.fit` returns."""

import dataclasses

__all__ = ["TrainingResult"]


@dataclasses.dataclass(frozen=True)
class TrainingResult:
    """The outcome of a `Trainer.fit` run.

    Args:
        history: dict of metric name to its per-epoch values (floats), the
            epochs of earlier, killed runs included.
        train_seconds: seconds of `fit`, summed over the resumes of the run.
        model_path: path of the saved `model.keras`.
        strategy: the transfer recipe's short name, e.g. `"freeze 2 layers"`.
        summary: the training summary (trainable and frozen parameters, the
            learning rates), as written to `training_summary.json`.
        best_epoch: the epoch (from 1) whose weights the model ends with:
            early stopping restores the first epoch of the best monitored
            value (`config.monitor`, the training loss without validation
            data), which may come before the last epoch trained. `None`
            when no epoch was logged.
    """

    history: dict
    train_seconds: float
    model_path: str
    strategy: str
    summary: dict
    best_epoch: int | None = None
