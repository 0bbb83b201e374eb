"""A float32, inference-only copy of a trained model for export."""

import gc
import os
import tempfile
import warnings

import keras

from tftransformer._arguments import check_choice

__all__ = ["PRECISIONS", "float32_inference_copy", "has_lora", "inference_copy"]

# What an exported SavedModel computes in: float32, or Keras' int8 quantization.
PRECISIONS = ("float32", "int8")

# Policies whose computations (or variables) are not float32.
_LOW_PRECISION_POLICIES = ("mixed_bfloat16", "mixed_float16", "bfloat16", "float16")


def has_lora(model):
    """Whether any layer of `model` carries LoRA adapters.

    Args:
        model: a `keras.Model`.

    Returns:
        bool, True when a layer has `lora_enabled` set (Keras' `Dense`,
        `EinsumDense` and `Embedding` after `enable_lora`).

    Example:
    ```python
    classifier.backbone.enable_lora(rank=4)
    has_lora(classifier)  # True
    ```
    """
    return any(getattr(layer, "lora_enabled", False) for layer in _all_layers(model))


def float32_inference_copy(model, preprocessor=None, merge_lora=True):
    """Rebuilds `model` in float32 from its config, with its current weights.

    A model trained under a mixed or low precision policy computes in
    bfloat16 / float16, and one built under a distribution strategy holds
    distributed variables. The copy has plain float32 variables and
    computations with the same values (call this outside `strategy.scope()`,
    or the copy's variables are distributed too). Weights travel through
    Keras' own weight serialization (`save_weights` / `load_weights`), in
    which each LoRA layer writes `kernel + (alpha / rank) * A @ B` as its
    kernel; the copy has no adapters, so they end up merged.

    Args:
        model: a built `keras.Model` that round-trips through `get_config` /
            `from_config`, e.g. a keras-hub `Task` such as
            `tftransformer.models.TextClassifier`.
        preprocessor: for a keras-hub `Task`, the preprocessor the copy keeps
            (it holds no weights and is shared, not copied). Defaults to
            `model.preprocessor` where there is one.
        merge_lora: bool. With False, a model with LoRA adapters is refused
            rather than exported with the adapters folded into its kernels.

    Returns:
        A new `keras.Model` of the same class, float32 throughout.

    Example:
    ```python
    classifier = float32_inference_copy(mixed_precision_classifier)
    classifier.compute_dtype  # "float32"
    ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    if not model.built or not model.weights:
        raise ValueError(
            f"Model {model.name!r} has no weights yet: build it (call it on a "
            "batch or fit it) before exporting it."
        )
    if has_lora(model) and not merge_lora:
        raise ValueError(
            f"Model {model.name!r} has LoRA adapters and merge_lora=False. The "
            "exported graph holds plain kernels only: pass merge_lora=True to "
            "fold the adapters into them."
        )
    config = _inference_config(model.get_config())
    if isinstance(config, dict) and "preprocessor" in config:
        config["preprocessor"] = (
            preprocessor
            if preprocessor is not None
            else getattr(model, "preprocessor", None)
        )
    try:
        copy = type(model).from_config(config)
    except Exception as e:
        raise ValueError(
            f"Could not rebuild {type(model).__name__} {model.name!r} from its "
            f"config to export it in float32: {e}"
        ) from e
    # An inference copy needs no optimizer: without one, load_weights leaves
    # the trained model's optimizer state in the file alone (a keras-hub task
    # compiles itself when made, and Keras warned that the states differ).
    copy.optimizer = None
    copy.compiled = False
    with tempfile.TemporaryDirectory() as tmp:
        weights_path = os.path.join(tmp, "model.weights.h5")
        model.save_weights(weights_path)
        copy.load_weights(weights_path)
    return copy


def inference_copy(model, preprocessor=None, merge_lora=True, precision="float32"):
    """A float32 inference copy (see `float32_inference_copy`), maybe int8.

    With `precision="int8"` the float32 copy, LoRA adapters already merged,
    goes through Keras' `model.quantize("int8")`: `Dense`, `EinsumDense` and
    `Embedding` kernels become int8 with per-channel scales, and their
    inputs are quantized on the fly. Quantizing after the float32 rebuild
    means a mixed-precision model never exports as float16.

    Args:
        model: a built `keras.Model`, as for `float32_inference_copy`.
        preprocessor: as for `float32_inference_copy`.
        merge_lora: as for `float32_inference_copy`.
        precision: one of `PRECISIONS`, `"float32"` or `"int8"`.

    Returns:
        A new `keras.Model`.

    Example:
    ```python
    int8_classifier = inference_copy(classifier, precision="int8")
    ```
    """
    check_choice("precision", precision, PRECISIONS)
    copy = float32_inference_copy(model, preprocessor, merge_lora=merge_lora)
    if precision == "int8":
        with warnings.catch_warnings():
            # Keras names each layer it leaves in float32 (norms, pooling).
            warnings.filterwarnings("ignore", "Layer .* does not have a `quantize`")
            # The preprocessor's layers hold no weights, and an unbuilt
            # tokenizer would stop `quantize`.
            preprocessor = getattr(copy, "preprocessor", None)
            skipped = {
                id(layer) for layer in _all_layers(preprocessor or keras.Layer())
            }
            # Keras runs a full `gc.collect()` for each kernel it replaces,
            # a quarter of a second each in a process holding a TensorFlow
            # graph or two: objects already alive are frozen out of them.
            # Unless the caller froze objects itself (a pre-forking server
            # does): `gc.unfreeze` would release theirs too.
            freeze = gc.get_freeze_count() == 0
            if freeze:
                gc.freeze()
            try:
                copy.quantize("int8", filters=lambda layer: id(layer) not in skipped)
            finally:
                if freeze:
                    gc.unfreeze()
    return copy


def _inference_config(config):
    """A nested config with float32 dtypes and no LoRA adapters requested."""
    if isinstance(config, dict):
        return {
            key: "float32"
            if key == "dtype" and _is_low_precision(value)
            else _inference_config(value)
            for key, value in config.items()
            # Keras layers built with `lora_rank` would add zero adapters.
            if key not in ("lora_rank", "lora_alpha")
        }
    if isinstance(config, (list, tuple)):
        return type(config)(_inference_config(value) for value in config)
    return config


def _is_low_precision(dtype):
    if isinstance(dtype, dict):
        # A serialized `keras.DTypePolicy`.
        dtype = dtype.get("config", {}).get("name")
    return dtype in _LOW_PRECISION_POLICIES


def _all_layers(model):
    # `_flatten_layers` reaches layers nested in keras-hub backbones, which
    # `model.layers` lists only one level deep.
    return model._flatten_layers(include_self=False, recursive=True)
