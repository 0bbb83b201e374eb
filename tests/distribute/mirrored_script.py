"""Training under `MirroredStrategy` on two logical CPUs, for `mirrored_test.py`.

The two logical devices must be configured before TensorFlow initializes its
devices, so the checks run in a fresh process:

    python mirrored_script.py --mode=exact --optimizer=sgd --result=FILE
    python mirrored_script.py --mode=pretrained --result=FILE
    python mirrored_script.py --mode=non_finite --result=FILE
    python mirrored_script.py --mode=fused --result=FILE
    python mirrored_script.py --mode=packed --result=FILE
    python mirrored_script.py --mode=predict --preset=DIR --result=FILE
    python mirrored_script.py --mode=exact,non_finite,contrastive --result=FILE

Several comma-separated modes run one after another in the process; the
result is then a dict of each mode's result.

`exact`: two steps on the same global batch from the same weights, once
on one device and once mirrored over two, with SGD or with `FusedAdamW`
(whose fused kernel updates each replica's copy); writes the largest weight
difference between the two runs and how far the steps moved the weights.
Several comma-separated optimizers run one after another in the process,
each with a new model and a new `get_strategy` call; a list of results.

`pretrained`: fine-tunes the embedded checkpoint's `TextClassifier` for two
steps on 16 real examples of up to 16 tokens, built inside the mirrored
scope; writes the losses.

`non_finite`: a NaN loss under `StopOnNonFiniteLoss`; writes the error raised.

`fused`: a tiny BERT classifier's two SGD steps on one global batch, on
one device on keras-hub's encoder path and mirrored over two on the fused
path (`use_fused_encoder`), without dropout; then two mirrored steps on the
fused path with dropout. Writes the largest weight difference, how far the
steps moved the weights and the dropout run's losses and weight change.

`packed`: a tiny BERT classifier's two SGD steps on batches of packed
rows (two to four texts a row, so the two replicas' parts of a batch hold
different numbers of texts; the last batch has an odd number of rows),
with class weights, on one device and mirrored over two. Writes the largest
weight difference, how far the steps moved the weights, both runs' epoch
losses and the texts each replica held.

`contrastive`: the check of `contrastive_script.py` for each of its losses
(one of them on deduplicated batches).

`predict`: what predicts batch by batch, on models of `--preset` (default:
the embedded checkpoint) built in the mirrored scope next to the same
weights on one device: `TextEmbedder.embed`, `predict_tags` of a
`TokenClassifier` and `calibrate_classifier` of a `TextClassifier` on
`(features, labels)` batches; writes the hidden size, the shapes, the
largest differences and both temperatures.
"""

import argparse
import json

import numpy as np

from tests.distribute.processes import exit_without_teardown


def two_logical_cpus():
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu,
        [
            tf.config.LogicalDeviceConfiguration(),
            tf.config.LogicalDeviceConfiguration(),
        ],
    )
    return ["/cpu:0", "/cpu:1"]


def largest_difference(weights, others):
    """The largest absolute difference between two lists of weight arrays."""
    return max(
        float(np.max(np.abs(a - b))) for a, b in zip(weights, others, strict=True)
    )


MODES = [
    "exact",
    "pretrained",
    "non_finite",
    "fused",
    "packed",
    "contrastive",
    "predict",
]
OPTIMIZERS = [
    "sgd",
    "fused_adamw",
    "fused_adamw_clipnorm",
    "fused_adamw_global_clipnorm",
]


def exact(make_strategy, optimizer_name, global_batch=8):
    """Two steps on one global batch, on one device and under a strategy.

    Also run by every worker of `multi_worker_script.py --mode=exact`.

    Args:
        make_strategy: callable returning the distributing strategy, called
            after the one-device run.
        optimizer_name: one of `OPTIMIZERS`.
        global_batch: examples in the batch both runs take.

    Returns:
        A dict: the optimizer's name, the strategy's replica count, the
        largest weight difference between the two runs and the largest
        weight change of the steps.
    """
    import keras
    import tensorflow as tf

    from tftransformer import finetune, models

    def build():
        encoder = models.TransformerEncoder(
            vocabulary_size=50,
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=12,
            dropout=0.0,
        )
        model = models.TransformerClassifier(
            encoder, num_classes=3, dropout=0.0, pooling="mean"
        )
        # The default loss reduction averages over the global batch: each
        # replica divides its sum by its share, Keras by the replica count.
        # The tiny clip norms make the clip act on every gradient.
        optimizer = {
            "sgd": lambda: keras.optimizers.SGD(0.5),
            "fused_adamw": lambda: finetune.FusedAdamW(0.01, weight_decay=0.1),
            "fused_adamw_clipnorm": lambda: finetune.FusedAdamW(
                0.01, weight_decay=0.1, clipnorm=1e-3
            ),
            "fused_adamw_global_clipnorm": lambda: finetune.FusedAdamW(
                0.01, weight_decay=0.1, global_clipnorm=1e-3
            ),
        }[optimizer_name]()
        model.compile(
            optimizer=optimizer,
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
        return model

    rng = np.random.default_rng(0)
    lengths = rng.integers(3, 13, size=global_batch)
    padding_mask = (np.arange(12)[None, :] < lengths[:, None]).astype("int32")
    features = {
        "token_ids": rng.integers(1, 50, size=(global_batch, 12)).astype("int32")
        * padding_mask,
        "padding_mask": padding_mask,
    }
    labels = rng.integers(0, 3, size=global_batch).astype("int32")

    def two_steps(model):
        dataset = (
            tf.data.Dataset.from_tensor_slices((features, labels))
            .batch(global_batch)
            .repeat(2)
        )
        # Several workers split each global batch between them, in order.
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        model.fit(dataset.with_options(options), epochs=1, verbose=0)
        return model.get_weights()

    keras.utils.set_random_seed(0)
    single = build()
    initial = single.get_weights()
    single_weights = two_steps(single)

    strategy = make_strategy()
    with strategy.scope():
        distributed = build()
    distributed.set_weights(initial)
    distributed_weights = two_steps(distributed)
    return {
        "optimizer": optimizer_name,
        "replicas": strategy.num_replicas_in_sync,
        "max_difference": largest_difference(single_weights, distributed_weights),
        "max_update": largest_difference(single_weights, initial),
    }


def pretrained(devices):
    import keras

    from tftransformer import data, datasets, distribute, finetune, models, presets

    keras.utils.set_random_seed(0)
    strategy = distribute.get_strategy("mirrored", devices=devices)
    # Two steps: a bad first update shows in the second step's loss.
    train = datasets.load_rotten_tomatoes("train").sample(16)
    batch_size = distribute.global_batch_size(4, strategy)
    with strategy.scope():
        backbone, preprocessor = presets.load_backbone("embedded", sequence_length=16)
        classifier = models.TextClassifier(backbone, num_classes=2, pooling="mean")
        classifier.compile(
            optimizer=finetune.create_optimizer(5e-5, num_train_steps=2),
            loss=finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
    dataset = data.make_classification_dataset(
        list(train.texts),
        train.labels,
        preprocessor.tokenizer,
        batch_size=batch_size,
        max_length=16,
        shuffle=True,
        seed=0,
        bucket_by_length=False,
    )
    history = classifier.fit(dataset, epochs=1, verbose=0).history
    return {"replicas": strategy.num_replicas_in_sync, "loss": history["loss"]}


def predict(devices, preset="embedded"):
    import numpy as np

    from tftransformer import distribute, evaluation, models, presets, training

    strategy = distribute.get_strategy("mirrored", devices=devices)
    # Two batches of 4 and a last one of 1: uneven over the two replicas.
    texts = ["a", "a few more words", "x y", "one more text of its own"] * 2
    texts.append("many more words than any other text of this list")

    def both(build):
        single = build()
        with strategy.scope():
            mirrored = build()
        mirrored.set_weights(single.get_weights())
        return single, mirrored

    single, mirrored = both(
        lambda: models.TextEmbedder.from_preset(preset, sequence_length=32)
    )
    expected = single.embed(texts, batch_size=4)
    actual = mirrored.embed(texts, batch_size=4)
    result = {
        "replicas": strategy.num_replicas_in_sync,
        "hidden_dim": single.backbone.hidden_dim,
        "embed_shapes": [list(expected.shape), list(actual.shape)],
        "embed_difference": float(np.abs(actual - expected).max()),
    }

    def tagger():
        backbone, preprocessor = presets.load_backbone(preset, sequence_length=32)
        return models.TokenClassifier(
            backbone, 3, preprocessor=preprocessor, tag_names=["O", "B-x", "I-x"]
        )

    single, mirrored = both(tagger)
    expected = evaluation.predict_tags(single, texts, batch_size=4)["logits"]
    actual = evaluation.predict_tags(mirrored, texts, batch_size=4)["logits"]
    result["tags_shapes"] = [
        [list(a.shape) for a in expected],
        [list(a.shape) for a in actual],
    ]
    result["tags_difference"] = max(
        float(np.abs(a - e).max()) for a, e in zip(actual, expected)
    )

    def classifier():
        backbone, preprocessor = presets.load_backbone(preset, sequence_length=32)
        return models.TextClassifier(backbone, 2, preprocessor=preprocessor)

    single, mirrored = both(classifier)
    # The untrained head's own classes, two of them flipped: a temperature
    # inside the fitted range, not at its bound.
    labels = np.argmax(single.predict(texts, verbose=0), axis=-1)
    labels[:2] = 1 - labels[:2]
    batches = [
        (single.preprocessor(texts[i : i + 4]), labels[i : i + 4])
        for i in range(0, len(texts), 4)
    ]
    result["temperatures"] = [
        training.calibrate_classifier(single, batches),
        training.calibrate_classifier(mirrored, batches),
    ]
    return result


def fused(devices, global_batch=8):
    import keras
    import tensorflow as tf

    from tftransformer import distribute, finetune, models
    from tftransformer.testing import tiny_bert_backbone

    def build(dropout):
        backbone = tiny_bert_backbone(hidden_dim=16, num_heads=2, dropout=dropout)
        model = models.TextClassifier(
            backbone, num_classes=3, pooling="mean", dropout=dropout
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss=finetune.classification_loss()
        )
        return model

    rng = np.random.default_rng(0)
    features = {
        "token_ids": rng.integers(1, 64, (global_batch, 12)).astype("int32"),
        "padding_mask": np.arange(12) < rng.integers(3, 13, (global_batch, 1)),
        "segment_ids": np.zeros((global_batch, 12), "int32"),
    }
    labels = rng.integers(0, 3, global_batch).astype("int32")
    dataset = (
        tf.data.Dataset.from_tensor_slices((features, labels))
        .batch(global_batch)
        .repeat(2)
    )

    keras.utils.set_random_seed(0)
    single = build(0.0)
    initial = single.get_weights()
    single.fit(dataset, epochs=1, verbose=0)
    strategy = distribute.get_strategy("mirrored", devices=devices)
    with strategy.scope():
        mirrored = build(0.0)
        blocks = finetune.use_fused_encoder(mirrored)
    mirrored.set_weights(initial)
    mirrored.fit(dataset, epochs=1, verbose=0)
    with strategy.scope():
        dropped = build(0.1)
        finetune.use_fused_encoder(dropped)
    dropped.set_weights(initial)
    losses = dropped.fit(dataset, epochs=1, verbose=0).history["loss"]

    trained = single.get_weights()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "fused_blocks": blocks,
        "max_difference": largest_difference(trained, mirrored.get_weights()),
        "max_update": largest_difference(trained, initial),
        "dropout_loss": losses,
        "dropout_update": largest_difference(dropped.get_weights(), initial),
    }


def packed(devices, global_batch=4):
    import keras

    from tftransformer import distribute, finetune, models
    from tftransformer.data.text_packing import packed_dataset, packed_rows
    from tftransformer.testing import tiny_bert_backbone

    def build():
        backbone = tiny_bert_backbone(hidden_dim=16, num_heads=2, dropout=0.0)
        model = models.TextClassifier(
            backbone, num_classes=3, pooling="mean", dropout=0.0
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.5), loss=finetune.classification_loss()
        )
        return model

    # Rows of 12 tokens in order: four short texts, two long ones, three
    # and so on, 7 rows: a batch of 4 rows, split 2 and 2 (6 and 7 texts),
    # then one of 3, split 2 and 1 (5 and 2 texts).
    lengths = [3, 3, 3, 3, 6, 6, 4, 4, 4, 3, 3, 3, 3, 6, 6, 4, 4, 4, 6, 6]
    rng = np.random.default_rng(0)
    token_ids = rng.integers(1, 64, (len(lengths), 12)).astype("int32")
    labels = rng.integers(0, 3, len(lengths)).astype("int32")
    features, rows = packed_rows(
        token_ids,
        np.zeros_like(token_ids),
        lengths,
        12,
        pad_id=0,
        strategy="in_order",
    )
    dataset = packed_dataset(features, rows, labels, global_batch, False, 0, False)
    class_weight = {0: 1.0, 1: 2.0, 2: 0.5}

    keras.utils.set_random_seed(0)
    single = build()
    initial = single.get_weights()
    single_loss = single.fit(dataset, epochs=1, verbose=0, class_weight=class_weight)
    strategy = distribute.get_strategy("mirrored", devices=devices)
    with strategy.scope():
        mirrored = build()
    mirrored.set_weights(initial)
    mirrored_loss = mirrored.fit(
        dataset, epochs=1, verbose=0, class_weight=class_weight
    )
    half = global_batch // 2
    trained = single.get_weights()
    return {
        "replicas": strategy.num_replicas_in_sync,
        "max_difference": largest_difference(trained, mirrored.get_weights()),
        "max_update": largest_difference(trained, initial),
        "single_loss": single_loss.history["loss"],
        "mirrored_loss": mirrored_loss.history["loss"],
        # Each replica's part of each batch (the last batch's: 2 rows, 1).
        "replica_texts": [
            int(features["text_mask"][start : start + half].sum())
            for start in range(0, len(rows), half)
        ],
    }


def non_finite(devices):
    import keras

    from tftransformer import distribute, finetune, training

    strategy = distribute.get_strategy("mirrored", devices=devices)
    with strategy.scope():
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(optimizer=finetune.FusedAdamW(1e-3), loss="mse")
    x, y = np.ones((8, 2), "float32"), np.full((8, 1), np.nan, "float32")
    try:
        model.fit(
            x,
            y,
            batch_size=4,
            epochs=1,
            verbose=0,
            callbacks=[training.StopOnNonFiniteLoss()],
        )
    except Exception as error:  # noqa: BLE001 - the test reads which one.
        return {"error": type(error).__name__, "message": str(error)}
    return {"error": None}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", required=True)
    parser.add_argument("--optimizer", default="sgd")
    parser.add_argument("--result", required=True)
    parser.add_argument("--preset", default="embedded", help="of --mode=predict")
    args = parser.parse_args()
    optimizers = args.optimizer.split(",")
    if not set(optimizers) <= set(OPTIMIZERS):
        parser.error(f"--optimizer takes names from {OPTIMIZERS}: {args.optimizer!r}")
    modes = args.mode.split(",")
    if not set(modes) <= set(MODES):
        parser.error(f"--mode takes names from {MODES}: {args.mode!r}")
    devices = two_logical_cpus()
    results = {}
    for mode in modes:
        if mode == "exact":
            from tftransformer import distribute

            runs = [
                exact(
                    lambda: distribute.get_strategy("mirrored", devices=devices), name
                )
                for name in optimizers
            ]
            results[mode] = runs[0] if len(runs) == 1 else runs
        elif mode == "non_finite":
            results[mode] = non_finite(devices)
        elif mode == "fused":
            results[mode] = fused(devices)
        elif mode == "packed":
            results[mode] = packed(devices)
        elif mode == "contrastive":
            from tests.distribute.contrastive_script import LOSSES, compare

            results[mode] = {name: compare(name, devices) for name in LOSSES}
        elif mode == "predict":
            results[mode] = predict(devices, args.preset)
        else:
            results[mode] = pretrained(devices)
    with open(args.result, "w") as f:
        json.dump(results[modes[0]] if len(modes) == 1 else results, f)


if __name__ == "__main__":
    main()
    exit_without_teardown()
