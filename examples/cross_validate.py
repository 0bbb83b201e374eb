r"""Stratified k-fold cross-validation of the classifier `classify.py` trains.

The training and validation data are pooled (a training file alone pools
whole) and split into `--num_folds` stratified folds; each fold trains a
fresh model from the pretrained weights in `--model_dir/fold_i` (resumable
like any run) for `--epochs`, early stopping on the training loss, and is
scored on its own examples. Prints and writes `cross_validation.json`: accuracy and
macro F1 per fold, their mean and standard deviation.

Usage:
```
python examples/cross_validate.py --num_folds=5 --max_train_examples=2000
python examples/cross_validate.py --train_file=train.csv --freeze_layers=2
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.ClassificationConfig):
    num_folds: int = tft.training.setting(5, "Number of folds.", minimum=2)
    model_dir: str = tft.training.setting(
        "runs/cross_validate", "Output directory.", run_setting=False
    )


def main(config):
    pool = tft.training.load_classification_pool(config)
    result = tft.training.cross_validate_classifier(config, pool, config.num_folds)
    print(result.format())


if __name__ == "__main__":
    tft.training.run(Config, main)
