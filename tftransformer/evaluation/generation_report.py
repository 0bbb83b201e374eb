"""`GenerationReport`: generated texts scored against references."""

from tftransformer._arguments import check_strings
from tftransformer.data.word_piece import split_words
from tftransformer.evaluation import _json_utils
from tftransformer.evaluation.bleu import corpus_bleu
from tftransformer.evaluation.rouge import corpus_rouge

__all__ = ["GenerationReport"]


class GenerationReport:
    """Corpus BLEU and ROUGE of generated texts against their references.

    Both sides are compared as their lowercased words and punctuation marks
    (`tftransformer.data.split_words`), as a translation run from a preset
    scores its test pairs (a run from random weights scores its hypotheses
    as joined word pieces: its `[UNK]` is one word there, three here):
    corpus BLEU (`corpus_bleu`, 0 to 100) and the mean ROUGE-1,
    ROUGE-2 and ROUGE-L F-measures (`corpus_rouge`, 0 to 1).

    Args:
        generations: a list of str, the generated texts.
        references: a list of str, one reference per generated text.

    Example:
    ```python
    report = GenerationReport(["The cat sat."], ["the cat sat ."])
    report.bleu["bleu"]  # 100.0
    print(report.format())
    ```
    """

    def __init__(self, generations, references):
        generations = check_strings("generations", generations)
        references = check_strings("references", references)
        if len(generations) != len(references) or not generations:
            raise ValueError(
                "generations and references must hold one reference per "
                "generated text, at least one. Received: "
                f"{len(generations)} generations and {len(references)} references"
            )
        self.generations, self.references = generations, references
        hypotheses = [" ".join(split_words(text)) for text in generations]
        words = [" ".join(split_words(text)) for text in references]
        self.bleu = corpus_bleu(hypotheses, words)
        self.rouge = corpus_rouge(hypotheses, words)

    def to_dict(self):
        """JSON-ready: `bleu` (0 to 100), `rouge` (type -> F-measure),
        `bleu_details` (`corpus_bleu`'s dict) and `num_examples`."""
        return {
            "num_examples": len(self.generations),
            "bleu": float(self.bleu["bleu"]),
            "rouge": {name: float(value) for name, value in self.rouge.items()},
            "bleu_details": self.bleu,
        }

    def to_json(self, path):
        """Writes `to_dict()` to `path` as strict JSON."""
        _json_utils.write_json(self.to_dict(), path)

    def format(self, digits=4):
        """A text summary: BLEU, then each ROUGE type."""
        lines = [f"examples {len(self.generations)}"]
        lines.append(f"bleu     {self.bleu['bleu']:.{max(digits - 2, 0)}f}")
        lines += [f"{name:<8} {value:.{digits}f}" for name, value in self.rouge.items()]
        return "\n".join(lines)
