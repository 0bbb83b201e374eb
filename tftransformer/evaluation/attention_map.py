"""What `write_attention_map` returns: one text's attention, drawn."""

import dataclasses

import numpy as np

__all__ = ["AttentionMap"]


@dataclasses.dataclass(frozen=True)
class AttentionMap:
    """One text's attention weights, and the layer and head drawn of them.

    Args:
        text: the text.
        tokens: its tokens, special tokens included.
        weights: float32 array `(layers, heads, len(tokens), len(tokens))`.
        layer: the layer drawn (negative counts from the last).
        head: the head drawn, or `None` for the mean over heads.
        output: the PNG file written.
    """

    text: str
    tokens: list
    weights: np.ndarray
    layer: int
    head: int | None
    output: str

    def format(self):
        """The strongest link of each token in the drawn map, one a line."""
        num_layers, num_heads = self.weights.shape[:2]
        layer = self.weights[self.layer]
        shown = layer.mean(0) if self.head is None else layer[self.head]
        # Counted from 0, as the plot's title counts it (not from the last).
        which = (
            "mean over heads" if self.head is None else f"head {self.head % num_heads}"
        )
        lines = [
            f"Text: {self.text}",
            f"{len(self.tokens)} tokens, {num_layers} layers x {num_heads} heads; "
            f"layer {self.layer % num_layers}, {which}: strongest link of each token",
        ]
        for i, token in enumerate(self.tokens):
            j = int(np.argmax(shown[i]))
            lines.append(f"  {token:>15} -> {self.tokens[j]:<15} {shown[i, j]:.2f}")
        return "\n".join(lines)
