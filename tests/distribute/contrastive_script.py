"""Contrastive losses under `MirroredStrategy` on two logical CPUs.

For `test_mirrored.py` (through `mirrored_script.py --mode=contrastive`,
in the process of the other mirrored checks); the logical devices must be
configured before TensorFlow initializes, so this runs in a fresh process:

    python contrastive_script.py --result=FILE

For each loss, two SGD steps on the same global batches from the same
weights, once on one device and once mirrored over two; writes, per loss,
the largest weight difference between the runs, how far the steps moved
the weights, and both runs' losses. `cosine_deduplicated` draws its texts
from three distinct ones and embeds each once per replica.
"""

import argparse
import json

import numpy as np

from tests.distribute.mirrored_script import largest_difference, two_logical_cpus

LOSSES = {
    "mnrl": lambda f: f.MultipleNegativesRankingLoss(scale=20.0),
    "mnrl_symmetric": lambda f: f.MultipleNegativesRankingLoss(symmetric=True),
    "mnrl_negatives": lambda f: f.MultipleNegativesRankingLoss(),
    "triplet": lambda f: f.TripletLoss(distance="cosine", margin=0.5),
    "cosine": lambda f: f.CosineSimilarityLoss(),
    # SetFit-style: a few texts paired many times, each embedded once per
    # replica (`ContrastiveEmbedder(deduplicate=True)`).
    "cosine_deduplicated": lambda f: f.CosineSimilarityLoss(),
}
TEXTS = {"mnrl_negatives": 3, "triplet": 3}
# Losses whose batches draw their texts from a few distinct ones.
DEDUPLICATED = {"cosine_deduplicated"}


def batches(texts, examples=8, length=8, seed=0, distinct=None):
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, 100, size=(examples, texts, length)).astype("int32")
    lengths = rng.integers(2, length + 1, size=(examples, texts))
    if distinct:
        # Every text one of `distinct` texts.
        which = rng.integers(0, distinct, size=(examples, texts))
        token_ids, lengths = token_ids.reshape(-1, length)[which], lengths.flat[which]
    mask = (np.arange(length) < lengths[..., None]).astype("int32")
    features = {
        "token_ids": token_ids * mask,
        "padding_mask": mask,
        "segment_ids": np.zeros_like(token_ids),
    }
    scores = rng.uniform(-1, 1, size=examples).astype("float32")
    return features, scores


def run(name, strategy, initial_weights=None):
    import keras
    import tensorflow as tf

    from tftransformer import finetune, models
    from tftransformer.testing import tiny_bert_backbone

    deduplicate = name in DEDUPLICATED
    features, scores = batches(TEXTS.get(name, 2), distinct=3 if deduplicate else None)
    # Four examples per global batch: two per replica.
    dataset = tf.data.Dataset.from_tensor_slices((features, scores)).batch(4)
    with strategy.scope():
        keras.utils.set_random_seed(0)
        backbone = tiny_bert_backbone(
            vocabulary_size=100,
            num_layers=1,
            hidden_dim=16,
            max_sequence_length=16,
            dropout=0.0,
        )
        model = models.ContrastiveEmbedder(
            models.TextEmbedder(backbone), deduplicate=deduplicate
        )
        model(features)
        if initial_weights is not None:
            model.set_weights(initial_weights)
        model.compile(optimizer=keras.optimizers.SGD(0.5), loss=LOSSES[name](finetune))
    start = [np.array(w) for w in model.get_weights()]
    history = model.fit(dataset, epochs=1, verbose=0, shuffle=False)
    return model, start, history.history["loss"][-1]


def compare(name, devices):
    import tensorflow as tf

    single, start, single_loss = run(name, tf.distribute.get_strategy())
    from tftransformer import distribute

    mirrored = distribute.get_strategy("mirrored", devices=devices)
    double, _, double_loss = run(name, mirrored, initial_weights=start)
    after_single = single.get_weights()
    after_double = double.get_weights()
    return {
        "replicas": mirrored.num_replicas_in_sync,
        "max_update": largest_difference(after_single, start),
        "max_difference": largest_difference(after_single, after_double),
        "loss": [float(single_loss), float(double_loss)],
    }


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--result", required=True)
    args = parser.parse_args()
    devices = two_logical_cpus()
    result = {name: compare(name, devices) for name in LOSSES}
    with open(args.result, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
