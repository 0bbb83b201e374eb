"""tftransformer.layers."""

from tftransformer.layers.attention_pooling import AttentionPooling
from tftransformer.layers.feed_forward import FeedForward
from tftransformer.layers.fused_transformer_encoder import FusedTransformerEncoder
from tftransformer.layers.masking import (
    block_diagonal_attention_mask,
    compute_causal_mask,
    merge_padding_and_attention_mask,
)
from tftransformer.layers.multi_head_attention import MultiHeadAttention
from tftransformer.layers.position_embedding import PositionEmbedding
from tftransformer.layers.relative_position_bias import RelativePositionBias
from tftransformer.layers.sequence_pooling import SequencePooling
from tftransformer.layers.sine_position_encoding import SinePositionEncoding
from tftransformer.layers.token_and_position_embedding import (
    TokenAndPositionEmbedding,
)
from tftransformer.layers.transformer_decoder_block import TransformerDecoderBlock
from tftransformer.layers.transformer_encoder_block import TransformerEncoderBlock

__all__ = [
    "AttentionPooling",
    "FeedForward",
    "FusedTransformerEncoder",
    "MultiHeadAttention",
    "PositionEmbedding",
    "RelativePositionBias",
    "SequencePooling",
    "SinePositionEncoding",
    "TokenAndPositionEmbedding",
    "TransformerDecoderBlock",
    "TransformerEncoderBlock",
    "block_diagonal_attention_mask",
    "compute_causal_mask",
    "merge_padding_and_attention_mask",
]
