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

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft

setting = tft.training.setting


@dataclasses.dataclass
class Config(tft.training.FinetuneConfig):
    text: str | None = setting(None, "The text; default: the first test review.")
    model_path: str | None = setting(
        None, "A fine-tuned TextClassifier .keras file instead of --preset."
    )
    layer: int = setting(-1, "Layer to draw (negative: from the last).")
    head: int | None = setting(None, "Head to draw; default: mean over heads.")
    output: str = setting("attention.png", "PNG file to write.", run_setting=False)


def main(config):
    result = tft.evaluation.write_attention_map(
        config.output,
        text=config.text,
        preset=config.preset,
        model_path=config.model_path,
        layer=config.layer,
        head=config.head,
        max_length=config.max_length,
    )
    print(result.format())
    print(f"Attention map written to {config.output}")


if __name__ == "__main__":
    tft.training.run(Config, main)
