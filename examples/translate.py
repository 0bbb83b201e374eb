r"""Trains a Transformer translation model from scratch and scores it with BLEU.

The model is a `Seq2SeqTransformer` built only from tftransformer's layers,
with random weights, trained with teacher forcing on sentence pairs. It then
translates held-out source sentences greedily and with beam search, and
scores both with corpus BLEU. Everything lands in `--model_dir`: the model
(`model.keras`), the two WordPiece vocabularies, `report.json` (BLEU,
settings, timings), `translations.tsv` and the training history.

Data: by default the verse-aligned English-Spanish Bible that
`make translation-data` writes to `runs/data/bible_en_es.tsv` (the World
English Bible and the Reina-Valera 1909, both public domain, from Debian's
`sword-text-web` and `sword-text-sparv`). Any TSV of sentence pairs works:
`--pairs_file=pairs.tsv --source_column=0 --target_column=1` for a file
without a header (e.g. a Tatoeba export, one pair per line), or column names
for a file with one.

Tokenization: one WordPiece vocabulary per language, learned from the
training split alone: lowercased, punctuation split off, accents kept, every
piece seen at least `--min_token_count` times. Accents matter in Spanish
("él"/"el", "está"/"esta"), and a vocabulary learned from the corpus splits
words of either language into few pieces, which an English vocabulary such
as the embedded checkpoint's (accents stripped, built for English) would not.
BLEU is computed on the same lowercased words with punctuation as separate
tokens.

Usage:
```
make translation-data
python examples/translate.py
python examples/translate.py --source_column=es --target_column=en
python examples/translate.py --pairs_file=pairs.tsv --source_column=0 \
    --target_column=1 --epochs=20
```
"""

import inspect
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS

DEFAULT_PAIRS_FILE = os.path.join("runs", "data", "bible_en_es.tsv")
# The ids of `tft.data.SEQUENCE_RESERVED_TOKENS`, first in every learned
# vocabulary. BLEU compares `tft.data.split_words` tokens.
PAD, UNK, START, END = 0, 1, 2, 3
# Arguments left out of the run config: decoding and the time budget change
# no training step, so a resumed run may change them.
RESUMABLE_CHANGES = (
    "model_dir",
    "max_train_minutes",
    "beam_width",
    "length_penalty",
    "num_samples",
)


def run(
    pairs_file=DEFAULT_PAIRS_FILE,
    source_column="en",
    target_column="es",
    on_bad_rows="error",
    max_length=24,
    test_size=1500,
    validation_size=1000,
    max_train_pairs=None,
    min_token_count=10,
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    dropout=0.1,
    position_kind="learned",
    epochs=10,
    batch_size=64,
    learning_rate=1e-3,
    warmup_fraction=0.05,
    patience=2,
    max_train_minutes=None,
    beam_width=4,
    length_penalty=0.6,
    num_samples=5,
    seed=0,
    model_dir="runs/translate",
    distribution="auto",
    verbose=1,
):
    """Trains, evaluates and saves a translation model; returns the results.

    Pairs whose source has more than `max_length` tokens, or whose target
    with its start and end tokens does, are left out of every split.

    Returns:
        A dict with `bleu` (`{"greedy": ..., "beam": ...}`, the
        `corpus_bleu` results on the test pairs), `samples` (dicts of
        source, reference, greedy and beam translations), `history`,
        `model`, `model_path`, `num_pairs` (per split), `train_seconds` and
        `decode_seconds`.

    A run killed at any moment resumes when run again with the same
    arguments, from the checkpoint in `model_dir/backup`; the decoding
    arguments and `max_train_minutes` (the budget of the whole run) may
    change. A `model_dir` holding a run with other settings or data is
    refused before anything is written.
    """
    settings = {
        name: value
        for name, value in locals().items()
        if name not in ("verbose", "distribution")
    }
    import keras

    import tftransformer as tft
    from tftransformer._arguments import (
        check_int,
        check_positive_number,
        is_finite_number,
    )

    # Before any other TensorFlow call: strategies configure the devices.
    strategy = tft.distribute.get_strategy(distribution)
    chief = tft.distribute.is_chief(strategy)
    verbose = verbose if chief else 0

    for name, value in {
        "max_length": max_length,
        "test_size": test_size,
        "epochs": epochs,
        "batch_size": batch_size,
        "beam_width": beam_width,
        "min_token_count": min_token_count,
    }.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{name} must be a positive integer. Received: {name}={value!r}"
            )
    # As beam_search checks it, but before training, not after.
    check_positive_number("length_penalty", length_penalty, allow_zero=True)
    if max_length < 3:
        raise ValueError(
            "max_length must be at least 3 (start, one token, end). "
            f"Received: max_length={max_length}"
        )
    # Optional: no validation split (early stopping on the training loss),
    # or all training pairs.
    for name, value, minimum in (
        ("validation_size", validation_size, 0),
        ("max_train_pairs", max_train_pairs, 1),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value < minimum
        ):
            raise ValueError(
                f"{name} must be None or an integer >= {minimum}. "
                f"Received: {name}={value!r}"
            )
    check_int("num_samples", num_samples, 0)
    # 0 is no budget at all, not "no limit": that is None.
    if max_train_minutes is not None and not (
        is_finite_number(max_train_minutes) and max_train_minutes > 0
    ):
        raise ValueError(
            "max_train_minutes must be None (no limit) or a number > 0. "
            f"Received: max_train_minutes={max_train_minutes!r}"
        )
    if _column(source_column) == _column(target_column):
        raise ValueError(
            "source_column and target_column must differ: a model would learn "
            f"to copy. Received: source_column={source_column!r}, "
            f"target_column={target_column!r}"
        )
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)
    # `batch_size` is per replica.
    global_batch = tft.distribute.global_batch_size(batch_size, strategy)

    # === Data ===
    if pairs_file == DEFAULT_PAIRS_FILE and not os.path.exists(pairs_file):
        raise FileNotFoundError(
            f"The default sentence pair file {pairs_file!r} does not exist. "
            "Write it with `make translation-data` (installs Debian's "
            "sword-text-web, sword-text-sparv and libsword-utils), or pass "
            "--pairs_file with your own TSV of sentence pairs."
        )
    sources, targets = tft.data.load_sentence_pairs(
        pairs_file,
        _column(source_column),
        _column(target_column),
        on_bad_rows=on_bad_rows,
    )
    order = np.random.default_rng(seed).permutation(len(sources))
    validation_size = validation_size or 0
    if len(order) < test_size + validation_size + 1:
        raise ValueError(
            f"{pairs_file} has {len(order)} pairs: too few for test_size="
            f"{test_size} and validation_size={validation_size} plus training."
        )
    split_indices = {
        "test": order[:test_size],
        "validation": order[test_size : test_size + validation_size],
        "train": order[test_size + validation_size :],
    }
    if max_train_pairs is not None:
        split_indices["train"] = split_indices["train"][:max_train_pairs]
    splits = {
        name: ([sources[i] for i in indices], [targets[i] for i in indices])
        for name, indices in split_indices.items()
    }
    # A rerun in the same model_dir resumes an interrupted run, but never one
    # with other settings or data.
    run_config = {
        name: value for name, value in settings.items() if name not in RESUMABLE_CHANGES
    }
    run_config["data_sha256"] = tft.training.checkpointing.fingerprint(
        *splits["train"], *splits["validation"]
    )
    # Refuse another run's output directory before writing anything (the
    # vocabularies are written next).
    tft.training.check_run_directory(model_dir, run_config)

    if chief:
        os.makedirs(model_dir, exist_ok=True)
        # Left by a run killed while saving model.keras.
        tft.training.checkpointing.remove_temporary_files(model_dir)
    source_vocabulary = tft.data.learn_word_piece_vocabulary(
        splits["train"][0], min_token_count
    )
    target_vocabulary = tft.data.learn_word_piece_vocabulary(
        splits["train"][1], min_token_count
    )
    source_tokenizer = tft.data.word_piece_tokenizer(source_vocabulary)
    target_tokenizer = tft.data.word_piece_tokenizer(target_vocabulary)
    for name, vocabulary in (
        (("source", source_vocabulary), ("target", target_vocabulary)) if chief else ()
    ):
        with open(
            os.path.join(model_dir, f"{name}_vocabulary.txt"), "w", encoding="utf-8"
        ) as f:
            f.write("".join(token + "\n" for token in vocabulary))

    tokenized = {}
    for name, (split_sources, split_targets) in splits.items():
        source_ids = tft.data.tokenize_texts(source_tokenizer, split_sources)
        target_ids = tft.data.tokenize_texts(target_tokenizer, split_targets)
        keep = [
            i
            for i in range(len(source_ids))
            if 0 < len(source_ids[i]) <= max_length
            and 0 < len(target_ids[i]) <= max_length - 2
        ]
        tokenized[name] = {
            "source_ids": [source_ids[i] for i in keep],
            "target_ids": [target_ids[i] for i in keep],
            "sources": [split_sources[i] for i in keep],
            "targets": [split_targets[i] for i in keep],
        }
    num_pairs = {name: len(split["source_ids"]) for name, split in tokenized.items()}
    if not num_pairs["train"] or not num_pairs["test"]:
        raise ValueError(
            f"No training or test pair has at most max_length={max_length} "
            f"tokens (pairs kept per split: {num_pairs}). Raise max_length."
        )
    if verbose:
        print(
            f"Data: {pairs_file}, {source_column} -> {target_column}; pairs of at "
            f"most {max_length} tokens: {num_pairs['train']} train, "
            f"{num_pairs['validation']} validation, {num_pairs['test']} test "
            f"(of {len(sources)}). Vocabularies: {len(source_vocabulary)} source, "
            f"{len(target_vocabulary)} target WordPiece tokens."
        )

    # === Model ===
    def dataset(split, epoch=None):
        # Training data (an `epoch`) is shuffled by (seed, epoch) alone, so a
        # resumed epoch sees the batches the interrupted one saw.
        return _teacher_forcing_dataset(
            tokenized[split]["source_ids"],
            tokenized[split]["target_ids"],
            global_batch,
            max_length,
            shuffle=epoch is not None,
            seed=tft.training.checkpointing.epoch_seed(seed, epoch or 0),
        )

    # Made once: kept as the first epoch's data.
    first_epoch = dataset("train", epoch=0)
    steps_per_epoch = int(first_epoch.cardinality())
    # Model, optimizer and metrics are created inside the strategy's scope.
    with strategy.scope():
        model = tft.models.Seq2SeqTransformer(
            encoder_vocabulary_size=len(source_vocabulary),
            decoder_vocabulary_size=len(target_vocabulary),
            num_layers=num_layers,
            num_heads=num_heads,
            hidden_dim=hidden_dim,
            intermediate_dim=intermediate_dim,
            max_sequence_length=max_length,
            dropout=dropout,
            position_kind=position_kind,
        )
        model.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate,
                num_train_steps=steps_per_epoch * epochs,
                warmup_fraction=warmup_fraction,
            ),
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=PAD
            ),
            metrics=[tft.evaluation.TokenAccuracy(name="accuracy", ignore_label=PAD)],
        )
    if verbose:
        print(
            f"Model: Seq2SeqTransformer, {model.count_params():,} parameters, "
            f"{steps_per_epoch} steps per epoch"
        )
    has_validation = num_pairs["validation"] > 0
    callbacks = tft.training.training_callbacks(
        model_dir,
        strategy,
        monitor="val_loss" if has_validation else "loss",
        mode="min",
        patience=patience,
        tensorboard=False,
        run_config=run_config,
        # A run killed after training (while decoding or saving) reruns from
        # the final weights instead of training again.
        keep_final_checkpoint=True,
        # The budget of the whole run, resumes included.
        max_train_minutes=max_train_minutes,
    )
    resumable = next(
        c for c in callbacks if isinstance(c, tft.training.ResumableTraining)
    )
    history = model.fit(
        resumable.epoch_dataset(
            lambda epoch: first_epoch if epoch == 0 else dataset("train", epoch)
        ),
        validation_data=dataset("validation") if has_validation else None,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    ).history
    # Summed over the resumes of a killed run.
    train_seconds = resumable.train_seconds

    # === Translation and BLEU ===
    test = tokenized["test"]
    start = time.time()
    greedy_ids = _decode(
        lambda ids: model.greedy_decode(ids, START, END, max_length=max_length),
        test["source_ids"],
        batch_size=64,
    )
    beam_ids = _decode(
        lambda ids: tft.models.beam_search(
            model,
            ids,
            START,
            END,
            max_length=max_length,
            beam_width=beam_width,
            length_penalty=length_penalty,
        ),
        test["source_ids"],
        batch_size=max(1, 128 // beam_width),
    )
    decode_seconds = time.time() - start
    references = [" ".join(tft.data.split_words(text)) for text in test["targets"]]
    translations = {
        name: [_ids_to_text(row, target_vocabulary) for row in ids]
        for name, ids in (("greedy", greedy_ids), ("beam", beam_ids))
    }
    bleu = {
        name: tft.evaluation.corpus_bleu(hypotheses, references)
        for name, hypotheses in translations.items()
    }
    samples = [
        {
            "source": test["sources"][i],
            "reference": test["targets"][i],
            "greedy": translations["greedy"][i],
            "beam": translations["beam"][i],
        }
        for i in range(min(num_samples, num_pairs["test"]))
    ]

    # === Outputs ===
    # Every worker saves (saving may be a collective operation); only the
    # chief writes into model_dir.
    out_dir = tft.distribute.write_dir(model_dir, strategy)
    model_path = os.path.join(out_dir, "model.keras")
    # Atomic: a kill while saving must not leave a torn model.keras.
    with tft.training.checkpointing.atomic_write(model_path) as temporary:
        model.save(temporary)
    tft.distribute.cleanup_write_dir(model_dir, strategy)
    report = {
        "bleu": {name: result["bleu"] for name, result in bleu.items()},
        "bleu_details": bleu,
        "num_pairs": num_pairs,
        "vocabulary_sizes": {
            "source": len(source_vocabulary),
            "target": len(target_vocabulary),
        },
        "parameters": model.count_params(),
        "epochs_run": len(history["loss"]),
        "train_seconds": train_seconds,
        "decode_seconds": decode_seconds,
        "settings": settings,
        "samples": samples,
    }
    if chief:
        _write_outputs(model_dir, report, history, test, references, translations)
    if verbose:
        print(
            f"\nTest BLEU ({num_pairs['test']} pairs): greedy "
            f"{bleu['greedy']['bleu']:.2f}, beam search (width {beam_width}, "
            f"length penalty {length_penalty}) {bleu['beam']['bleu']:.2f}. "
            f"Training {train_seconds / 60:.1f} min, decoding "
            f"{decode_seconds / 60:.1f} min."
        )
        for sample in samples:
            print(
                f"\n  source:    {sample['source']}\n"
                f"  reference: {sample['reference']}\n"
                f"  greedy:    {sample['greedy']}\n"
                f"  beam:      {sample['beam']}"
            )
        print(f"\nModel, vocabularies and report written to {model_dir}/")
    return {
        "bleu": bleu,
        "samples": samples,
        "history": history,
        "model": model,
        "model_path": model_path,
        "num_pairs": num_pairs,
        "train_seconds": train_seconds,
        "decode_seconds": decode_seconds,
    }


def _write_outputs(model_dir, report, history, test, references, translations):
    """Writes translations.tsv, report.json and history.json."""
    with open(os.path.join(model_dir, "translations.tsv"), "w", encoding="utf-8") as f:
        f.write("source\treference\tgreedy\tbeam\n")
        for i in range(len(references)):
            fields = (
                test["sources"][i],
                references[i],
                translations["greedy"][i],
                translations["beam"][i],
            )
            f.write("\t".join(" ".join(x.split()) for x in fields) + "\n")
    with open(os.path.join(model_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
    with open(os.path.join(model_dir, "history.json"), "w") as f:
        json.dump({k: [float(v) for v in vs] for k, vs in history.items()}, f)


def _column(value):
    """A column flag: an index when it is a number, a header name otherwise."""
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value


def _teacher_forcing_dataset(
    source_ids, target_ids, batch_size, max_length, shuffle, seed
):
    """Batches `({encoder_token_ids, encoder_padding_mask, decoder_token_ids,
    decoder_padding_mask}, labels)`: the decoder reads `[START] + target`
    and predicts `target + [END]`. Pairs of similar length are batched
    together and each batch is padded to its longest sequence."""
    import tensorflow as tf

    def ragged(lists):
        lengths = np.array([len(x) for x in lists], "int64")
        values = np.concatenate([np.asarray(x, "int32") for x in lists])
        return tf.RaggedTensor.from_row_lengths(values, lengths)

    data = tf.data.Dataset.from_tensor_slices((ragged(source_ids), ragged(target_ids)))
    if shuffle:
        data = data.shuffle(len(source_ids), seed=seed, reshuffle_each_iteration=True)

    def teacher_forcing(source, target):
        return {
            "encoder_token_ids": source,
            "decoder_token_ids": tf.concat([[START], target], 0),
        }, tf.concat([target, [END]], 0)

    data = data.map(teacher_forcing)
    boundaries = list(range(8, max_length + 1, 8))
    data = data.bucket_by_sequence_length(
        lambda x, y: tf.maximum(tf.shape(x["encoder_token_ids"])[0], tf.shape(y)[0]),
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )

    def add_masks(x, y):
        x["encoder_padding_mask"] = tf.cast(x["encoder_token_ids"] != PAD, "int32")
        x["decoder_padding_mask"] = tf.cast(x["decoder_token_ids"] != PAD, "int32")
        return x, y

    data = data.map(add_masks)
    # Every order gives the same number of batches (a bucket's last batch
    # may be short); telling the dataset spares Keras an unknown length.
    num_batches = sum(1 for _ in data)
    return data.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(
        tf.data.AUTOTUNE
    )


def _decode(decode, source_ids, batch_size):
    """Decodes in batches of similar source length; returns the rows (lists
    of target ids, start token first) in the order of `source_ids`."""
    order = np.argsort([len(ids) for ids in source_ids], kind="stable")
    outputs = [None] * len(source_ids)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        width = max(len(source_ids[i]) for i in rows)
        batch = np.zeros((len(rows), width), "int32")
        for j, i in enumerate(rows):
            batch[j, : len(source_ids[i])] = source_ids[i]
        for j, row in enumerate(np.asarray(decode(batch))):
            outputs[rows[j]] = row.tolist()
    return outputs


def _ids_to_text(ids, vocabulary):
    """Joins WordPiece tokens into space-separated words, dropping the
    special tokens and stopping at the end token."""
    words = []
    for token_id in ids:
        if token_id == END:
            break
        if token_id in (PAD, START):
            continue
        token = vocabulary[token_id]
        if token.startswith("##"):
            if words:
                words[-1] += token[2:]
            else:
                words.append(token[2:])
        else:
            words.append(token)
    return " ".join(words)


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES

    flags.DEFINE_string(
        "pairs_file",
        DEFAULT_PAIRS_FILE,
        "TSV of sentence pairs; default: the Bible corpus of `make translation-data`.",
    )
    flags.DEFINE_string(
        "source_column", "en", "Source column: header name, or index from 0."
    )
    flags.DEFINE_string(
        "target_column", "es", "Target column: header name, or index from 0."
    )
    flags.DEFINE_enum(
        "on_bad_rows",
        "error",
        ["error", "skip"],
        "Lines with too few fields or an empty sentence: refuse, or skip and count.",
    )
    flags.DEFINE_integer(
        "max_length",
        24,
        "Longest source / target in tokens; longer pairs are left out.",
    )
    flags.DEFINE_integer("test_size", 1500, "Held-out pairs for BLEU.")
    flags.DEFINE_integer("validation_size", 1000, "Held-out pairs for early stopping.")
    flags.DEFINE_integer("max_train_pairs", None, "Train on at most this many pairs.")
    flags.DEFINE_integer(
        "min_token_count", 10, "WordPiece pieces must occur this often in training."
    )
    flags.DEFINE_integer("num_layers", 2, "Encoder layers and decoder layers.")
    flags.DEFINE_integer("num_heads", 4, "Attention heads per layer.")
    flags.DEFINE_integer("hidden_dim", 128, "Hidden width.")
    flags.DEFINE_integer("intermediate_dim", 512, "Feed-forward width.")
    flags.DEFINE_float("dropout", 0.1, "Dropout.")
    flags.DEFINE_enum(
        "position_kind",
        "learned",
        ["learned", "sine", "relative"],
        "Position information: learned, sinusoidal, relative bias.",
    )
    flags.DEFINE_integer("epochs", 10, "Training epochs.")
    flags.DEFINE_integer("batch_size", 64, "Batch size.")
    flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate (AdamW).")
    flags.DEFINE_float("warmup_fraction", 0.05, "Fraction of steps of linear warmup.")
    flags.DEFINE_integer("patience", 2, "Early stopping patience (epochs).")
    flags.DEFINE_float(
        "max_train_minutes",
        None,
        "Stop training at the first epoch end after which another epoch "
        "would exceed this many minutes of training, resumes included "
        "(default: no limit).",
    )
    flags.DEFINE_integer("beam_width", 4, "Beam width of beam search.")
    flags.DEFINE_float("length_penalty", 0.6, "Length penalty exponent of beam search.")
    flags.DEFINE_integer("num_samples", 5, "Translations to print.")
    flags.DEFINE_integer("seed", 0, "Random seed (split, weights, shuffling).")
    flags.DEFINE_string("model_dir", "runs/translate", "Output directory.")
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
