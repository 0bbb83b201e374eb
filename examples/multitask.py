r"""Multi-task fine-tuning: one encoder shared by a sentiment head and an NER head.

Fine-tunes the embedded all-MiniLM-L6-v2 checkpoint on the embedded Rotten
Tomatoes sentiment snippets and the embedded WNUT-16 tweets at once: every
batch comes from one task, drawn by `--rule` (`proportional` to the tasks'
sizes, `equal`, or `temperature` with `--temperature`), and trains the
shared encoder and that task's head. Then it scores each head on its test
split and, with `--compare_single_task` (the default), trains each task
alone with the same recipe, data and epochs for comparison (in
`--model_dir/single_task_{task}`). Everything lands in `--model_dir`:
`model.keras`, `report.json` (both tasks' scores, multi- and single-task),
the training history and summary, checkpoints and TensorBoard logs;
`--export_dir` also writes one TF Serving model per head. Rerunning a killed
command resumes it.

Usage:
```
python examples/multitask.py --max_sentiment_examples=2000 --epochs=2
python examples/multitask.py --rule=temperature --temperature=2 --ner_loss_weight=2
```
"""

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import tftransformer as tft


def main(config):
    if config.export_dir:  # Checked now, not after the whole training.
        tft.export.check_base_path(config.export_dir, name="export_dir")
    run = tft.training.train_multi_task_model(config)
    if not run.trainer.chief:
        return
    print(run.format())
    print(f"Model and report written to {config.model_dir}/")
    if config.export_dir:
        paths = [
            tft.export.export_for_serving(
                run.model.head_model("sentiment"),
                os.path.join(config.export_dir, "sentiment"),
            ),
            tft.export.export_token_classifier(
                run.model.head_model("ner"), os.path.join(config.export_dir, "ner")
            ),
        ]
        print(f"TF Serving models written to {', '.join(paths)}")


if __name__ == "__main__":
    tft.training.run(tft.training.MultiTaskConfig, main)
