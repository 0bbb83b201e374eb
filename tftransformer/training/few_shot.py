"""Few-shot text classification, SetFit-style, as a `Trainer` run."""

import dataclasses
import os

import keras
import numpy as np

from tftransformer._arguments import check_int
from tftransformer.data.few_shot_pairs import make_few_shot_pairs
from tftransformer.data.pair_loaders import make_pair_dataset
from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes
from tftransformer.evaluation.metrics import classification_report
from tftransformer.finetune.cosine_similarity_loss import CosineSimilarityLoss
from tftransformer.models.contrastive_embedder import ContrastiveEmbedder
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.training.checkpointing import fingerprint
from tftransformer.training.few_shot_run import FewShotRun
from tftransformer.training.trainer import Trainer

__all__ = ["train_few_shot_classifier", "train_logistic_head"]

# What `train_few_shot_classifier` writes in `model_dir`, besides the run's
# own files (`model.keras` is the contrastive training model).
REPORT_FILE = "report.json"
EMBEDDER_FILE = "embedder.keras"
HEAD_FILE = "head.keras"


def train_logistic_head(
    embeddings, labels, num_classes, epochs=300, learning_rate=1e-2, seed=0
):
    """A softmax regression on fixed embeddings (SetFit's logistic head).

    One float32 `Dense` layer trained full-batch with Adam on the
    cross-entropy of its logits.

    Args:
        embeddings: float array `(num_examples, dim)`.
        labels: int array `(num_examples,)` of class ids.
        num_classes: int >= 2.
        epochs: int >= 1, full-batch epochs.
        learning_rate: float > 0, Adam's learning rate.
        seed: int, the initial weights' seed.

    Returns:
        A `keras.Sequential` from embeddings `(batch, dim)` to logits
        `(batch, num_classes)`.

    Example:
    ```python
    head = train_logistic_head(embedder.embed(texts), labels, num_classes=2)
    ```
    """
    embeddings = np.asarray(embeddings, "float32")
    labels = np.asarray(labels)
    num_classes = check_int("num_classes", num_classes, 2)
    epochs = check_int("epochs", epochs, 1)
    if embeddings.ndim != 2 or labels.shape != (len(embeddings),):
        raise ValueError(
            "embeddings must be (num_examples, dim) with one label each. Received: "
            f"embeddings of shape {embeddings.shape}, labels of shape {labels.shape}"
        )
    keras.utils.set_random_seed(seed)
    # float32 whatever the global policy: the head is small and exported as is.
    head = keras.Sequential(
        [
            keras.Input((embeddings.shape[1],), dtype="float32"),
            keras.layers.Dense(num_classes, dtype="float32", name="logits"),
        ],
        name="logistic_head",
    )
    head.compile(
        optimizer=keras.optimizers.Adam(learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    head.fit(embeddings, labels, epochs=epochs, batch_size=len(labels), verbose=0)
    return head


def train_few_shot_classifier(config, train=None, test=None, verbose=1):
    """Tunes a sentence embedder on a few examples, then fits a logistic head.

    SetFit's recipe: `config.examples_per_class` examples of each label are
    drawn from `train` (`TextClassificationData.sample_per_class`) and
    paired (`make_few_shot_pairs`: same label 1, other label 0); the
    `TextEmbedder` of `config.preset` is tuned on the pairs with
    `CosineSimilarityLoss` as a resumable `Trainer` run in
    `config.model_dir`; a logistic head (`train_logistic_head`) is trained on
    the tuned embeddings of the examples and scored on `test` (a seeded
    subset of `config.max_test_examples`). The chief writes `report.json`,
    `embedder.keras` and `head.keras` in `model_dir`. Export the result on
    raw strings with `tftransformer.export.export_few_shot_classifier`.

    Args:
        config: a `FewShotConfig`.
        train: optional `TextClassificationData`; defaults to the embedded
            sentiment data's training split.
        test: optional `TextClassificationData` with the same labels;
            defaults to the embedded test split.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `FewShotRun`.

    Example:
    ```python
    run = train_few_shot_classifier(FewShotConfig(examples_per_class=8))
    print(run.report.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    if train is None:
        train = load_rotten_tomatoes("train")
    if test is None:
        test = load_rotten_tomatoes("test")
    if test.label_vocabulary != train.label_vocabulary:
        raise ValueError(
            "train and test must share one label vocabulary. Received: "
            f"{train.label_vocabulary} and {test.label_vocabulary}"
        )
    if config.max_test_examples:
        test = test.sample(config.max_test_examples, config.seed)
    examples = train.sample_per_class(config.examples_per_class, config.seed)
    pairs = make_few_shot_pairs(
        examples.texts,
        examples.labels,
        num_iterations=config.num_iterations,
        seed=config.seed,
    )
    if trainer.verbose:
        print(f"{len(examples)} labelled examples -> {len(pairs)} pairs")

    with trainer.scope():
        embedder = TextEmbedder.from_preset(
            config.preset, sequence_length=config.max_length, dtype=config.dtype
        )
        model = ContrastiveEmbedder(embedder)

    def epoch_data(epoch):
        return make_pair_dataset(
            pairs,
            embedder.preprocessor,
            trainer.global_batch_size,
            shuffle=True,
            seed=(config.seed, epoch),
        )

    trainer.compile(model, epoch_data, loss=CosineSimilarityLoss())
    # A rerun on other examples must not resume this one.
    data_sha256 = fingerprint(pairs.anchors, pairs.positives, pairs.scores)
    training = trainer.fit(model, epoch_data, run_config={"data_sha256": data_sha256})

    head = train_logistic_head(
        embedder.embed(list(examples.texts)),
        examples.labels,
        train.num_classes,
        epochs=config.head_epochs,
        seed=config.seed,
    )
    run = FewShotRun(
        embedder=embedder,
        head=head,
        report=None,
        label_names=train.label_vocabulary,
        examples=examples,
        pairs=pairs,
        test=test,
        training=training,
        trainer=trainer,
    )
    probabilities = run.probabilities(test.texts)
    report = classification_report(
        test.labels,
        probabilities.argmax(axis=1),
        label_names=list(train.label_vocabulary),
    )
    if trainer.chief:
        report.to_json(os.path.join(config.model_dir, REPORT_FILE))
        embedder.save(os.path.join(config.model_dir, EMBEDDER_FILE))
        head.save(os.path.join(config.model_dir, HEAD_FILE))
    return dataclasses.replace(run, report=report)
