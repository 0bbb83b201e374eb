"""New encoder blocks stacked on a pretrained backbone (the "custom block on
top" recipe), shared by the task models."""

from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock


def backbone_hidden_dim(backbone):
    """Returns the width of a backbone's `sequence_output`."""
    hidden_dim = getattr(backbone, "hidden_dim", None)
    if hidden_dim is None:
        hidden_dim = backbone.output["sequence_output"].shape[-1]
    return int(hidden_dim)


def extra_encoder_blocks(
    backbone, num_blocks, num_heads=None, intermediate_dim=None, dropout=0.1
):
    """Returns new `TransformerEncoderBlock`s sized for `backbone`.

    Args:
        backbone: the encoder the blocks go on.
        num_blocks: int >= 0, how many blocks.
        num_heads: heads per block; `None` for the largest of 1-4 that
            divides the backbone's width (small blocks train fast).
        intermediate_dim: feed-forward width; `None` for 4x the width.
        dropout: the blocks' dropout.

    Returns:
        `(blocks, num_heads, intermediate_dim)`: the list of layers, named
        `extra_block_{i}`, and the resolved sizes (`None` without blocks).

    Example:
    ```python
    blocks, _, _ = extra_encoder_blocks(backbone, 1)
    for block in blocks:
        sequence = block(sequence, padding_mask=padding_mask)
    ```
    """
    if (
        isinstance(num_blocks, bool)
        or not isinstance(num_blocks, int)
        or num_blocks < 0
    ):
        raise ValueError(
            "num_extra_blocks must be a non-negative integer. "
            f"Received: num_extra_blocks={num_blocks!r}"
        )
    if not num_blocks:
        return [], num_heads, intermediate_dim
    hidden_dim = backbone_hidden_dim(backbone)
    if num_heads is None:
        num_heads = max(h for h in range(1, 5) if hidden_dim % h == 0)
    if intermediate_dim is None:
        intermediate_dim = 4 * hidden_dim
    blocks = [
        TransformerEncoderBlock(
            intermediate_dim=intermediate_dim,
            num_heads=num_heads,
            dropout=dropout,
            dtype=backbone.dtype_policy,
            name=f"extra_block_{i}",
        )
        for i in range(num_blocks)
    ]
    return blocks, num_heads, intermediate_dim
