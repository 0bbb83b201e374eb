"""Writing every serving variant of a text classifier and measuring each."""

import os
import time

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int
from tftransformer.export.litert_export import export_litert
from tftransformer.export.litert_model import LiteRTModel
from tftransformer.export.text_classifier_export import (
    SIGNATURE_NAME,
    export_for_serving,
)
from tftransformer.export.variants_report import VariantsReport

__all__ = ["VARIANTS", "export_variants"]

# Name -> (format, precision or quantization). The float32 SavedModel is
# the reference the others are measured against.
VARIANTS = {
    "saved_model_float32": ("saved_model", "float32"),
    "saved_model_int8": ("saved_model", "int8"),
    "litert_float32": ("litert", None),
    "litert_dynamic_int8": ("litert", "dynamic_int8"),
    "litert_int8": ("litert", "int8"),
}
_PREDICT_BATCH = 32


def export_variants(
    model,
    directory,
    test_texts,
    test_labels,
    representative_texts,
    variants=tuple(VARIANTS),
    batch_sizes=(1, 32),
    calls=(50, 10),
    overwrite=False,
):
    """Exports a text classifier in every variant and measures each in one run.

    Writes `<directory>/<variant>/` for each variant (a SavedModel version
    `1/`, or `model.tflite`), then loads each in this process and measures
    its size on disk, its test accuracy, its agreement with the Keras
    model's predicted labels and its latency (p50 / p99 over `calls` calls
    of each batch size, after two warmup calls). The LiteRT interpreter
    uses its default threads, TensorFlow its default pools.

    Args:
        model: a built `tftransformer.models.TextClassifier` on single texts.
        directory: str, where the variants are written.
        test_texts: list of strings, the held-out texts.
        test_labels: list of int class ids, one per test text.
        representative_texts: list of strings drawn from the training data,
            for the calibrated `litert_int8` variant (a few hundred are
            plenty).
        variants: names from `VARIANTS`; `saved_model_float32` first, the
            reference.
        batch_sizes: batch sizes timed.
        calls: timed calls per batch size, one count per entry of
            `batch_sizes`.
        overwrite: bool, whether existing variants are replaced.

    Returns:
        A `VariantsReport`.

    Example:
    ```python
    report = export_variants(
        classifier, "variants", test_texts, test_labels, train_texts[:300]
    )
    print(report.format())
    ```
    """
    variants = list(variants)
    if not variants or variants[0] != "saved_model_float32":
        raise ValueError(
            "`variants` must start with 'saved_model_float32', the reference. "
            f"Received: variants={variants!r}"
        )
    unknown = [name for name in variants if name not in VARIANTS]
    if unknown:
        raise ValueError(
            f"Unknown variants {unknown}; expected names from {list(VARIANTS)}"
        )
    test_texts = list(test_texts)
    test_labels = np.asarray(test_labels)
    if not test_texts or len(test_texts) != len(test_labels):
        raise ValueError(
            "`test_texts` and `test_labels` must be non-empty and of equal length. "
            f"Received: {len(test_texts)} texts and {len(test_labels)} labels"
        )
    if len(batch_sizes) != len(calls):
        raise ValueError(
            "`calls` must hold one count per batch size. Received: "
            f"batch_sizes={batch_sizes!r}, calls={calls!r}"
        )
    for size, count in zip(batch_sizes, calls):
        check_int("batch_sizes", size, 1)
        check_int("calls", count, 1)

    keras_labels = np.argmax(model.predict(test_texts, verbose=0), axis=-1)
    rows = []
    for name in variants:
        predict, path, size_bytes = _write(
            model, directory, name, representative_texts, overwrite
        )
        labels = np.concatenate(
            [
                np.argmax(predict(test_texts[i : i + _PREDICT_BATCH]), axis=-1)
                for i in range(0, len(test_texts), _PREDICT_BATCH)
            ]
        )
        row = {
            "variant": name,
            "path": path,
            "size_bytes": size_bytes,
            "accuracy": float(np.mean(labels == test_labels)),
            "agreement": float(np.mean(labels == keras_labels)),
        }
        for size, count in zip(batch_sizes, calls):
            p50, p99 = _latency_ms(predict, test_texts, size, count)
            row[f"p50_ms_batch_{size}"] = p50
            row[f"p99_ms_batch_{size}"] = p99
        rows.append(row)
    return VariantsReport(rows, num_test_examples=len(test_texts))


def _write(model, directory, name, representative_texts, overwrite):
    """Exports one variant; returns `(predict, path, size_bytes)`."""
    kind, precision = VARIANTS[name]
    path = os.path.join(os.fspath(directory), name)
    if kind == "saved_model":
        path = export_for_serving(
            model, path, version=1, precision=precision, overwrite=overwrite
        )
        serve = tf.saved_model.load(path).signatures[SIGNATURE_NAME]

        def predict(texts):
            return serve(text=tf.constant(texts, tf.string))["probabilities"].numpy()

        return predict, path, _directory_bytes(path)
    tflite_file = export_litert(
        model,
        path,
        quantization=precision,
        representative_texts=representative_texts,
        overwrite=overwrite,
    )
    litert_model = LiteRTModel(tflite_file)

    def predict(texts):
        return litert_model(texts)["probabilities"]

    return predict, tflite_file, os.path.getsize(tflite_file)


def _directory_bytes(path):
    return sum(
        os.path.getsize(os.path.join(root, name))
        for root, _, names in os.walk(path)
        for name in names
    )


def _latency_ms(predict, texts, batch_size, calls):
    """p50 and p99 of `calls` timed calls on batches cycling through `texts`."""
    batches = [
        [texts[(i * batch_size + j) % len(texts)] for j in range(batch_size)]
        for i in range(calls + 2)
    ]
    for batch in batches[:2]:
        predict(batch)
    times = []
    for batch in batches[2:]:
        start = time.perf_counter()
        predict(batch)
        times.append((time.perf_counter() - start) * 1e3)
    return float(np.percentile(times, 50)), float(np.percentile(times, 99))
