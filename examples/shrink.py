r"""Shrinks a fine-tuned encoder (fewer layers and heads) and fine-tunes it again.

The full pretrained model is fine-tuned (`--model_dir/full`). Its backbone
then keeps its first `--keep_layers` encoder layers and, in each, the
`--keep_heads` attention heads that matter most to its loss on training
batches (Michel et al. 2019). The shrunk backbone is saved as a keras-hub
preset (`--model_dir/shrunk_preset`) and fine-tuned with a new head by the
same recipe (`--model_dir/shrunk`). Both models are scored on the test
split, and their inference speed (examples/s over the test split) is timed
in this process, the two models alternating, so that the ratio survives a
machine shared with others (`tft.training.shrink_classifier`).

Usage:
```
python examples/shrink.py --keep_layers=3 --keep_heads=8 \
    --max_train_examples=2000 --epochs=2
python examples/shrink.py --keep_heads=0   # layers only
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft

setting = tft.training.setting


@dataclasses.dataclass
class Config(tft.training.ClassificationConfig):
    keep_layers: int = setting(3, "Encoder layers kept (the first N).", minimum=1)
    keep_heads: int = setting(
        8, "Attention heads kept per layer, the most important (0: all).", minimum=0
    )
    importance_batches: int = setting(
        16, "Training batches that score the heads.", minimum=1
    )
    timing_rounds: int = setting(
        3, "Timed passes over the test split per model.", minimum=1
    )
    epochs: int = setting(2, "Epochs of each fine-tuning.", minimum=1)
    max_train_examples: int | None = setting(
        2000, "Train on a seeded subset of this size (0: all).", minimum=0
    )
    model_dir: str = setting("runs/shrink", "Output directory.", run_setting=False)


def main(config):
    result = tft.training.shrink_classifier(
        config,
        config.keep_layers,
        config.keep_heads,
        importance_batches=config.importance_batches,
        timing_rounds=config.timing_rounds,
    )
    print(tft.training.format_shrink_report(result))
    print(f"Report written to {config.model_dir}/shrink_report.json")


if __name__ == "__main__":
    tft.training.run(Config, main)
