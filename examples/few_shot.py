r"""Few-shot text classification, SetFit-style, on the embedded sentiment data.

A handful of labelled examples per class become sentence pairs (same label:
similarity 1, other label: 0); the sentence embedder (all-MiniLM-L6-v2) is
fine-tuned on them with a cosine-similarity loss, then a logistic-regression
head is trained on the tuned embeddings. Prints a report on the test split
and writes it, with the tuned embedder, to `--model_dir`. Rerunning a killed
command resumes the contrastive phase.

Usage:
```
python examples/few_shot.py --examples_per_class=8 --model_dir=runs/few_shot
python examples/few_shot.py --examples_per_class=16 --seed=1 --max_test_examples=500
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import tftransformer as tft
from tftransformer.training import setting


@dataclasses.dataclass
class Config(tft.training.FinetuneConfig):
    examples_per_class: int = setting(
        8, "Labelled training examples per class.", minimum=1
    )
    num_iterations: int = setting(
        20, "Rounds of pair sampling (2 pairs per example each).", minimum=1
    )
    head_epochs: int = setting(
        300, "Full-batch epochs of the logistic head.", minimum=1
    )
    max_test_examples: int | None = setting(
        None, "Evaluate on a seeded subset of the test split.", minimum=1
    )
    epochs: int = setting(1, "Contrastive training epochs.", minimum=1)
    batch_size: int = setting(16, "Pairs per batch (per replica).", minimum=1)
    learning_rate: float = setting(2e-5, "Peak learning rate.", minimum=0)
    max_length: int = setting(256, "Longest tokenized text.", minimum=2)
    model_dir: str = setting("runs/few_shot", "Output directory.", run_setting=False)


def few_examples(data, per_class, seed):
    """`per_class` examples of each label, drawn with `seed`."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(data.labels)
    keep = np.concatenate(
        [
            rng.permutation(np.flatnonzero(labels == c))[:per_class]
            for c in np.unique(labels)
        ]
    )
    return [data.texts[i] for i in keep], labels[keep]


def train_head(embeddings, labels, num_classes, epochs, seed):
    """A softmax regression on fixed embeddings (SetFit's logistic head)."""
    keras.utils.set_random_seed(seed)
    head = keras.Sequential(
        [keras.Input((embeddings.shape[1],)), keras.layers.Dense(num_classes)]
    )
    head.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    head.fit(embeddings, labels, epochs=epochs, batch_size=len(labels), verbose=0)
    return head


def main(config):
    train = tft.data.load_rotten_tomatoes("train")
    test = tft.data.load_rotten_tomatoes("test")
    if config.max_test_examples:
        test = test.sample(config.max_test_examples, config.seed)
    texts, labels = few_examples(train, config.examples_per_class, config.seed)
    pairs = tft.data.make_few_shot_pairs(
        texts, labels, num_iterations=config.num_iterations, seed=config.seed
    )
    print(f"{len(texts)} labelled examples -> {len(pairs)} pairs")

    trainer = tft.training.Trainer(config)
    with trainer.scope():
        embedder = tft.models.TextEmbedder.from_preset(
            config.preset, sequence_length=config.max_length, dtype=config.dtype
        )
        model = tft.models.ContrastiveEmbedder(embedder)

    def epoch_data(epoch):
        return tft.data.make_pair_dataset(
            pairs,
            embedder.preprocessor,
            trainer.global_batch_size,
            shuffle=True,
            seed=(config.seed, epoch),
        )

    trainer.compile(model, epoch_data, loss=tft.finetune.CosineSimilarityLoss())
    trainer.fit(model, epoch_data)

    head = train_head(
        embedder.embed(texts),
        labels,
        len(train.label_vocabulary),
        config.head_epochs,
        config.seed,
    )
    logits = head.predict(embedder.embed(list(test.texts)), verbose=0)
    report = tft.evaluation.classification_report(
        np.asarray(test.labels),
        logits.argmax(axis=1),
        label_names=list(train.label_vocabulary),
    )
    if not trainer.chief:
        return
    report.to_json(os.path.join(config.model_dir, "report.json"))
    embedder.save(os.path.join(config.model_dir, "embedder.keras"))
    head.save(os.path.join(config.model_dir, "head.keras"))
    print(
        f"\nTest results ({len(test)} examples, {config.examples_per_class} per class):"
    )
    print(report.format())


if __name__ == "__main__":
    tft.training.run(Config, main)
