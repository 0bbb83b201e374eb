import json
import os

import numpy as np
from keras import ops

from tftransformer._arguments import check_int

_METRICS = ("cosine", "dot")


class SemanticSearchIndex:
    """An exact top-k index over embeddings: every query against every row.

    Scores are dot products, or cosine similarities with `metric="cosine"`
    (rows and queries scaled to unit norm first; the same for the unit
    vectors `TextEmbedder` makes). Queries run in batches of
    `query_batch_size`, each one matrix product with the whole index and a
    top-k, computed with `keras.ops` (TensorFlow).

    Args:
        embeddings: float array `(num_documents, dim)`.
        ids: optional sequence of `num_documents` ids (ints or strings),
            returned by `search`; defaults to the row numbers.
        metric: `"cosine"` or `"dot"`.
        query_batch_size: int >= 1, queries scored at once.

    Example:
    ```python
    index = SemanticSearchIndex(embedder.embed(documents))
    scores, ids = index.search(embedder.embed(["a query"]), k=5)
    index.save("runs/index"); index = SemanticSearchIndex.load("runs/index")
    ```
    """

    def __init__(self, embeddings, ids=None, metric="cosine", query_batch_size=256):
        embeddings = np.asarray(embeddings, dtype="float32")
        if embeddings.ndim != 2 or embeddings.shape[0] < 1:
            raise ValueError(
                "embeddings must be a 2-D array with at least one row. "
                f"Received: shape={embeddings.shape}"
            )
        if not np.all(np.isfinite(embeddings)):
            raise ValueError("embeddings must be finite. Received NaN or inf values.")
        if metric not in _METRICS:
            raise ValueError(
                f"metric must be one of {_METRICS}. Received: metric={metric!r}"
            )
        if ids is None:
            ids = np.arange(len(embeddings))
        ids = np.asarray(list(ids))
        if ids.shape != (len(embeddings),):
            raise ValueError(
                f"ids must hold one id per row ({len(embeddings)}). "
                f"Received: {ids.shape[0] if ids.ndim else 0} ids"
            )
        self.metric = metric
        self.query_batch_size = check_int("query_batch_size", query_batch_size, 1)
        self.ids = ids
        self.embeddings = _unit(embeddings) if metric == "cosine" else embeddings

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
        queries = np.asarray(queries, dtype="float32")
        single = queries.ndim == 1
        queries = queries[None] if single else queries
        if queries.ndim != 2 or queries.shape[1] != self.dim:
            raise ValueError(
                f"queries must have shape (num_queries, {self.dim}). "
                f"Received: shape={np.shape(queries)}"
            )
        if self.metric == "cosine":
            queries = _unit(queries)
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
        ids = self.ids[rows]
        return (scores[0], ids[0]) if single else (scores, ids)

    def save(self, directory):
        """Writes `embeddings.npy` and `index.json` (ids, metric) to `directory`."""
        directory = os.fspath(directory)
        os.makedirs(directory, exist_ok=True)
        np.save(os.path.join(directory, "embeddings.npy"), self.embeddings)
        with open(os.path.join(directory, "index.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "metric": self.metric,
                    "query_batch_size": self.query_batch_size,
                    "ids": self.ids.tolist(),
                },
                f,
            )
        return directory

    @classmethod
    def load(cls, directory):
        """Reads an index written by `save`."""
        directory = os.fspath(directory)
        with open(os.path.join(directory, "index.json"), encoding="utf-8") as f:
            config = json.load(f)
        embeddings = np.load(os.path.join(directory, "embeddings.npy"))
        return cls(embeddings, **config)


def _unit(x):
    norms = np.linalg.norm(x, axis=-1, keepdims=True)
    return x / np.maximum(norms, 1e-12)
