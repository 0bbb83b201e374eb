"""Writing every serving variant of a classifier, regressor, tagger,
question answerer, embedder or generator and measuring each."""

import functools
import os

import numpy as np
import tensorflow as tf

from tftransformer._arguments import (
    as_list,
    check_bool,
    check_int,
    check_positive_number,
    is_finite_number,
    output_shape,
    refuse_one_string,
)
from tftransformer.evaluation.entity_metrics import entity_report
from tftransformer.evaluation.multi_label_predictions import sigmoid_probabilities
from tftransformer.evaluation.multi_label_report import MultiLabelReport
from tftransformer.evaluation.regression_report import RegressionReport
from tftransformer.evaluation.squad_metrics import score_squad
from tftransformer.evaluation.tagging_predictions import predict_tags
from tftransformer.export._embedder_variants import embedder_rows
from tftransformer.export._generator_variants import generator_formats, generator_rows
from tftransformer.export._model_checks import refuse_multi_task_model
from tftransformer.export._variant_measures import (
    check_test_set,
    latencies,
    litert_variant,
    saved_model_signature,
    timing_machine,
)
from tftransformer.export.litert_export import LITERT_FILE, model_kind
from tftransformer.export.question_answerer_export import export_question_answerer
from tftransformer.export.text_classifier_export import (
    SIGNATURE_NAME,
    export_for_serving,
)
from tftransformer.export.token_classifier_export import export_token_classifier
from tftransformer.export.variants_report import VariantsReport
from tftransformer.models._prompt_generation import is_generator

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
# What the checks of two-string examples expect, by the argument's name.
_TEXT_PAIR = "With text_pair=True, `{}` must hold (text, text_pair) tuples of strings"
_QUESTION_CONTEXT = (
    "For a question answerer, `{}` must hold (question, context) tuples of strings"
)
# The output each variant is scored on, by `model_kind`.
_ANSWERS = {
    "classifier": "probabilities",
    "multi_label": "predicted",
    "regressor": "score",
    "tagger": "tags",
    "question_answerer": "answer",
}


def export_variants(
    model,
    directory,
    test_texts,
    test_labels,
    representative_texts,
    variants=None,
    batch_sizes=(1, 32),
    calls=(50, 10),
    overwrite=False,
    text_pair=False,
    score_tolerance=0.05,
    max_answer_length=30,
    null_threshold=0.0,
    allow_no_answer=True,
    generation=None,
    litert_runtime="auto",
):
    """Exports a classifier, regressor, tagger, question answerer, embedder
    or generator in every variant and measures each in one run.

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

    A `MultiLabelClassifier` is scored on its `predicted` label sets: the
    micro and macro F1 (`micro_f1`, `macro_f1`, in place of `accuracy`,
    see `tftransformer.evaluation.MultiLabelReport`), and its agreement is
    the share of (text, label) decisions the Keras model makes alike (its
    temperature and thresholds applied). A `TextRegressor` is scored on its
    `score` in target units: the root mean squared error (`rmse`, over all
    targets), and its agreement is the share of (text, target) scores within
    `score_tolerance` target standard deviations of the Keras model's.

    A `QuestionAnswerer` reads `(question, context)` tuples and is scored
    on its answer strings as the SQuAD script scores them
    (`tftransformer.evaluation.score_squad`): exact match and token F1
    after normalization, the best over each question's gold answers
    (`exact_match`, `f1`, fractions of the test questions, in place of
    `accuracy`). Its agreement is the share of questions answered with the
    Keras model's answer string (`QuestionAnswerer.predict_answers`,
    searching every span as the exports do). Every variant answers with
    the same `max_answer_length`, `null_threshold` and `allow_no_answer`;
    the SavedModels are written by `export_question_answerer` (the int8 one
    with Keras' int8 kernels, its span search float32), the LiteRT files by
    `export_litert`, `litert_int8` calibrated on `(question, context)`
    tuples.

    A `TextEmbedder` is scored by retrieval: `test_texts` are queries and
    `test_labels` each query's relevant document (a string; documents may
    repeat). Each variant embeds the queries and the distinct documents,
    ranks the documents by cosine similarity (exact search) and is scored
    by `recall_at_1`, `recall_at_10` and `mrr_at_10`
    (`tftransformer.evaluation.evaluate_retrieval`); its agreement is the
    share of queries whose first document is the Keras model's, and
    `min_cosine` the smallest cosine between its embedding of a text and
    `TextEmbedder.embed`'s.

    A keras-hub generator (`CausalLM` or `Seq2SeqLM` with its preprocessor,
    as `tftransformer.presets.load_generator` returns it) generates
    greedily up to its preprocessor's length: `test_texts` are prompts and
    `test_labels` each prompt's reference. A variant is scored by the
    corpus BLEU (`bleu`, 0 to 100, `tftransformer.evaluation.corpus_bleu`)
    of its generations (a `CausalLM`'s completions, without the prompt)
    against the references; its agreement is the share of prompts whose
    output is the Keras model's greedy `generate`'s. Its SavedModels are
    written by `export_generator`, its LiteRT files (a T5, greedy, one
    prompt per call) by `export_litert`; a generator has no `litert_int8`,
    and one that is not a T5 no LiteRT variant. A tftransformer `CausalLM`
    or `Seq2SeqTransformer` is measured the same way with `generation`,
    its tokenizers and settings (`tftransformer.training.
    generation_settings` of its run), against the greedy generations of
    `tftransformer.evaluation.generate_texts` with them; it has both LiteRT
    variants but `litert_int8`.

    A classifier (or regressor) of sentence pairs (`text_pair=True`) exports with two
    string inputs, `text` and `text_pair`, in every variant; its test and
    representative examples are `(text, text_pair)` tuples.

    Args:
        model: a built `tftransformer.models.TextClassifier`,
            `MultiLabelClassifier` or `TextRegressor` (on single texts, or
            on pairs with `text_pair=True`), or a
            `tftransformer.models.TokenClassifier`, a
            `tftransformer.models.QuestionAnswerer`, a
            `tftransformer.models.TextEmbedder`, or a keras-hub generator.
        directory: str, where the variants are written.
        test_texts: list of strings, the held-out texts (for a tagger,
            sentences whose words are separated by whitespace; with
            `text_pair`, `(text, text_pair)` tuples; for a question
            answerer, `(question, context)` tuples; for an embedder,
            queries; for a generator, prompts).
        test_labels: list of int class ids, one per test text; for a
            multi-label classifier, 0/1 rows `(num_texts, num_labels)`; for
            a regressor, targets `(num_texts, num_targets)` (or one per
            text); for a tagger, one list of BIO tag strings per sentence,
            one tag per word; for a question answerer, each question's gold
            answer: a string, or a list of acceptable answer strings (`""`
            or an empty list: no answer, as SQuAD 2.0's unanswerable
            questions); for an embedder, each query's relevant document;
            for a generator, each prompt's reference text.
        representative_texts: list of strings drawn from the training data,
            for the calibrated `litert_int8` variant (a few hundred are
            plenty); with `text_pair`, `(text, text_pair)` tuples; for a
            question answerer, `(question, context)` tuples; unused by a
            generator (pass None).
        variants: names from `VARIANTS`, `saved_model_float32` first (the
            reference); defaults to every variant the model has (all of
            them, but for generators). A variant the model lacks is refused
            with the reason.
        batch_sizes: batch sizes timed.
        calls: timed calls per batch size, one count per entry of
            `batch_sizes`.
        overwrite: bool, whether existing variants are replaced.
        text_pair: bool, whether `model` reads sentence pairs.
        score_tolerance: float > 0, a regressor's agreement tolerance, in
            target standard deviations (`model.target_std`).
        max_answer_length: int >= 1, a question answerer's longest answer
            in tokens.
        null_threshold: float, how much a question answerer's null score
            must beat its best span's by for "no answer" (see
            `tftransformer.models.best_answers`).
        allow_no_answer: bool, whether a question answerer's answers may
            be empty.
        generation: for a tftransformer `CausalLM` or `Seq2SeqTransformer`,
            the keyword arguments `export_generator` takes for it
            (`tokenizer`, `start_token_id`, `end_token_id`, `pad_token_id`,
            `max_length`, a `Seq2SeqTransformer`'s `target_tokenizer`;
            `prefix` empty), as `generation_settings` reads them from its
            run; None for any other model.
        litert_runtime: the interpreter the LiteRT variants run on:
            `"auto"`, `"litert"` or `"tensorflow"` (see `LiteRTModel`); the
            report's `machine["litert_runtime"]` names it. Full-int8 files
            can answer differently on the two (docs/serving.md).

    Returns:
        A `VariantsReport`.

    Example:
    ```python
    report = export_variants(
        classifier, "variants", test_texts, test_labels, train_texts[:300]
    )
    print(report.format())
    # A question answerer: (question, context) tuples and gold answers.
    report = export_variants(
        answerer,
        "qa_variants",
        [("Who lives here?", "John Smith lives here.")],
        [["John Smith", "Smith"]],
        train_pairs[:300],
    )
    report.row("litert_dynamic_int8")["exact_match"]
    ```
    """
    refuse_multi_task_model(model)
    # Checked first; each LiteRT variant takes `litert_runtime` as given, as
    # `LiteRTModel` would (under "auto", TensorFlow's deprecation warning).
    machine = timing_machine(litert_runtime)
    generator = is_generator(model)
    if generator:
        available, litert_reason = generator_formats(model, generation)
    elif generation is not None:
        raise ValueError(
            "`generation` holds a tftransformer CausalLM's or "
            "Seq2SeqTransformer's tokenizers and settings. Received: "
            f"generation={generation!r} for a {type(model).__name__}"
        )
    else:
        available, litert_reason = list(VARIANTS), None
    # A single name would be read letter by letter.
    refuse_one_string("variants", variants, "a list of variant names")
    variants = available if variants is None else list(as_list(variants))
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
    missing = [name for name in variants if name not in available]
    if missing:
        raise ValueError(
            f"{type(model).__name__} {model.name!r} has no variants {missing}: "
            f"{litert_reason or 'a generator has no full-int8 LiteRT export'}. "
            f"Its variants: {available}"
        )
    for size, count in _timings(batch_sizes, calls):
        check_int("batch_sizes", size, 1)
        check_int("calls", count, 1)
    if not overwrite:
        _refuse_existing_variants(directory, variants)
    test_texts = as_list(test_texts)
    if generator:
        rows = generator_rows(
            model,
            directory,
            variants,
            VARIANTS,
            test_texts,
            test_labels,
            batch_sizes,
            calls,
            overwrite,
            generation,
            litert_runtime=litert_runtime,
        )
        return VariantsReport(rows, num_test_examples=len(test_texts), machine=machine)
    test_texts = list(test_texts)
    kind = model_kind(model)
    tagger = kind == "tagger"
    answerer = kind == "question_answerer"
    score_tolerance = check_positive_number("score_tolerance", score_tolerance)
    if not is_finite_number(null_threshold):
        raise ValueError(
            "null_threshold must be a finite number. "
            f"Received: null_threshold={null_threshold!r}"
        )
    decoding = {
        "max_answer_length": check_int("max_answer_length", max_answer_length, 1),
        "null_threshold": float(null_threshold),
        "allow_no_answer": check_bool("allow_no_answer", allow_no_answer),
    }
    if not isinstance(text_pair, bool) or (
        text_pair and (tagger or answerer or kind == "embedder")
    ):
        raise ValueError(
            "`text_pair` must be a bool, and True only for a classifier of "
            "sentence pairs (a question answerer reads pairs without it). "
            f"Received: text_pair={text_pair!r} for {type(model).__name__} "
            f"with output shape {output_shape(model)}"
        )
    if kind == "embedder":
        rows = embedder_rows(
            model,
            directory,
            variants,
            VARIANTS,
            test_texts,
            test_labels,
            representative_texts,
            batch_sizes,
            calls,
            overwrite,
            litert_runtime=litert_runtime,
        )
        return VariantsReport(rows, num_test_examples=len(test_texts), machine=machine)
    if text_pair:
        test_texts = _check_pairs("test_texts", test_texts)
    if answerer:
        test_texts = _check_pairs("test_texts", test_texts, _QUESTION_CONTEXT)
        test_labels = _check_answers(test_labels)
        if "litert_int8" in variants and representative_texts:
            _check_pairs(
                "representative_texts", representative_texts, _QUESTION_CONTEXT
            )
    elif tagger:
        test_labels = _check_tags(test_texts, test_labels)
    else:
        test_labels = _check_labels(kind, test_labels, output_shape(model)[-1])
    check_test_set(test_texts, test_labels)
    if "litert_int8" in variants and (
        isinstance(representative_texts, str) or not representative_texts
    ):
        # Checked before any variant is written (a tagger's and a
        # classifier's were checked after the reference was written).
        # A string would be read letter by letter.
        what = (
            "(question, context) tuples"
            if answerer
            else "(text, text_pair) tuples"
            if text_pair
            else "texts"
        )
        raise ValueError(
            "litert_int8 calibrates on `representative_texts`, a non-empty "
            f"list of {what}. Received: "
            f"representative_texts={representative_texts!r:.200}"
        )

    if tagger:
        keras_answers = predict_tags(model, test_texts)["tags"]
    elif answerer:
        keras_answers = _keras_answer_strings(model, test_texts, decoding)
    else:
        keras_answers = _keras_answers(model, kind, test_texts, text_pair)
    rows = []
    for name in variants:
        predict, path, size_bytes = _write(
            model,
            directory,
            name,
            representative_texts,
            overwrite,
            kind,
            text_pair,
            decoding,
            litert_runtime,
        )
        batches = [
            predict(test_texts[i : i + _PREDICT_BATCH])
            for i in range(0, len(test_texts), _PREDICT_BATCH)
        ]
        row = {"variant": name, "path": path, "size_bytes": size_bytes}
        if tagger:
            tags = [sentence for batch in batches for sentence in batch]
            row["entity_f1"] = entity_report(test_labels, tags).micro["f1"]
            row["agreement"] = _word_agreement(tags, keras_answers)
        elif answerer:
            answers = [answer for batch in batches for answer in batch]
            report = score_squad(dict(enumerate(test_labels)), dict(enumerate(answers)))
            row["exact_match"] = report.exact / 100
            row["f1"] = report.f1 / 100
            same = [a == b for a, b in zip(answers, keras_answers)]
            row["agreement"] = float(np.mean(same))
        else:
            answers = _answer(kind, np.concatenate(batches))
            row.update(_scores(kind, answers, test_labels))
            if kind == "regressor":
                tolerance = score_tolerance * model.standardization()[1]
                same = np.abs(answers - keras_answers) <= tolerance
            else:
                same = answers == keras_answers
            row["agreement"] = float(np.mean(same))
        row.update(latencies(predict, test_texts, batch_sizes, calls))
        rows.append(row)
    return VariantsReport(rows, num_test_examples=len(test_texts), machine=machine)


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


def _check_pairs(name, examples, expected=_TEXT_PAIR):
    """Sentence pairs, or questions and contexts: tuples of two strings."""
    for index, example in enumerate(examples):
        if (
            not isinstance(example, (tuple, list))
            or len(example) != 2
            or not all(isinstance(text, str) for text in example)
        ):
            raise ValueError(
                f"{expected.format(name)}. Received at {index}: {example!r}"
            )
    return [tuple(example) for example in examples]


def _check_answers(answers):
    """A question answerer's gold answers: one list of strings per question,
    empty for no answer."""
    if isinstance(answers, str):
        raise ValueError(
            "For a question answerer, `test_labels` must be a list of gold "
            f"answers, one per question. Received a string: {answers!r:.200}"
        )
    checked = []
    for index, gold in enumerate(answers):
        if isinstance(gold, str):
            gold = [gold]
        if not isinstance(gold, (list, tuple)) or not all(
            isinstance(answer, str) for answer in gold
        ):
            raise ValueError(
                "For a question answerer, `test_labels` must hold each "
                "question's gold answer: a string, or a list of acceptable "
                f"answer strings. Received at {index}: {gold!r}"
            )
        checked.append([answer for answer in gold if answer])
    return checked


def _check_labels(kind, labels, num_outputs):
    """A classifier's class ids, a multi-label classifier's 0/1 rows or a
    regressor's targets, as an array."""
    labels = np.asarray(labels)
    if kind == "regressor" and labels.ndim == 1:
        labels = labels[:, None]
    if kind == "classifier":
        # One logit: two classes (a sigmoid's).
        num_classes = max(num_outputs, 2)
        expected = f"one int class id in [0, {num_classes}) per text"
        ok = labels.ndim == 1 and labels.dtype.kind in "iuf"
        # An id past the classes was scored as always wrong.
        ok = ok and bool(
            np.all((labels >= 0) & (labels < num_classes) & (labels % 1 == 0))
        )
    elif kind == "multi_label":
        expected = f"one row of {num_outputs} 0/1 labels per text"
        ok = labels.ndim == 2 and labels.shape[1] == num_outputs
        ok = ok and bool(np.all((labels == 0) | (labels == 1)))
    else:
        expected = f"one row of {num_outputs} targets per text"
        ok = labels.ndim == 2 and labels.shape[1] == num_outputs
        ok = ok and labels.dtype.kind in "iuf"
    if not ok:
        raise ValueError(
            f"For a {kind.replace('_', '-')} model, `test_labels` must hold "
            f"{expected}. Received an "
            f"array of shape {labels.shape}: {labels.tolist()!r:.200}"
        )
    return labels


def _keras_answers(model, kind, examples, text_pair):
    """The Keras model's class ids, label decisions or scores."""
    outputs = []
    for i in range(0, len(examples), _PREDICT_BATCH):
        batch = examples[i : i + _PREDICT_BATCH]
        if text_pair:
            texts, text_pairs = zip(*batch)
            batch = (tf.constant(texts), tf.constant(text_pairs))
        else:
            batch = tf.constant(batch)
        features = model.preprocessor(x=batch)
        outputs.append(np.asarray(model(features, training=False), np.float32))
    outputs = np.concatenate(outputs)
    if kind == "multi_label":
        probabilities = sigmoid_probabilities(outputs, model.temperature)
        return probabilities >= np.array(model.decision_thresholds(), np.float32)
    if kind == "regressor":
        mean, std = model.standardization()
        return outputs * std + mean
    return np.argmax(outputs, axis=-1)


def _keras_answer_strings(model, examples, decoding):
    """The Keras question answerer's answers, every span searched as the
    exports search them."""
    questions, contexts = zip(*examples)
    answers = model.predict_answers(
        list(questions),
        list(contexts),
        batch_size=_PREDICT_BATCH,
        n_best=model.preprocessor.sequence_length,
        **decoding,
    )
    return [answer["answer"] for answer in answers]


def _answer(kind, outputs):
    """A classifier's class ids from its probabilities; else the outputs."""
    return np.argmax(outputs, axis=-1) if kind == "classifier" else outputs


def _scores(kind, answers, truth):
    """The row's test scores: accuracy, micro and macro F1, or RMSE."""
    if kind == "multi_label":
        averages = MultiLabelReport(truth, answers.astype(int)).averages
        return {
            "micro_f1": averages["micro"]["f1"],
            "macro_f1": averages["macro"]["f1"],
        }
    if kind == "regressor":
        report = RegressionReport(truth, answers)
        return {"rmse": float(np.sqrt(np.mean(report.rmse**2)))}
    return {"accuracy": float(np.mean(answers == truth))}


def _refuse_existing_variants(directory, variants):
    """Refuses, before any is written, variants already in `directory`: a
    run would rewrite the first ones and stop at the next."""
    existing = [
        name
        for name in variants
        if os.path.exists(
            os.path.join(
                os.fspath(directory),
                name,
                "1" if VARIANTS[name][0] == "saved_model" else LITERT_FILE,
            )
        )
    ]
    if existing:
        raise ValueError(
            f"{os.fspath(directory)} already holds the variants {existing}; pass "
            "overwrite=True (--overwrite) to replace them, or another "
            "directory."
        )


def _word_agreement(tags, reference):
    """The share of words whose tag is the reference's."""
    same = [a == b for x, y in zip(tags, reference) for a, b in zip(x, y)]
    return float(np.mean(same)) if same else 1.0


def _write(
    model,
    directory,
    name,
    representative_texts,
    overwrite,
    kind,
    text_pair,
    decoding,
    litert_runtime,
):
    """Exports one variant; returns `(predict, path, size_bytes)`.

    `predict` answers a classifier's probabilities, a multi-label
    classifier's `predicted` decisions, a regressor's scores, a tagger's
    list of tags per text, or a question answerer's answer strings."""
    tagger = kind == "tagger"
    answerer = kind == "question_answerer"
    output = _ANSWERS[kind]
    export_format, precision = VARIANTS[name]
    path = os.path.join(os.fspath(directory), name)
    if export_format == "saved_model":
        if tagger:
            export = export_token_classifier
        elif answerer:
            export = functools.partial(export_question_answerer, **decoding)
        else:
            export = functools.partial(export_for_serving, text_pair=text_pair)
        path = export(model, path, version=1, precision=precision, overwrite=overwrite)
        serve, size_bytes = saved_model_signature(path, SIGNATURE_NAME)

        def predict(texts):
            if answerer:
                questions, contexts = zip(*texts)
                outputs = serve(
                    question=tf.constant(questions, tf.string),
                    context=tf.constant(contexts, tf.string),
                )
                return [answer.decode("utf-8") for answer in outputs[output].numpy()]
            if text_pair:
                texts, text_pairs = zip(*texts)
                outputs = serve(
                    text=tf.constant(texts, tf.string),
                    text_pair=tf.constant(text_pairs, tf.string),
                )
                return outputs[output].numpy()
            outputs = serve(text=tf.constant(texts, tf.string))
            if not tagger:
                return outputs[output].numpy()
            return [
                [tag.decode("utf-8") for tag in row[:count]]
                for row, count in zip(
                    outputs["tags"].numpy(), outputs["num_words"].numpy()
                )
            ]

        return predict, path, size_bytes
    litert_model, tflite_file, size_bytes = litert_variant(
        model,
        path,
        precision,
        overwrite,
        runtime=litert_runtime,
        representative_texts=representative_texts,
        text_pair=text_pair,
        **decoding,
    )

    def predict(texts):
        # Two strings each: sentence pairs, or questions and contexts.
        if text_pair or answerer:
            texts, text_pairs = zip(*texts)
            return litert_model(list(texts), list(text_pairs))[output]
        return litert_model(texts)[output]

    return predict, tflite_file, size_bytes


def _timings(batch_sizes, calls):
    """`(batch size, calls)` pairs; one count per batch size."""
    if len(batch_sizes) != len(calls):
        raise ValueError(
            "`calls` must hold one count per batch size. Received: "
            f"batch_sizes={batch_sizes!r}, calls={calls!r}"
        )
    return list(zip(batch_sizes, calls))
