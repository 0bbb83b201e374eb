r"""Fine-tunes a pretrained BERT-family encoder for named entity recognition.

With no data flags it fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on
the embedded WNUT-16 Twitter NER split, then prints and writes the test
entity report (per-type precision / recall / F1, micro and macro averages,
token accuracy, scored as CoNLL's conlleval does). Everything lands in
`--model_dir`: the model (`model.keras`), the report (`report.json`), the
test predictions (`predictions.jsonl`), the training history and summary,
checkpoints and TensorBoard logs. Early stopping watches the validation
entity micro-F1. Rerunning a killed command resumes it.

Usage:
```
python examples/ner.py --epochs=4 --max_length=64
python examples/ner.py --train_file=train.conll --validation_file=dev.conll \
    --test_file=test.conll
python examples/ner.py --train_file=train.jsonl --freeze_layers=2
python examples/ner.py --lora_rank=8 --head_warmup_steps=100
python examples/ner.py --gradual_unfreeze --unfreeze_every_epochs=1 --epochs=8
```

The fine-tuning strategies are those of `examples/classify.py`, with the
same flags; senseless combinations are refused before anything loads, and
each run prints the strategy and writes it to `training_summary.json`.
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.TokenClassificationConfig):
    export_dir: str | None = tft.training.setting(
        None,
        "Also export the model for TF Serving here (raw sentences in, tags out).",
        run_setting=False,
    )


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_token_classifier(config)
    if not run.trainer.chief:
        return
    print(f"\nTest entities ({len(run.test)} sentences, {run.test.source}):")
    print(run.report.format())
    print(f"Model, report and predictions written to {config.model_dir}/")
    if config.export_dir:
        path = tft.export.export_token_classifier(run.model, config.export_dir)
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
