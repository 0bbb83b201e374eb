import json
import sys

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


def test_an_index_saved_before_the_engines_loads_as_exact(vectors, tmp_path):
    documents, queries = vectors
    index = SemanticSearchIndex(documents, metric="dot")
    directory = tmp_path / "index"
    index.save(directory)
    config = {"metric": "dot", "query_batch_size": 256, "ids": index.ids.tolist()}
    (directory / "index.json").write_text(json.dumps(config))
    loaded = SemanticSearchIndex.load(directory)
    assert loaded.engine == "exact" and loaded.metric == "dot"
    np.testing.assert_array_equal(loaded.search(queries)[1], index.search(queries)[1])


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
    # Texts where vectors belong: the message says what to pass.
    with pytest.raises(ValueError, match=r"embed\(texts\)`, not texts.*\['a film'\]"):
        SemanticSearchIndex(["a film"])
    with pytest.raises(
        ValueError, match=r"queries must be an array of real numbers \(vectors of shape"
    ):
        SemanticSearchIndex(documents).search(["a film"])
    # Non-finite vectors: a NaN query scored NaN against ids that looked
    # like real results.
    bad = documents.copy()
    bad[3, 1] = np.inf
    with pytest.raises(
        ValueError, match=r"finite \(vectors.*Received: embeddings\[3, 1\]=inf"
    ):
        SemanticSearchIndex(bad)
    with pytest.raises(
        ValueError, match=r"finite \(vectors.*Received: queries\[0\]=nan"
    ):
        SemanticSearchIndex(documents).search(np.full(8, np.nan))
    # Mixed ids came back as strings ("10" for 10).
    with pytest.raises(ValueError, match=r"all strings or all numbers.*ids\[0\]=10"):
        SemanticSearchIndex(documents[:3], ids=[10, "b", 30])
    # Bytes made `save` fail halfway, leaving an index.json `load` could not
    # read; None saved as ids; a string was split into one id a character.
    for ids, message in (
        ([b"a", b"b", b"c"], r"ids\[0\]=b'a' of type bytes"),
        ([None] * 3, r"ids\[0\]=None of type NoneType"),
        ("abc", r"not one string. Received: ids='abc'"),
    ):
        with pytest.raises(ValueError, match=message):
            SemanticSearchIndex(documents[:3], ids=ids)


APPROXIMATE = [
    dict(engine="faiss_flat"),
    dict(engine="faiss_hnsw", hnsw_ef_search=64),
    dict(engine="faiss_ivf", ivf_nlist=4, ivf_nprobe=4),
]


@pytest.mark.parametrize("settings", APPROXIMATE, ids=lambda s: s["engine"])
@pytest.mark.parametrize("metric", ["cosine", "dot"])
def test_faiss_equals_exact_with_exhaustive_settings(vectors, settings, metric):
    documents, queries = vectors
    exact_scores, exact_ids = SemanticSearchIndex(documents, metric=metric).search(
        queries, k=10
    )
    index = SemanticSearchIndex(documents, metric=metric, **settings)
    scores, ids = index.search(queries, k=10)
    np.testing.assert_array_equal(ids, exact_ids)
    np.testing.assert_allclose(scores, exact_scores, rtol=1e-5, atol=1e-5)
    one_scores, one_ids = index.search(queries[0], k=3)
    assert one_scores.shape == one_ids.shape == (3,)


def _clustered_corpus(num_documents=4000, num_queries=100, dim=32, clusters=40):
    rng = np.random.default_rng(1)
    centres = rng.normal(size=(clusters, dim))
    documents = centres[rng.integers(clusters, size=num_documents)]
    documents = documents + 0.5 * rng.normal(size=documents.shape)
    queries = centres[rng.integers(clusters, size=num_queries)]
    return documents, queries + 0.5 * rng.normal(size=queries.shape)


@pytest.mark.parametrize("engine", ["faiss_hnsw", "faiss_ivf"])
def test_default_settings_recall_at_10(engine):
    documents, queries = _clustered_corpus()
    _, exact = SemanticSearchIndex(documents).search(queries, k=10)
    _, found = SemanticSearchIndex(documents, engine=engine).search(queries, k=10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact)])
    assert recall >= 0.9, recall


@pytest.mark.parametrize("engine", ["faiss_hnsw", "faiss_ivf"])
def test_faiss_save_and_load_give_the_same_answers(engine, tmp_path):
    documents, queries = _clustered_corpus(num_documents=1000, num_queries=20)
    names = [f"doc{i}" for i in range(len(documents))]
    index = SemanticSearchIndex(documents, ids=names, engine=engine, ivf_nprobe=2)
    scores, ids = index.search(queries, k=10)
    directory = index.save(tmp_path / "index")
    assert (tmp_path / "index" / "faiss.index").exists()
    loaded = SemanticSearchIndex.load(directory)
    assert loaded.get_config() == index.get_config()
    again_scores, again_ids = loaded.search(queries, k=10)
    np.testing.assert_array_equal(again_ids, ids)
    np.testing.assert_array_equal(again_scores, scores)


@pytest.mark.parametrize("names", [False, True])
def test_missing_rows_get_minus_inf_and_a_filler_id(vectors, names):
    # One cell per row, one cell probed: fewer than k rows are found.
    documents, queries = vectors
    ids = [f"doc{i}" for i in range(len(documents))] if names else None
    index = SemanticSearchIndex(
        documents, ids=ids, engine="faiss_ivf", ivf_nlist=50, ivf_nprobe=1
    )
    scores, found = index.search(queries, k=5)
    missing = found == ("" if names else -1)
    assert missing.any() and not missing.all()
    np.testing.assert_array_equal(np.isneginf(scores), missing)


def test_engine_arguments_are_checked(vectors):
    documents, _ = vectors
    with pytest.raises(ValueError, match="engine='annoy'"):
        SemanticSearchIndex(documents, engine="annoy")
    with pytest.raises(ValueError, match="hnsw_m=1"):
        SemanticSearchIndex(documents, engine="faiss_hnsw", hnsw_m=1)
    with pytest.raises(ValueError, match="hnsw_ef_search=0"):
        SemanticSearchIndex(documents, engine="faiss_hnsw", hnsw_ef_search=0)
    with pytest.raises(ValueError, match=r"\[1, 50\].*ivf_nlist=51"):
        SemanticSearchIndex(documents, engine="faiss_ivf", ivf_nlist=51)
    with pytest.raises(ValueError, match="ivf_nprobe=0"):
        SemanticSearchIndex(documents, engine="faiss_ivf", ivf_nprobe=0)


def test_a_missing_faiss_names_the_engine_and_the_extra(vectors, monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(ImportError, match=r"faiss_hnsw.*tftransformer\[search\]"):
        SemanticSearchIndex(vectors[0], engine="faiss_hnsw")
    SemanticSearchIndex(vectors[0]).search(vectors[1], k=2)  # exact needs none
