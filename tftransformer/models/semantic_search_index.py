import inspect
import json
import math
import numbers
import os

import numpy as np
from keras import ops

from tftransformer._arguments import check_choice, check_int, check_real_array

_METRICS = ("cosine", "dot")
_ENGINES = ("exact", "faiss_flat", "faiss_hnsw", "faiss_ivf")
_FAISS_FILE = "faiss.index"


def _vectors(name, value, shape):
    """`value` as a finite float32 array; a clear error for texts or other
    objects, and for NaN or inf (scores would be NaN, with ids that look
    like real results)."""
    what = f" (vectors of shape {shape}, e.g. `embedder.embed(texts)`, not texts)"
    return check_real_array(name, value, what=what, dtype="float32")


def _ids_array(ids, count):
    """`ids` (None: the row numbers) as a 1-D array of `count` ids, all
    numbers or all strings: NumPy would turn mixed ids into strings."""
    if ids is None:
        return np.arange(count)
    if isinstance(ids, (str, bytes)):
        # A string is a sequence of characters, one id each.
        raise ValueError(
            f"ids must be a sequence of ids, one per row, not one string. "
            f"Received: ids={ids!r:.100}"
        )
    ids = list(ids)
    for position, value in enumerate(ids):
        # JSON (`save`) holds ints, floats and strings.
        if isinstance(value, bool) or not isinstance(
            value, (str, numbers.Integral, numbers.Real)
        ):
            raise ValueError(
                "ids must be numbers or strings. Received: "
                f"ids[{position}]={value!r} of type {type(value).__name__}"
            )
    kinds = {isinstance(i, str) for i in ids}
    if len(kinds) > 1:
        first = next(i for i in ids if not isinstance(i, str))
        raise ValueError(
            "ids must be all strings or all numbers; mixed, they would all "
            f"come back as strings. Received: ids[{ids.index(first)}]={first!r} "
            "among strings"
        )
    ids = np.asarray(ids)
    if ids.shape != (count,):
        raise ValueError(
            f"ids must hold one id per row ({count}). "
            f"Received: {ids.shape[0] if ids.ndim else 0} ids"
        )
    return ids


class SemanticSearchIndex:
    """A top-k index over embeddings, exact by default or approximate (FAISS).

    Scores are dot products, or cosine similarities with `metric="cosine"`
    (rows and queries scaled to unit norm first; the same for the unit
    vectors `TextEmbedder` makes). With `engine="exact"` queries run in
    batches of `query_batch_size`, each one matrix product with the whole
    index and a top-k, computed with `keras.ops` (TensorFlow). The other
    engines hand the same inner products to FAISS (`pip install
    tftransformer[search]`):

    - `"faiss_flat"`: exact, FAISS's brute force (`IndexFlatIP`).
    - `"faiss_hnsw"`: a graph (`IndexHNSWFlat`) of `hnsw_m` links per row,
      built with `hnsw_ef_construction` candidates and searched with
      `hnsw_ef_search`; larger is slower and closer to exact.
    - `"faiss_ivf"`: `ivf_nlist` k-means cells (`IndexIVFFlat`), of which
      the `ivf_nprobe` nearest are searched; `ivf_nprobe >= ivf_nlist` is
      exhaustive. The cells are trained on the rows themselves.

    `hnsw_ef_search` and `ivf_nprobe` are read at each search: set them on
    a built index to trade speed for recall without rebuilding it.

    An approximate engine may find fewer than `k` rows for a query; the
    missing places get the score `-inf` and the id `-1` (`""` for string
    ids).

    Args:
        embeddings: float array `(num_documents, dim)`.
        ids: optional sequence of `num_documents` ids (ints or strings),
            returned by `search`; defaults to the row numbers. An id may
            repeat (several chunks of one document): `search` then may
            return it more than once.
        metric: `"cosine"` or `"dot"`.
        query_batch_size: int >= 1, queries scored at once (exact engine).
        engine: `"exact"`, `"faiss_flat"`, `"faiss_hnsw"` or `"faiss_ivf"`.
        hnsw_m: int >= 2, graph links per row (`"faiss_hnsw"`).
        hnsw_ef_construction: int >= 1, candidates kept while building.
        hnsw_ef_search: int >= 1, candidates kept while searching.
        ivf_nlist: optional int in `[1, num_documents]`, the cells
            (`"faiss_ivf"`); defaults to `4 * sqrt(num_documents)`, at most
            one cell per 39 rows (FAISS's least training rows per cell).
        ivf_nprobe: int >= 1, the cells searched per query.

    Example:
    ```python
    index = SemanticSearchIndex(embedder.embed(documents))
    scores, ids = index.search(embedder.embed(["a query"]), k=5)
    index.save("runs/index"); index = SemanticSearchIndex.load("runs/index")
    ```
    """

    def __init__(
        self,
        embeddings,
        ids=None,
        metric="cosine",
        query_batch_size=256,
        engine="exact",
        hnsw_m=32,
        hnsw_ef_construction=80,
        hnsw_ef_search=64,
        ivf_nlist=None,
        ivf_nprobe=16,
    ):
        self._configure(
            embeddings,
            ids=ids,
            metric=metric,
            query_batch_size=query_batch_size,
            engine=engine,
            hnsw_m=hnsw_m,
            hnsw_ef_construction=hnsw_ef_construction,
            hnsw_ef_search=hnsw_ef_search,
            ivf_nlist=ivf_nlist,
            ivf_nprobe=ivf_nprobe,
        )
        self._faiss_index = self._build_faiss_index()

    def _configure(
        self,
        embeddings,
        ids,
        metric,
        query_batch_size,
        engine,
        hnsw_m,
        hnsw_ef_construction,
        hnsw_ef_search,
        ivf_nlist,
        ivf_nprobe,
    ):
        embeddings = _vectors("embeddings", embeddings, "(num_documents, dim)")
        if embeddings.ndim != 2 or embeddings.shape[0] < 1:
            raise ValueError(
                "embeddings must be a 2-D array with at least one row. "
                f"Received: shape={embeddings.shape}"
            )
        check_choice("metric", metric, _METRICS)
        ids = _ids_array(ids, len(embeddings))
        check_choice("engine", engine, _ENGINES)
        self.metric = metric
        self.query_batch_size = check_int("query_batch_size", query_batch_size, 1)
        self.engine = engine
        self.hnsw_m = check_int("hnsw_m", hnsw_m, 2)
        self.hnsw_ef_construction = check_int(
            "hnsw_ef_construction", hnsw_ef_construction, 1
        )
        self.hnsw_ef_search = check_int("hnsw_ef_search", hnsw_ef_search, 1)
        self.ivf_nlist = (
            None
            if ivf_nlist is None
            else check_int(
                "ivf_nlist", ivf_nlist, 1, len(embeddings), " (at most one per row)"
            )
        )
        self.ivf_nprobe = check_int("ivf_nprobe", ivf_nprobe, 1)
        self.ids = ids
        self.embeddings = _unit(embeddings) if metric == "cosine" else embeddings

    def get_config(self):
        """The constructor's arguments other than `embeddings` and `ids`."""
        return {
            "metric": self.metric,
            "query_batch_size": self.query_batch_size,
            "engine": self.engine,
            "hnsw_m": self.hnsw_m,
            "hnsw_ef_construction": self.hnsw_ef_construction,
            "hnsw_ef_search": self.hnsw_ef_search,
            "ivf_nlist": self.ivf_nlist,
            "ivf_nprobe": self.ivf_nprobe,
        }

    def _build_faiss_index(self):
        if self.engine == "exact":
            return None
        faiss = _import_faiss(self.engine)
        if self.engine == "faiss_flat":
            index = faiss.IndexFlatIP(self.dim)
        elif self.engine == "faiss_hnsw":
            index = faiss.IndexHNSWFlat(
                self.dim, self.hnsw_m, faiss.METRIC_INNER_PRODUCT
            )
            index.hnsw.efConstruction = self.hnsw_ef_construction
        else:
            nlist = self.ivf_nlist or max(
                1, min(int(4 * math.sqrt(len(self))), len(self) // 39)
            )
            index = faiss.IndexIVFFlat(
                faiss.IndexFlatIP(self.dim), self.dim, nlist, faiss.METRIC_INNER_PRODUCT
            )
            index.train(self.embeddings)
        index.add(self.embeddings)
        return index

    def __len__(self):
        return len(self.embeddings)

    @property
    def dim(self):
        """The embeddings' width."""
        return self.embeddings.shape[1]

    def search(self, queries, k=10):
        """The `k` best rows for each query.

        Args:
            queries: float array `(num_queries, dim)` or one `(dim,)` vector.
            k: int >= 1; at most the index size is returned.

        Returns:
            A tuple `(scores, ids)`: float32 `(num_queries, k)` scores, best
            first, and the matching ids (`(k,)` each for one vector).
        """
        k = min(check_int("k", k, 1), len(self))
        queries = _vectors("queries", queries, f"(num_queries, {self.dim})")
        single = queries.ndim == 1
        queries = queries[None] if single else queries
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"queries must have shape (num_queries, {self.dim}). "
                f"Received: shape={np.shape(queries)}"
            )
        if self.metric == "cosine":
            queries = _unit(queries)
        if self._faiss_index is not None:
            scores, rows = self._faiss_search(queries, k)
        else:
            scores, rows = self._exact_search(queries, k)
        if (rows < 0).any():
            filler = "" if self.ids.dtype.kind in "US" else -1
            ids = np.where(rows >= 0, self.ids[np.maximum(rows, 0)], filler)
            scores = np.where(rows >= 0, scores, -np.inf).astype("float32")
        else:
            ids = self.ids[rows]
        return (scores[0], ids[0]) if single else (scores, ids)

    def _faiss_search(self, queries, k):
        index = self._faiss_index
        if self.engine == "faiss_hnsw":
            index.hnsw.efSearch = max(self.hnsw_ef_search, k)
        elif self.engine == "faiss_ivf":
            index.nprobe = min(self.ivf_nprobe, index.nlist)
        if not len(queries):
            return np.zeros((0, k), "float32"), np.zeros((0, k), "int64")
        return index.search(np.ascontiguousarray(queries), k)

    def _exact_search(self, queries, k):
        documents = ops.convert_to_tensor(self.embeddings)
        all_scores, all_rows = [], []
        for start in range(0, len(queries), self.query_batch_size):
            batch = ops.convert_to_tensor(
                queries[start : start + self.query_batch_size]
            )
            # (batch, num_documents)
            scores = ops.matmul(batch, ops.transpose(documents))
            top_scores, rows = ops.top_k(scores, k=k, sorted=True)
            all_scores.append(ops.convert_to_numpy(top_scores))
            all_rows.append(ops.convert_to_numpy(rows))
        scores = (
            np.concatenate(all_scores) if all_scores else np.zeros((0, k), "float32")
        )
        rows = np.concatenate(all_rows) if all_rows else np.zeros((0, k), "int64")
        return scores, rows

    def save(self, directory):
        """Writes the index to `directory`.

        `embeddings.npy`, `index.json` (ids and `get_config()`) and, for a
        FAISS engine, FAISS's own `faiss.index` (`faiss.write_index`), so
        that `load` searches the same graph or cells without rebuilding.
        """
        directory = os.fspath(directory)
        # Serialized before any file is written: a failure leaves none.
        index_json = json.dumps({**self.get_config(), "ids": self.ids.tolist()})
        os.makedirs(directory, exist_ok=True)
        np.save(os.path.join(directory, "embeddings.npy"), self.embeddings)
        with open(os.path.join(directory, "index.json"), "w", encoding="utf-8") as f:
            f.write(index_json)
        if self._faiss_index is not None:
            _import_faiss(self.engine).write_index(
                self._faiss_index, os.path.join(directory, _FAISS_FILE)
            )
        return directory

    @classmethod
    def load(cls, directory):
        """Reads an index written by `save`."""
        directory = os.fspath(directory)
        with open(os.path.join(directory, "index.json"), encoding="utf-8") as f:
            config = json.load(f)
        embeddings = np.load(os.path.join(directory, "embeddings.npy"))
        # Files written before the engines existed hold no engine settings.
        defaults = {
            name: parameter.default
            for name, parameter in inspect.signature(cls).parameters.items()
            if name != "embeddings"
        }
        index = cls.__new__(cls)
        index._configure(embeddings, **{**defaults, **config})
        index._faiss_index = None
        if index.engine != "exact":
            path = os.path.join(directory, _FAISS_FILE)
            index._faiss_index = _import_faiss(index.engine).read_index(path)
            if index._faiss_index.ntotal != len(index):
                raise ValueError(
                    f"{path} holds {index._faiss_index.ntotal} rows where "
                    f"embeddings.npy holds {len(index)}."
                )
        return index


def _import_faiss(engine):
    """FAISS, imported only when an approximate engine is asked for."""
    try:
        import faiss
    except ImportError as error:
        raise ImportError(
            f"engine={engine!r} needs FAISS, which is not installed: "
            "pip install tftransformer[search]"
        ) from error
    return faiss


def _unit(x):
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
