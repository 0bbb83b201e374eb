"""What `continue_pretraining` returns."""

import dataclasses

__all__ = ["PretrainingRun"]


@dataclasses.dataclass(frozen=True)
class PretrainingRun:
    """A backbone after continued masked-LM pretraining.

    Args:
        model: the trained keras-hub `MaskedLM` (its best epoch's weights);
            `model.backbone` is the encoder.
        training: the `TrainingResult` of `Trainer.fit`.
        metrics: `{"initial": {...}, "validation": {...}}`, the validation
            masked-token `loss`, `accuracy` and `perplexity` before and
            after training.
        preset_dir: the keras-hub preset written (backbone and
            preprocessor), for `--preset=DIR`.
        num_rows: `{"train": ..., "validation": ...}`, rows of tokens.
        source: where the texts came from, in words.
        trainer: the `Trainer`.
    """

    model: object
    training: object
    metrics: dict
    preset_dir: str
    num_rows: dict
    source: str
    trainer: object

    def format(self):
        """The validation figures and the preset, as lines to print."""
        epochs = len(self.training.history["loss"])
        before, after = self.metrics["initial"], self.metrics["validation"]
        return "\n".join(
            [
                f"Validation masked tokens ({self.num_rows['validation']} rows): "
                f"accuracy {after['accuracy']:.3f}, perplexity "
                f"{after['perplexity']:.1f} after {epochs} epochs "
                f"({self.training.train_seconds / 60:.1f} min); accuracy "
                f"{before['accuracy']:.3f}, perplexity {before['perplexity']:.1f} "
                "before.",
                f"Preset: {self.preset_dir} (fine-tune it with "
                f"--preset={self.preset_dir}).",
            ]
        )
