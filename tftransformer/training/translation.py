"""A translation model trained from scratch, from a `TranslationConfig`."""

import json
import os
import time

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer.data._autotune import prefetched
from tftransformer.data.parallel_text import load_sentence_pairs
from tftransformer.data.sequence_datasets import (
    join_word_pieces,
    make_teacher_forcing_dataset,
    table_column,
)
from tftransformer.data.word_piece import (
    learn_word_piece_vocabulary,
    split_words,
    tokenize_texts,
    word_piece_tokenizer,
)
from tftransformer.evaluation.bleu import corpus_bleu
from tftransformer.evaluation.rouge import corpus_rouge
from tftransformer.models.decoding import beam_search
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.models.token_accuracy import TokenAccuracy
from tftransformer.presets import load_generator
from tftransformer.training.checkpointing import epoch_seed, fingerprint
from tftransformer.training.language_model import tokens_in
from tftransformer.training.trainer import Trainer
from tftransformer.training.translation_config import DEFAULT_PAIRS_FILE
from tftransformer.training.translation_run import TranslationRun

__all__ = ["TRANSLATIONS_FILE", "train_translator"]

# The test split's sources, references and translations a run writes (a
# header, then one tab-separated row per test pair).
TRANSLATIONS_FILE = "translations.tsv"

# The ids of `SEQUENCE_RESERVED_TOKENS`, first in every learned vocabulary.
PAD, UNK, START, END = 0, 1, 2, 3


def _load_splits(config):
    """`{"test", "validation", "train"}` of `(sources, targets)`, and the
    number of pairs read."""
    if config.pairs_file == DEFAULT_PAIRS_FILE and not os.path.exists(
        config.pairs_file
    ):
        raise FileNotFoundError(
            f"The default sentence pair file {config.pairs_file!r} does not exist. "
            "Write it with `make translation-data` (installs Debian's "
            "sword-text-web, sword-text-sparv and libsword-utils), or pass "
            "--pairs_file with your own TSV of sentence pairs."
        )
    sources, targets = load_sentence_pairs(
        config.pairs_file,
        table_column(config.source_column),
        table_column(config.target_column),
        on_bad_rows=config.on_bad_rows,
    )
    order = np.random.default_rng(config.seed).permutation(len(sources))
    test_size, validation_size = config.test_size, config.validation_size
    if len(order) < test_size + validation_size + 1:
        raise ValueError(
            f"{config.pairs_file} has {len(order)} pairs: too few for test_size="
            f"{test_size} and validation_size={validation_size} plus training."
        )
    indices = {
        "test": order[:test_size],
        "validation": order[test_size : test_size + validation_size],
        "train": order[test_size + validation_size :][: config.max_train_pairs],
    }
    splits = {
        name: ([sources[i] for i in rows], [targets[i] for i in rows])
        for name, rows in indices.items()
    }
    return splits, len(sources)


def _tokenized(splits, source_tokenizer, target_tokenizer, max_length):
    """Token ids and texts of the pairs whose source has at most
    `max_length` tokens and whose target with start and end tokens does."""
    # One call per side: each call traces the tokenizer afresh.
    ids = [
        tokenize_texts(
            tokenizer, [text for pairs in splits.values() for text in pairs[side]]
        )
        for side, tokenizer in enumerate((source_tokenizer, target_tokenizer))
    ]
    tokenized = {}
    begin = 0
    for name, (sources, targets) in splits.items():
        end = begin + len(sources)
        source_ids, target_ids = (side[begin:end] for side in ids)
        begin = end
        keep = [
            i
            for i in range(len(source_ids))
            if 0 < len(source_ids[i]) <= max_length
            and 0 < len(target_ids[i]) <= max_length - 2
        ]
        tokenized[name] = {
            "source_ids": [source_ids[i] for i in keep],
            "target_ids": [target_ids[i] for i in keep],
            "sources": [sources[i] for i in keep],
            "targets": [targets[i] for i in keep],
        }
    return tokenized


def _decode(decode, source_ids, batch_size):
    """Decodes in batches of similar source length; returns the rows (lists
    of target ids, start token first) in the order of `source_ids`."""
    order = np.argsort([len(ids) for ids in source_ids], kind="stable")
    outputs = [None] * len(source_ids)
    for begin in range(0, len(order), batch_size):
        rows = order[begin : begin + batch_size]
        width = max(len(source_ids[i]) for i in rows)
        batch = np.zeros((len(rows), width), "int32")
        for j, i in enumerate(rows):
            batch[j, : len(source_ids[i])] = source_ids[i]
        for j, row in enumerate(np.asarray(decode(batch))):
            outputs[rows[j]] = row.tolist()
    return outputs


def _write_outputs(model_dir, report, run, test, references, translations):
    """Writes the vocabularies (learned ones only), translations.tsv and
    report.json."""
    vocabularies = (
        ()
        if run.trainer.config.preset
        else (
            ("source", run.source_vocabulary),
            ("target", run.target_vocabulary),
        )
    )
    for name, vocabulary in vocabularies:
        with open(
            os.path.join(model_dir, f"{name}_vocabulary.txt"), "w", encoding="utf-8"
        ) as f:
            f.write("".join(token + "\n" for token in vocabulary))
    with open(os.path.join(model_dir, TRANSLATIONS_FILE), "w", encoding="utf-8") as f:
        f.write("source\treference\tgreedy\tbeam\n")
        for i, reference in enumerate(references):
            fields = (
                test["sources"][i],
                reference,
                translations["greedy"][i],
                translations["beam"][i],
            )
            f.write("\t".join(" ".join(x.split()) for x in fields) + "\n")
    with open(os.path.join(model_dir, "report.json"), "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2, ensure_ascii=False)


def train_translator(config, verbose=1):
    """Trains a translation model and scores it with BLEU and ROUGE.

    With `config.preset` set, fine-tunes that pretrained keras-hub
    `Seq2SeqLM` (BART, T5) with its own tokenizer (pairs cut to `max_length`
    tokens), and translates with keras-hub's greedy and beam samplers; the
    rest is as below. The default trains a `Seq2SeqTransformer` from
    scratch:

    Reads the config's sentence pairs, splits them by a seeded order into
    test, validation and training pairs, learns one WordPiece vocabulary per
    language from the training pairs, leaves out pairs longer than
    `max_length` tokens, trains with teacher forcing (a resumable `Trainer`
    run in `config.model_dir`), then translates the test sources greedily
    and with beam search and scores both with corpus BLEU on
    `split_words` tokens, and ROUGE-1/2/L (`corpus_rouge`). The chief
    writes the two vocabularies, `translations.tsv` and `report.json` next
    to the trainer's files.

    Args:
        config: a `TranslationConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `TranslationRun`.

    Example:
    ```python
    run = train_translator(TranslationConfig(pairs_file="pairs.tsv",
        source_column="0", target_column="1"))
    print(run.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    max_length = config.max_length
    splits, num_read = _load_splits(config)
    if config.preset is not None:
        return _fine_tune_preset(config, trainer, splits, num_read)
    source_vocabulary, target_vocabulary = (
        learn_word_piece_vocabulary(splits["train"][side], config.min_token_count)
        for side in (0, 1)
    )
    tokenized = _tokenized(
        splits,
        word_piece_tokenizer(source_vocabulary),
        word_piece_tokenizer(target_vocabulary),
        max_length,
    )
    num_pairs = {name: len(split["source_ids"]) for name, split in tokenized.items()}
    if not num_pairs["train"] or not num_pairs["test"]:
        raise ValueError(
            f"No training or test pair has at most max_length={max_length} "
            f"tokens (pairs kept per split: {num_pairs}). Raise max_length."
        )
    if trainer.verbose:
        print(
            f"Data: {config.pairs_file}, {config.source_column} -> "
            f"{config.target_column}; pairs of at most {max_length} tokens: "
            f"{num_pairs['train']} train, {num_pairs['validation']} validation, "
            f"{num_pairs['test']} test (of {num_read}). Vocabularies: "
            f"{len(source_vocabulary)} source, {len(target_vocabulary)} target "
            "WordPiece tokens."
        )

    def dataset(split, epoch=None):
        return make_teacher_forcing_dataset(
            tokenized[split]["source_ids"],
            tokenized[split]["target_ids"],
            trainer.global_batch_size,
            max_length,
            shuffle=epoch is not None,
            seed=epoch_seed(config.seed, epoch or 0),
            start_id=START,
            end_id=END,
        )

    def train_data(epoch):
        return dataset("train", epoch)

    with trainer.scope():
        model = Seq2SeqTransformer(
            encoder_vocabulary_size=len(source_vocabulary),
            decoder_vocabulary_size=len(target_vocabulary),
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            max_sequence_length=max_length,
            dropout=config.dropout,
            position_kind=config.position_kind,
            dtype=config.dtype,
        )
        trainer.compile(
            model,
            train_data,
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=PAD
            ),
            metrics=[TokenAccuracy(name="accuracy", ignore_label=PAD)],
        )
    training = trainer.fit(
        model,
        train_data,
        dataset("validation") if num_pairs["validation"] else None,
        run_config={
            "data_sha256": fingerprint(*splits["train"], *splits["validation"])
        },
    )

    test = tokenized["test"]
    began = time.time()
    greedy_ids = _decode(
        lambda ids: model.greedy_decode(ids, START, END, max_length=max_length),
        test["source_ids"],
        batch_size=64,
    )
    beam_ids = _decode(
        lambda ids: beam_search(
            model,
            ids,
            START,
            END,
            max_length=max_length,
            beam_width=config.beam_width,
            length_penalty=config.length_penalty,
        ),
        test["source_ids"],
        batch_size=max(1, 128 // config.beam_width),
    )
    decode_seconds = time.time() - began
    references = [" ".join(split_words(text)) for text in test["targets"]]
    translations = {
        name: [
            join_word_pieces(row, target_vocabulary, END, (PAD, START)) for row in ids
        ]
        for name, ids in (("greedy", greedy_ids), ("beam", beam_ids))
    }
    bleu, rouge = _scores(translations, references)
    samples = _samples(test["sources"], test["targets"], translations, config)
    run = TranslationRun(
        model,
        training,
        bleu,
        samples,
        num_pairs,
        source_vocabulary,
        target_vocabulary,
        decode_seconds,
        trainer,
        rouge,
    )
    if trainer.chief:
        report = _report(
            config,
            run,
            vocabulary_sizes={
                "source": len(source_vocabulary),
                "target": len(target_vocabulary),
            },
        )
        _write_outputs(config.model_dir, report, run, test, references, translations)
    return run


def _scores(hypotheses, references):
    """BLEU and ROUGE of each decoding's hypotheses (`{"greedy": [...],
    "beam": [...]}`) against the references."""
    bleu = {name: corpus_bleu(texts, references) for name, texts in hypotheses.items()}
    rouge = {
        name: corpus_rouge(texts, references) for name, texts in hypotheses.items()
    }
    return bleu, rouge


def _samples(sources, targets, translations, config):
    """The first `config.num_samples` test pairs with their translations."""
    return [
        {
            "source": sources[i],
            "reference": targets[i],
            "greedy": translations["greedy"][i],
            "beam": translations["beam"][i],
        }
        for i in range(min(config.num_samples, len(sources)))
    ]


def _report(config, run, **fields):
    """`report.json`'s contents for a `TranslationRun`, with the start's
    own `fields` (vocabulary sizes, preset)."""
    return {
        "bleu": {name: result["bleu"] for name, result in run.bleu.items()},
        "rouge": run.rouge,
        "bleu_details": run.bleu,
        **fields,
        "num_pairs": run.num_pairs,
        "parameters": run.model.count_params(),
        "epochs_run": len(run.training.history["loss"]),
        "train_seconds": run.training.train_seconds,
        "decode_seconds": run.decode_seconds,
        "settings": config.to_dict(),
        "samples": run.samples,
    }


def _prefixed(config, sources):
    """The sources as the preset reads them: after `config.source_prefix`."""
    return [config.source_prefix + source for source in sources]


def _fine_tune_preset(config, trainer, splits, num_read):
    """`train_translator` of a pretrained keras-hub `Seq2SeqLM` preset."""
    max_length = config.max_length
    with trainer.scope():
        model = load_generator(
            config.preset, "seq2seq_lm", max_length, dtype=config.dtype
        )
    num_pairs = {name: len(pairs[0]) for name, pairs in splits.items()}
    if trainer.verbose:
        print(
            f"Data: {config.pairs_file}, {config.source_column} -> "
            f"{config.target_column}; {num_pairs['train']} train, "
            f"{num_pairs['validation']} validation, {num_pairs['test']} test "
            f"pairs (of {num_read}), cut to {max_length} tokens. Model: "
            f"{type(model).__name__} from {config.preset!r}."
            + (
                f" Each source read after {config.source_prefix!r}."
                if config.source_prefix
                else ""
            )
        )

    # Tokenized once, eagerly (see `train_causal_lm`). Rows: (encoder and
    # decoder ids and masks, next target tokens, 0 weights on padding).
    def rows(split):
        sources, targets = splits[split]
        return model.preprocessor(
            {
                "encoder_text": tf.constant(_prefixed(config, sources)),
                "decoder_text": tf.constant(targets),
            }
        )

    train_rows = rows("train")

    def train_data(epoch):
        data = tf.data.Dataset.from_tensor_slices(train_rows)
        data = data.shuffle(num_pairs["train"], seed=epoch_seed(config.seed, epoch))
        return data.batch(trainer.global_batch_size)

    validation = None
    if num_pairs["validation"]:
        validation = prefetched(
            tf.data.Dataset.from_tensor_slices(rows("validation")).batch(
                trainer.global_batch_size
            )
        )
    with trainer.scope():
        trainer.compile(
            model,
            train_data,
            # The mean over real target tokens: the preprocessor's sample
            # weights leave padding out, which the default reduction counts.
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
        )
    with tokens_in(model):
        training = trainer.fit(
            model,
            train_data,
            validation,
            run_config={
                "data_sha256": fingerprint(*splits["train"], *splits["validation"])
            },
        )
    # Saved again with the preprocessor, so that model.keras reads text.
    trainer.save(model)

    sources, targets = splits["test"]
    began = time.time()
    translations = {}
    for name, sampler in (
        ("greedy", keras_hub.samplers.GreedySampler()),
        ("beam", keras_hub.samplers.BeamSampler(num_beams=config.beam_width)),
    ):
        model.sampler, model.generate_function = sampler, None
        translations[name] = [
            text
            for begin in range(0, len(sources), 64)
            for text in model.generate(
                _prefixed(config, sources[begin : begin + 64]), max_length=max_length
            )
        ]
    decode_seconds = time.time() - began
    # Scored on the words of `split_words`, as the from-scratch translations.
    references = [" ".join(split_words(text)) for text in targets]
    words = {
        name: [" ".join(split_words(text)) for text in texts]
        for name, texts in translations.items()
    }
    bleu, rouge = _scores(words, references)
    samples = _samples(sources, targets, translations, config)
    vocabulary = model.preprocessor.tokenizer.get_vocabulary()
    run = TranslationRun(
        model,
        training,
        bleu,
        samples,
        num_pairs,
        vocabulary,
        vocabulary,
        decode_seconds,
        trainer,
        rouge,
    )
    if trainer.chief:
        report = _report(
            config, run, preset=config.preset, vocabulary_size=len(vocabulary)
        )
        test = {"sources": sources}
        _write_outputs(config.model_dir, report, run, test, targets, translations)
    return run
