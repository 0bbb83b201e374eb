r"""Few-shot text classification, SetFit-style, on the embedded sentiment data.

A handful of labelled examples per class become sentence pairs (same label:
similarity 1, other label: 0); the sentence embedder (all-MiniLM-L6-v2) is
fine-tuned on them with a cosine-similarity loss, then a logistic-regression
head is trained on the tuned embeddings (`tft.training.train_few_shot_classifier`)
and calibrated on held-out labelled examples (`--calibrate`, on by default).
Prints a report on the test split and writes it, with the tuned embedder and
the head, to `--model_dir`; `--export_dir` also exports both as one
classifier that TF Serving answers on raw strings. Rerunning a killed
command resumes the contrastive phase.

Usage:
```
python examples/few_shot.py --examples_per_class=8 --model_dir=runs/few_shot
python examples/few_shot.py --examples_per_class=16 --seed=1 --max_test_examples=500
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft
from tftransformer.training import setting


@dataclasses.dataclass
class Config(tft.training.FewShotConfig):
    export_dir: str | None = setting(
        None, "Also export the classifier for TF Serving here.", run_setting=False
    )


def main(config):
    run = tft.training.train_few_shot_classifier(config)
    if not run.trainer.chief:
        return
    print(
        f"\nTest results ({len(run.test)} examples, "
        f"{config.examples_per_class} per class):"
    )
    print(run.report.format())
    if config.export_dir:
        path = tft.export.export_few_shot_classifier(
            run.embedder, run.head, config.export_dir, label_names=run.label_names
        )
        print(f"Exported to {path}")


if __name__ == "__main__":
    tft.training.run(Config, main)
