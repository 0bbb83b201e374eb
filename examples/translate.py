r"""Trains a Transformer translation model from scratch and scores it with BLEU.

The model is a `Seq2SeqTransformer` built only from tftransformer's layers,
with random weights, trained with teacher forcing on sentence pairs. It then
translates held-out source sentences greedily and with beam search, and
scores both with corpus BLEU. Everything lands in `--model_dir`: the model
(`model.keras`), the two WordPiece vocabularies, `report.json` (BLEU,
settings, timings), `translations.tsv`, the training history and summary.
Rerunning a killed command resumes it; the decoding flags and
`--max_train_minutes` may change on the rerun.

`--preset` fine-tunes a pretrained keras-hub Seq2SeqLM (e.g. bart_base_en or
t5_small_multi, downloaded; or a local preset directory) with its own
tokenizer instead; the report then also has ROUGE-1/2/L (docs/tasks.md).
Either way `--export_dir` also writes a TF Serving model of the run that
translates raw sources (`tft.export.export_generator_run`).

Data: by default the verse-aligned English-Spanish Bible that
`make translation-data` writes to `runs/data/bible_en_es.tsv` (the World
English Bible and the Reina-Valera 1909, both public domain, from Debian's
`sword-text-web` and `sword-text-sparv`). Any TSV of sentence pairs works:
`--pairs_file=pairs.tsv --source_column=0 --target_column=1` for a file
without a header (e.g. a Tatoeba export, one pair per line), or column names
for a file with one.

Tokenization: one WordPiece vocabulary per language, learned from the
training split alone: lowercased, punctuation split off, accents kept, every
piece seen at least `--min_token_count` times. Accents matter in Spanish
("él"/"el", "está"/"esta"), and a vocabulary learned from the corpus splits
words of either language into few pieces, which an English vocabulary such
as the embedded checkpoint's (accents stripped, built for English) would not.
BLEU is computed on the same lowercased words with punctuation as separate
tokens.

Usage:
```
make translation-data
python examples/translate.py
python examples/translate.py --source_column=es --target_column=en
python examples/translate.py --pairs_file=pairs.tsv --source_column=0 \
    --target_column=1 --epochs=20
```
The trained model translates a file of new text with
`python examples/predict.py --model_path=runs/translate --input_file=F`.
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.TranslationConfig):
    export_dir: str | None = tft.training.setting(
        None,
        "Also export the model for TF Serving here (raw prompts in, text out).",
        run_setting=False,
    )


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_translator(config)
    if not run.trainer.chief:
        return
    print("\n" + run.format())
    # A preset's model holds its own tokenizer: no vocabulary files.
    written = "Model and report" if config.preset else "Model, vocabularies and report"
    print(f"\n{written} written to {config.model_dir}/")
    if config.export_dir:
        path = tft.export.export_generator_run(config.model_dir, config.export_dir)
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
