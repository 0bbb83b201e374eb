r"""Fine-tunes a pretrained encoder for extractive question answering (SQuAD).

Reads SQuAD v1.1 or v2.0 JSON files (no question answering data ships with
the package), packs each question with its context into overlapping windows
(`--max_length` tokens, `--doc_stride` context tokens apart), trains a span
head on the backbone, then answers the test questions and prints and writes
their exact match and F1, scored as the official SQuAD script does (with the
answerable and unanswerable questions apart for SQuAD 2.0). Everything lands
in `--model_dir`: the model (`model.keras`), the report (`report.json`), the
predicted answers by question id (`predictions.json`, the official script's
input), the training history and summary, checkpoints and TensorBoard logs.
Rerunning a killed command resumes it.

Usage:
```
python examples/question_answering.py --train_file=train-v2.0.json \
    --validation_file=dev-v2.0.json --epochs=2
python examples/question_answering.py --train_file=train.json \
    --max_length=256 --doc_stride=64 --freeze_layers=2
python examples/question_answering.py --train_file=train.json --lora_rank=8
```

The fine-tuning strategies are those of `examples/classify.py`, with the
same flags; senseless combinations are refused before anything loads.
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


@dataclasses.dataclass
class Config(tft.training.QuestionAnsweringConfig):
    export_dir: str | None = tft.training.setting(
        None,
        "Also export the model for TF Serving here (a question and its context "
        "in, the answer out, decoded as the run's test answers).",
        run_setting=False,
    )


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_question_answerer(config)
    if not run.trainer.chief:
        return
    print(f"\nTest questions ({len(run.test)}):")
    print(run.report.format())
    print(f"Model, report and predictions written to {config.model_dir}/")
    if config.export_dir:
        path = tft.export.export_question_answerer(
            run.model, config.export_dir, **run.decoding
        )
        print(f"TF Serving model version written to {path}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
