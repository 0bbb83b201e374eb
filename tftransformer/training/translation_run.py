"""What `train_translator` returns."""

import dataclasses

__all__ = ["TranslationRun"]


@dataclasses.dataclass(frozen=True)
class TranslationRun:
    """A trained translation model and its test BLEU.

    Args:
        model: the trained `Seq2SeqTransformer` (its best epoch's weights).
        training: the `TrainingResult` of `Trainer.fit`.
        bleu: `{"greedy": ..., "beam": ...}`, the `corpus_bleu` results on
            the test pairs.
        samples: dicts of the `source`, `reference`, `greedy` and `beam`
            translations of the first test pairs.
        num_pairs: pairs kept per split (`train`, `validation`, `test`).
        source_vocabulary, target_vocabulary: the WordPiece tokens, by id.
        decode_seconds: seconds of greedy and beam decoding.
        trainer: the `Trainer`.
        rouge: `{"greedy": ..., "beam": ...}`, the `corpus_rouge` F-measures
            (0 to 1) of the same translations.
    """

    model: object
    training: object
    bleu: dict
    samples: list
    num_pairs: dict
    source_vocabulary: list
    target_vocabulary: list
    decode_seconds: float
    trainer: object
    rouge: dict | None = None

    def format(self):
        """The BLEU scores and samples, as lines to print."""
        config = self.trainer.config
        lines = [
            f"Test BLEU ({self.num_pairs['test']} pairs): greedy "
            f"{self.bleu['greedy']['bleu']:.2f}, beam search (width "
            f"{config.beam_width}"
            + (
                f", length penalty {config.length_penalty}"
                if config.preset is None
                else ""
            )
            + f") "
            f"{self.bleu['beam']['bleu']:.2f}.{self._format_rouge()} Training "
            f"{self.training.train_seconds / 60:.1f} min, decoding "
            f"{self.decode_seconds / 60:.1f} min."
        ]
        for sample in self.samples:
            lines.append(
                f"\n  source:    {sample['source']}\n"
                f"  reference: {sample['reference']}\n"
                f"  greedy:    {sample['greedy']}\n"
                f"  beam:      {sample['beam']}"
            )
        return "\n".join(lines)

    def _format_rouge(self):
        if not self.rouge:
            return ""
        scores = ", ".join(
            f"{name} " + "/".join(f"{value:.3f}" for value in rouge.values())
            for name, rouge in self.rouge.items()
        )
        return f" ROUGE-1/2/L F: {scores}."
