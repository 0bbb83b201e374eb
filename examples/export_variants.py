r"""Exports a trained model in every serving variant and measures each.

Writes, under `--variants_dir`, a float32 SavedModel, an int8 SavedModel
(Keras quantization), and LiteRT models in float32, dynamic-range int8 and
calibrated int8 (ranges measured on training texts). All take raw strings
(a model trained on sentence pairs: two; a question answerer: a question and
its context). Then it loads each in this
process and prints one table: size, test score, agreement with the Keras
model, and p50/p99 latency at batch 1 and 32. The table and its JSON land
in `--variants_dir` too. The task comes from the saved model: a classifier
(`examples/classify.py`) is scored by accuracy, a multi-label classifier
(`examples/multi_label.py`) by micro / macro F1, a regressor
(`examples/regress.py`) by RMSE, a tagger (`examples/ner.py`) by entity
F1, a question answerer (`examples/question_answering.py`) by SQuAD exact
match and F1, each on its task's test data; a translator
(`examples/translate.py` from random weights) by BLEU on the test pairs
its run wrote, without the full-int8 LiteRT file.

Usage:
```
python examples/classify.py --max_train_examples=3000 --epochs=2 \
    --model_dir=runs/demo
python examples/export_variants.py --model_dir=runs/demo \
    --variants_dir=runs/demo/variants
```
For a tagger (or a multi-label classifier, a regressor):
```
python examples/ner.py --epochs=1 --model_dir=runs/ner
python examples/export_variants.py --model_dir=runs/ner \
    --variants_dir=runs/ner/variants
```
For a translator:
```
python examples/export_variants.py --model_dir=runs/translate \
    --variants_dir=runs/translate/variants
```
For a question answerer, its SQuAD files (and decoding flags,
`--max_answer_length`, `--null_threshold`, `--allow_no_answer`):
```
python examples/export_variants.py --model_dir=runs/question_answering \
    --train_file=train-v2.0.json --test_file=dev-v2.0.json \
    --variants_dir=runs/question_answering/variants
```
The data settings (`--train_file`, `--test_file`, `--text_pair_column`,
`--label_column`, `--target_columns`, `--max_eval_examples`, ...) are the
training script's: pass the ones the model was trained with.
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.export.VariantsConfig):
    variants_dir: str = tft.training.setting(
        "runs/variants", "Where the variants, report.md and report.json go."
    )
    representative_examples: int = tft.training.setting(
        200, "Training texts that calibrate the litert_int8 variant.", minimum=1
    )
    calls_batch_1: int = tft.training.setting(
        50, "Timed calls at batch size 1 per variant.", minimum=1
    )
    calls_batch_32: int = tft.training.setting(
        10, "Timed calls at batch size 32 per variant.", minimum=1
    )
    overwrite: bool = tft.training.setting(
        False, "Replace variants already in --variants_dir."
    )
    litert_runtime: str = tft.training.setting(
        "auto",
        "Interpreter of the LiteRT variants: LiteRT's (ai_edge_litert, 'auto' "
        "where installed) or TensorFlow's tf.lite.Interpreter.",
        choices=tft.export.LITERT_RUNTIMES,
    )


def main(config):
    model = tft.saving.load_model(os.path.join(config.model_dir, "model.keras"))
    report = tft.export.export_run_variants(
        model,
        config,
        config.variants_dir,
        representative_examples=config.representative_examples,
        calls=(config.calls_batch_1, config.calls_batch_32),
        overwrite=config.overwrite,
        litert_runtime=config.litert_runtime,
    )
    print(
        f"\n{report.num_test_examples} test examples; "
        f"{report.machine['summary']}; LiteRT interpreter: "
        f"{report.machine['litert_runtime']}\n"
        f"{report.format()}\nWritten to {config.variants_dir}/"
    )


if __name__ == "__main__":
    tft.training.run(Config, main)
