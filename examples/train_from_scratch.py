r"""Trains a small Transformer classifier from scratch: the no-transfer baseline.

The model is a `TextClassifier` on tftransformer's `TransformerEncoder`
with random weights; it tokenizes with the embedded checkpoint's WordPiece
vocabulary, so its inputs match the fine-tuned model's, and the saved model
answers raw strings as a fine-tuned one does (`examples/predict.py`,
`examples/evaluate.py`, the exports). It trains on the data flags
`examples/classify.py` takes (`--train_file`, `--text_column`,
`--label_column`, ...; the embedded Rotten Tomatoes sentiment data by
default) and prints and writes a test report. Compare its test accuracy
with `examples/classify.py` on the same data. Everything lands in
`--model_dir`: the model (`model.keras`), the report (`report.json`), the
training history and summary, checkpoints and TensorBoard logs;
`--export_dir` also writes a TF Serving model that classifies raw strings.
Rerunning a killed command resumes it.

Usage:
```
python examples/train_from_scratch.py --epochs=4 --position_kind=sine
python examples/train_from_scratch.py --max_train_examples=2000 --epochs=2
python examples/train_from_scratch.py --train_file=reviews.csv \
    --text_column=review --label_column=sentiment --export_dir=serving/scratch
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.FromScratchClassificationConfig):
    export_dir: str | None = tft.training.setting(
        None,
        "TF Serving base path: writes a SavedModel to <export_dir>/<version>/.",
        run_setting=False,
    )


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_classifier_from_scratch(config)
    if not run.trainer.chief:
        return
    print(f"\nTest results ({len(run.test)} examples, {run.test.source}):")
    print(run.report.format())
    print(f"Model and report written to {config.model_dir}/")
    if config.export_dir:
        pairs = run.test.text_pairs is not None
        path = tft.export.export_for_serving(
            run.model, config.export_dir, text_pair=pairs
        )
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
