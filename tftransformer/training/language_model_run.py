"""What `train_causal_lm` returns."""

import dataclasses

__all__ = ["LanguageModelRun"]


@dataclasses.dataclass(frozen=True)
class LanguageModelRun:
    """A trained causal language model, its perplexities and samples.

    Args:
        model: the trained `CausalLM` (its best epoch's weights).
        training: the `TrainingResult` of `Trainer.fit`; its `history`
            holds `val_perplexity` per epoch.
        perplexity: `{"initial": ..., "validation": ...}`, the validation
            perplexity per WordPiece token at initialization and after
            training.
        samples: dicts of the `prompt` and the sampled `text`: the prompt
            and its continuation, decoded whole (a continuation may begin
            inside the prompt's last word).
        vocabulary: the WordPiece tokens, by id.
        num_texts: `{"train": ..., "validation": ...}`, texts with tokens.
        source: where the texts came from, in words.
        trainer: the `Trainer`.
    """

    model: object
    training: object
    perplexity: dict
    samples: list
    vocabulary: list
    num_texts: dict
    source: str
    trainer: object

    def format(self):
        """The perplexities and samples, as lines to print."""
        config = self.trainer.config
        epochs = len(self.training.history["loss"])
        lines = [
            f"Validation perplexity ({self.num_texts['validation']} texts): "
            f"{self.perplexity['validation']:.1f} after {epochs} epochs "
            f"({self.training.train_seconds / 60:.1f} min), "
            f"{self.perplexity['initial']:.1f} at initialization.",
            f"Samples (temperature {config.temperature}, top_k "
            f"{config.top_k or 'off'}):",
        ]
        lines += [f"  [{s['prompt']}] {s['text']}" for s in self.samples]
        return "\n".join(lines)
