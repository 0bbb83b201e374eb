"""A causal language model trained from scratch, from a `LanguageModelConfig`."""

import contextlib
import json
import os

import keras
import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer.data._autotune import prefetched
from tftransformer.data.sequence_datasets import (
    load_language_model_texts,
    make_language_model_dataset,
)
from tftransformer.data.word_piece import (
    learn_word_piece_vocabulary,
    tokenize_texts,
    word_piece_tokenizer,
)
from tftransformer.evaluation.continuations import sample_continuations
from tftransformer.models.causal_lm import CausalLM
from tftransformer.presets import embedded_tokenizer, load_generator
from tftransformer.training.checkpointing import epoch_seed, fingerprint
from tftransformer.training.language_model_run import LanguageModelRun
from tftransformer.training.trainer import Trainer

__all__ = ["train_causal_lm"]

# The embedded vocabulary's own special tokens stand for start and end.
_EMBEDDED_SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]")
_LEARNED_SPECIAL_TOKENS = ("[PAD]", "[START]", "[END]")


def _subset(texts, size, rng):
    if size is None or size >= len(texts):
        return texts
    return [texts[i] for i in np.sort(rng.permutation(len(texts))[:size])]


def train_causal_lm(config, verbose=1):
    """Trains, evaluates and saves a causal language model.

    With `config.preset` set, fine-tunes that pretrained keras-hub
    `CausalLM` (GPT-2-like) on the texts with its own tokenizer and
    preprocessor (each text `start + tokens + end`, cut to `max_length`),
    applies the config's recipe (`lora_rank`, `freeze_layers`) and samples
    with keras-hub's samplers; `report.json` names the preset and no
    `vocabulary.txt` is written (the tokenizer is in `model.keras`). The rest
    of this describes the default, a `CausalLM` with random initial weights.

    Reads the config's texts (`tft.data.load_language_model_texts`), learns
    a WordPiece vocabulary from the training texts (or takes the embedded
    checkpoint's), makes each text `[START] pieces [END]` cut to
    `max_length + 1` tokens, measures the validation perplexity per token
    before and after training (a resumable `Trainer` run in
    `config.model_dir`, early stopping on it), and samples continuations of
    validation texts. The chief writes `vocabulary.txt` and `report.json`
    (perplexities, samples, settings, timings) next to the trainer's files.

    Args:
        config: a `LanguageModelConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `LanguageModelRun`.

    Example:
    ```python
    run = train_causal_lm(LanguageModelConfig(epochs=1, max_train_texts=500))
    print(run.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train_texts, validation_texts, source = load_language_model_texts(
        config.text_file,
        config.text_column,
        config.validation_fraction,
        config.seed,
        config.on_bad_rows,
    )
    rng = np.random.default_rng(config.seed)
    train_texts = _subset(train_texts, config.max_train_texts, rng)
    validation_texts = _subset(validation_texts, config.max_validation_texts, rng)
    if config.preset is not None:
        return _fine_tune_preset(config, trainer, train_texts, validation_texts, source)
    if config.vocabulary == "learned":
        tokens = learn_word_piece_vocabulary(train_texts, config.min_token_count)
        tokenizer = word_piece_tokenizer(tokens)
        pad, start, end = (tokens.index(t) for t in _LEARNED_SPECIAL_TOKENS)
    else:
        tokenizer = embedded_tokenizer()
        tokens = tokenizer.get_vocabulary()
        pad, start, end = (tokenizer.token_to_id(t) for t in _EMBEDDED_SPECIAL_TOKENS)
    if pad != 0:
        raise ValueError(f"The vocabulary's [PAD] must have id 0. Received: {pad}")
    _check_top_k(config.top_k, len(tokens))
    # The model reads all tokens but the last, and predicts all but the first.
    token_ids = tokenize_texts(tokenizer, [*train_texts, *validation_texts])
    sequences = {
        name: [[start, *ids, end][: config.max_length + 1] for ids in rows if ids]
        for name, rows in (
            ("train", token_ids[: len(train_texts)]),
            ("validation", token_ids[len(train_texts) :]),
        )
    }
    num_texts = {name: len(rows) for name, rows in sequences.items()}
    if not num_texts["train"] or not num_texts["validation"]:
        raise ValueError(
            "Every training or every validation text tokenized to nothing "
            f"(texts with tokens per split: {num_texts})."
        )
    if trainer.verbose:
        print(
            f"Data: {source}; {num_texts['train']} training and "
            f"{num_texts['validation']} validation texts. Vocabulary: "
            f"{config.vocabulary}, {len(tokens)} WordPiece tokens."
        )

    def train_data(epoch):
        return make_language_model_dataset(
            sequences["train"],
            trainer.global_batch_size,
            config.max_length,
            shuffle=True,
            seed=epoch_seed(config.seed, epoch),
        )

    validation = make_language_model_dataset(
        sequences["validation"],
        trainer.global_batch_size,
        config.max_length,
        shuffle=False,
        seed=config.seed,
    )
    with trainer.scope():
        model = CausalLM(
            vocabulary_size=len(tokens),
            num_layers=config.num_layers,
            num_heads=config.num_heads,
            hidden_dim=config.hidden_dim,
            intermediate_dim=config.intermediate_dim,
            max_sequence_length=config.max_length,
            dropout=config.dropout,
            position_kind=config.position_kind,
            dtype=config.dtype,
        )
        # Per real token over the whole split: exp of the mean negative
        # log-likelihood, padding left out.
        trainer.compile(
            model,
            train_data,
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, ignore_class=pad
            ),
            metrics=[
                keras_hub.metrics.Perplexity(
                    from_logits=True, mask_token_id=pad, name="perplexity"
                )
            ],
        )
    initial = model.evaluate(validation, verbose=0, return_dict=True)["perplexity"]
    if trainer.verbose:
        print(f"Validation perplexity at initialization: {initial:.1f}")
    training = trainer.fit(
        model,
        train_data,
        validation,
        run_config={"data_sha256": fingerprint(train_texts, validation_texts)},
    )
    # Early stopping restored the best epoch's weights: measure those.
    final = model.evaluate(validation, verbose=0, return_dict=True)["perplexity"]
    perplexity = {"initial": float(initial), "validation": float(final)}
    samples = sample_continuations(
        model,
        sequences["validation"],
        tokens,
        num_samples=config.num_samples,
        prompt_tokens=config.prompt_tokens,
        max_length=config.max_length,
        temperature=config.temperature,
        top_k=config.top_k,
        seed=config.seed,
        start_id=start,
        end_id=end,
        pad_id=pad,
    )
    if trainer.chief:
        with open(
            os.path.join(config.model_dir, "vocabulary.txt"), "w", encoding="utf-8"
        ) as f:
            f.write("".join(token + "\n" for token in tokens))
        _write_report(
            config,
            model,
            training,
            samples,
            perplexity=perplexity,
            data=source,
            num_texts=num_texts,
            vocabulary_size=len(tokens),
        )
    return LanguageModelRun(
        model, training, perplexity, samples, tokens, num_texts, source, trainer
    )


def _sampler(config):
    if config.top_k == 1:
        return keras_hub.samplers.GreedySampler()
    if config.top_k == 0:
        return keras_hub.samplers.RandomSampler(
            temperature=config.temperature, seed=config.seed
        )
    return keras_hub.samplers.TopKSampler(
        k=config.top_k, temperature=config.temperature, seed=config.seed
    )


@contextlib.contextmanager
def tokens_in(model):
    """Detaches a keras-hub task's preprocessor: its data is tokenized."""
    preprocessor = model.preprocessor
    model.preprocessor = None
    try:
        yield
    finally:
        model.preprocessor = preprocessor


def _check_top_k(top_k, vocabulary_size):
    if top_k > vocabulary_size:
        raise ValueError(
            f"top_k must be at most the vocabulary size {vocabulary_size}. "
            f"Received: top_k={top_k}"
        )


def _fine_tune_preset(config, trainer, train_texts, validation_texts, source):
    """`train_causal_lm` of a pretrained keras-hub `CausalLM` preset."""
    with trainer.scope():
        model = load_generator(
            config.preset, "causal_lm", config.max_length, dtype=config.dtype
        )
    tokenizer = model.preprocessor.tokenizer
    # Before training: sampling would fail only after it.
    _check_top_k(config.top_k, model.backbone.vocabulary_size)
    num_texts = {"train": len(train_texts), "validation": len(validation_texts)}
    if trainer.verbose:
        print(
            f"Data: {source}; {num_texts['train']} training and "
            f"{num_texts['validation']} validation texts. Model: "
            f"{type(model).__name__} from {config.preset!r}, "
            f"{tokenizer.vocabulary_size()} tokens."
        )

    # Tokenized once, eagerly: the task's preprocessor mapped over a
    # tf.data pipeline retraces its tokenizer for every new iterator, for
    # seconds. Rows: (token_ids and padding_mask, next tokens, 0 weights on
    # padding).
    def tokenized(texts):
        return model.preprocessor(tf.constant(texts, tf.string))

    train_rows, validation_rows = tokenized(train_texts), tokenized(validation_texts)

    def train_data(epoch):
        data = tf.data.Dataset.from_tensor_slices(train_rows)
        data = data.shuffle(len(train_texts), seed=epoch_seed(config.seed, epoch))
        return data.batch(trainer.global_batch_size)

    validation = prefetched(
        tf.data.Dataset.from_tensor_slices(validation_rows).batch(
            trainer.global_batch_size
        )
    )
    with trainer.scope():
        trainer.compile(
            model,
            train_data,
            # Per real token, as from random weights: the preprocessor's
            # sample weights leave padding out, which Keras gives only to
            # `weighted_metrics`, and to a loss that divides by their sum.
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
            weighted_metrics=[
                keras_hub.metrics.Perplexity(from_logits=True, name="perplexity")
            ],
            sampler=_sampler(config),
        )
    with tokens_in(model):
        initial = model.evaluate(validation, verbose=0, return_dict=True)
        if trainer.verbose:
            print(f"Validation perplexity of the preset: {initial['perplexity']:.1f}")
        training = trainer.fit(
            model,
            train_data,
            validation,
            run_config={"data_sha256": fingerprint(train_texts, validation_texts)},
        )
        final = model.evaluate(validation, verbose=0, return_dict=True)
    # Saved again with the preprocessor, so that model.keras reads text.
    trainer.save(model)
    perplexity = {
        "initial": float(initial["perplexity"]),
        "validation": float(final["perplexity"]),
    }
    samples = []
    for text in validation_texts[: config.num_samples]:
        prompt = tokenizer.detokenize(tokenizer(text)[: config.prompt_tokens])
        prompt = prompt.numpy().decode("utf-8") if hasattr(prompt, "numpy") else prompt
        output = model.generate(prompt, max_length=config.max_length)
        # The prompt too, as from random weights: decoded whole, a
        # continuation may begin inside the prompt's last word.
        samples.append({"prompt": prompt, "text": output})
    if trainer.chief:
        _write_report(
            config,
            model,
            training,
            samples,
            perplexity=perplexity,
            preset=config.preset,
            data=source,
            num_texts=num_texts,
            vocabulary_size=tokenizer.vocabulary_size(),
            trainable_parameters=int(
                sum(np.prod(v.shape) for v in model.trainable_weights)
            ),
        )
    return LanguageModelRun(
        model,
        training,
        perplexity,
        samples,
        tokenizer.get_vocabulary(),
        num_texts,
        source,
        trainer,
    )


def _write_report(config, model, training, samples, **fields):
    """Writes `report.json`: the run's own `fields`, then what every run has."""
    report = {
        **fields,
        "parameters": model.count_params(),
        "epochs_run": len(training.history["loss"]),
        "train_seconds": training.train_seconds,
        "settings": config.to_dict(),
        "samples": samples,
    }
    with open(
        os.path.join(config.model_dir, "report.json"), "w", encoding="utf-8"
    ) as f:
        json.dump(report, f, indent=2, ensure_ascii=False)
