import numbers

from tftransformer._arguments import check_int
from tftransformer.evaluation import _json_utils
from tftransformer.evaluation.classification_report import (
    check_calibration,
    format_calibration,
)


class EntityReport(_json_utils.JsonReport):
    """Entity-level precision, recall and F1 per type, with averages.

    Built from entity counts, usually by
    `tftransformer.evaluation.entity_report`. Zero division gives 0.0:
    precision of a type never predicted, recall of a type never present, F1
    when both are 0.

    Args:
        true_counts: dict, entity type -> number of true entities.
        predicted_counts: dict, entity type -> number of predicted entities.
        correct_counts: dict, entity type -> number of predicted entities
            that match a true one exactly (span and type); at most the
            smaller of the other two counts.
        num_words: int >= 0, the number of words scored.
        num_correct_words: int in [0, num_words], words with the true tag.
        num_sentences: int >= 0, the number of sentences scored.
        calibration: optional dict of `tftransformer.evaluation.calibration_summary`
            over tokens (each scored word's first piece): the temperature
            and the expected calibration error before and after it.

    Example:
    ```python
    report = EntityReport(
        true_counts={"PER": 2, "LOC": 1},
        predicted_counts={"PER": 2},
        correct_counts={"PER": 1},
        num_words=10,
        num_correct_words=8,
        num_sentences=2,
    )
    report.per_type["PER"]["f1"]  # 0.5
    report.micro["recall"]  # 0.333
    print(report)
    ```
    """

    def __init__(
        self,
        true_counts,
        predicted_counts,
        correct_counts,
        num_words,
        num_correct_words,
        num_sentences,
        calibration=None,
    ):
        check_calibration(calibration)
        counts = {}
        for name, value in (
            ("true_counts", true_counts),
            ("predicted_counts", predicted_counts),
            ("correct_counts", correct_counts),
        ):
            if not isinstance(value, dict) or not all(
                _is_count(v) for v in value.values()
            ):
                raise ValueError(
                    f"{name} must be a dict of entity type -> non-negative int. "
                    f"Received: {name}={value!r}"
                )
            counts[name] = {str(k): int(v) for k, v in value.items()}
        num_words = check_int("num_words", num_words, 0)
        num_correct_words = check_int("num_correct_words", num_correct_words, 0)
        num_sentences = check_int("num_sentences", num_sentences, 0)
        if num_correct_words > num_words:
            raise ValueError(
                "num_correct_words must be at most num_words. Received: "
                f"num_correct_words={num_correct_words}, num_words={num_words}"
            )
        self._true = counts["true_counts"]
        self._predicted = counts["predicted_counts"]
        self._correct = counts["correct_counts"]
        for entity_type, correct in self._correct.items():
            limit = min(
                self._true.get(entity_type, 0), self._predicted.get(entity_type, 0)
            )
            if correct > limit:
                raise ValueError(
                    f"correct_counts[{entity_type!r}]={correct} exceeds the true "
                    f"({self._true.get(entity_type, 0)}) or predicted "
                    f"({self._predicted.get(entity_type, 0)}) count of that type."
                )
        self._num_words = num_words
        self._num_correct_words = num_correct_words
        self._num_sentences = num_sentences
        self._calibration = calibration

    @property
    def entity_types(self):
        """The types found in the true or the predicted tags, sorted."""
        return tuple(sorted(set(self._true) | set(self._predicted)))

    @property
    def per_type(self):
        """`{type: {"precision", "recall", "f1", "support", "predicted", "correct"}}`.

        `support` counts the true entities of the type, `predicted` the
        predicted ones, `correct` the exact matches.
        """
        return {
            entity_type: _scores(
                self._true.get(entity_type, 0),
                self._predicted.get(entity_type, 0),
                self._correct.get(entity_type, 0),
            )
            for entity_type in self.entity_types
        }

    @property
    def micro(self):
        """Precision, recall and F1 over the entities of all types pooled."""
        return _scores(
            sum(self._true.values()),
            sum(self._predicted.values()),
            sum(self._correct.values()),
        )

    @property
    def macro(self):
        """Unweighted mean of the per-type precision, recall and F1.

        Over `entity_types`; all 0.0 when there is no entity at all.
        `support`, `predicted` and `correct` are the totals.
        """
        per_type = self.per_type
        micro = self.micro
        result = {
            key: (
                sum(s[key] for s in per_type.values()) / len(per_type)
                if per_type
                else 0.0
            )
            for key in ("precision", "recall", "f1")
        }
        for key in ("support", "predicted", "correct"):
            result[key] = micro[key]
        return result

    @property
    def token_accuracy(self):
        """Fraction of words whose predicted tag is the true tag (0.0 if none)."""
        if not self._num_words:
            return 0.0
        return self._num_correct_words / self._num_words

    @property
    def num_words(self):
        """The number of words scored."""
        return self._num_words

    @property
    def num_sentences(self):
        """The number of sentences scored."""
        return self._num_sentences

    @property
    def calibration(self):
        """The token-level `calibration_summary` dict, or `None`."""
        return self._calibration

    def to_dict(self):
        """Returns the report as a JSON-ready dict.

        Returns:
            A dict with `"entity_types"`, `"per_type"`, `"micro"`, `"macro"`,
            `"token_accuracy"`, `"num_words"`, `"num_correct_words"`,
            `"num_sentences"` (and `"calibration"` when there is one);
            `from_dict` rebuilds the report from it.
        """
        result = {
            "entity_types": list(self.entity_types),
            "per_type": self.per_type,
            "micro": self.micro,
            "macro": self.macro,
            "token_accuracy": self.token_accuracy,
            "num_words": self._num_words,
            "num_correct_words": self._num_correct_words,
            "num_sentences": self._num_sentences,
        }
        if self._calibration is not None:
            result["calibration"] = self._calibration
        return result

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a report from the output of `to_dict()`.

        Args:
            config: a dict as returned by `to_dict()` or read from `to_json`.

        Returns:
            An `EntityReport`.
        """
        per_type = config["per_type"]
        return cls(
            true_counts={t: s["support"] for t, s in per_type.items()},
            predicted_counts={t: s["predicted"] for t, s in per_type.items()},
            correct_counts={t: s["correct"] for t, s in per_type.items()},
            num_words=config["num_words"],
            num_correct_words=config["num_correct_words"],
            num_sentences=config["num_sentences"],
            calibration=config.get("calibration"),
        )

    def format(self, digits=4):
        """Returns the report as a text table, one row per entity type.

        Args:
            digits: decimals of the scores.

        Returns:
            A multi-line string.
        """
        header = ("type", "precision", "recall", "f1", "support", "predicted")
        rows = [
            (name, s["precision"], s["recall"], s["f1"], s["support"], s["predicted"])
            for name, s in self.per_type.items()
        ]
        rows.append(("",) * len(header))
        for name, s in (("micro", self.micro), ("macro", self.macro)):
            rows.append(
                (
                    name,
                    s["precision"],
                    s["recall"],
                    s["f1"],
                    s["support"],
                    s["predicted"],
                )
            )
        width = max([len(header[0])] + [len(r[0]) for r in rows])
        cell = max(len("precision"), digits + 2)

        def render(value):
            if isinstance(value, float):
                return f"{value:>{cell}.{digits}f}"
            return f"{value:>{cell}}"

        lines = [
            f"{header[0]:<{width}}  " + "  ".join(f"{h:>{cell}}" for h in header[1:])
        ]
        for row in rows:
            lines.append(f"{row[0]:<{width}}  " + "  ".join(render(v) for v in row[1:]))
        lines.append("")
        lines.append(
            f"token accuracy {self.token_accuracy:.{digits}f} "
            f"({self._num_correct_words}/{self._num_words} words, "
            f"{self._num_sentences} sentences)"
        )
        if self._calibration is not None:
            lines.append(format_calibration(self._calibration))
        return "\n".join(line.rstrip() for line in lines)

    def __str__(self):
        return self.format()

    def __repr__(self):
        micro = self.micro
        return (
            f"EntityReport(entity_types={list(self.entity_types)}, "
            f"micro_f1={micro['f1']:.4f}, token_accuracy={self.token_accuracy:.4f})"
        )


def _is_count(value):
    return (
        isinstance(value, numbers.Integral)
        and not isinstance(value, bool)
        and value >= 0
    )


def _scores(true, predicted, correct):
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "support": true,
        "predicted": predicted,
        "correct": correct,
    }
