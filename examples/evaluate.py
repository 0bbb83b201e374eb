r"""Scores a fine-tuned model on a labelled file and writes its report.

The model is a run directory (its `model.keras`, as every training script
writes it; a few-shot run's embedder and head) or a `.keras` file, scored
as its training run scored its test split: a classifier (accuracy, F1 per
class, ROC-AUC, confusion matrix, calibration), a multi-label classifier
(micro and macro F1 at its thresholds), a regressor (RMSE, MAE, Pearson,
Spearman), a tagger (entity F1, on CoNLL or JSON Lines), a question
answerer (SQuAD exact match and F1, on SQuAD JSON) or a generator (BLEU and
ROUGE of its greedy generations against a `target` column). Labels are read
as the model's own label names.

Usage:
```
make demo
python examples/evaluate.py --model_path=runs/demo --test_file=test.csv \
    --text_column=review --label_column=sentiment
python examples/evaluate.py --model_path=runs/ner --test_file=test.conll
python examples/evaluate.py --model_path=runs/translate --test_file=pairs.tsv \
    --text_column=en --label_column=es
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    report = tft.training.evaluate_saved_model(config)
    print(report.format())
    print(f"Report: {config.report_path()}")


if __name__ == "__main__":
    tft.training.run(tft.training.EvaluationConfig, main)
