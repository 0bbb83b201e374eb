import numpy as np
import pytest

from tftransformer.models import SemanticSearchIndex


@pytest.fixture
def vectors():
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 8)).astype("float32"), rng.normal(size=(7, 8))


@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_top_k_matches_a_full_sort(vectors, metric):
    documents, queries = vectors
    index = SemanticSearchIndex(documents, metric=metric, query_batch_size=3)
    scores, ids = index.search(queries, k=5)
    if metric == "cosine":
        documents = documents / np.linalg.norm(documents, axis=1, keepdims=True)
        queries = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    full = queries @ documents.T
    expected = np.argsort(-full, axis=1)[:, :5]
    np.testing.assert_array_equal(ids, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(full, expected, 1), rtol=1e-5)


def test_ids_save_and_load(vectors, tmp_path):
    documents, queries = vectors
    names = [f"doc{i}" for i in range(len(documents))]
    index = SemanticSearchIndex(documents, ids=names)
    scores, ids = index.search(queries[0], k=100)
    assert ids.shape == (50,) and ids[0].startswith("doc")
    loaded = SemanticSearchIndex.load(index.save(tmp_path / "index"))
    again_scores, again_ids = loaded.search(queries[0], k=100)
    np.testing.assert_array_equal(again_ids, ids)
    np.testing.assert_allclose(again_scores, scores, atol=1e-6)


def test_arguments_are_checked(vectors):
    documents, _ = vectors
    with pytest.raises(ValueError, match="metric='l2'"):
        SemanticSearchIndex(documents, metric="l2")
    with pytest.raises(ValueError, match="one id per row"):
        SemanticSearchIndex(documents, ids=[1, 2])
    with pytest.raises(ValueError, match=r"shape \(num_queries, 8\)"):
        SemanticSearchIndex(documents).search(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="k=0"):
        SemanticSearchIndex(documents).search(np.zeros(8), k=0)
