r"""Fine-tunes a pretrained encoder to give each text any number of labels.

With no data flags it trains on the embedded WNUT-16 tweets, each labelled
with the entity types it mentions (person, geo-loc, company, ...; often
none), then fits a sigmoid temperature and per-label decision thresholds on
the validation split and reports the test split: per-label precision,
recall, F1, ROC-AUC, micro/macro/samples averages, subset accuracy and
Hamming loss. Everything lands in `--model_dir`; rerunning a killed command
resumes it.

Usage:
```
python examples/multi_label.py --epochs=3 --learning_rate=1e-4
python examples/multi_label.py --train_file=tags.csv --label_column=tags \
    --label_delimiter=";" --threshold_tuning=global
python examples/multi_label.py --train_file=tags.jsonl --export_dir=serving/tags
```
A JSON Lines file may hold the labels as a list: `{"text": "...", "labels":
["sports", "politics"]}`.
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_multi_label_classifier(config)
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
    tft.training.run(tft.training.MultiLabelConfig, main)
