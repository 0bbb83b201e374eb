"""Size, accuracy, agreement and latency of a model's exported variants."""

import json

__all__ = ["VariantsReport"]

# Columns of `format()`: (heading, row key, format).
_COLUMNS = (
    ("variant", "variant", "{}"),
    ("size MB", "size_mb", "{:.2f}"),
    ("size vs float32", "size_ratio", "{:.0%}"),
    ("test accuracy", "accuracy", "{:.4f}"),
    ("entity F1", "entity_f1", "{:.4f}"),
    ("micro F1", "micro_f1", "{:.4f}"),
    ("macro F1", "macro_f1", "{:.4f}"),
    ("RMSE", "rmse", "{:.4f}"),
    ("exact match", "exact_match", "{:.4f}"),
    ("F1", "f1", "{:.4f}"),
    ("recall@1", "recall_at_1", "{:.4f}"),
    ("recall@10", "recall_at_10", "{:.4f}"),
    ("MRR@10", "mrr_at_10", "{:.4f}"),
    ("BLEU", "bleu", "{:.2f}"),
    ("agreement with Keras", "agreement", "{:.2%}"),
    ("min cosine with Keras", "min_cosine", "{:.4f}"),
    ("p50 ms b1", "p50_ms_batch_1", "{:.1f}"),
    ("p99 ms b1", "p99_ms_batch_1", "{:.1f}"),
    ("p50 ms b32", "p50_ms_batch_32", "{:.1f}"),
    ("p99 ms b32", "p99_ms_batch_32", "{:.1f}"),
    ("speed-up b1", "speedup_batch_1", "{:.2f}x"),
)


class VariantsReport:
    """One row per exported variant, measured in one run.

    Sizes, p50 latency at batch 1 (the speed-up) and accuracy compare with
    the float32 SavedModel, the first row.

    Args:
        rows: list of dicts, one per variant, each with `variant`,
            `path`, `size_bytes`, `accuracy` (a tagger's: `entity_f1`, the
            entity micro-F1; a multi-label classifier's: `micro_f1` and
            `macro_f1`; a regressor's: `rmse`, in target units; a question
            answerer's: `exact_match` and `f1`, SQuAD's; an embedder's:
            `recall_at_1`, `recall_at_10` and `mrr_at_10`, and `min_cosine`;
            a generator's: `bleu`, 0 to 100),
            `agreement` (the share of test texts whose predicted label
            matches the Keras model's; a tagger's: of test words; a
            multi-label classifier's: of (text, label) decisions; a
            regressor's: of (text, target) scores within the tolerance of
            `export_variants`; a question answerer's: of questions answered
            with the same string; an embedder's: of queries whose first
            document is the Keras model's; a generator's: of prompts
            answered with the Keras model's greedy output) and
            `p50_ms_batch_<n>` / `p99_ms_batch_<n>` for each batch size
            timed. The first row is the float32 SavedModel.
        num_test_examples: int, the texts (questions, queries, prompts)
            accuracy and agreement count.
        machine: optional dict, the machine the latencies were timed on
            (`tftransformer.hardware.describe_machine()`, as `export_variants`
            records it: CPU, its features, cores, GPUs, and whether
            TensorFlow's oneDNN kernels ran, which can change a SavedModel's
            latency twofold, docs/serving.md).

    Example:
    ```python
    report = export_variants(classifier, "variants", texts, labels, texts[:200])
    print(report.format())
    report.row("litert_int8")["accuracy"]
    ```
    """

    def __init__(self, rows, num_test_examples, machine=None):
        if not rows:
            raise ValueError(f"`rows` must be a non-empty list. Received: {rows!r}")
        if machine is not None and not isinstance(machine, dict):
            raise ValueError(
                "`machine` must be None or a dict (describe_machine()). "
                f"Received: machine={machine!r}"
            )
        reference = rows[0]
        self.rows = []
        for row in rows:
            row = dict(row)
            row["size_mb"] = row["size_bytes"] / 1e6
            row["size_ratio"] = row["size_bytes"] / reference["size_bytes"]
            if "p50_ms_batch_1" in row:
                row["speedup_batch_1"] = (
                    reference["p50_ms_batch_1"] / row["p50_ms_batch_1"]
                )
            self.rows.append(row)
        self.num_test_examples = int(num_test_examples)
        self.machine = machine

    def row(self, variant):
        """The row of `variant`, a dict."""
        for row in self.rows:
            if row["variant"] == variant:
                return row
        names = [row["variant"] for row in self.rows]
        raise ValueError(f"No variant {variant!r} in the report; it has {names}")

    def format(self):
        """A Markdown table, one line per variant."""
        columns = [c for c in _COLUMNS if any(c[1] in row for row in self.rows)]
        lines = [
            "| " + " | ".join(heading for heading, _, _ in columns) + " |",
            "| --- |" + " ---: |" * (len(columns) - 1),
        ]
        for row in self.rows:
            cells = [
                fmt.format(row[key]) if row.get(key) is not None else "-"
                for _, key, fmt in columns
            ]
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def to_json(self):
        """The rows, the test size and the machine as a JSON string."""
        return json.dumps(
            {
                "num_test_examples": self.num_test_examples,
                "machine": self.machine,
                "rows": self.rows,
            },
            indent=2,
        )
