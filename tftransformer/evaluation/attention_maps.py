"""Per-layer, per-head self-attention weights of an encoder, and their plots.

The model is left as it is: each encoder layer is called again, with
`return_attention_scores=True`, on the input it receives inside the model
(read from the backbone's functional graph). Both keras-hub's
`TransformerEncoder` (the layers of `BertBackbone`) and tftransformer's
`TransformerEncoderBlock` (those of `TransformerEncoder`) take that argument.
"""

import os

import keras
import numpy as np

from tftransformer._arguments import check_int
from tftransformer.data.rotten_tomatoes import load_rotten_tomatoes
from tftransformer.evaluation.attention_map import AttentionMap
from tftransformer.evaluation.plots import _import_matplotlib, _save
from tftransformer.models.backbone_layers import encoder_layers, find_backbone
from tftransformer.presets import load_backbone

__all__ = ["attention_maps", "plot_attention_map", "write_attention_map"]


def attention_maps(model, text, preprocessor=None, trim_padding=True):
    """Returns the attention weights of every layer and head for one text.

    Args:
        model: a `tftransformer.models.TextClassifier`, a keras-hub
            `BertBackbone`, a `tftransformer.models.TransformerEncoder`, or a
            model holding one (layers named `transformer_layer_{i}`).
        text: a non-empty str.
        preprocessor: turns a batch of strings into the backbone's inputs
            (e.g. the one `tftransformer.presets.load_backbone` returns);
            defaults to `model.preprocessor`.
        trim_padding: whether to keep only the real tokens. With `False`,
            the preprocessor's padded positions stay, as `"[PAD]"` tokens
            whose key columns hold zeros.

    Returns:
        A `(tokens, weights)` tuple: `tokens`, a list of str (word pieces,
        special tokens included); `weights`, a float32 array
        `(num_layers, num_heads, len(tokens), len(tokens))` where
        `weights[l, h, i, j]` is how much query token `i` attends to key
        token `j` in head `h` of layer `l`. Each row sums to 1 over the real
        tokens.

    Example:
    ```python
    tokens, weights = attention_maps(classifier, "a quietly devastating film")
    weights.shape  # (6, 12, 7, 7) for all-MiniLM-L6-v2
    ```
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"text must be a non-empty string. Received: text={text!r}")
    if preprocessor is None:
        preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        raise ValueError(
            "attention_maps needs a preprocessor to tokenize the text: the "
            f"model {model.name!r} has none. Pass preprocessor=, e.g. the one "
            "tftransformer.presets.load_backbone returns."
        )
    backbone = find_backbone(model)
    layers = encoder_layers(backbone)
    inputs = backbone.input
    if not isinstance(inputs, dict) or "padding_mask" not in inputs:
        raise ValueError(
            "Expected a backbone taking a dict with 'padding_mask'. Received: "
            f"inputs {inputs!r} of {backbone.name!r}"
        )

    features = preprocessor([text])
    if isinstance(features, tuple):
        features = features[0]
    # Only the backbone's own inputs: a functional model given extra keys
    # matches them by position.
    features = {name: features[name] for name in inputs}
    # The tensor each encoder layer reads inside the model, recomputed.
    layer_inputs = keras.Model(inputs, [_first_input(layer) for layer in layers])(
        features, training=False
    )
    if len(layers) == 1:
        layer_inputs = [layer_inputs]
    padding_mask = features["padding_mask"]
    weights = []
    for layer, hidden in zip(layers, layer_inputs):
        _, scores = layer(
            hidden,
            padding_mask=padding_mask,
            return_attention_scores=True,
            training=False,
        )
        weights.append(keras.ops.convert_to_numpy(keras.ops.cast(scores, "float32")))
    # (layers, batch=1, heads, seq, seq) -> (layers, heads, seq, seq)
    weights = np.stack(weights)[:, 0]

    token_ids = keras.ops.convert_to_numpy(features["token_ids"])[0]
    mask = keras.ops.convert_to_numpy(padding_mask)[0].astype(bool)
    tokenizer = preprocessor.tokenizer
    tokens = [str(tokenizer.id_to_token(int(i))) for i in token_ids]
    if trim_padding:
        keep = np.flatnonzero(mask)
        tokens = [tokens[i] for i in keep]
        weights = weights[:, :, keep][:, :, :, keep]
    return tokens, np.ascontiguousarray(weights, dtype="float32")


def _first_input(layer):
    """The tensor a layer was first called on (its first positional input)."""
    inputs = layer.input
    return inputs[0] if isinstance(inputs, (list, tuple)) else inputs


def plot_attention_map(tokens, weights, path, layer=-1, head=None, title=None):
    """Writes a heat map of one head's attention (or a layer's head average).

    Args:
        tokens: list of str, the tokens of `weights`' last two axes.
        weights: `(num_layers, num_heads, seq, seq)` array as
            `attention_maps` returns, or one `(seq, seq)` map.
        path: the PNG file to write; missing parent directories are created.
        layer: int, the layer to draw (negative counts from the last).
        head: int, the head to draw, or `None` for the mean over heads.
        title: the figure title; defaults to naming the layer and head.

    Returns:
        `path`.

    Example:
    ```python
    tokens, weights = attention_maps(classifier, "a quietly devastating film")
    plot_attention_map(tokens, weights, "attention.png", layer=5, head=0)
    ```
    """
    weights = np.asarray(weights, dtype="float64")
    tokens = [str(token) for token in tokens]
    if weights.ndim == 4:
        num_layers, num_heads = weights.shape[:2]
        layer = check_int("layer", layer, -num_layers, num_layers - 1)
        if head is not None:
            head = check_int(
                "head",
                head,
                -num_heads,
                num_heads - 1,
                what=" (or None, the mean over heads)",
            )
        layer, head = (
            layer % num_layers,
            None if head is None else head % num_heads,
        )
        matrix = weights[layer].mean(axis=0) if head is None else weights[layer, head]
        if title is None:
            which = "mean over heads" if head is None else f"head {head}"
            title = f"Attention, layer {layer}, {which}"
    elif weights.ndim == 2:
        matrix = weights
        title = "Attention" if title is None else title
    else:
        raise ValueError(
            "weights must be (num_layers, num_heads, seq, seq) or (seq, seq). "
            f"Received: weights.shape={weights.shape}"
        )
    if matrix.shape != (len(tokens), len(tokens)) or not tokens:
        raise ValueError(
            "weights must be square over the tokens. Received: "
            f"{len(tokens)} tokens and a map of shape {matrix.shape}"
        )
    if not np.all(np.isfinite(matrix)):
        raise ValueError("weights must be finite. Received: NaN or inf values")
    figure_class, canvas_class, _ = _import_matplotlib()

    size = min(4.0 + 0.28 * len(tokens), 30.0)
    figure = figure_class(figsize=(size + 1.2, size))
    canvas_class(figure)
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(matrix, cmap="viridis", vmin=0.0, interpolation="nearest")
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04)
    ticks = np.arange(len(tokens))
    axes.set_xticks(ticks, labels=tokens, rotation=90)
    axes.set_yticks(ticks, labels=tokens)
    axes.set_xlabel("attended token (key)")
    axes.set_ylabel("attending token (query)")
    axes.set_title(title)
    figure.tight_layout()
    _save(figure, path)
    return path


def write_attention_map(
    output,
    text=None,
    preset="embedded",
    model_path=None,
    layer=-1,
    head=None,
    max_length=128,
):
    """Draws one layer's (and head's) attention for a text, as a PNG heat map.

    The weights are read from the model as it is (`attention_maps`): a
    pretrained backbone, or a fine-tuned `TextClassifier` saved as a
    `.keras` file, whose own preprocessor tokenizes.

    Args:
        output: the PNG file to write.
        text: the text; `None` for the first review of the embedded test
            split.
        preset: the backbone to load when `model_path` is not given (see
            `tftransformer.presets.load_backbone`).
        model_path: optional `.keras` file of a `TextClassifier`.
        layer: int, the layer drawn; negative counts from the last.
        head: int, the head drawn; `None` draws the mean over heads.
        max_length: the longest tokenized text, special tokens included;
            with `model_path`, the model's preprocessor's own length is.

    Returns:
        An `AttentionMap`; its `format()` lists each token's strongest link.

    Example:
    ```python
    result = write_attention_map("attention.png", "a quietly devastating film")
    print(result.format())
    ```
    """
    if model_path is not None and not os.path.isfile(model_path):
        raise FileNotFoundError(
            f"model_path must be a .keras file. Received: model_path={model_path!r}"
        )
    if text is None:
        text = load_rotten_tomatoes("test").texts[0]
    if model_path is not None:
        model, preprocessor = keras.saving.load_model(model_path), None
    else:
        model, preprocessor = load_backbone(preset, sequence_length=max_length)
    tokens, weights = attention_maps(model, text, preprocessor=preprocessor)
    plot_attention_map(tokens, weights, output, layer=layer, head=head)
    return AttentionMap(text, tokens, weights, layer, head, os.fspath(output))
