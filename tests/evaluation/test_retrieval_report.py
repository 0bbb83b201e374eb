import math

import pytest

from tftransformer.evaluation import RetrievalReport, evaluate_retrieval


def test_hand_computed_metrics():
    # Query 0: relevant {1}, found at rank 2. Query 1: relevant {5, 6}, found
    # at ranks 1 and 3. Query 2: its relevant document is never returned.
    ranked = [[3, 1, 2], [5, 9, 6], [7, 8, 9]]
    relevant = [{1}, {5, 6}, {4}]
    report = evaluate_retrieval(ranked, relevant, ks=(1, 3))
    assert report.recall[1] == pytest.approx((0 + 0.5 + 0) / 3)
    assert report.recall[3] == pytest.approx((1 + 1 + 0) / 3)
    assert report.mrr_at_10 == pytest.approx((0.5 + 1 + 0) / 3)
    ndcg_0 = (1 / math.log2(3)) / 1.0
    ndcg_1 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert report.ndcg_at_10 == pytest.approx((ndcg_0 + ndcg_1 + 0) / 3)
    assert report.num_queries == 3


def test_perfect_ranking_and_skipped_queries(tmp_path):
    report = evaluate_retrieval([[0, 1, 2], [1, 1, 0]], [{0, 1}, set()])
    assert report.recall == {1: 0.5, 5: 1.0, 10: 1.0}
    assert report.mrr_at_10 == 1.0 and report.ndcg_at_10 == pytest.approx(1.0)
    assert report.skipped_queries == 1
    path = tmp_path / "report.json"
    report.to_json(path)
    assert RetrievalReport.from_json(path).to_dict() == report.to_dict()
    assert "nDCG@10" in report.format() and "1 without a relevant" in report.format()


def test_arguments_are_checked():
    with pytest.raises(ValueError, match="one entry per query"):
        evaluate_retrieval([[1]], [{1}, {2}])
    with pytest.raises(ValueError, match="k=0"):
        evaluate_retrieval([[1]], [{1}], ks=(0,))
    # A bare id: "doc1" was scored as the ids "d", "o", "c" and "1" (0.0).
    for relevant in ("doc1", 1):
        with pytest.raises(
            ValueError,
            match=rf"a collection of ids .*Received: relevant_ids\[0\]={relevant!r}",
        ):
            evaluate_retrieval([["doc1"]], [relevant])
