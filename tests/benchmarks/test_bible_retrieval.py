import pytest

VERSES = [
    ("Genesis 1:1", "In the beginning, God created the heavens.", "In the beginning"),
    ("Genesis 1:3", "God said, Let there be light.", "And God said, Let there be"),
    ("John 11:35", "Jesus wept.", "Jesus wept."),
    ("Psalm 23:1", "Yahweh is my shepherd.", "The Lord is my shepherd"),
    ("Psalm 117:1", "Praise Yahweh, all you nations!", "O praise the Lord, all"),
    ("Mark 1:1", "The beginning of the Good News.", "The beginning of the gospel"),
]


def test_split_is_disjoint_and_seeded(retrieval_bench):
    english = [f"web {i}" for i in range(10)]
    kjv = [f"kjv {i}" for i in range(10)]
    evaluation, training = retrieval_bench.split_verses(english, kjv, 3, 5, seed=1)
    assert len(evaluation) == 3 and len(training) == 5
    assert not set(evaluation.anchors) & set(training.anchors)
    # Each pair keeps its verse's two translations together.
    for web, king_james in zip(evaluation.anchors, evaluation.positives):
        assert web.split()[1] == king_james.split()[1]
    again, _ = retrieval_bench.split_verses(english, kjv, 3, 5, seed=1)
    assert again.anchors == evaluation.anchors
    with pytest.raises(ValueError, match="max_verses=8, train_verses=5"):
        retrieval_bench.split_verses(english, kjv, 8, 5)
    with pytest.raises(ValueError, match="train_verses=0"):
        retrieval_bench.split_verses(english, kjv, 3, 0)
    with pytest.raises(ValueError, match="10 and 9"):
        retrieval_bench.split_verses(english, kjv[:9], 3, 5)


def test_before_and_after_fine_tuning(
    retrieval_bench, small_vocabulary_preset, tmp_path
):
    path = tmp_path / "bible.tsv"
    lines = [f"reference\ten\t{retrieval_bench.KJV_MODULE}"]
    lines += ["\t".join(verse) for verse in VERSES]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    results = retrieval_bench.run_benchmark(
        str(path),
        max_verses=4,
        train_verses=2,
        batch_size=2,
        max_length=16,
        preset=small_vocabulary_preset,
        variants_dir=str(tmp_path / "variants"),
        variants=["saved_model_float32"],
        calls=(1, 1),
    )
    for key in ("before", "after"):
        report = results[key]
        assert report["num_queries"] == 4
        # Among 4 candidates the top 10 holds every verse.
        assert report["recall"]["10"] == 1.0
        assert 0.25 <= report["mrr_at_10"] <= 1.0
        assert report["recall"]["1"] <= report["mrr_at_10"]
    table = retrieval_bench.format_markdown(results)
    assert "| model | recall@1 | recall@10 | MRR@10 |" in table
    assert "4 evaluation verses, 2 training pairs (disjoint, of 6)" in table
    # The serving variants of the fine-tuned embedder, scored as it is.
    rows = {row["variant"]: row for row in results["variants"]}
    assert list(rows) == ["saved_model_float32"]
    for row in rows.values():
        assert row["min_cosine"] > 0.9999, row
        assert row["mrr_at_10"] == pytest.approx(results["after"]["mrr_at_10"])
    assert "| saved_model_float32 |" in table
