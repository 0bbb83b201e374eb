"""Continued masked-LM pretraining of a pretrained encoder on in-domain text
(domain-adaptive pretraining, Gururangan et al. 2020)."""

import os

import keras
import keras_hub
import numpy as np

from tftransformer.data.classification_dataset import _special_token_id
from tftransformer.data.hold_out import hold_out_validation
from tftransformer.data.masked_lm import (
    continuation_pieces,
    load_text_files,
    make_masked_lm_dataset,
    masked_lm_rows,
)
from tftransformer.data.rotten_tomatoes import rotten_tomatoes_texts
from tftransformer.data.word_piece import tokenize_texts
from tftransformer.models._task_base import freeze_unused_backbone_layers
from tftransformer.presets import load_backbone
from tftransformer.training.checkpointing import epoch_seed, fingerprint
from tftransformer.training.pretraining_run import PretrainingRun
from tftransformer.training.trainer import Trainer

__all__ = ["continue_pretraining", "masked_lm_class", "pretraining_texts"]

PRESET_DIR = "preset"


def masked_lm_class(backbone_cls):
    """The keras-hub `MaskedLM` task of a backbone class (`BertMaskedLM` for
    `BertBackbone`, ...), so no recipe names a family.

    Raises:
        ValueError: the family has no masked-LM task in keras-hub.
    """
    candidates = {
        obj
        for obj in keras.saving.get_custom_objects().values()
        if isinstance(obj, type)
        and issubclass(obj, keras_hub.models.MaskedLM)
        and getattr(obj, "backbone_cls", None) is backbone_cls
    }
    if not candidates:
        raise ValueError(
            f"keras-hub has no MaskedLM task for {backbone_cls.__name__}: "
            "continued masked-LM pretraining needs an encoder such as BERT, "
            "RoBERTa, DistilBERT, ALBERT or DeBERTa-v3."
        )
    return min(
        candidates,
        key=lambda c: (not c.__module__.startswith("keras_hub."), c.__qualname__),
    )


def pretraining_texts(text_path=None, validation_fraction=0.05, seed=0):
    """Training and validation texts of continued pretraining.

    Without `text_path`, the embedded Rotten Tomatoes training and
    validation texts (`tft.datasets.rotten_tomatoes_texts`); with it, the lines
    of the file or directory (`tft.data.load_text_files`), a seeded
    `validation_fraction` held out.

    Returns:
        `(train_texts, validation_texts, description)`.
    """
    if text_path is None:
        return (
            rotten_tomatoes_texts("train"),
            rotten_tomatoes_texts("validation"),
            "embedded Rotten Tomatoes snippets and plot summaries",
        )
    texts = load_text_files(text_path)
    kept, held_out = hold_out_validation(
        len(texts), validation_fraction, seed, text_path, "texts"
    )
    train, validation = [texts[i] for i in kept], [texts[i] for i in held_out]
    return train, validation, os.fspath(text_path)


def continue_pretraining(config, verbose=1):
    """Continues the masked-LM pretraining of `config.preset`'s encoder.

    The texts (`pretraining_texts`) are tokenized with the preset's
    tokenizer, packed into rows of `max_length` (`pack_sequences`) and
    masked anew each epoch, BERT's way (`mask_rate` of the pieces: 80%
    `[MASK]`, 10% random, 10% kept; whole words with `whole_word_masking`).
    The family's keras-hub `MaskedLM` task (looked up from the backbone
    class) trains as a resumable `Trainer` run in `config.model_dir`, early
    stopping on the validation loss. The chief then writes the backbone and
    its preprocessor as a keras-hub preset in `model_dir/preset`, which
    `ClassificationConfig(preset=...)` and `TextClassifier.from_preset`
    load.

    Args:
        config: a `PretrainingConfig`.
        verbose: 0 or 1; only the chief prints.

    Returns:
        A `PretrainingRun`.

    Example:
    ```python
    run = continue_pretraining(PretrainingConfig(text_path="notes.txt"))
    print(run.format())
    ```
    """
    trainer = Trainer(config, verbose=verbose)
    train_texts, validation_texts, source = pretraining_texts(
        config.text_path, config.validation_fraction, config.seed
    )
    if config.max_train_texts is not None and config.max_train_texts < len(train_texts):
        order = np.random.default_rng(config.seed).permutation(len(train_texts))
        keep = np.sort(order[: config.max_train_texts])
        train_texts = [train_texts[i] for i in keep]
    with trainer.scope():
        backbone, preprocessor = load_backbone(
            config.preset, sequence_length=config.max_length, dtype=config.dtype
        )
        model = masked_lm_class(type(backbone))(backbone=backbone)
    # The masked-LM loss reads `sequence_output` only: BERT's pooler would get
    # no gradient (Keras warns at every trace). Frozen while training, it
    # keeps its pretrained weights and is trainable again in the preset.
    unused = freeze_unused_backbone_layers(backbone)
    tokenizer = preprocessor.tokenizer
    # Refused before the texts are tokenized, not after.
    continuation_pieces(tokenizer, config.whole_word_masking)
    rows = {
        name: masked_lm_rows(
            tokenize_texts(tokenizer, texts),
            config.max_length,
            _special_token_id(tokenizer, "cls_token_id", "[CLS]"),
            _special_token_id(tokenizer, "sep_token_id", "[SEP]"),
            pack=config.pack_sequences,
        )
        for name, texts in (("train", train_texts), ("validation", validation_texts))
    }
    num_rows = {name: len(value) for name, value in rows.items()}
    if not num_rows["train"] or not num_rows["validation"]:
        raise ValueError(
            "Every training or every validation text tokenized to nothing "
            f"(rows per split: {num_rows})."
        )
    if trainer.verbose:
        print(
            f"Data: {source}; {len(train_texts)} training and "
            f"{len(validation_texts)} validation texts in {num_rows['train']} "
            f"and {num_rows['validation']} rows of at most {config.max_length} "
            "tokens."
        )
    input_names = tuple(backbone.input)
    options = dict(
        tokenizer=tokenizer,
        batch_size=trainer.global_batch_size,
        mask_rate=config.mask_rate,
        whole_word_masking=config.whole_word_masking,
        input_names=input_names,
    )

    def train_data(epoch):
        seed = epoch_seed(config.seed, epoch)
        return make_masked_lm_dataset(rows["train"], shuffle=True, seed=seed, **options)

    # Masked once and cached: every epoch is measured on the same masks.
    validation = make_masked_lm_dataset(
        rows["validation"], seed=config.seed, **options
    ).cache()
    # Its loss and perplexity would be 0: early stopping would keep epoch 1.
    masked = sum(float(np.sum(weights)) for _, _, weights in validation)
    if not masked:
        raise ValueError(
            f"The validation split ({len(validation_texts)} texts in "
            f"{num_rows['validation']} rows) drew no masked piece at "
            f"mask_rate={config.mask_rate}, so its loss and perplexity would "
            "be 0. Give more text, a larger validation_fraction or a higher "
            "mask_rate."
        )
    with trainer.scope():
        trainer.compile(
            model,
            train_data,
            # The mean cross-entropy over the chosen pieces: the default
            # divides by every slot of `mask_positions`, padding included.
            loss=keras.losses.SparseCategoricalCrossentropy(
                from_logits=True, reduction="mean_with_sample_weight"
            ),
            weighted_metrics=[
                keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
                keras_hub.metrics.Perplexity(from_logits=True, name="perplexity"),
            ],
        )
    initial = _evaluate(model, validation)
    if trainer.verbose:
        print(
            f"Validation masked tokens before: accuracy {initial['accuracy']:.3f}, "
            f"perplexity {initial['perplexity']:.1f}"
        )
    training = trainer.fit(
        model,
        train_data,
        validation,
        run_config={
            "data_sha256": fingerprint(train_texts, validation_texts),
            "backbone": type(backbone).__name__,
        },
    )
    for layer in unused:
        layer.trainable = True
    # Early stopping restored the best epoch's weights: measure and save those.
    final = _evaluate(model, validation)
    preset_dir = os.path.join(os.fspath(config.model_dir), PRESET_DIR)
    if trainer.chief:
        backbone.save_to_preset(preset_dir)
        preprocessor.save_to_preset(preset_dir)
    return PretrainingRun(
        model,
        training,
        {"initial": initial, "validation": final},
        preset_dir,
        num_rows,
        source,
        trainer,
    )


def _evaluate(model, data):
    values = model.evaluate(data, verbose=0, return_dict=True)
    return {name: float(values[name]) for name in ("loss", "accuracy", "perplexity")}
