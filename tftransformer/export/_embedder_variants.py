"""The variants of a `TextEmbedder`, scored by retrieval."""

import os

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_strings
from tftransformer.evaluation.retrieval_report import evaluate_retrieval
from tftransformer.export._variant_measures import (
    check_test_set,
    latencies,
    litert_variant,
    saved_model_signature,
)
from tftransformer.export.text_classifier_export import SIGNATURE_NAME
from tftransformer.export.text_embedder_export import export_text_embedder

__all__ = ["embedder_rows"]

_BATCH = 32
_TOP = 10


def embedder_rows(
    model,
    directory,
    variants,
    formats,
    queries,
    documents,
    representative_texts,
    batch_sizes,
    calls,
    overwrite,
    litert_runtime="auto",
):
    """One report row per variant of an embedder.

    Each query's relevant document is `documents[i]`; the candidates are the
    distinct documents. A variant embeds the queries and candidates, ranks
    the candidates by cosine similarity (exact search), and is scored by
    recall@1, recall@10 and MRR@10; its agreement is the share of queries
    whose first document is the Keras model's first, and `min_cosine` the
    smallest cosine between its embedding of a text and the Keras model's.
    """
    queries = check_strings("test_texts", queries, "For an embedder, ")
    documents = check_strings("test_labels", documents, "For an embedder, ")
    check_test_set(
        queries,
        documents,
        "For an embedder, ",
        ("queries", "documents", "each query's relevant document"),
    )
    if "litert_int8" in variants:
        # Checked before any variant is written.
        calibration = check_strings(
            "representative_texts",
            [] if representative_texts is None else representative_texts,
            "litert_int8: ",
        )
        if not calibration:
            raise ValueError(
                "litert_int8 calibrates on `representative_texts`, a non-empty "
                f"list of strings. Received: representative_texts={calibration!r}"
            )
    candidates = list(dict.fromkeys(documents))
    relevant = [{candidates.index(document)} for document in documents]
    texts = queries + candidates
    reference = _unit(model.embed(texts, batch_size=_BATCH))
    reference_first = _ranked(reference, len(queries))[:, 0]
    rows = []
    for name in variants:
        export_format, precision = formats[name]
        path = os.path.join(os.fspath(directory), name)
        if export_format == "saved_model":
            path = export_text_embedder(
                model, path, version=1, overwrite=overwrite, precision=precision
            )
            serve, size_bytes = saved_model_signature(path, SIGNATURE_NAME)

            def embed(batch, serve=serve):
                return serve(text=tf.constant(batch, tf.string))["embedding"].numpy()

        else:
            litert, path, size_bytes = litert_variant(
                model,
                path,
                precision,
                overwrite,
                runtime=litert_runtime,
                representative_texts=representative_texts,
            )

            def embed(batch, litert=litert):
                return litert(list(batch))["embedding"]

        vectors = _unit(
            np.concatenate(
                [embed(texts[i : i + _BATCH]) for i in range(0, len(texts), _BATCH)]
            )
        )
        ranked = _ranked(vectors, len(queries))
        report = evaluate_retrieval(ranked, relevant, ks=(1, _TOP))
        row = {
            "variant": name,
            "path": path,
            "size_bytes": size_bytes,
            "recall_at_1": report.recall[1],
            "recall_at_10": report.recall[_TOP],
            "mrr_at_10": report.mrr_at_10,
            "agreement": float(np.mean(ranked[:, 0] == reference_first)),
            "min_cosine": float(np.min(np.sum(vectors * reference, axis=-1))),
        }
        row.update(latencies(embed, queries, batch_sizes, calls))
        rows.append(row)
    return rows


def _unit(vectors):
    """Rows scaled to unit length (full int8 leaves them near it)."""
    vectors = np.asarray(vectors, np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def _ranked(vectors, num_queries):
    """Per query, the candidates' indices by cosine, best first (top 10)."""
    scores = vectors[:num_queries] @ vectors[num_queries:].T
    return np.argsort(-scores, axis=-1, kind="stable")[:, :_TOP]
