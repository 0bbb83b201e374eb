"""Switches a backbone's encoder blocks to the fused training path and back."""

import types

import keras_hub

from tftransformer._arguments import check_bool
from tftransformer.finetune.lora import _reset_compiled_functions
from tftransformer.layers.fused_transformer_encoder import FusedTransformerEncoder
from tftransformer.models.backbone_layers import encoder_layers

__all__ = ["use_fused_encoder"]


def _is_fused(layer):
    call = getattr(layer, "call", None)
    return getattr(call, "__func__", None) is FusedTransformerEncoder.call


def use_fused_encoder(model, enabled=True):
    """Trains a backbone's keras-hub encoder blocks on the fused path.

    Each encoder block (`encoder_layers`) that is exactly a keras-hub
    `TransformerEncoder` (BERT, DistilBERT, RoBERTa, XLM-RoBERTa, ELECTRA,
    ALBERT's shared blocks) computes its training steps as
    `tftransformer.layers.FusedTransformerEncoder` does: one GEMM for the
    query, key and value, XLA-compiled softmax, GELU, dropout, residual
    sums and layer normalizations (docs/benchmarks.md measures it). Only
    the block's `call` changes: its class, weights, config, weight files
    and saved models stay keras-hub's, and inference and exports compute
    as keras-hub does. Blocks of other classes (DeBERTa-v3's) are left as
    they are. The model's traced functions are reset, so the next `fit`
    traces the new path.

    Args:
        model: a backbone, or a model containing one.
        enabled: bool; `False` gives the blocks keras-hub's `call` back.

    Returns:
        The number of blocks now on the path asked for.

    Example:
    ```python
    classifier = tftransformer.models.TextClassifier.from_preset(
        "embedded", num_classes=2
    )
    tftransformer.finetune.use_fused_encoder(classifier)  # 6
    ```
    """
    enabled = check_bool("enabled", enabled)
    switched = 0
    for layer in encoder_layers(model):
        if type(layer) is not keras_hub.layers.TransformerEncoder:
            continue
        # Set and deleted past Keras' attribute tracking; without the
        # instance's `call`, the class' is found again.
        if enabled and not _is_fused(layer):
            fused = types.MethodType(FusedTransformerEncoder.call, layer)
            object.__setattr__(layer, "call", fused)
        elif not enabled and _is_fused(layer):
            object.__delattr__(layer, "call")
        switched += 1
    _reset_compiled_functions(model)
    return switched
