"""One worker of a multi-worker run, started by `test_multi_worker.py`.

Trains a tiny `TransformerEncoder` + `TransformerClassifier` under
`get_strategy("multi_worker")` on seeded toy sentiment data, through
`make_classification_dataset` (length buckets, partial batches), with
`distribute.training_callbacks`. Writes `{result}.json` (losses, history and,
with `--predict`, prediction checks) and `{result}.npz` (the final weights).

    python multi_worker_script.py --index=0 --ports=P0,P1 --model_dir=DIR \
        --result=PREFIX [--epochs=2] [--crash_at_epoch=K] [--predict] \
        [--max_train_minutes=M [--clock_skew_minutes=S]]

`--crash_at_epoch=K` ends the process with exit code 3 when epoch K (0-based)
begins, after the chief backed up epoch K - 1: a worker failure. Workers
exit together, crashed or done (`processes.exit_together`), so none fails
a collective another left half done.
`--worker_1_delay_seconds=D` makes worker 1 start `fit` D seconds late.
`--clock_skew_minutes=S` makes worker 1's time budget count S minutes more
than it measures: a worker whose clock says stop before the others'.
`--predict` also predicts the evaluation data after training, through
`predict` and by calling the model on each batch, and writes the shape of
the first and the largest difference between the two.

`--exact=NAMES` first runs, on every worker, the check of
`mirrored_script.exact` for each optimizer: two steps on one global batch in
this process alone, then over all the workers from the same weights; the
results go under "exact" in `{result}.json`. With `--epochs=0` nothing else
runs. `--unpatched` makes the strategy with
`tf.distribute.MultiWorkerMirroredStrategy()` rather than `get_strategy`, so
Keras runs without `tftransformer._distribute_compat`; an error the check
raises then goes under "error" as `{"type": TYPE, "message": TEXT}`.
"""

import argparse
import json
import os
import time

from tests.distribute.mirrored_script import OPTIMIZERS, exact
from tests.distribute.processes import exit_together

CRASH_EXIT_CODE = 3
VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + (
    "good great fun moving bad awful dull boring the a film movie plot cast "
    "was is and but very quite"
).split()
POSITIVE = ["good", "great", "fun", "moving"]
NEGATIVE = ["bad", "awful", "dull", "boring"]
NEUTRAL = "the a film movie plot cast was is and but very quite".split()


def toy_sentiment(num_examples, seed):
    """Texts of 2 to 24 words whose label is the sentiment words they hold."""
    import numpy as np

    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for i in range(num_examples):
        label = i % 2
        words = list(rng.choice(NEUTRAL, size=rng.integers(1, 22)))
        words += list(rng.choice(POSITIVE if label else NEGATIVE, size=2))
        rng.shuffle(words)
        texts.append(" ".join(words))
        labels.append(label)
    return texts, labels


def arrival_files(args, stage):
    """Each worker's file that says it reached `stage` (see `exit_together`)."""
    prefix = os.path.join(os.path.dirname(args.result), "worker_{}.")
    return [prefix.format(i) + stage for i in range(len(args.ports.split(",")))]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--index", type=int, required=True)
    parser.add_argument("--ports", required=True)
    parser.add_argument("--model_dir", required=True)
    parser.add_argument("--result", required=True)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--crash_at_epoch", type=int, default=None)
    parser.add_argument("--worker_1_delay_seconds", type=float, default=0.0)
    parser.add_argument("--max_train_minutes", type=float, default=None)
    parser.add_argument("--clock_skew_minutes", type=float, default=0.0)
    parser.add_argument("--exact", default="")
    parser.add_argument("--predict", action="store_true")
    parser.add_argument("--unpatched", action="store_true")
    args = parser.parse_args()
    optimizers = [name for name in args.exact.split(",") if name]
    if not set(optimizers) <= set(OPTIMIZERS):
        parser.error(f"--exact takes names from {OPTIMIZERS}: {args.exact!r}")
    os.environ["TF_CONFIG"] = json.dumps(
        {
            "cluster": {
                "worker": [f"127.0.0.1:{port}" for port in args.ports.split(",")]
            },
            "task": {"type": "worker", "index": args.index},
        }
    )

    from tftransformer import distribute, training

    # First, before any other TensorFlow op: the strategy sets up collectives.
    if args.unpatched:
        import tensorflow as tf

        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    else:
        strategy = distribute.get_strategy("multi_worker")
    exact_results, error = [], None
    try:
        for name in optimizers:
            exact_results.append(exact(lambda: strategy, name, global_batch=12))
    except Exception as e:  # noqa: BLE001 - the test reads which one.
        if not args.unpatched:
            raise
        error = {"type": type(e).__name__, "message": str(e)}
    if args.epochs == 0:
        with open(args.result + ".json", "w") as f:
            json.dump({"exact": exact_results, "error": error}, f)
        return args

    import keras
    import keras_hub
    import numpy as np

    from tftransformer import data, finetune, models

    keras.utils.set_random_seed(0)
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCABULARY)
    texts, labels = toy_sentiment(48, seed=0)
    batch_size = distribute.global_batch_size(4, strategy)

    def dataset(training):
        return data.make_classification_dataset(
            texts,
            labels,
            tokenizer,
            batch_size=batch_size,
            max_length=32,
            shuffle=training,
            seed=0,
        )

    train_ds, eval_ds = dataset(True), dataset(False)
    with strategy.scope():
        encoder = models.TransformerEncoder(
            vocabulary_size=len(VOCABULARY),
            num_layers=1,
            num_heads=2,
            hidden_dim=16,
            intermediate_dim=32,
            max_sequence_length=32,
            dropout=0.0,
        )
        model = models.TransformerClassifier(
            encoder, num_classes=2, dropout=0.0, pooling="mean"
        )
        model.compile(
            optimizer=finetune.create_optimizer(
                3e-3, num_train_steps=12 * args.epochs, warmup_steps=0
            ),
            loss=finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
    initial_loss = model.evaluate(eval_ds, verbose=0, return_dict=True)["loss"]

    class Crash(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == args.crash_at_epoch:
                exit_together(
                    arrival_files(args, "crashing"), args.index, CRASH_EXIT_CODE
                )

    class BeforeTheOthers(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            if args.index == 1:
                time.sleep(args.worker_1_delay_seconds)

    callbacks = training.training_callbacks(
        args.model_dir,
        strategy,
        monitor="val_loss",
        mode="min",
        patience=5,
        tensorboard=False,
        max_train_minutes=args.max_train_minutes,
    )
    if args.index == 1 and args.clock_skew_minutes:
        (budget,) = [c for c in callbacks if isinstance(c, training.TimeBudget)]
        measured = budget._spent
        budget._spent = lambda now: measured(now) + 60 * args.clock_skew_minutes
    try:
        training.training_callbacks(args.model_dir, strategy, save_freq=2)
        mid_epoch_saves_refused = False
    except ValueError:
        mid_epoch_saves_refused = True
    history = model.fit(
        train_ds,
        validation_data=eval_ds,
        epochs=args.epochs,
        callbacks=[BeforeTheOthers()] + callbacks + [Crash()],
        verbose=0,
    ).history
    final_loss = model.evaluate(eval_ds, verbose=0, return_dict=True)["loss"]

    predicted = {}
    if args.predict:
        # Predictions must come back whole and in input order on every worker.
        predictions = model.predict(eval_ds, verbose=0)
        local = np.concatenate(
            [model(features, training=False) for features, _ in eval_ds]
        )
        predicted = {
            "prediction_shape": list(predictions.shape),
            "prediction_error": float(np.max(np.abs(predictions - local))),
        }
    model.save(
        os.path.join(distribute.write_dir(args.model_dir, strategy), "model.keras")
    )
    own_write_dir = distribute.write_dir(args.model_dir, strategy)
    distribute.cleanup_write_dir(args.model_dir, strategy)

    np.savez(args.result + ".npz", *model.get_weights())
    with open(args.result + ".json", "w") as f:
        json.dump(
            {
                "index": args.index,
                "exact": exact_results,
                "replicas": strategy.num_replicas_in_sync,
                "is_chief": distribute.is_chief(strategy),
                "write_dir": own_write_dir,
                "initial_loss": initial_loss,
                "final_loss": final_loss,
                "mid_epoch_saves_refused": mid_epoch_saves_refused,
                "history": {k: [float(v) for v in vs] for k, vs in history.items()},
                **predicted,
            },
            f,
        )
    return args


if __name__ == "__main__":
    finished = main()
    exit_together(arrival_files(finished, "done"), finished.index)
