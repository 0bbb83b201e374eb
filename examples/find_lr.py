r"""The learning-rate range test of the classifier `classify.py` would train.

Builds the model and optimizer exactly as `examples/classify.py` does with
the same flags, runs the range test on the training data, restores the
model, and prints the suggested peak learning rate. Writes
`lr_finder.json` (and, with matplotlib, `lr_finder.png`) to `--model_dir`.

Usage:
```
python examples/find_lr.py --num_steps=100 --freeze_layers=2
python examples/classify.py --freeze_layers=2 --learning_rate=<suggestion>
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN).
import tftransformer as tft

# isort: split
import keras


@dataclasses.dataclass
class Config(tft.training.ClassificationConfig):
    num_steps: int = tft.training.setting(
        100, "Steps of the learning-rate range test.", minimum=3
    )
    model_dir: str = tft.training.setting(
        "runs/find_lr", "Output directory.", run_setting=False
    )


def main(config):
    trainer = tft.training.Trainer(config)
    train, _, _ = tft.training.load_classification_splits(config)
    with trainer.scope():
        classifier = tft.training.build_text_classifier(config, train.label_vocabulary)
    trainer.compile(
        classifier,
        train,
        loss=tft.finetune.classification_loss(config.label_smoothing),
        metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
    )
    result = tft.tuning.learning_rate_range_test(
        trainer, classifier, train, num_steps=config.num_steps
    )
    heading = (
        f"Learning-rate range test ({result.num_steps} steps of "
        f"{trainer.global_batch_size} examples, {trainer.apply_strategy(classifier)})"
    )
    if config.gradual_unfreeze or config.head_warmup_steps:
        heading += "; measured with every layer the schedule ends up training"
    if result.suggestion is None:
        # The lowest smoothed loss came within the first two steps.
        print(f"{heading}: no suggestion, the loss did not fall over the first steps.")
        print(
            f"Curve written to {config.model_dir}/lr_finder.json; try more --num_steps."
        )
        return
    print(
        f"{heading}: suggested learning rate {result.suggestion:.2e}"
        + (" (the loss diverged at the end)" if result.diverged else "")
    )
    print(
        f"Curve written to {config.model_dir}/lr_finder.json; train with "
        f"--learning_rate={result.suggestion:.2e}"
    )


if __name__ == "__main__":
    tft.training.run(Config, main)
