r"""Trains a decoder-only Transformer language model and samples from it.

The model is a `tftransformer.models.CausalLM` (GPT-style: token and
position embeddings, causal decoder blocks, next-token logits) built only
from tftransformer's layers, with random weights. It learns to predict each
WordPiece token from the ones before it, reports the validation perplexity
before and after training, and prints continuations of a few validation
texts sampled with `--temperature` and `--top_k`. Everything lands in
`--model_dir`: the model (`model.keras`), `vocabulary.txt`, `report.json`
(perplexities, samples, settings, timings), the training history and
summary. Rerunning a killed command resumes it; the sampling flags and
`--max_train_minutes` may change on the rerun.

Data: by default the embedded Rotten Tomatoes review snippets (their training
split trains, their validation split measures perplexity), so it runs
offline with nothing else installed. `--text_file` takes a UTF-8 file with
one text per line, or a TSV file and the column named by `--text_column`
(a header name, or an index from 0 for a file without a header), e.g. the
Bible of `make translation-data`; a seeded `--validation_fraction` of its
texts is held out.

Tokenization: `--vocabulary=learned` learns a WordPiece vocabulary from the
training texts, as `examples/translate.py` does (lowercased, punctuation
split off, every piece seen at least `--min_token_count` times);
`--vocabulary=embedded` uses the embedded checkpoint's 30,522-piece uncased
vocabulary, whose output layer is many times larger. Each text becomes
`[START] pieces [END]`, cut to `--max_length` + 1 tokens. Perplexity is per
WordPiece token, so it compares only runs with the same vocabulary.

`--preset` fine-tunes a pretrained keras-hub CausalLM (e.g. gpt2_base_en,
downloaded; or a local preset directory) with its own tokenizer instead,
with `--lora_rank` or `--freeze_layers` if wanted (docs/tasks.md).
`--export_dir` also writes a TF Serving model of the run that continues raw
prompts (`tft.export.export_generator_run`).

Usage:
```
python examples/causal_lm.py --max_train_minutes=4
python examples/causal_lm.py --temperature=0.7 --top_k=20 --num_samples=10
make translation-data
python examples/causal_lm.py --text_file=runs/data/bible_en_es.tsv \
    --text_column=es --max_train_minutes=10
python examples/causal_lm.py --text_file=my_corpus.txt --vocabulary=embedded
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.LanguageModelConfig):
    export_dir: str | None = tft.training.setting(
        None,
        "Also export the model for TF Serving here (raw prompts in, text out).",
        run_setting=False,
    )


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_causal_lm(config)
    if not run.trainer.chief:
        return
    print("\n" + run.format())
    print(f"\nModel and report written to {config.model_dir}/")
    if config.export_dir:
        path = tft.export.export_generator_run(config.model_dir, config.export_dir)
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
