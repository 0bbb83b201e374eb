r"""Fine-tunes a pretrained encoder for text classification.

With no data flags it fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on
the embedded Rotten Tomatoes sentiment split, then prints and writes a test
report. Everything lands in `--model_dir`: the model (`model.keras`), the
report (`report.json`), the training history and summary, checkpoints,
TensorBoard logs and, with matplotlib installed, PNG plots. Rerunning a
killed command resumes it.

Usage:
```
python examples/classify.py --epochs=2 --freeze_layers=2
python examples/classify.py --train_file=train.csv --validation_file=dev.csv \
    --test_file=test.csv --text_column=review --label_column=sentiment
python examples/classify.py --train_file=tfds:imdb_reviews \
    --test_file=tfds:imdb_reviews:test --tfds_data_dir=~/tensorflow_datasets
python examples/classify.py --config=runs/tune/search/best.json --epochs=3
```
Cross-validation and the learning-rate range test have scripts of their
own: `examples/cross_validate.py` and `examples/find_lr.py`.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_text_classifier(config)
    if not run.trainer.chief:
        return
    test = run.test
    print(f"\nTest results ({len(test)} examples, {test.source}):")
    print(run.report.format())
    print(f"Model, report and plots written to {config.model_dir}/")
    if config.export_dir:
        pairs = test.text_pairs is not None
        warmup = list(zip(test.texts[:4], test.text_pairs[:4])) if pairs else None
        path = tft.export.export_for_serving(
            run.model,
            config.export_dir,
            warmup_texts=warmup or list(test.texts[:4]),
            text_pair=pairs,
        )
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(tft.training.ClassificationConfig, main)
