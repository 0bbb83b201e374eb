"""A causal language model trained from scratch, from a `LanguageModelConfig`."""

import json
import os

import keras
import keras_hub
import numpy as np

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
from tftransformer.presets import embedded_tokenizer
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
    """Trains, evaluates and saves a `CausalLM` with random initial weights.

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
    if config.top_k > len(tokens):
        raise ValueError(
            f"top_k must be at most the vocabulary size {len(tokens)}. "
            f"Received: top_k={config.top_k}"
        )
    # The model reads all tokens but the last, and predicts all but the first.
    sequences = {
        name: [
            [start, *ids, end][: config.max_length + 1]
            for ids in tokenize_texts(tokenizer, texts)
            if ids
        ]
        for name, texts in (("train", train_texts), ("validation", validation_texts))
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
        report = {
            "perplexity": perplexity,
            "data": source,
            "num_texts": num_texts,
            "vocabulary_size": len(tokens),
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
    return LanguageModelRun(
        model, training, perplexity, samples, tokens, num_texts, source, trainer
    )
