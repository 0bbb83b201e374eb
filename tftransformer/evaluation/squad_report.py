"""`SquadReport`: exact match and F1 of extractive question answering."""

from tftransformer.evaluation import _json_utils

__all__ = ["SquadReport"]


def _percent(scores, ids):
    return 100.0 * sum(scores[qid] for qid in ids) / len(ids)


class SquadReport:
    """SQuAD exact match and F1 over questions, as the official script prints.

    `exact` and `f1` are percentages over all questions; `has_answer_*` and
    `no_answer_*` the same over the answerable and unanswerable questions
    (`None` when there are none of that kind), the official script's
    `HasAns_*` and `NoAns_*`. Built by `tftransformer.evaluation.score_squad`.

    Args:
        exact: dict question id -> 0 or 1.
        f1: dict question id -> float in [0, 1].
        has_answer: dict question id -> whether it has a gold answer.

    Example:
    ```python
    report = score_squad(gold, predictions)
    print(report.format())
    report.to_json("report.json")
    ```
    """

    def __init__(self, exact, f1, has_answer):
        if not exact or set(exact) != set(f1) or set(exact) != set(has_answer):
            raise ValueError(
                "exact, f1 and has_answer must score the same questions, at "
                f"least one. Received: {len(exact)}, {len(f1)} and "
                f"{len(has_answer)} questions"
            )
        self.exact_by_id = dict(exact)
        self.f1_by_id = dict(f1)
        self.has_answer_by_id = dict(has_answer)
        ids = list(exact)
        answerable = [qid for qid in ids if has_answer[qid]]
        unanswerable = [qid for qid in ids if not has_answer[qid]]
        self.total = len(ids)
        self.exact = _percent(exact, ids)
        self.f1 = _percent(f1, ids)
        self.has_answer_total = len(answerable)
        self.no_answer_total = len(unanswerable)
        self.has_answer_exact = _percent(exact, answerable) if answerable else None
        self.has_answer_f1 = _percent(f1, answerable) if answerable else None
        self.no_answer_exact = _percent(exact, unanswerable) if unanswerable else None
        self.no_answer_f1 = _percent(f1, unanswerable) if unanswerable else None

    def to_dict(self):
        """JSON-ready, with the official script's key names."""
        result = {"exact": self.exact, "f1": self.f1, "total": self.total}
        if self.has_answer_total:
            result.update(
                HasAns_exact=self.has_answer_exact,
                HasAns_f1=self.has_answer_f1,
                HasAns_total=self.has_answer_total,
            )
        if self.no_answer_total:
            result.update(
                NoAns_exact=self.no_answer_exact,
                NoAns_f1=self.no_answer_f1,
                NoAns_total=self.no_answer_total,
            )
        return result

    def to_json(self, path):
        """Writes `to_dict()` to `path` as strict JSON."""
        _json_utils.write_json(self.to_dict(), path)

    def format(self, digits=2):
        """One line per group: exact match and F1 in percent, and the count."""
        rows = [("all", self.exact, self.f1, self.total)]
        if self.has_answer_total and self.no_answer_total:
            rows += [
                ("has answer", self.has_answer_exact, self.has_answer_f1),
                ("no answer", self.no_answer_exact, self.no_answer_f1),
            ]
            rows[1] += (self.has_answer_total,)
            rows[2] += (self.no_answer_total,)
        lines = [f"{'':>10} {'exact':>8} {'f1':>8} {'questions':>9}"]
        for name, exact, f1, total in rows:
            scores = f"{exact:>8.{digits}f} {f1:>8.{digits}f}"
            lines.append(f"{name:>10} {scores} {total:>9}")
        return "\n".join(lines)

    def __str__(self):
        return self.format()
