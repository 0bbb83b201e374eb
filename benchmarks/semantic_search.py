r"""Recall@10 and queries/s of the `SemanticSearchIndex` engines on Bible verses.

Embeds the English verses of the verse-aligned Bible corpus (World English
Bible; `make translation-data` writes `runs/data/bible_en_es.tsv`) with the
embedded all-MiniLM-L6-v2 `TextEmbedder`, once: the vectors are cached in
`--embeddings_file` and reused by later runs. `--num_queries` verses, drawn
with `--seed`, are held out as queries; the others are the corpus. Each
engine searches all queries for their top 10 in one call, `--repeats` times
after one untimed call; the table gives the median queries/s with the
slowest and fastest repeat, the ratio to exact TensorFlow search measured in
the same run, the build time, and recall@10 against exact search (the share
of the exact top 10 found, `tft.evaluation.evaluate_retrieval`).

Usage:
```
python benchmarks/semantic_search.py
python benchmarks/semantic_search.py --max_verses=10000 --repeats=3
```
"""

import os
import platform
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
from absl import app, flags

import tftransformer as tft

FLAGS = flags.FLAGS
flags.DEFINE_string("pairs_file", "runs/data/bible_en_es.tsv", "Bible TSV.")
flags.DEFINE_string(
    "embeddings_file", "runs/semantic_search/bible_en_minilm.npy", "Vector cache."
)
flags.DEFINE_integer(
    "max_verses", None, "Embed only the first N verses.", lower_bound=2
)
flags.DEFINE_integer("num_queries", 1000, "Verses held out as queries.", lower_bound=1)
flags.DEFINE_integer("repeats", 5, "Timed repeats per engine.", lower_bound=1)
flags.DEFINE_integer("seed", 0, "Seed of the held-out queries.")

# (label, constructor settings, settings changed on the built index)
ENGINES = [
    ("exact (TensorFlow)", {"engine": "exact"}, {}),
    ("faiss_flat", {"engine": "faiss_flat"}, {}),
    *[
        (
            f"faiss_hnsw M=32 efSearch={ef}",
            {"engine": "faiss_hnsw"},
            {"hnsw_ef_search": ef},
        )
        for ef in (16, 64, 128)
    ],
    *[
        (
            f"faiss_ivf nlist=default nprobe={nprobe}",
            {"engine": "faiss_ivf"},
            {"ivf_nprobe": nprobe},
        )
        for nprobe in (4, 16, 64)
    ],
]


def embed_verses(pairs_file, embeddings_file, max_verses):
    """The English verses' embeddings, from the cache when it matches."""
    english, _ = tft.data.load_sentence_pairs(pairs_file, "en", "es")
    english = list(english)[:max_verses]
    if os.path.exists(embeddings_file):
        vectors = np.load(embeddings_file)
        if len(vectors) == len(english):
            return vectors, 0.0
    embedder = tft.models.TextEmbedder.from_preset("embedded")
    start = time.perf_counter()
    vectors = embedder.embed(english, batch_size=64)
    seconds = time.perf_counter() - start
    os.makedirs(os.path.dirname(embeddings_file) or ".", exist_ok=True)
    np.save(embeddings_file, vectors)
    return vectors, seconds


def time_searches(index, queries, repeats):
    index.search(queries, k=10)  # untimed: graph tracing, caches
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        index.search(queries, k=10)
        seconds.append(time.perf_counter() - start)
    return len(queries) / np.array(seconds)


def main(_):
    if not os.path.exists(FLAGS.pairs_file):
        raise app.UsageError(
            f"--pairs_file={FLAGS.pairs_file} does not exist; `make "
            "translation-data` writes the default one."
        )
    vectors, embed_seconds = embed_verses(
        FLAGS.pairs_file, FLAGS.embeddings_file, FLAGS.max_verses
    )
    if FLAGS.num_queries >= len(vectors):
        raise app.UsageError(
            f"--num_queries must be below the {len(vectors)} verses, which "
            f"leave the rest to index. Received: --num_queries={FLAGS.num_queries}"
        )
    rng = np.random.default_rng(FLAGS.seed)
    held_out = rng.permutation(len(vectors))[: FLAGS.num_queries]
    queries = vectors[held_out]
    corpus = np.delete(vectors, held_out, axis=0)
    print(
        f"{len(vectors)} verses ({len(corpus)} indexed, {len(queries)} queries), "
        f"dim {vectors.shape[1]}"
        + (f"; embedded in {embed_seconds:.0f} s" if embed_seconds else "; cached")
    )
    _, exact_ids = tft.models.SemanticSearchIndex(corpus).search(queries, k=10)
    rows, baseline = [], None
    for label, settings, search_settings in ENGINES:
        start = time.perf_counter()
        index = tft.models.SemanticSearchIndex(corpus, **settings)
        build_seconds = time.perf_counter() - start
        for name, value in search_settings.items():
            setattr(index, name, value)
        rates = time_searches(index, queries, FLAGS.repeats)
        _, ids = index.search(queries, k=10)
        recall = tft.evaluation.evaluate_retrieval(ids, exact_ids, ks=(10,))
        median = float(np.median(rates))
        baseline = baseline or median
        rows.append(
            f"| {label} | {recall.recall[10]:.3f} | {median:,.0f} "
            f"({rates.min():,.0f}-{rates.max():,.0f}) | {median / baseline:.1f}x "
            f"| {build_seconds:.1f} |"
        )
    print(
        "| engine | recall@10 vs exact | queries/s, median (min-max) "
        "| vs exact | build s |"
    )
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))
    print(
        f"Machine: {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, {FLAGS.repeats} repeats of {len(queries)} "
        "queries (k=10) per engine."
    )


if __name__ == "__main__":
    app.run(main)
