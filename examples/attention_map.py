r"""Draws the self-attention of one encoder layer and head for a text.

The weights are read from the model as it is, for a pretrained backbone or a
classifier fine-tuned by `examples/classify.py`, and written as a PNG heat
map: rows are the attending tokens (queries), columns the attended ones
(keys). With no `--text`, the first review of the embedded test split is
used.

Usage:
```
python examples/attention_map.py --layer=5 --head=3 --output=attention.png
python examples/attention_map.py --model_path=runs/classify/model.keras \
    --text="A quietly devastating film." --layer=-1
```
"""

import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    text=None,
    preset="embedded",
    model_path=None,
    layer=-1,
    head=None,
    output="attention.png",
    max_length=128,
    verbose=1,
):
    """Computes one text's attention maps and writes one as a PNG.

    Args:
        text: the text; `None` for the first review of the embedded test
            split.
        preset: the backbone to load when `model_path` is not given (see
            `tftransformer.presets.load_backbone`).
        model_path: optional `.keras` file of a `TextClassifier` (e.g.
            `runs/classify/model.keras`); its own preprocessor tokenizes.
        layer: int, the layer drawn; negative counts from the last.
        head: int, the head drawn; `None` draws the mean over heads.
        output: the PNG path.
        max_length: the longest tokenized text, special tokens included.
        verbose: whether to print the strongest attention links.

    Returns:
        A dict with `tokens`, `weights` (`(layers, heads, seq, seq)`),
        `output` and `text`.
    """
    import keras
    import numpy as np

    import tftransformer as tft

    if text is None:
        text = tft.data.load_rotten_tomatoes("test").texts[0]
    if model_path:
        if not os.path.isfile(model_path):
            raise FileNotFoundError(
                f"model_path must be a .keras file. Received: model_path={model_path!r}"
            )
        model = keras.saving.load_model(model_path)
        preprocessor = None
    else:
        model, preprocessor = tft.presets.load_backbone(
            preset, sequence_length=max_length
        )
    tokens, weights = tft.evaluation.attention_maps(
        model, text, preprocessor=preprocessor
    )
    tft.evaluation.plot_attention_map(tokens, weights, output, layer=layer, head=head)
    if verbose:
        num_layers, num_heads = weights.shape[:2]
        shown = weights[layer].mean(0) if head is None else weights[layer, head]
        which = "mean over heads" if head is None else f"head {head}"
        print(f"Text: {text}")
        print(
            f"{len(tokens)} tokens, {num_layers} layers x {num_heads} heads; "
            f"layer {layer % num_layers}, {which}: strongest link of each token"
        )
        for i, token in enumerate(tokens):
            j = int(np.argmax(shown[i]))
            print(f"  {token:>15} -> {tokens[j]:<15} {shown[i, j]:.2f}")
        print(f"Attention map written to {output}")
    return {"tokens": tokens, "weights": weights, "output": output, "text": text}


def define_flags():
    """Defines the script's flags; only when it runs as a script, so that
    importing `run` from several examples in one process never clashes."""
    flags.DEFINE_string(
        "text", None, "The text; default: the first embedded test review."
    )
    flags.DEFINE_string(
        "preset", "embedded", "Backbone: 'embedded', a local directory or a preset."
    )
    flags.DEFINE_string(
        "model_path", None, "A fine-tuned TextClassifier .keras file instead."
    )
    flags.DEFINE_integer("layer", -1, "Layer to draw (negative: from the last).")
    flags.DEFINE_integer("head", None, "Head to draw; default: mean over heads.")
    flags.DEFINE_string("output", "attention.png", "PNG file to write.")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized text.")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
