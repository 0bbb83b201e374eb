"""Few-shot text classification, SetFit-style, as a `Trainer` run."""

import os
import warnings

import keras
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_int
from tftransformer.data._autotune import without_autotuning
from tftransformer.data.few_shot_pairs import make_few_shot_pairs
from tftransformer.data.pair_loaders import make_pair_dataset
from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes
from tftransformer.evaluation._json_utils import write_json
from tftransformer.evaluation.calibration import (
    MAX_TEMPERATURE,
    MIN_TEMPERATURE,
    fit_temperature,
)
from tftransformer.evaluation.plots import write_classification_plots
from tftransformer.evaluation.predictions import evaluate_classifier
from tftransformer.finetune.cosine_similarity_loss import CosineSimilarityLoss
from tftransformer.models.contrastive_embedder import ContrastiveEmbedder
from tftransformer.models.text_embedder import TextEmbedder
from tftransformer.training.checkpointing import fingerprint
from tftransformer.training.few_shot_run import FewShotRun
from tftransformer.training.trainer import Trainer

__all__ = [
    "calibrate_logistic_head",
    "train_few_shot_classifier",
    "train_logistic_head",
]

# What `train_few_shot_classifier` writes in `model_dir`, besides the run's
# own files (its `model.keras` is the tuned `TextEmbedder`).
REPORT_FILE = "report.json"
HEAD_FILE = "head.keras"
# The name of a calibrated head's last layer, `Rescaling(1 / temperature)`.
TEMPERATURE_LAYER = "temperature"


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
    # Every full-batch step in one `fit` epoch: one epoch per step cost
    # about 35 ms each in Keras' epoch overhead (10 s of a few-shot run),
    # for the same updates.
    batches = without_autotuning(
        tf.data.Dataset.from_tensors((embeddings, labels)).repeat(epochs)
    )
    head.fit(batches, epochs=1, shuffle=False, verbose=0)
    return head


def calibrate_logistic_head(head, embeddings, labels):
    """Temperature scaling of a logistic head, fitted on held-out embeddings.

    Fits the temperature `T` minimizing the NLL of `softmax(logits / T)` on
    `embeddings` (`tftransformer.evaluation.fit_temperature`) and returns
    the head followed by `keras.layers.Rescaling(1 / T)` (named
    `"temperature"`), sharing the head's weights: the calibrated logits are
    saved with the head (`head.keras`) and exported with it
    (`export_few_shot_classifier`). Predicted classes do not change.

    Args:
        head: a `keras.Sequential` from embeddings to logits, e.g. of
            `train_logistic_head`, not calibrated yet.
        embeddings: float array `(num_examples, dim)` of examples the head
            was not trained on.
        labels: int array `(num_examples,)` of their class ids.

    Returns:
        `(calibrated_head, temperature)`: a `keras.Sequential` and a float.

    Example:
    ```python
    head, temperature = calibrate_logistic_head(
        head, embedder.embed(validation.texts), validation.labels
    )
    ```
    """
    if not isinstance(head, keras.Sequential) or any(
        layer.name == TEMPERATURE_LAYER for layer in head.layers
    ):
        raise ValueError(
            "head must be an uncalibrated keras.Sequential from embeddings to "
            f"logits (with no {TEMPERATURE_LAYER!r} layer). Received: {head!r}"
        )
    # Called, not `predict`: no pipeline and no trace for one small matmul.
    logits = keras.ops.convert_to_numpy(head(np.asarray(embeddings, "float32")))
    temperature = fit_temperature(logits, labels)
    calibrated = keras.Sequential(
        [
            keras.Input(head.inputs[0].shape[1:], dtype="float32"),
            *head.layers,
            keras.layers.Rescaling(
                1.0 / temperature, dtype="float32", name=TEMPERATURE_LAYER
            ),
        ],
        name=head.name,
    )
    return calibrated, temperature


def _held_out_examples(train, config):
    """The few-shot examples and, with `config.calibrate`, held-out ones.

    One seeded draw of `examples_per_class + calibration_examples_per_class`
    per class: the first `examples_per_class` of each class are the
    few-shot examples (so turning calibration on or off trains on the same
    examples), the rest fit the temperature.
    """
    if not config.calibrate:
        return train.sample_per_class(config.examples_per_class, config.seed), None
    pool = train.sample_per_class(
        config.examples_per_class + config.calibration_examples_per_class,
        config.seed,
    )
    first, rest = [], []
    for label in range(train.num_classes):
        indices = np.flatnonzero(pool.labels == label)
        first.append(indices[: config.examples_per_class])
        rest.append(indices[config.examples_per_class :])
    return pool.take(np.concatenate(first)), pool.take(np.concatenate(rest))


def train_few_shot_classifier(
    config, train=None, test=None, validation=None, verbose=1
):
    """Tunes a sentence embedder on a few examples, then fits a logistic head.

    SetFit's recipe: `config.examples_per_class` examples of each label are
    drawn from `train` (`TextClassificationData.sample_per_class`) and
    paired (`make_few_shot_pairs`: same label 1, other label 0); the
    `TextEmbedder` of `config.preset` is tuned on the pairs with
    `CosineSimilarityLoss` as a resumable `Trainer` run in
    `config.model_dir` (each batch's distinct texts embedded once:
    `ContrastiveEmbedder(deduplicate=True)`, except under a
    `TPUStrategy`); a logistic head (`train_logistic_head`) is trained on
    the tuned embeddings of the examples and scored on `test` (a seeded
    subset of `config.max_test_examples`).

    With `config.calibrate` (the default), the head gets a softmax
    temperature (`calibrate_logistic_head`) fitted on `validation`, or, when
    none is given, on `config.calibration_examples_per_class` more labelled
    examples of each class of `train`, drawn with the few-shot ones and
    used for nothing else. A training split with no such example left for
    some class skips calibration; `report.json` says why
    (`"calibration_skipped"`). Otherwise the report's `calibration` gives
    the test split's expected calibration error and NLL before and after.

    The run's `model.keras` in `model_dir` is the tuned `TextEmbedder` (the
    contrastive training model around it is not kept), and the chief writes
    `report.json` and `head.keras` (the temperature included) beside it,
    and, with matplotlib, `confusion_matrix.png`, `training_curves.png` and
    `reliability_diagram.png`. Export the result on raw strings with
    `tftransformer.export.export_few_shot_classifier`.

    Args:
        config: a `FewShotConfig`.
        train: optional `TextClassificationData`; defaults to the embedded
            sentiment data's training split.
        test: optional `TextClassificationData` with the same labels;
            defaults to the embedded test split.
        validation: optional `TextClassificationData` with the same labels,
            the temperature is fitted on; defaults to held-out examples of
            `train` (see above).
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
    for name, other in (("test", test), ("validation", validation)):
        if other is not None and other.label_vocabulary != train.label_vocabulary:
            raise ValueError(
                f"train and {name} must share one label vocabulary. Received: "
                f"{train.label_vocabulary} and {other.label_vocabulary}"
            )
    for name, data in (("train", train), ("test", test), ("validation", validation)):
        if data is not None and data.text_pairs is not None:
            # The embedder and the head read one text per example.
            raise ValueError(
                "A few-shot classifier reads single texts; sentence pairs "
                "would be trained and scored on their first texts alone. "
                f"Received: {name} with text_pairs (train a pair classifier "
                "with tft.training.train_text_classifier instead)"
            )
    if train.num_classes < 2:
        raise ValueError(
            "A few-shot classifier needs at least 2 classes. Received: train "
            f"with the label vocabulary {train.label_vocabulary}"
        )
    if not len(test):
        raise ValueError(
            "test has no examples: the run would train, then fail to score. "
            "Received: test of 0 examples"
        )
    counts = np.bincount(train.labels, minlength=train.num_classes)
    if not counts.all():
        missing = [train.label_vocabulary[i] for i in np.flatnonzero(counts == 0)]
        raise ValueError(
            "Every class needs a training example: the head would predict a "
            "class it never saw. Received: no example of "
            f"{', '.join(map(repr, missing))} in train"
        )
    if config.max_test_examples:
        test = test.sample(config.max_test_examples, config.seed)
    examples, held_out = _held_out_examples(train, config)
    if not config.calibrate:
        validation = None
    elif validation is None:
        validation = held_out
    skipped = None
    if validation is not None and set(validation.labels.tolist()) != set(
        range(train.num_classes)
    ):
        skipped = (
            "no held-out example of every class to fit a temperature on "
            f"({len(validation)} held out); pass validation data or a larger "
            "training split"
        )
        validation = None
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
        # A few examples paired many times: each batch's distinct texts are
        # embedded once (not on TPUs, whose XLA steps need static shapes).
        model = ContrastiveEmbedder(
            embedder,
            deduplicate=not isinstance(trainer.strategy, tf.distribute.TPUStrategy),
        )

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
    training = trainer.fit(
        model,
        epoch_data,
        run_config={"data_sha256": data_sha256},
        final_model=embedder,
    )

    head = train_logistic_head(
        embedder.embed(list(examples.texts)),
        examples.labels,
        train.num_classes,
        epochs=config.head_epochs,
        seed=config.seed,
    )
    temperature = None
    if validation is not None:
        with warnings.catch_warnings():
            # Said in the report instead.
            warnings.simplefilter("ignore")
            calibrated, temperature = calibrate_logistic_head(
                head, embedder.embed(list(validation.texts)), validation.labels
            )
        if not MIN_TEMPERATURE < temperature < MAX_TEMPERATURE:
            why = (
                "are all, or nearly all, classified right: their NLL falls "
                "toward a temperature of 0, which would only make the head "
                "surer of them"
                if temperature <= MIN_TEMPERATURE
                else "are, on the whole, classified wrong: their NLL is "
                "lowest with all probabilities equal"
            )
            skipped = (
                f"the {len(validation)} held-out examples {why}; pass "
                "validation data or more calibration examples per class"
            )
            temperature = None
    # The uncalibrated head's logits: the report compares them with and
    # without the temperature (`temperature=None`: no calibration entry).
    report, _ = evaluate_classifier(
        head,
        embedder.embed(list(test.texts)),
        test.labels,
        train.label_vocabulary,
        temperature=temperature,
    )
    if temperature is not None:
        head = calibrated
    if trainer.verbose and skipped:
        print(f"Calibration skipped: {skipped}")
    elif trainer.verbose and temperature is not None:
        print(f"Temperature fitted on {len(validation)} examples: {temperature:.3f}")
    if trainer.chief:
        result = report.to_dict()
        if skipped:
            result["calibration_skipped"] = skipped
        write_json(result, os.path.join(config.model_dir, REPORT_FILE))
        write_classification_plots(report, config.model_dir, training.history)
        head.save(os.path.join(config.model_dir, HEAD_FILE))
    return FewShotRun(
        embedder=embedder,
        head=head,
        report=report,
        label_names=train.label_vocabulary,
        examples=examples,
        pairs=pairs,
        test=test,
        training=training,
        trainer=trainer,
        validation=validation,
        temperature=temperature,
    )
