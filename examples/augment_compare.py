r"""Fine-tunes with and without EDA augmentation on a small training set.

A seeded subset of the training data (500 snippets of the embedded sentiment
split by default) trains the same classifier from the pretrained weights
with the same seed, each run in its own `--model_dir/<name>`, and each is
scored on the test split (`tft.training.compare_augmentation`):

- `baseline`: the subset alone, `--epochs` epochs;
- `eda`: the subset plus `--augment_copies` EDA copies of each snippet;
- `baseline_same_steps` (with `--same_steps`): the subset alone for
  `(1 + augment_copies) * epochs` epochs, about as many optimizer steps as
  `eda` takes, so that a gain of `eda` cannot come from more updates alone.

The table is also written to `--model_dir/augment_compare.json`.

Usage:
```
python examples/augment_compare.py
python examples/augment_compare.py --augment_copies=4 --augment_alpha=0.05 \
    --synonym_source=embedding --max_eval_examples=500
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
    max_train_examples: int | None = setting(
        500, "Seeded subset of the training data.", minimum=1
    )
    augment_copies: int = setting(
        2, "EDA copies of each training snippet in the eda run.", minimum=1
    )
    same_steps: bool = setting(
        True, "Also train the baseline for as many steps as the augmented run."
    )
    batch_size: int = setting(16, "Batch size per replica.", minimum=1)
    learning_rate: float = setting(
        1e-4, "Peak learning rate (AdamW).", minimum=0, exclusive_minimum=True
    )
    patience: int = setting(
        100,
        "Early stopping patience (default: every run takes all its epochs).",
        minimum=0,
    )
    model_dir: str = setting(
        "runs/augment_compare", "Output directory.", run_setting=False
    )


def main(config):
    result = tft.training.compare_augmentation(config, same_steps=config.same_steps)
    print(result.format())
    print(f"Written to {config.model_dir}/augment_compare.json")


if __name__ == "__main__":
    tft.training.run(Config, main)
