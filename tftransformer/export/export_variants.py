"""Writing every serving variant of a text classifier or tagger and measuring each."""

import functools
import os
import time

import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int
from tftransformer.evaluation.entity_metrics import entity_report
from tftransformer.evaluation.tagging_predictions import predict_tags
from tftransformer.export.litert_export import export_litert
from tftransformer.export.litert_model import LiteRTModel
from tftransformer.export.text_classifier_export import (
    SIGNATURE_NAME,
    export_for_serving,
)
from tftransformer.export.token_classifier_export import export_token_classifier
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
    text_pair=False,
):
    """Exports a classifier or tagger in every variant and measures each in one run.

    Writes `<directory>/<variant>/` for each variant (a SavedModel version
    `1/`, or `model.tflite`), then loads each in this process and measures
    its size on disk, its test accuracy, its agreement with the Keras
    model's predicted labels and its latency (p50 / p99 over `calls` calls
    of each batch size, after two warmup calls). The LiteRT interpreter
    uses its default threads, TensorFlow its default pools.

    A tagger (`TokenClassifier`) is scored by the entity micro-F1 of its
    predicted tags (`entity_f1`, in place of `accuracy`), and its agreement
    is the share of test words tagged as the Keras model tags them
    (`tftransformer.evaluation.predict_tags`).

    A classifier of sentence pairs (`text_pair=True`) exports with two
    string inputs, `text` and `text_pair`, in every variant; its test and
    representative examples are `(text, text_pair)` tuples.

    Args:
        model: a built `tftransformer.models.TextClassifier` (on single
            texts, or on pairs with `text_pair=True`), or a
            `tftransformer.models.TokenClassifier`.
        directory: str, where the variants are written.
        test_texts: list of strings, the held-out texts (for a tagger,
            sentences whose words are separated by whitespace; with
            `text_pair`, `(text, text_pair)` tuples).
        test_labels: list of int class ids, one per test text; for a
            tagger, one list of BIO tag strings per sentence, one tag per
            word.
        representative_texts: list of strings drawn from the training data,
            for the calibrated `litert_int8` variant (a few hundred are
            plenty); with `text_pair`, `(text, text_pair)` tuples.
        variants: names from `VARIANTS`; `saved_model_float32` first, the
            reference.
        batch_sizes: batch sizes timed.
        calls: timed calls per batch size, one count per entry of
            `batch_sizes`.
        overwrite: bool, whether existing variants are replaced.
        text_pair: bool, whether `model` classifies sentence pairs.

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
    tagger = len(model.output.shape) == 3
    if not isinstance(text_pair, bool) or (text_pair and tagger):
        raise ValueError(
            "`text_pair` must be a bool, and True only for a classifier of "
            f"sentence pairs. Received: text_pair={text_pair!r} for a model "
            f"with output shape {tuple(model.output.shape)}"
        )
    if text_pair:
        test_texts = _check_pairs("test_texts", test_texts)
    if tagger:
        test_labels = _check_tags(test_texts, test_labels)
    else:
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

    if tagger:
        keras_labels = predict_tags(model, test_texts)["tags"]
    elif text_pair:
        keras_labels = _pair_labels(model, test_texts)
    else:
        keras_labels = np.argmax(model.predict(test_texts, verbose=0), axis=-1)
    rows = []
    for name in variants:
        predict, path, size_bytes = _write(
            model, directory, name, representative_texts, overwrite, tagger, text_pair
        )
        batches = [
            predict(test_texts[i : i + _PREDICT_BATCH])
            for i in range(0, len(test_texts), _PREDICT_BATCH)
        ]
        row = {"variant": name, "path": path, "size_bytes": size_bytes}
        if tagger:
            tags = [sentence for batch in batches for sentence in batch]
            row["entity_f1"] = entity_report(test_labels, tags).micro["f1"]
            row["agreement"] = _word_agreement(tags, keras_labels)
        else:
            labels = np.concatenate([np.argmax(b, axis=-1) for b in batches])
            row["accuracy"] = float(np.mean(labels == test_labels))
            row["agreement"] = float(np.mean(labels == keras_labels))
        for size, count in zip(batch_sizes, calls):
            p50, p99 = _latency_ms(predict, test_texts, size, count)
            row[f"p50_ms_batch_{size}"] = p50
            row[f"p99_ms_batch_{size}"] = p99
        rows.append(row)
    return VariantsReport(rows, num_test_examples=len(test_texts))


def _check_tags(texts, tags):
    """A tagger's test tags: one list of tag strings per text and word."""
    tags = list(tags)
    for index, (text, sentence) in enumerate(zip(texts, tags)):
        if isinstance(sentence, str) or len(list(sentence)) != len(text.split()):
            raise ValueError(
                "A tagger's `test_labels` must hold one list of tags per text, "
                f"one tag per whitespace-separated word. Received for text "
                f"{index} ({text!r}): {sentence!r}"
            )
    return [[str(tag) for tag in sentence] for sentence in tags]


def _check_pairs(name, examples):
    """Sentence pairs: `(text, text_pair)` tuples of strings."""
    for index, example in enumerate(examples):
        if (
            not isinstance(example, (tuple, list))
            or len(example) != 2
            or not all(isinstance(text, str) for text in example)
        ):
            raise ValueError(
                f"With text_pair=True, `{name}` must hold (text, text_pair) "
                f"tuples of strings. Received at {index}: {example!r}"
            )
    return [tuple(example) for example in examples]


def _pair_labels(model, pairs):
    """The Keras model's labels of sentence pairs."""
    labels = []
    for i in range(0, len(pairs), _PREDICT_BATCH):
        texts, text_pairs = zip(*pairs[i : i + _PREDICT_BATCH])
        features = model.preprocessor(x=(tf.constant(texts), tf.constant(text_pairs)))
        labels.append(np.argmax(model(features, training=False), axis=-1))
    return np.concatenate(labels)


def _word_agreement(tags, reference):
    """The share of words whose tag is the reference's."""
    same = [a == b for x, y in zip(tags, reference) for a, b in zip(x, y)]
    return float(np.mean(same)) if same else 1.0


def _write(model, directory, name, representative_texts, overwrite, tagger, text_pair):
    """Exports one variant; returns `(predict, path, size_bytes)`.

    `predict` answers a classifier's probabilities, or a tagger's list of
    tags per text."""
    kind, precision = VARIANTS[name]
    path = os.path.join(os.fspath(directory), name)
    if kind == "saved_model":
        if tagger:
            export = export_token_classifier
        else:
            export = functools.partial(export_for_serving, text_pair=text_pair)
        path = export(model, path, version=1, precision=precision, overwrite=overwrite)
        serve = tf.saved_model.load(path).signatures[SIGNATURE_NAME]

        def predict(texts):
            if text_pair:
                texts, text_pairs = zip(*texts)
                outputs = serve(
                    text=tf.constant(texts, tf.string),
                    text_pair=tf.constant(text_pairs, tf.string),
                )
                return outputs["probabilities"].numpy()
            outputs = serve(text=tf.constant(texts, tf.string))
            if not tagger:
                return outputs["probabilities"].numpy()
            return [
                [tag.decode("utf-8") for tag in row[:count]]
                for row, count in zip(
                    outputs["tags"].numpy(), outputs["num_words"].numpy()
                )
            ]

        return predict, path, _directory_bytes(path)
    tflite_file = export_litert(
        model,
        path,
        quantization=precision,
        representative_texts=representative_texts,
        overwrite=overwrite,
        text_pair=text_pair,
    )
    litert_model = LiteRTModel(tflite_file)

    def predict(texts):
        if text_pair:
            texts, text_pairs = zip(*texts)
            return litert_model(list(texts), list(text_pairs))["probabilities"]
        return litert_model(texts)["tags" if tagger else "probabilities"]

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
