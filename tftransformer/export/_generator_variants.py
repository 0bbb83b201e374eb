"""The variants of a keras-hub generator, scored by BLEU."""

import os
import warnings

import keras_hub
import numpy as np
import tensorflow as tf

from tftransformer._arguments import check_strings
from tftransformer.evaluation.bleu import corpus_bleu
from tftransformer.evaluation.generated_texts import generate_texts
from tftransformer.export._variant_measures import (
    check_test_set,
    latencies,
    litert_variant,
    saved_model_signature,
)
from tftransformer.export.generator_export import export_generator
from tftransformer.export.litert_generator_run_export import check_no_prefix
from tftransformer.export.litert_seq2seq_module import check_litert_seq2seq
from tftransformer.export.litert_tokenizer import LiteRTTokenizer
from tftransformer.export.text_classifier_export import SIGNATURE_NAME
from tftransformer.models.causal_lm import CausalLM
from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer

__all__ = ["generator_formats", "generator_rows"]

_BATCH = 32


def generator_formats(model, generation=None):
    """The variants a generator exports to, and why the others are left out.

    `generation`: a tftransformer generator's settings (see
    `export_variants`), None for a keras-hub one.

    Returns:
        `(names, reason)`: the names of `VARIANTS` it has, and for the
        LiteRT ones it lacks (`None` if it has them) the reason.

    Raises:
        ValueError: a tftransformer generator without `generation`, or a
            keras-hub one with it, naming what was received.
    """
    own = isinstance(model, (CausalLM, Seq2SeqTransformer))
    name = type(model).__name__
    if own != (generation is not None):
        raise ValueError(
            "A tftransformer CausalLM or Seq2SeqTransformer is measured with "
            "`generation`, its tokenizers and settings "
            "(tftransformer.training.generation_settings of its run); a "
            "keras-hub generator carries its own. Received: "
            f"generation={'None' if generation is None else '{...}'} for model "
            f"{model.name!r} of class {name}"
        )
    saved_models = ["saved_model_float32", "saved_model_int8"]
    litert = ["litert_float32", "litert_dynamic_int8"]
    try:
        # Whether a LiteRT tokenizer can be made: its warnings come once
        # more with each LiteRT export, which makes one.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if own:
                check_no_prefix(generation.get("prefix"))
                LiteRTTokenizer(generation.get("tokenizer"))
                return saved_models + litert, None
            if not isinstance(model, keras_hub.models.Seq2SeqLM):
                raise ValueError(
                    "a LiteRT export generates with a keras-hub T5 or a "
                    "tftransformer CausalLM, not a keras-hub "
                    f"{type(model).__name__}"
                )
            check_litert_seq2seq(model)
            LiteRTTokenizer(model.preprocessor.tokenizer)
    except ValueError as error:
        return saved_models, str(error)
    return saved_models + litert, None


def generator_rows(
    model,
    directory,
    variants,
    formats,
    prompts,
    references,
    batch_sizes,
    calls,
    overwrite,
    generation=None,
    litert_runtime="auto",
):
    """One report row per variant of a generator.

    Every variant generates greedily up to the preprocessor's length (a
    `Seq2SeqLM`'s `decoder_sequence_length`; a tftransformer generator's
    `generation["max_length"]`). A variant is scored by the corpus BLEU (0
    to 100) of its generations (a `CausalLM`'s completions, the prompt left
    out) against `references`; its agreement is the share of prompts whose
    output is the Keras model's greedy `generate`'s (a tftransformer
    generator's: `generate_texts` with `generation`).
    """
    prompts = check_strings("test_texts", prompts, "For a generator, ")
    references = check_strings("test_labels", references, "For a generator, ")
    check_test_set(
        prompts,
        references,
        "For a generator, ",
        ("prompts", "references", "each prompt's reference"),
    )
    seq2seq = isinstance(model, (keras_hub.models.Seq2SeqLM, Seq2SeqTransformer))
    if generation is not None:
        settings = dict(generation)
        settings.pop("prefix", None)
        max_length = settings.pop("max_length")
        reference = generate_texts(
            model, prompts, max_length, batch_size=_BATCH, **settings
        )["text"]
    else:
        settings = {}
        preprocessor = model.preprocessor
        max_length = (
            preprocessor.decoder_sequence_length
            if seq2seq
            else preprocessor.sequence_length
        )
        reference = _keras_generate(model, prompts, max_length)
    output = "text" if seq2seq else "completion"
    rows = []
    for name in variants:
        export_format, precision = formats[name]
        path = os.path.join(os.fspath(directory), name)
        if export_format == "saved_model":
            path = export_generator(
                model,
                path,
                max_length=max_length,
                version=1,
                overwrite=overwrite,
                precision=precision,
                **settings,
            )
            serve, size_bytes = saved_model_signature(path, SIGNATURE_NAME)

            def generate(batch, serve=serve):
                outputs = serve(prompt=tf.constant(batch, tf.string))
                return {
                    key: [value.decode("utf-8") for value in values.numpy()]
                    for key, values in outputs.items()
                }

        else:
            litert, path, size_bytes = litert_variant(
                model,
                path,
                precision,
                overwrite,
                runtime=litert_runtime,
                max_length=max_length,
                **settings,
            )

            def generate(batch, litert=litert):
                return {"text": [str(text) for text in litert(list(batch))["text"]]}

        texts, generations = [], []
        for i in range(0, len(prompts), _BATCH):
            outputs = generate(prompts[i : i + _BATCH])
            texts += outputs["text"]
            generations += outputs[output]
        row = {
            "variant": name,
            "path": path,
            "size_bytes": size_bytes,
            "bleu": corpus_bleu(generations, references)["bleu"],
            "agreement": float(np.mean([a == b for a, b in zip(texts, reference)])),
        }
        row.update(latencies(generate, prompts, batch_sizes, calls))
        rows.append(row)
    return rows


def _keras_generate(model, prompts, max_length):
    """The model's greedy `generate`, its own sampler put back after."""
    sampler = getattr(model, "sampler", None)
    function = getattr(model, "generate_function", None)
    model.sampler = keras_hub.samplers.GreedySampler()
    model.generate_function = None
    try:
        outputs = model.generate(prompts, max_length=max_length)
    finally:
        model.sampler, model.generate_function = sampler, function
    return [str(text) for text in outputs]
