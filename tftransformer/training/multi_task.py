"""Multi-task runs from a `MultiTaskConfig`: sentiment and NER heads on one
shared encoder, and each task alone for comparison."""

import dataclasses
import json
import os

from tftransformer.data.classification_dataset import make_classification_dataset
from tftransformer.data.multi_task import (
    concatenate_tasks,
    interleave_tasks,
    sampling_probabilities,
)
from tftransformer.data.rotten_tomatoes import SENTIMENT_LABELS, load_rotten_tomatoes
from tftransformer.data.wnut import WNUT16_TAGS, load_wnut16
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.evaluation.tagging_predictions import evaluate_tagger
from tftransformer.models.multi_task_model import MultiTaskModel
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.token_classifier import TokenClassifier
from tftransformer.presets import load_backbone
from tftransformer.training._several_models import trains_several_models
from tftransformer.training.checkpointing import atomic_write, epoch_seed, fingerprint
from tftransformer.training.multi_task_run import MultiTaskRun
from tftransformer.training.token_classification import tagging_dataset
from tftransformer.training.trainer import Trainer

__all__ = ["load_multi_task_data", "train_multi_task_model"]

TASKS = ("sentiment", "ner")
SPLITS = ("train", "validation", "test")


def load_multi_task_data(config):
    """The embedded sentiment and WNUT-16 splits, as a `MultiTaskConfig` limits them.

    Returns:
        `{"sentiment": {split: TextClassificationData}, "ner": {split:
        TaggingData}}` for the splits `"train"`, `"validation"`, `"test"`.
    """
    limits = {
        "validation": config.max_validation_examples,
        "test": config.max_test_examples,
    }
    data = {
        "sentiment": {s: load_rotten_tomatoes(s) for s in SPLITS},
        "ner": {s: load_wnut16(s) for s in SPLITS},
    }
    for task, train_limit in (
        ("sentiment", config.max_sentiment_examples),
        ("ner", config.max_ner_examples),
    ):
        for split, limit in {"train": train_limit, **limits}.items():
            if limit is not None:
                data[task][split] = data[task][split].sample(limit, config.seed)
    return data


def _dataset(task, data, tokenizer, config, batch_size, epoch=None):
    """One task's batches; training data (an `epoch`) shuffled by (seed, epoch)."""
    if task == "ner":
        return tagging_dataset(data, tokenizer, config, batch_size, epoch)
    return make_classification_dataset(
        data.texts,
        data.labels,
        tokenizer,
        batch_size=batch_size,
        max_length=config.max_length,
        shuffle=epoch is not None,
        seed=epoch_seed(config.seed, epoch or 0),
    )


def _score(task, model, data, tokenizer, config, batch_size):
    test = data[task]["test"]
    if task == "sentiment":
        dataset = _dataset(task, test, tokenizer, config, batch_size)
        report, _ = evaluate_classifier(
            model, dataset.map(lambda x, y: x), test.labels, test.label_vocabulary
        )
        return {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "examples": len(test),
        }
    report, _ = evaluate_tagger(
        model,
        test,
        tokenizer=tokenizer,
        max_length=config.max_length,
        batch_size=batch_size,
    )
    return {
        "entity_micro_f1": report.micro["f1"],
        "entity_macro_f1": report.macro["f1"],
        "token_accuracy": report.token_accuracy,
        "sentences": len(test),
    }


def _fingerprint(data, task):
    splits = [data[task][s] for s in ("train", "validation")]
    if task == "sentiment":
        return fingerprint(*(x for s in splits for x in (s.texts, s.labels)))
    return fingerprint(*(x for s in splits for x in (s.words, s.tags)))


def _build(task, config):
    """The single-task model of `task`, built on the config's preset."""
    if task == "sentiment":
        return TextClassifier.from_preset(
            config.preset,
            num_classes=len(SENTIMENT_LABELS),
            sequence_length=config.max_length,
            dtype=config.dtype,
            pooling="mean",
            dropout=config.dropout,
            label_names=list(SENTIMENT_LABELS),
        )
    return TokenClassifier.from_preset(
        config.preset,
        num_tags=len(WNUT16_TAGS),
        sequence_length=config.max_length,
        dtype=config.dtype,
        dropout=config.dropout,
        tag_names=list(WNUT16_TAGS),
    )


def _train_single_task(task, config, data, strategy, verbose):
    """The same recipe, data and epochs on one task alone, a `Trainer` run in
    `model_dir/single_task_{task}`; returns the model and `TrainingResult`."""
    single = dataclasses.replace(
        config, model_dir=os.path.join(config.model_dir, f"single_task_{task}")
    )
    trainer = Trainer(single, strategy=strategy, verbose=verbose)
    with trainer.scope():
        model = _build(task, single)
    tokenizer = model.preprocessor.tokenizer
    batch_size = trainer.global_batch_size
    train, validation = data[task]["train"], data[task]["validation"]
    if trainer.verbose:
        print(f"\nSingle-task {task}:")
    training = trainer.fit(
        model,
        lambda epoch: _dataset(task, train, tokenizer, single, batch_size, epoch),
        _dataset(task, validation, tokenizer, single, batch_size),
        run_config={"data_sha256": _fingerprint(data, task)},
        head_layers=[model.output_dense],
    )
    return model, training


@trains_several_models
def train_multi_task_model(config, verbose=1):
    """Fine-tunes a sentiment head and an NER head on one encoder, and scores them.

    Every batch comes from one task, drawn by `config.rule` (see
    `tftransformer.data.interleave_tasks`), and trains the shared encoder
    and that task's head; the loss weights scale each task's loss, the heads
    train at `head_learning_rate`. The run is a `Trainer` run in
    `config.model_dir` (resumable, refusing another run's directory); with
    `compare_single_task`, each task then trains alone with the same recipe,
    data and epochs in `model_dir/single_task_{task}`. The chief writes
    `report.json`: the test scores of each head, multi- and single-task, the
    sampling probabilities and the training seconds.

    Args:
        config: a `MultiTaskConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `MultiTaskRun`.

    Example:
    ```python
    run = train_multi_task_model(MultiTaskConfig(epochs=1))
    print(run.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    data = load_multi_task_data(config)
    if trainer.verbose:
        print(
            "Data: sentiment {} train / {} validation / {} test snippets; NER {} / "
            "{} / {} tweets".format(*(len(data[t][s]) for t in TASKS for s in SPLITS))
        )
    with trainer.scope():
        backbone, preprocessor = load_backbone(
            config.preset, sequence_length=config.max_length, dtype=config.dtype
        )
        model = MultiTaskModel(
            backbone,
            tasks={
                "sentiment": {
                    "kind": "classification",
                    "num_classes": len(SENTIMENT_LABELS),
                    "pooling": "mean",
                    "dropout": config.dropout,
                    "label_names": list(SENTIMENT_LABELS),
                },
                "ner": {
                    "kind": "token_classification",
                    "num_tags": len(WNUT16_TAGS),
                    "dropout": config.dropout,
                    "tag_names": list(WNUT16_TAGS),
                },
            },
            tokenizer=preprocessor.tokenizer,
            sequence_length=config.max_length,
        )
    tokenizer = preprocessor.tokenizer
    batch_size = trainer.global_batch_size
    sizes = {task: len(data[task]["train"]) for task in TASKS}
    probabilities = sampling_probabilities(sizes, config.rule, config.temperature)

    def epoch_stream(epoch):
        # Each epoch's batches and task draws follow (seed, epoch) alone, so
        # a resumed epoch sees what the interrupted one saw.
        return interleave_tasks(
            {
                task: _dataset(
                    task, data[task]["train"], tokenizer, config, batch_size, epoch
                )
                for task in TASKS
            },
            sizes=sizes,
            rule=config.rule,
            temperature=config.temperature,
            seed=epoch_seed(config.seed, epoch),
            task_names=model.task_names,
        )

    validation = concatenate_tasks(
        {
            task: _dataset(
                task, data[task]["validation"], tokenizer, config, batch_size
            )
            for task in TASKS
        },
        model.task_names,
    )
    heads = [model.head_model(task).output_dense for task in model.task_names]
    trainer.compile(
        model,
        train=epoch_stream,
        head_layers=heads,
        loss_weights={
            "sentiment": config.sentiment_loss_weight,
            "ner": config.ner_loss_weight,
        },
    )
    if trainer.verbose:
        print(
            f"Multi-task ({config.rule} sampling: "
            + ", ".join(f"{t} {p:.3f}" for t, p in probabilities.items())
            + ")"
        )
    training = trainer.fit(
        model,
        epoch_stream,
        validation,
        run_config={
            "data_sha256": fingerprint(*(_fingerprint(data, t) for t in TASKS))
        },
    )
    scores = {
        "multi_task": {
            task: _score(
                task, model.head_model(task), data, tokenizer, config, batch_size
            )
            for task in model.task_names
        }
    }
    train_seconds = {"multi_task": training.train_seconds}
    single_task = {}
    if config.compare_single_task:
        scores["single_task"] = {}
        for task in model.task_names:
            single, single_task[task] = _train_single_task(
                task, config, data, trainer.strategy, verbose
            )
            train_seconds[f"single_task_{task}"] = single_task[task].train_seconds
            scores["single_task"][task] = _score(
                task, single, data, tokenizer, config, batch_size
            )
    if trainer.chief:
        with atomic_write(os.path.join(config.model_dir, "report.json")) as temporary:
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(
                    {
                        "scores": scores,
                        "sampling_probabilities": probabilities,
                        "train_seconds": train_seconds,
                    },
                    f,
                    indent=2,
                )
    return MultiTaskRun(
        model, training, scores, single_task, probabilities, data, trainer
    )
