"""Extractive question answering runs from a `QuestionAnsweringConfig`."""

import json
import os

import numpy as np
import tensorflow as tf

from tftransformer.data._autotune import prefetched
from tftransformer.data.hold_out import hold_out_validation
from tftransformer.data.squad import load_squad
from tftransformer.evaluation.question_answering_predictions import (
    evaluate_question_answerer,
)
from tftransformer.models.question_answerer import QuestionAnswerer
from tftransformer.training.checkpointing import atomic_write, epoch_seed, fingerprint
from tftransformer.training.question_answering_run import QuestionAnsweringRun
from tftransformer.training.trainer import Trainer

__all__ = [
    "build_question_answerer",
    "load_squad_splits",
    "train_question_answerer",
]

# In a run directory: the decoding its answers were given with.
DECODING_FILE = "decoding.json"


def load_squad_splits(config):
    """The train, validation and test questions a `QuestionAnsweringConfig` names.

    `train_file` (required); `validation_file` (default: a seeded 10% of the
    training questions held out) and `test_file` (default: the validation
    questions). `max_train_examples` draws a seeded subset of the training
    questions, `max_eval_examples` one of the validation and test questions
    each (the same one where the test questions are the validation ones).

    Returns:
        `(train, validation, test)`, each a list of `SquadExample`s.

    Raises:
        DataError: a file that is not valid SQuAD JSON.
        ValueError: a train file of one question and no `validation_file`.
    """
    train = load_squad(config.train_file)
    if config.validation_file:
        validation = load_squad(config.validation_file)
    else:
        kept, held_out = hold_out_validation(
            len(train), 0.1, config.seed, config.train_file, "questions"
        )
        train, validation = [train[i] for i in kept], [train[i] for i in held_out]
    test = load_squad(config.test_file) if config.test_file else validation
    train = _subset(train, config.max_train_examples, config.seed)
    validation = _subset(validation, config.max_eval_examples, config.seed)
    test = _subset(test, config.max_eval_examples, config.seed)
    return train, validation, test


def _subset(questions, size, seed):
    """A seeded subset of `size` questions, in file order; all for `None`."""
    if size is None or size >= len(questions):
        return questions
    kept = np.random.default_rng(seed).permutation(len(questions))
    return [questions[i] for i in np.sort(kept[:size])]


def build_question_answerer(config):
    """The `QuestionAnswerer` a config describes; build it in `trainer.scope()`."""
    return QuestionAnswerer.from_preset(
        config.preset,
        sequence_length=config.max_length,
        doc_stride=config.doc_stride,
        max_question_length=config.max_question_length,
        dtype=config.dtype,
        dropout=config.dropout,
    )


def _dataset(windows, batch_size, seed=None):
    data = tf.data.Dataset.from_tensor_slices((windows.features, windows.labels))
    if seed is not None:
        data = data.shuffle(len(windows), seed=seed)
    return prefetched(data.batch(batch_size))


def train_question_answerer(config, verbose=1):
    """Fine-tunes, evaluates and reports an extractive question answerer.

    Loads the config's SQuAD files (`load_squad_splits`), packs them into
    overlapping windows, trains the span head and backbone as a `Trainer`
    run in `config.model_dir` (resumable, every fine-tuning recipe of the
    config applied by `apply_strategy`, early stopping on the validation
    loss), answers the test questions and has the chief write `report.json`
    (the `SquadReport`: exact match and F1, with HasAns/NoAns for SQuAD 2.0)
    and `predictions.json` (question id -> answer text, the official
    script's input).

    Args:
        config: a `QuestionAnsweringConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `QuestionAnsweringRun`.

    Example:
    ```python
    config = QuestionAnsweringConfig(train_file="train.json", epochs=1)
    run = train_question_answerer(config)
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train, validation, test = load_squad_splits(config)
    allow_no_answer = config.allow_no_answer
    if allow_no_answer is None:
        allow_no_answer = any(example.is_impossible for example in train)
    with trainer.scope():
        model = build_question_answerer(config)
    train_windows = model.preprocessor.windows(train)
    validation_windows = model.preprocessor.windows(validation)
    if trainer.verbose:
        print(
            f"Data: {len(train)} train ({len(train_windows)} windows), "
            f"{len(validation)} validation, {len(test)} test questions; "
            f"no-answer {'allowed' if allow_no_answer else 'not allowed'}"
        )
    batch_size = trainer.global_batch_size
    training = trainer.fit(
        model,
        lambda epoch: _dataset(
            train_windows, batch_size, seed=epoch_seed(config.seed, epoch)
        ),
        _dataset(validation_windows, batch_size),
        run_config={
            "data_sha256": fingerprint(
                train_windows.features["token_ids"],
                train_windows.labels,
                validation_windows.features["token_ids"],
                validation_windows.labels,
            )
        },
        head_layers=[model.output_dense],
    )
    decoding = {
        "max_answer_length": config.max_answer_length,
        "null_threshold": config.null_threshold,
        "allow_no_answer": allow_no_answer,
    }
    report, predictions = evaluate_question_answerer(
        model, test, batch_size=batch_size, **decoding
    )
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, "report.json"))
        answers = {qid: answer["answer"] for qid, answer in predictions.items()}
        with atomic_write(os.path.join(config.model_dir, "predictions.json")) as temp:
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(answers, f, indent=2, ensure_ascii=False)
        # How the run decoded its answers, for `predict_to_file` to do the
        # same (no-answer allowed or not was decided from the training data).
        with atomic_write(os.path.join(config.model_dir, DECODING_FILE)) as temp:
            with open(temp, "w", encoding="utf-8") as f:
                json.dump(decoding, f, indent=2)
    return QuestionAnsweringRun(
        model,
        training,
        report,
        predictions,
        train,
        validation,
        test,
        trainer,
        decoding,
    )
