import math
from collections.abc import Iterable

import numpy as np

from tftransformer._arguments import check_int
from tftransformer.evaluation import _json_utils

__all__ = ["RetrievalReport", "evaluate_retrieval"]


class RetrievalReport(_json_utils.JsonReport):
    """Recall@k, MRR@10 and nDCG@10 of ranked retrieval results.

    Usually built with `evaluate_retrieval`. Per query: recall@k is the
    share of its relevant documents found in the top k; the reciprocal rank
    is 1 / rank of the first relevant document within the top 10 (0 if
    none); nDCG@10 uses binary gains, `sum(1 / log2(rank + 1))` over the
    relevant documents in the top 10, divided by the same sum for an ideal
    ranking. Every number is the mean over queries; queries without a
    relevant document are left out and counted.

    Args:
        recall: dict of k (int) -> mean recall@k.
        mrr_at_10: float, the mean reciprocal rank within the top 10.
        ndcg_at_10: float, the mean nDCG@10.
        num_queries: int, the queries evaluated.
        skipped_queries: int, queries without a relevant document.

    Example:
    ```python
    report = evaluate_retrieval([[3, 1, 2]], [{1}])
    report.mrr_at_10  # 0.5
    print(report.format())
    ```
    """

    def __init__(self, recall, mrr_at_10, ndcg_at_10, num_queries, skipped_queries=0):
        self.recall = {int(k): float(v) for k, v in sorted(recall.items())}
        self.mrr_at_10 = float(mrr_at_10)
        self.ndcg_at_10 = float(ndcg_at_10)
        self.num_queries = int(num_queries)
        self.skipped_queries = int(skipped_queries)

    def to_dict(self):
        """The report as a JSON-ready dict (recall keys as strings)."""
        return {
            "recall": {
                str(k): _json_utils.nan_to_none(v) for k, v in self.recall.items()
            },
            "mrr_at_10": _json_utils.nan_to_none(self.mrr_at_10),
            "ndcg_at_10": _json_utils.nan_to_none(self.ndcg_at_10),
            "num_queries": self.num_queries,
            "skipped_queries": self.skipped_queries,
        }

    @classmethod
    def from_dict(cls, config):
        """Rebuilds a report from `to_dict()`'s output."""
        return cls(
            recall={
                int(k): _json_utils.none_to_nan(v) for k, v in config["recall"].items()
            },
            mrr_at_10=_json_utils.none_to_nan(config["mrr_at_10"]),
            ndcg_at_10=_json_utils.none_to_nan(config["ndcg_at_10"]),
            num_queries=config["num_queries"],
            skipped_queries=config.get("skipped_queries", 0),
        )

    def format(self, digits=4):
        """The report as aligned lines of text."""
        rows = [(f"recall@{k}", v) for k, v in self.recall.items()]
        rows += [("MRR@10", self.mrr_at_10), ("nDCG@10", self.ndcg_at_10)]
        width = max(len(name) for name, _ in rows)
        lines = [f"{name:<{width}}  {value:.{digits}f}" for name, value in rows]
        lines.append(f"{self.num_queries} queries")
        if self.skipped_queries:
            lines[-1] += (
                f" ({self.skipped_queries} without a relevant document skipped)"
            )
        return "\n".join(lines)

    def __str__(self):
        return self.format()

    def __repr__(self):
        return f"RetrievalReport({self.to_dict()})"


def evaluate_retrieval(ranked_ids, relevant_ids, ks=(1, 5, 10)):
    """Scores ranked results against the relevant documents of each query.

    Args:
        ranked_ids: per query, document ids best first (a list of lists, or
            a `(queries, k)` array such as `SemanticSearchIndex.search`
            returns); repeated ids count once, at their first rank, and the
            ids after them move up (documents ranked by their best chunk).
        relevant_ids: per query, an iterable of its relevant document ids.
        ks: the cut-offs of recall@k, ints >= 1.

    Returns:
        A `RetrievalReport`.

    Example:
    ```python
    scores, ids = index.search(query_vectors, k=10)
    report = evaluate_retrieval(ids, [{4}, {0, 7}])
    ```
    """
    ranked_ids = [list(np.asarray(row).tolist()) for row in ranked_ids]
    relevant_ids = list(relevant_ids)
    for query, row in enumerate(relevant_ids):
        # A bare id: a string would be scored as its characters.
        if isinstance(row, (str, bytes)) or not isinstance(row, Iterable):
            raise ValueError(
                "relevant_ids must hold, per query, a collection of ids (one "
                f"id as {{id}} or [id]). Received: relevant_ids[{query}]="
                f"{row!r:.100}"
            )
    relevant_ids = [set(np.asarray(list(row)).tolist()) for row in relevant_ids]
    if len(ranked_ids) != len(relevant_ids):
        raise ValueError(
            "ranked_ids and relevant_ids must have one entry per query. Received: "
            f"{len(ranked_ids)} and {len(relevant_ids)}"
        )
    ks = sorted({check_int("k", k, 1) for k in ks})
    recall = {k: [] for k in ks}
    reciprocal_ranks, ndcgs = [], []
    skipped = 0
    for ranked, relevant in zip(ranked_ids, relevant_ids):
        if not relevant:
            skipped += 1
            continue
        # First occurrence of each id only.
        ranked = list(dict.fromkeys(ranked))
        hits = [doc in relevant for doc in ranked]
        for k in ks:
            recall[k].append(sum(hits[:k]) / len(relevant))
        first = next((rank for rank, hit in enumerate(hits[:10], 1) if hit), None)
        reciprocal_ranks.append(0.0 if first is None else 1.0 / first)
        dcg = sum(
            1.0 / math.log2(rank + 1) for rank, hit in enumerate(hits[:10], 1) if hit
        )
        ideal = sum(
            1.0 / math.log2(rank + 1) for rank in range(1, min(10, len(relevant)) + 1)
        )
        ndcgs.append(dcg / ideal)

    def mean(values):
        return float(np.mean(values)) if values else math.nan

    return RetrievalReport(
        recall={k: mean(values) for k, values in recall.items()},
        mrr_at_10=mean(reciprocal_ranks),
        ndcg_at_10=mean(ndcgs),
        num_queries=len(ndcgs),
        skipped_queries=skipped,
    )
