r"""Trains a small Transformer classifier from scratch: the no-transfer baseline.

The model is built only from tftransformer's layers (`TransformerEncoder` +
`TransformerClassifier`) with random weights; it tokenizes with the embedded
checkpoint's WordPiece vocabulary, so its inputs match the fine-tuned
model's. Compare its test accuracy with `examples/classify.py`.

Usage:
```
python examples/train_from_scratch.py --epochs=4 --position_kind=sine
python examples/train_from_scratch.py --max_train_examples=2000 --epochs=2
```
"""

import inspect
import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=256,
    position_kind="learned",
    pooling="mean",
    dropout=0.1,
    epochs=4,
    batch_size=32,
    learning_rate=5e-4,
    max_length=128,
    max_train_examples=None,
    max_eval_examples=None,
    patience=2,
    seed=0,
    model_dir="runs/from_scratch",
    distribution="auto",
    verbose=1,
):
    """Trains, evaluates and saves the baseline; returns the results.

    Returns:
        A dict with `report` (the test `ClassificationReport`), `history`,
        `model_path`, `model` and `train_seconds`.
    """
    # A rerun in the same model_dir resumes an interrupted run, but never one
    # with other settings.
    run_config = {
        name: value
        for name, value in locals().items()
        if name not in ("model_dir", "distribution", "verbose")
    }
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    for name, value in {
        "epochs": epochs,
        "batch_size": batch_size,
        "max_train_examples": max_train_examples,
        "max_eval_examples": max_eval_examples,
    }.items():
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise ValueError(f"{name} must be positive. Received: {name}={value!r}")
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    # Before any other TensorFlow call: strategies configure the devices.
    strategy = tft.distribute.get_strategy(distribution)
    chief = tft.distribute.is_chief(strategy)
    verbose = verbose if chief else 0
    keras.utils.set_random_seed(seed)
    # `batch_size` is per replica.
    global_batch = tft.distribute.global_batch_size(batch_size, strategy)

    train = tft.data.load_rotten_tomatoes("train")
    validation = tft.data.load_rotten_tomatoes("validation")
    test = tft.data.load_rotten_tomatoes("test")
    if max_train_examples is not None:
        train = train.sample(max_train_examples, seed)
    if max_eval_examples is not None:
        validation = validation.sample(max_eval_examples, seed)
        test = test.sample(max_eval_examples, seed)
    tokenizer = tft.presets.embedded_tokenizer()
    # Refuse another run's output directory before writing anything.
    tft.training.check_run_directory(model_dir, run_config)
    if chief:
        # Left by a run killed while saving model.keras.
        tft.training.checkpointing.remove_temporary_files(model_dir)

    def dataset(data, epoch=None):
        # Training data (an `epoch`) is shuffled by (seed, epoch) alone, so a
        # resumed epoch sees the batches the interrupted one saw.
        return tft.data.make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=global_batch,
            max_length=max_length,
            shuffle=epoch is not None,
            seed=tft.training.checkpointing.epoch_seed(seed, epoch or 0),
            # The encoder takes no segment ids; extra dict keys would make
            # Keras match the inputs by position.
            feature_names=("token_ids", "padding_mask"),
        )

    # Model, optimizer and metrics are created inside the strategy's scope.
    with strategy.scope():
        encoder = tft.models.TransformerEncoder(
            vocabulary_size=tokenizer.vocabulary_size(),
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_length,
            position_kind=position_kind,
            dropout=dropout,
        )
        model = tft.models.TransformerClassifier(
            encoder, num_classes=train.num_classes, dropout=dropout, pooling=pooling
        )
        # Made once: kept as the first epoch's data.
        first_epoch = dataset(train, epoch=0)
        steps = tft.finetune.count_train_steps(first_epoch, epochs)
        model.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate, num_train_steps=steps
            ),
            loss=tft.finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
    if verbose:
        print(
            f"From scratch: {model.count_params():,} parameters, {len(train)} "
            f"training examples, {steps} steps"
        )
    callbacks = tft.training.training_callbacks(
        model_dir,
        strategy,
        monitor="val_accuracy",
        mode="max",
        patience=patience,
        run_config=run_config,
        # A run killed after training (while evaluating or saving) reruns
        # from the final weights instead of training again.
        keep_final_checkpoint=True,
    )
    resumable = next(
        c for c in callbacks if isinstance(c, tft.training.ResumableTraining)
    )
    history = model.fit(
        resumable.epoch_dataset(
            lambda epoch: first_epoch if epoch == 0 else dataset(train, epoch)
        ),
        validation_data=dataset(validation),
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    ).history
    # Summed over the resumes of a killed run.
    train_seconds = resumable.train_seconds
    report, _ = tft.evaluation.evaluate_classifier(
        model, dataset(test), test.labels, test.label_vocabulary
    )
    # Every worker evaluates and saves (saving is a collective operation);
    # only the chief writes into model_dir.
    out_dir = tft.distribute.write_dir(model_dir, strategy)
    model_path = os.path.join(out_dir, "model.keras")
    # Atomic: a kill while saving must not leave a torn model.keras.
    with tft.training.checkpointing.atomic_write(model_path) as temporary:
        model.save(temporary)
    tft.distribute.cleanup_write_dir(model_dir, strategy)
    if chief:
        os.makedirs(model_dir, exist_ok=True)
        report.to_json(os.path.join(model_dir, "report.json"))
        with open(os.path.join(model_dir, "history.json"), "w") as f:
            history_json = {k: [float(v) for v in vs] for k, vs in history.items()}
            json.dump({"history": history_json, "train_seconds": train_seconds}, f)
    if verbose:
        print(f"\nTest results ({len(test)} examples):")
        print(report.format())
        print(f"Model and report written to {model_dir}/")
    return {
        "report": report,
        "history": history,
        "model_path": model_path,
        "model": model,
        "train_seconds": train_seconds,
    }


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES

    flags.DEFINE_integer("num_layers", 2, "Encoder layers.")
    flags.DEFINE_integer("num_heads", 4, "Attention heads per layer.")
    flags.DEFINE_integer("hidden_dim", 128, "Hidden width.")
    flags.DEFINE_integer("intermediate_dim", 256, "Feed-forward width.")
    flags.DEFINE_enum(
        "position_kind",
        "learned",
        ["learned", "sine", "relative"],
        "Position information: learned, sinusoidal, relative bias.",
    )
    flags.DEFINE_enum("pooling", "mean", ["cls", "mean"], "Pooling of the sequence.")
    flags.DEFINE_float("dropout", 0.1, "Dropout.")
    flags.DEFINE_integer("epochs", 4, "Training epochs.")
    flags.DEFINE_integer("batch_size", 32, "Batch size.")
    flags.DEFINE_float("learning_rate", 5e-4, "Peak learning rate (AdamW).")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_integer("max_train_examples", None, "Train on a seeded subset.")
    flags.DEFINE_integer("max_eval_examples", None, "Evaluate on a seeded subset.")
    flags.DEFINE_integer("patience", 2, "Early stopping patience (epochs).")
    flags.DEFINE_integer("seed", 0, "Random seed.")
    flags.DEFINE_string("model_dir", "runs/from_scratch", "Output directory.")
    flags.DEFINE_enum(
        "distribution",
        "auto",
        list(STRATEGY_NAMES),
        "tf.distribute strategy; --batch_size is per replica.",
    )


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
