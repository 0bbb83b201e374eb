"""Exporting a keras-hub generator as a SavedModel that answers raw prompts."""

import tensorflow as tf

from tftransformer.export.generator_serving_module import (
    GeneratorServingModule,
    check_generator,
    get_sampler,
)
from tftransformer.export.inference_copy import inference_copy
from tftransformer.export.model_versions import publish_directory, version_path
from tftransformer.export.text_classifier_export import SIGNATURE_NAME

__all__ = ["export_generator"]


def export_generator(
    model,
    path,
    max_length=None,
    sampler="greedy",
    version=None,
    overwrite=False,
    tokenizer=None,
    start_token_id=None,
    end_token_id=None,
    pad_token_id=0,
    prefix="",
    precision="float32",
    target_tokenizer=None,
):
    """Exports a causal LM as a TF Serving model version on raw prompts.

    Writes TF Serving's layout, `<path>/<version>/saved_model.pb` and
    `variables/`; the version is written under a hidden name and renamed
    into place. The `serving_default` signature takes `prompt` (1-D
    `tf.string`, any batch size) and returns `text` (each prompt and its
    continuation) and `completion` (the continuation alone), both 1-D
    `tf.string`; for a `Seq2SeqLM` (BART, T5: source -> target) or a
    `Seq2SeqTransformer`, `text` alone, the generated target. See
    `GeneratorServingModule`. The tokenizer runs in the graph with
    TensorFlow Text ops: a client needs `import tensorflow_text` before
    `tf.saved_model.load` (TF Serving's model server includes them).

    Args:
        model: a keras-hub `CausalLM` or `Seq2SeqLM` with its
            preprocessor, e.g. from `tftransformer.presets.load_generator`,
            or `train_causal_lm` / `train_translator` with a `preset`; or a
            tftransformer `CausalLM` or `Seq2SeqTransformer` (those
            functions from random weights) with its tokenizers.
        path: str or path-like, TF Serving's model base path.
        max_length: int, prompt and continuation together in tokens (a
            `Seq2SeqLM`'s target), baked into the graph; defaults to the
            preprocessor's `sequence_length` (a `Seq2SeqLM`'s
            `decoder_sequence_length`).
        sampler: a keras-hub sampler or its name: `"greedy"` (the default),
            `"top_k"`, `"top_p"`, `"random"` or `"beam"` (keras-hub's
            default settings: top-p with `p=0.1`, beam with 5 beams). Give
            `keras_hub.samplers.TopPSampler(p=0.9, seed=1)` or
            `BeamSampler(num_beams=4)` to choose; a random sampler's seed
            state is saved with the model and advanced by each request
            (see `GeneratorServingModule`).
        version: optional int >= 0. Defaults to one more than the highest
            numeric subdirectory of `path` (1 for a new one).
        overwrite: bool, whether an existing `<path>/<version>` is replaced.
        tokenizer, start_token_id, end_token_id, pad_token_id: for a
            `tftransformer.models.CausalLM` or `Seq2SeqTransformer`, which
            have no preprocessor: the WordPiece tokenizer (of the sources)
            and special token ids (see `GeneratorServingModule`);
            `max_length` is then required.
        prefix: str, text the graph puts before every prompt, e.g. T5's
            task prefix (`TranslationConfig.source_prefix`), so that
            clients send the bare source.
        precision: `"float32"` (the default), or `"int8"` for Keras' int8
            quantization (int8 `Dense`, `EinsumDense` and `Embedding`
            kernels with per-channel scales, see `inference_copy`). Either
            way the model is first rebuilt in float32 with LoRA adapters
            merged, so a mixed-precision model never exports as bfloat16 or
            float16.
        target_tokenizer: a `Seq2SeqTransformer`'s target tokenizer;
            defaults to `tokenizer`.

    Returns:
        str, the version directory written (`<path>/<version>`).

    Example:
    ```python
    version_dir = export_generator(lm, "serving/gpt2", max_length=64)
    # In a process with only TensorFlow:
    import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    serve(prompt=tf.constant(["The weather today"]))["completion"]
    ```
    """
    if not isinstance(overwrite, bool):
        raise ValueError(
            f"`overwrite` must be a bool. Received: overwrite={overwrite!r}"
        )
    # Checked again by the serving module, but before any write.
    max_length = check_generator(model, max_length, tokenizer, start_token_id)
    sampler = get_sampler(sampler)
    # Checks `precision` before anything is written.
    copy = inference_copy(model, precision=precision)
    final_path = version_path(path, version, overwrite)
    module = GeneratorServingModule(
        copy,
        max_length,
        sampler,
        tokenizer=tokenizer,
        start_token_id=start_token_id,
        end_token_id=end_token_id,
        pad_token_id=pad_token_id,
        prefix=prefix,
        target_tokenizer=target_tokenizer,
    )
    with publish_directory(final_path, overwrite) as out:
        # Traced once, in the save: a function traced before it is traced
        # again there (the save's variable policy is part of the trace key).
        tf.saved_model.save(module, out, signatures={SIGNATURE_NAME: module.serve})
    return final_path
