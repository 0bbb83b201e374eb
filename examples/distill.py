r"""Distills a fine-tuned classifier into a smaller student with fewer layers.

The teacher is the full pretrained model fine-tuned here
(`--model_dir/teacher`), or a fine-tuned `TextClassifier` loaded from
`--teacher_path` (a `.keras` file such as `examples/classify.py` writes, or a
`tft.saving.save_model` directory). The student is the teacher's backbone
cut to its first `--student_layers` encoder layers with a new head, trained
by `tft.models.Distiller` on `alpha * T^2 * KL(teacher || student) +
(1 - alpha) * cross-entropy` as a run of its own in `--model_dir/student`
(resumable, early stopping on the validation split, calibrated with
`--calibrate`: every training flag applies). With `--compare_labels_only`,
the same student is also trained on the labels alone
(`--model_dir/student_labels_only`), so that the effect of the teacher can
be told apart from that of the initialization. All models are scored on the
test split and their inference speed is timed in this process, the models
taking turns (`tft.training.distill_classifier`).

Usage:
```
python examples/distill.py --student_layers=3 --max_train_examples=2000 --epochs=2
python examples/distill.py --teacher_path=runs/classify/model.keras
```
"""

import dataclasses
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# tftransformer before TensorFlow: it picks the CPU kernels (oneDNN).
import tftransformer as tft

# isort: split
import keras

setting = tft.training.setting


@dataclasses.dataclass
class Config(tft.training.ClassificationConfig):
    teacher_path: str | None = setting(
        None,
        "A fine-tuned TextClassifier (.keras file or save_model directory) "
        "instead of fine-tuning one here.",
    )
    student_layers: int = setting(
        3, "Student encoder layers (the teacher's first N).", minimum=1
    )
    temperature: float = setting(
        2.0,
        "Softmax temperature of the soft targets.",
        minimum=0,
        exclusive_minimum=True,
    )
    alpha: float = setting(
        0.5,
        "Weight of the teacher term (1 - alpha: the labels).",
        minimum=0,
        maximum=1,
    )
    compare_labels_only: bool = setting(
        True, "Also train the same student on the labels alone."
    )
    teacher_epochs: int = setting(2, "Epochs of the teacher's fine-tuning.", minimum=1)
    epochs: int = setting(2, "Epochs of each student's training.", minimum=1)
    timing_rounds: int = setting(
        3, "Timed passes over the test split per model.", minimum=1
    )
    max_train_examples: int | None = setting(
        2000, "Train on a seeded subset of this size (0: all).", minimum=0
    )
    model_dir: str = setting("runs/distill", "Output directory.", run_setting=False)


def main(config):
    teacher = None
    if config.teacher_path and config.teacher_path.endswith(".keras"):
        # tft.saving.load_model refuses a .keras file trained with AdamW.
        teacher = keras.saving.load_model(config.teacher_path)
    elif config.teacher_path:
        teacher = tft.saving.load_model(config.teacher_path)
    result = tft.training.distill_classifier(
        config,
        config.student_layers,
        teacher=teacher,
        temperature=config.temperature,
        alpha=config.alpha,
        compare_labels_only=config.compare_labels_only,
        teacher_epochs=config.teacher_epochs,
        timing_rounds=config.timing_rounds,
    )
    print(tft.training.format_distill_report(result))
    print(f"Student: {result['student_path']}; report in {config.model_dir}/")


if __name__ == "__main__":
    tft.training.run(Config, main)
