"""Finds a Transformer backbone's embedding layers and its ordered encoder layers.

Every fine-tuning strategy (freezing, gradual unfreezing, layer-wise learning
rates, ...) acts on the same two groups, so they are found here once, through
the backbone's family adapter (`tftransformer.models.backbone_adapter`):
by name for BERT-like backbones and `tftransformer.models.TransformerEncoder`
(blocks `transformer_layer_{i}`, embedding-side layers with `embedding` in the
name), by the family's own layout for DeBERTa-v3 and ALBERT.
"""

from tftransformer.models.backbone_adapter import (
    adapter_for,
    find_backbone,
)

__all__ = ["find_backbone", "encoder_layers", "embedding_layers"]


def encoder_layers(model):
    """Returns a backbone's encoder layers, ordered from input to output.

    Args:
        model: a backbone, or a model containing one (see `find_backbone`).

    Returns:
        A list of the layers named `transformer_layer_0` ...
        `transformer_layer_{n-1}` (DeBERTa-v3:
        `disentangled_attention_encoder_layer_{i}`; ALBERT: its distinct
        shared blocks; BART, T5: the encoder's blocks, then the decoder's),
        in that order.

    Raises:
        ValueError: if there are no such layers, or their indices are not
            exactly 0 to n-1.

    Example:
    ```python
    backbone = keras_hub.models.BertBackbone.from_preset(preset_dir)
    [layer.name for layer in encoder_layers(backbone)]
    # ["transformer_layer_0", ..., "transformer_layer_5"]
    ```
    """
    return adapter_for(model).encoder_layers()


def embedding_layers(model):
    """Returns a backbone's embedding-side layers, in the backbone's order.

    These are the backbone's direct sublayers with `embedding` in their name:
    for a keras-hub `BertBackbone` `token_embedding`, `position_embedding`,
    `segment_embedding`, `embeddings_add`, `embeddings_layer_norm` and
    `embeddings_dropout`; for `tftransformer.models.TransformerEncoder`
    `embeddings`, `embeddings_layer_norm` (post-norm) and
    `embeddings_dropout`.

    Args:
        model: a backbone, or a model containing one (see `find_backbone`).

    Returns:
        A list of layers, possibly empty.

    Example:
    ```python
    [layer.name for layer in embedding_layers(backbone)]
    # ["token_embedding", "position_embedding", ...]
    ```
    """
    return adapter_for(model).embedding_layers()
