r"""Trains a decoder-only Transformer language model and samples from it.

The model is a `tftransformer.models.CausalLM` (GPT-style: token and
position embeddings, causal decoder blocks, next-token logits) built only
from tftransformer's layers, with random weights. It learns to predict each
WordPiece token from the ones before it, reports the validation perplexity
before and after training, and prints continuations of a few validation
texts sampled with `--temperature` and `--top_k`. Everything lands in
`--model_dir`: the model (`model.keras`), `vocabulary.txt`, `report.json`
(perplexities, samples, settings, timings) and the training history.

Data: by default the embedded Rotten Tomatoes review snippets (their training
split trains, their validation split measures perplexity), so it runs
offline with nothing else installed. `--text_file` takes a UTF-8 file with
one text per line, or a TSV file and the column named by `--text_column`
(a header name, or an index from 0 for a file without a header), e.g. the
Bible of `make translation-data`; a seeded `--validation_fraction` of its
texts is held out.

Tokenization: `--vocabulary=learned` learns a WordPiece vocabulary from the
training texts, as `examples/translate.py` does (lowercased, punctuation
split off, every piece seen at least `--min_token_count` times);
`--vocabulary=embedded` uses the embedded checkpoint's 30,522-piece uncased
vocabulary, whose output layer is many times larger. Each text becomes
`[START] pieces [END]`, cut to `--max_length` + 1 tokens. Perplexity is per
WordPiece token, so it compares only runs with the same vocabulary.

Usage:
```
python examples/causal_lm.py --max_train_minutes=4
python examples/causal_lm.py --temperature=0.7 --top_k=20 --num_samples=10
make translation-data
python examples/causal_lm.py --text_file=runs/data/bible_en_es.tsv \
    --text_column=es --max_train_minutes=10
python examples/causal_lm.py --text_file=my_corpus.txt --vocabulary=embedded
```
"""

import inspect
import json
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import numpy as np
from absl import app, flags

FLAGS = flags.FLAGS

VOCABULARIES = ("learned", "embedded")
# The embedded vocabulary's own special tokens stand for start and end.
EMBEDDED_SPECIAL_TOKENS = {"pad": "[PAD]", "start": "[CLS]", "end": "[SEP]"}
# Arguments left out of the run config: a resumed run may change them.
RESUMABLE_CHANGES = (
    "model_dir",
    "distribution",
    "max_train_minutes",
    "num_samples",
    "prompt_tokens",
    "temperature",
    "top_k",
)


def run(
    text_file=None,
    text_column=None,
    on_bad_rows="error",
    validation_fraction=0.05,
    max_train_texts=None,
    max_validation_texts=None,
    vocabulary="learned",
    min_token_count=5,
    max_length=64,
    num_layers=2,
    num_heads=4,
    hidden_dim=128,
    intermediate_dim=512,
    dropout=0.1,
    position_kind="learned",
    epochs=10,
    batch_size=32,
    learning_rate=1e-3,
    warmup_fraction=0.05,
    patience=2,
    max_train_minutes=None,
    num_samples=5,
    prompt_tokens=3,
    temperature=0.8,
    top_k=40,
    distribution="auto",
    seed=0,
    model_dir="runs/causal_lm",
    verbose=1,
):
    """Trains, evaluates and saves a causal language model; returns the results.

    Returns:
        A dict with `perplexity` (`{"initial": ..., "validation": ...}`: the
        validation perplexity at initialization and after training),
        `samples` (dicts of the `prompt` and the sampled `text` that
        continues it, both strings), `history`
        (per-epoch logs, `val_perplexity` included), `model`, `model_path`,
        `vocabulary_size`, `num_texts` (per split) and `train_seconds`.

    A run killed at any moment resumes when run again with the same
    arguments, from the checkpoint in `model_dir/backup`; the sampling
    arguments and `max_train_minutes` (the budget of the whole run) may
    change. A `model_dir` holding a run with other settings or data is
    refused before anything is written.
    """
    settings = {name: value for name, value in locals().items() if name != "verbose"}
    import keras

    import tftransformer as tft
    from tftransformer._arguments import (
        check_int,
        check_on_bad_rows,
        check_positive_number,
        is_finite_number,
    )

    # Before any other TensorFlow call: strategies configure the devices.
    strategy = tft.distribute.get_strategy(distribution)
    chief = tft.distribute.is_chief(strategy)
    verbose = verbose if chief else 0
    for name, value in {
        "max_length": max_length,
        "epochs": epochs,
        "batch_size": batch_size,
        "min_token_count": min_token_count,
        "prompt_tokens": prompt_tokens,
    }.items():
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ValueError(
                f"{name} must be a positive integer. Received: {name}={value!r}"
            )
    if max_length <= prompt_tokens + 1:
        raise ValueError(
            "max_length must leave room after the [START] token and the "
            f"prompt. Received: max_length={max_length}, "
            f"prompt_tokens={prompt_tokens}"
        )
    if vocabulary not in VOCABULARIES:
        raise ValueError(
            f"vocabulary must be one of {VOCABULARIES}. "
            f"Received: vocabulary={vocabulary!r}"
        )
    # As generate checks it, but before training, not after.
    check_positive_number("temperature", temperature)
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 0:
        raise ValueError(
            "top_k must be an integer >= 0 (0: the whole vocabulary). "
            f"Received: top_k={top_k!r}"
        )
    # Also with the embedded texts, which never read it: a typo fails at once.
    check_on_bad_rows(on_bad_rows)
    if not 0 < validation_fraction < 1:
        raise ValueError(
            "validation_fraction must be in (0, 1). "
            f"Received: validation_fraction={validation_fraction!r}"
        )
    # None keeps every text; a negative size would slice off the last ones.
    for name, value in (
        ("max_train_texts", max_train_texts),
        ("max_validation_texts", max_validation_texts),
    ):
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or value <= 0
        ):
            raise ValueError(
                f"{name} must be None or an int > 0. Received: {name}={value!r}"
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
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    # `batch_size` is per replica.
    global_batch = tft.distribute.global_batch_size(batch_size, strategy)
    keras.utils.set_random_seed(seed)

    # === Data ===
    train_texts, validation_texts, source = _load_splits(
        text_file, text_column, validation_fraction, seed, on_bad_rows
    )
    rng = np.random.default_rng(seed)
    if max_train_texts is not None and max_train_texts < len(train_texts):
        keep = np.sort(rng.permutation(len(train_texts))[:max_train_texts])
        train_texts = [train_texts[i] for i in keep]
    if max_validation_texts is not None and max_validation_texts < len(
        validation_texts
    ):
        keep = np.sort(rng.permutation(len(validation_texts))[:max_validation_texts])
        validation_texts = [validation_texts[i] for i in keep]
    # A rerun in the same model_dir resumes an interrupted run, but never one
    # with other settings or data. Sampling settings and the time budget
    # change no training step: a resume may change them.
    run_config = {
        name: value for name, value in settings.items() if name not in RESUMABLE_CHANGES
    }
    run_config["data_sha256"] = tft.training.checkpointing.fingerprint(
        train_texts, validation_texts
    )
    # Refuse another run's output directory before writing anything.
    tft.training.check_run_directory(model_dir, run_config)

    if vocabulary == "learned":
        tokens = tft.data.learn_word_piece_vocabulary(train_texts, min_token_count)
        tokenizer = tft.data.word_piece_tokenizer(tokens)
        pad, start, end = (tokens.index(t) for t in ("[PAD]", "[START]", "[END]"))
    else:
        tokenizer = tft.presets.embedded_tokenizer()
        tokens = tokenizer.get_vocabulary()
        pad, start, end = (
            tokenizer.token_to_id(EMBEDDED_SPECIAL_TOKENS[name])
            for name in ("pad", "start", "end")
        )
    if pad != 0:
        raise ValueError(f"The vocabulary's [PAD] must have id 0. Received: {pad}")
    if top_k > len(tokens):
        raise ValueError(
            f"top_k must be at most the vocabulary size {len(tokens)}. "
            f"Received: top_k={top_k}"
        )
    sequences = {
        name: _sequences(
            tft.data.tokenize_texts(tokenizer, texts), start, end, max_length
        )
        for name, texts in (("train", train_texts), ("validation", validation_texts))
    }
    num_texts = {name: len(rows) for name, rows in sequences.items()}
    if not num_texts["train"] or not num_texts["validation"]:
        raise ValueError(
            "Every training or every validation text tokenized to nothing "
            f"(texts with tokens per split: {num_texts})."
        )
    if verbose:
        print(
            f"Data: {source}; {num_texts['train']} training and "
            f"{num_texts['validation']} validation texts. Vocabulary: "
            f"{vocabulary}, {len(tokens)} WordPiece tokens."
        )
    if chief:
        # Left by a run killed while saving model.keras.
        tft.training.checkpointing.remove_temporary_files(model_dir)

    def train_dataset(epoch):
        # Shuffled by (seed, epoch) alone, so that a resumed epoch sees the
        # batches the interrupted one saw.
        return _language_model_dataset(
            sequences["train"],
            global_batch,
            max_length,
            shuffle=True,
            seed=tft.training.checkpointing.epoch_seed(seed, epoch),
        )

    # Made once: kept as the first epoch's data.
    first_epoch = train_dataset(0)
    validation_dataset = _language_model_dataset(
        sequences["validation"], global_batch, max_length, shuffle=False, seed=seed
    )
    steps_per_epoch = int(first_epoch.cardinality())

    # === Model ===
    # Model, optimizer and metrics live in the strategy's scope.
    with strategy.scope():
        model = tft.models.CausalLM(
            vocabulary_size=len(tokens),
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
                from_logits=True, ignore_class=pad
            ),
            # Weighted by the padding mask the data sets yield: the mean
            # negative log-likelihood per real token over the whole split.
            weighted_metrics=[
                keras.metrics.SparseCategoricalCrossentropy(
                    name="nll", from_logits=True
                )
            ],
        )
    if verbose:
        print(
            f"Model: CausalLM, {model.count_params():,} parameters, "
            f"{steps_per_epoch} steps per epoch"
        )

    initial_nll = model.evaluate(validation_dataset, verbose=0, return_dict=True)
    initial_perplexity = math.exp(initial_nll["nll"])
    if verbose:
        print(f"Validation perplexity at initialization: {initial_perplexity:.1f}")
    callbacks = tft.training.training_callbacks(
        model_dir,
        strategy,
        monitor="val_nll",
        mode="min",
        patience=patience,
        tensorboard=False,
        run_config=run_config,
        # A run killed after training (while sampling or saving) reruns from
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
            lambda epoch: first_epoch if epoch == 0 else train_dataset(epoch)
        ),
        validation_data=validation_dataset,
        epochs=epochs,
        callbacks=callbacks,
        verbose=verbose,
    ).history
    # Summed over the resumes of a killed run.
    train_seconds = resumable.train_seconds
    history["val_perplexity"] = [math.exp(nll) for nll in history["val_nll"]]
    # Early stopping restored the best epoch's weights: measure those.
    final_nll = model.evaluate(validation_dataset, verbose=0, return_dict=True)
    perplexity = {
        "initial": initial_perplexity,
        "validation": math.exp(final_nll["nll"]),
    }

    # === Samples ===
    # Prompts: the first tokens of validation texts that go on past them.
    prompts = [
        row[: prompt_tokens + 1]
        for row in sequences["validation"]
        if len(row) > prompt_tokens + 1
    ][:num_samples]
    samples = []
    if prompts:
        generated = model.generate(
            np.array(prompts, "int32"),
            max_length=max_length,
            temperature=temperature,
            top_k=top_k or None,
            seed=seed,
            end_token_id=end,
            pad_token_id=pad,
        )
        specials = {pad, start, end}
        for row in generated.tolist():
            samples.append(
                {
                    "prompt": _ids_to_text(
                        row[: prompt_tokens + 1], tokens, specials, end
                    ),
                    # Decoded whole: a continuation may begin inside the
                    # prompt's last word.
                    "text": _ids_to_text(row, tokens, specials, end),
                }
            )

    # === Outputs ===
    # Every worker saves (a collective operation); only the chief writes
    # into model_dir, the others into temporary directories.
    model_path = os.path.join(
        tft.distribute.write_dir(model_dir, strategy), "model.keras"
    )
    # Atomic: a kill while saving must not leave a torn model.keras.
    with tft.training.checkpointing.atomic_write(model_path) as temporary:
        model.save(temporary)
    tft.distribute.cleanup_write_dir(model_dir, strategy)
    if chief:
        with open(
            os.path.join(model_dir, "vocabulary.txt"), "w", encoding="utf-8"
        ) as f:
            f.write("".join(token + "\n" for token in tokens))
        report = {
            "perplexity": perplexity,
            "data": source,
            "num_texts": num_texts,
            "vocabulary_size": len(tokens),
            "parameters": model.count_params(),
            "epochs_run": len(history["loss"]),
            "train_seconds": train_seconds,
            "settings": settings,
            "samples": samples,
        }
        with open(os.path.join(model_dir, "report.json"), "w", encoding="utf-8") as f:
            json.dump(report, f, indent=2, ensure_ascii=False)
        with open(os.path.join(model_dir, "history.json"), "w") as f:
            json.dump({k: [float(v) for v in vs] for k, vs in history.items()}, f)
    if verbose:
        print(
            f"\nValidation perplexity ({num_texts['validation']} texts): "
            f"{perplexity['validation']:.1f} after {len(history['loss'])} epochs "
            f"({train_seconds / 60:.1f} min), {perplexity['initial']:.1f} at "
            "initialization."
        )
        print(f"Samples (temperature {temperature}, top_k {top_k or 'off'}):")
        for sample in samples:
            print(f"  [{sample['prompt']}] {sample['text']}")
        print(f"\nModel, vocabulary and report written to {model_dir}/")
    return {
        "perplexity": perplexity,
        "samples": samples,
        "history": history,
        "model": model,
        "model_path": model_path,
        "vocabulary_size": len(tokens),
        "num_texts": num_texts,
        "train_seconds": train_seconds,
    }


def _load_splits(
    text_file, text_column, validation_fraction, seed, on_bad_rows="error"
):
    """Returns `(train_texts, validation_texts, description)`."""
    from tftransformer import data

    if text_file is None:
        if text_column is not None:
            raise ValueError(
                "text_column needs a text_file. "
                f"Received: text_column={text_column!r}, text_file=None"
            )
        return (
            list(data.load_rotten_tomatoes("train").texts),
            list(data.load_rotten_tomatoes("validation").texts),
            "embedded Rotten Tomatoes snippets",
        )
    texts = _load_texts(text_file, text_column, on_bad_rows)
    if len(texts) < 2:
        raise ValueError(
            f"{text_file} has {len(texts)} text; holding out validation texts "
            "needs at least 2."
        )
    order = np.random.default_rng(seed).permutation(len(texts))
    held_out = max(1, round(validation_fraction * len(texts)))
    if held_out == len(texts):
        raise ValueError(
            f"validation_fraction={validation_fraction!r} of the {len(texts)} "
            f"texts of {text_file} holds out all {held_out} and leaves none to "
            "train on. Pass a smaller validation_fraction or a larger file."
        )
    validation = [texts[i] for i in np.sort(order[:held_out])]
    train = [texts[i] for i in np.sort(order[held_out:])]
    column = "" if text_column is None else f", column {text_column}"
    return train, validation, f"{text_file}{column}"


def _load_texts(path, column=None, on_bad_rows="error"):
    """The texts of a file: each non-blank line, or one TSV column.

    `column` is a header name, or an index from 0 (a string of digits, as a
    flag gives it) for a file without a header; `on_bad_rows` says what
    becomes of a TSV line without that column or with an empty text.
    """
    from tftransformer import data

    if column is None:
        if not os.path.exists(path):
            raise FileNotFoundError(f"Text file not found: {path!r}.")
        with open(path, encoding="utf-8-sig") as f:
            texts = [line.strip() for line in f if line.strip()]
        if not texts:
            raise data.DataError(f"{path}: no text in the file.")
        return texts
    if isinstance(column, str) and column.isdigit():
        column = int(column)
    # A pair of the same column: the pair reader's TSV parsing and its
    # errors naming file and line, for one column.
    texts, _ = data.load_sentence_pairs(path, column, column, on_bad_rows=on_bad_rows)
    return texts


def _sequences(token_ids, start, end, max_length):
    """`[start] ids [end]` of each non-empty text, cut to `max_length + 1`
    tokens: the model reads all but the last, and predicts all but the first."""
    return [[start, *ids, end][: max_length + 1] for ids in token_ids if ids]


def _language_model_dataset(sequences, batch_size, max_length, shuffle, seed):
    """Batches `({token_ids, padding_mask}, labels, weights)`: labels are the
    token ids shifted left by one, weights 1 at real labels and 0 at padding.
    Sequences of similar length are batched together, each batch padded to
    its longest."""
    import tensorflow as tf

    lengths = np.array([len(row) for row in sequences], "int64")
    values = np.concatenate([np.asarray(row, "int32") for row in sequences])
    data = tf.data.Dataset.from_tensor_slices(
        tf.RaggedTensor.from_row_lengths(values, lengths)
    )
    if shuffle:
        data = data.shuffle(len(sequences), seed=seed, reshuffle_each_iteration=True)
    data = data.map(lambda row: (row[:-1], row[1:]))
    boundaries = list(range(16, max_length + 1, 16))
    data = data.bucket_by_sequence_length(
        lambda inputs, labels: tf.shape(inputs)[0],
        bucket_boundaries=boundaries,
        bucket_batch_sizes=[batch_size] * (len(boundaries) + 1),
    )

    def add_mask(inputs, labels):
        mask = tf.cast(inputs != 0, "int32")
        features = {"token_ids": inputs, "padding_mask": mask}
        return features, labels, tf.cast(mask, "float32")

    data = data.map(add_mask)
    # Every order gives the same number of batches (a bucket's last batch
    # may be short); telling the dataset spares Keras an unknown length.
    num_batches = sum(1 for _ in data)
    return data.apply(tf.data.experimental.assert_cardinality(num_batches)).prefetch(
        tf.data.AUTOTUNE
    )


def _ids_to_text(ids, tokens, special_ids, end_id):
    """Joins WordPiece tokens into space-separated words, leaving out the
    special tokens and stopping at the end token."""
    words = []
    for token_id in ids:
        if token_id == end_id:
            break
        if token_id in special_ids:
            continue
        token = tokens[token_id]
        if token.startswith("##") and words:
            words[-1] += token[2:]
        else:
            words.append(token.removeprefix("##"))
    return " ".join(words)


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    from tftransformer.distribute import STRATEGY_NAMES

    flags.DEFINE_string(
        "text_file",
        None,
        "UTF-8 text file, one text per line, or a TSV file with --text_column; "
        "default: the embedded Rotten Tomatoes snippets.",
    )
    flags.DEFINE_string(
        "text_column",
        None,
        "TSV column of the texts: header name, or index from 0 (no header).",
    )
    flags.DEFINE_enum(
        "on_bad_rows",
        "error",
        ["error", "skip"],
        "TSV lines without --text_column or with an empty text: refuse, or skip.",
    )
    flags.DEFINE_float(
        "validation_fraction", 0.05, "Share of --text_file held out for perplexity."
    )
    flags.DEFINE_integer("max_train_texts", None, "Train on a seeded subset.")
    flags.DEFINE_integer(
        "max_validation_texts", None, "Measure perplexity on a seeded subset."
    )
    flags.DEFINE_enum(
        "vocabulary",
        "learned",
        list(VOCABULARIES),
        "WordPiece vocabulary: learned from the training texts, or the "
        "embedded checkpoint's.",
    )
    flags.DEFINE_integer(
        "min_token_count", 5, "Learned pieces must occur this often in training."
    )
    flags.DEFINE_integer(
        "max_length", 64, "Longest sequence in tokens; longer texts are cut."
    )
    flags.DEFINE_integer("num_layers", 2, "Decoder blocks.")
    flags.DEFINE_integer("num_heads", 4, "Attention heads per block.")
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
    flags.DEFINE_integer("batch_size", 32, "Batch size per replica.")
    flags.DEFINE_float("learning_rate", 1e-3, "Peak learning rate (AdamW).")
    flags.DEFINE_float("warmup_fraction", 0.05, "Fraction of steps of linear warmup.")
    flags.DEFINE_integer(
        "patience", 2, "Early stopping patience (epochs without lower val loss)."
    )
    flags.DEFINE_float(
        "max_train_minutes",
        None,
        "Stop training at the first epoch end after which another epoch "
        "would exceed this many minutes of training, resumes included "
        "(default: no limit).",
    )
    flags.DEFINE_integer("num_samples", 5, "Validation texts to continue.")
    flags.DEFINE_integer(
        "prompt_tokens", 3, "WordPiece tokens of each validation text as prompt."
    )
    flags.DEFINE_float(
        "temperature", 0.8, "Sampling temperature: below 1 sharpens, above flattens."
    )
    flags.DEFINE_integer(
        "top_k", 40, "Sample among the k most likely tokens (0: all, 1: greedy)."
    )
    flags.DEFINE_enum(
        "distribution",
        "auto",
        list(STRATEGY_NAMES),
        "tf.distribute strategy; --batch_size is per replica.",
    )
    flags.DEFINE_integer("seed", 0, "Random seed (split, weights, sampling).")
    flags.DEFINE_string("model_dir", "runs/causal_lm", "Output directory.")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
