r"""Predicts a file of texts with a fine-tuned model and writes the rows back
with their predictions.

The model is a run directory (its `model.keras`, as every training script
writes it; a few-shot run's embedder and head) or a `.keras` file: a
classifier (a label and a probability per label), a multi-label classifier
(its labels), a regressor (its targets), a tagger (tags and entities), a
question answerer (`--text_column` of questions, `--text_pair_column` of
contexts), a text embedder (embeddings) or a generator (each prompt's greedy
continuation, or its target, up to `--max_length` tokens; a run's T5 task
prefix and vocabularies come from its directory). Every input column is kept;
the output's format follows its extension (CSV, TSV, JSON Lines, `.gz`).

Usage:
```
make demo
python examples/predict.py --model_path=runs/demo --input_file=reviews.csv \
    --text_column=review
python examples/predict.py --model_path=runs/ner --input_file=tweets.jsonl \
    --output_file=tagged.jsonl
python examples/predict.py --model_path=runs/few_shot --input_file=reviews.csv \
    --text_column=review
python examples/predict.py --model_path=runs/causal_lm --input_file=prompts.csv \
    --text_column=prompt --max_length=48
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    columns = tft.training.predict_to_file(config)
    rows = len(next(iter(columns.values())))
    noun = "row" if rows == 1 else "rows"
    print(f"Predicted {rows} {noun}: {config.predictions_path()}")


if __name__ == "__main__":
    tft.training.run(tft.training.PredictionConfig, main)
