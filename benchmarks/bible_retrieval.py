r"""Cross-translation verse retrieval before and after contrastive fine-tuning.

A paraphrase-retrieval set built offline from two English Bibles, verse by
verse: the World English Bible (`sword-text-web`) and the King James
Version (`sword-text-kjv`), exported and aligned like the translation
corpus (`make retrieval-data` writes `runs/data/bible_web_kjv.tsv` with
`tft.datasets.export_bible_pairs`). The verses are shuffled with `--seed`;
the first `--max_verses` are the evaluation set, the next `--train_verses`
(disjoint from them) the training pairs.

Each World English verse of the evaluation set queries the King James
verses of the same set (exact search, `tft.models.SemanticSearchIndex`)
for its top 10; the relevant verse is the same reference (the Bible
repeats some verses word for word: an identical verse ranked first counts
as a miss). recall@1, recall@10 and MRR@10
(`tft.evaluation.evaluate_retrieval`) are measured with the embedded
all-MiniLM-L6-v2 `TextEmbedder`, then again after `--epochs` of
contrastive fine-tuning on the training pairs
(`tft.models.ContrastiveEmbedder`, `MultipleNegativesRankingLoss` with
in-batch negatives, `--symmetric`, AdamW).

With `--variants_dir`, the embedder as it ends (with `--epochs=0`, the
embedded checkpoint as shipped) is then exported in every serving variant
(`tft.export.export_variants`: SavedModels in float32 and int8, LiteRT in
float32, dynamic-range int8 and full int8 calibrated on 200 training
verses), and each is scored on the evaluation verses the same way, next
to its size and latency.

Usage:
```
make retrieval-data
python benchmarks/bible_retrieval.py --max_verses=2000 --train_verses=4000
python benchmarks/bible_retrieval.py --max_verses=1000 --train_verses=200 \
    --epochs=0 --variants_dir=runs/bible_retrieval/variants
```
"""

import datetime
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN).
import tftransformer as tft

# isort: split
import keras
import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS
# The SWORD module of sword-text-kjv, the second column of the pairs file.
KJV_MODULE = "engKJV2006eb"


def split_verses(english, kjv, max_verses, train_verses, seed=0):
    """`(evaluation, training)` `TextPairs`, disjoint, from a seeded shuffle."""
    if len(english) != len(kjv):
        raise ValueError(
            f"english and kjv must pair up. Received: {len(english)} and {len(kjv)}"
        )
    for name, value in (("max_verses", max_verses), ("train_verses", train_verses)):
        if value < 1:
            raise ValueError(f"{name} must be positive. Received: {name}={value}")
    if max_verses + train_verses > len(english):
        raise ValueError(
            f"max_verses + train_verses must be at most the {len(english)} "
            f"verses. Received: max_verses={max_verses}, train_verses={train_verses}"
        )
    order = np.random.default_rng(seed).permutation(len(english))
    parts = (order[:max_verses], order[max_verses : max_verses + train_verses])
    return tuple(
        tft.data.TextPairs(
            tuple(english[i] for i in part),
            tuple(kjv[i] for i in part),
            source="Bible WEB-KJV",
        )
        for part in parts
    )


def evaluate(embedder, pairs, batch_size=64):
    """Retrieval of each anchor's positive among all positives."""
    queries = embedder.embed(list(pairs.anchors), batch_size=batch_size)
    corpus = embedder.embed(list(pairs.positives), batch_size=batch_size)
    _, ids = tft.models.SemanticSearchIndex(corpus).search(queries, k=10)
    return tft.evaluation.evaluate_retrieval(
        ids, [[i] for i in range(len(pairs))], ks=(1, 10)
    )


def fine_tune(embedder, pairs, epochs, batch_size, learning_rate, symmetric, seed):
    """Contrastive fine-tuning of `embedder` in place, in-batch negatives."""
    keras.utils.set_random_seed(seed)
    model = tft.models.ContrastiveEmbedder(embedder)
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate),
        loss=tft.finetune.MultipleNegativesRankingLoss(symmetric=symmetric),
    )
    for epoch in range(epochs):
        dataset = tft.data.make_pair_dataset(
            pairs, embedder.preprocessor, batch_size, shuffle=True, seed=(seed, epoch)
        )
        # make_pair_dataset shuffled it.
        model.fit(dataset, epochs=1, verbose=0, shuffle=False)


def run_benchmark(
    pairs_file,
    max_verses,
    train_verses,
    epochs=1,
    batch_size=32,
    learning_rate=2e-5,
    symmetric=True,
    max_length=128,
    seed=0,
    preset="embedded",
    variants_dir=None,
    variants=None,
    calls=(50, 10),
):
    """Scores before and after fine-tuning, and with `variants_dir` each
    serving variant's; returns the results dict."""
    english, kjv = tft.data.load_sentence_pairs(pairs_file, "en", KJV_MODULE)
    evaluation, training = split_verses(english, kjv, max_verses, train_verses, seed)
    embedder = tft.models.TextEmbedder.from_preset(preset, sequence_length=max_length)
    start = time.perf_counter()
    before = evaluate(embedder, evaluation)
    evaluate_seconds = time.perf_counter() - start
    start = time.perf_counter()
    fine_tune(embedder, training, epochs, batch_size, learning_rate, symmetric, seed)
    train_seconds = time.perf_counter() - start
    after = evaluate(embedder, evaluation)
    report = None
    if variants_dir:
        report = tft.export.export_variants(
            embedder,
            variants_dir,
            list(evaluation.anchors),
            list(evaluation.positives),
            list(training.anchors)[:200],
            variants=variants,
            calls=calls,
            overwrite=True,
        )
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        "machine": tft.hardware.describe_machine()["summary"],
        "load_average": os.getloadavg()[0],
        "verses": len(english),
        "settings": {
            "max_verses": max_verses,
            "train_verses": train_verses,
            "epochs": epochs,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "symmetric": symmetric,
            "max_length": max_length,
            "seed": seed,
        },
        "before": before.to_dict(),
        "after": after.to_dict(),
        "evaluate_seconds": evaluate_seconds,
        "train_seconds": train_seconds,
        "variants": None if report is None else report.rows,
        "variants_table": None if report is None else report.format(),
    }


def format_markdown(results):
    lines = [
        "| model | recall@1 | recall@10 | MRR@10 |",
        "| --- | ---: | ---: | ---: |",
    ]
    for key, label in (("before", "all-MiniLM-L6-v2"), ("after", "fine-tuned")):
        report = results[key]
        lines.append(
            f"| {label} | {report['recall']['1']:.3f} | {report['recall']['10']:.3f} "
            f"| {report['mrr_at_10']:.3f} |"
        )
    settings = results["settings"]
    lines += [
        "",
        f"{settings['max_verses']} evaluation verses, {settings['train_verses']} "
        f"training pairs (disjoint, of {results['verses']}), {settings['epochs']} "
        f"epoch(s), batch {settings['batch_size']}, learning rate "
        f"{settings['learning_rate']:g}, max length {settings['max_length']}; "
        f"fine-tuning took {results['train_seconds']:.0f} s, one evaluation "
        f"{results['evaluate_seconds']:.0f} s. Machine: {results['machine']}; "
        f"1-minute load average {results['load_average']:.1f}.",
    ]
    if results.get("variants_table"):
        lines += ["", results["variants_table"]]
    return "\n".join(lines)


def main(_):
    if not os.path.exists(FLAGS.pairs_file):
        raise app.UsageError(
            f"--pairs_file={FLAGS.pairs_file} does not exist; `make "
            "retrieval-data` writes the default one."
        )
    results = run_benchmark(
        FLAGS.pairs_file,
        FLAGS.max_verses,
        FLAGS.train_verses,
        epochs=FLAGS.epochs,
        batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate,
        symmetric=FLAGS.symmetric,
        max_length=FLAGS.max_length,
        seed=FLAGS.seed,
        variants_dir=FLAGS.variants_dir,
    )
    print(format_markdown(results))
    if FLAGS.output:
        os.makedirs(os.path.dirname(FLAGS.output) or ".", exist_ok=True)
        with open(FLAGS.output, "w") as f:
            json.dump(results, f, indent=2)


def define_flags():
    """The script's flags; defined only when it runs as a script."""
    flags.DEFINE_string("pairs_file", "runs/data/bible_web_kjv.tsv", "WEB-KJV TSV.")
    flags.DEFINE_integer("max_verses", 2000, "Evaluation verses (queries).")
    flags.DEFINE_integer("train_verses", 4000, "Training pairs, disjoint.")
    flags.DEFINE_integer("epochs", 1, "Fine-tuning epochs (0: none).")
    flags.DEFINE_integer("batch_size", 32, "Pairs per batch (in-batch negatives).")
    flags.DEFINE_float("learning_rate", 2e-5, "AdamW learning rate.")
    flags.DEFINE_bool("symmetric", True, "Also rank anchors for each positive.")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized verse.")
    flags.DEFINE_integer("seed", 0, "Seed of the split and the training.")
    flags.DEFINE_string("output", None, "Also write the results as JSON here.")
    flags.DEFINE_string(
        "variants_dir", None, "Also export and score every serving variant here."
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
