r"""Distills a fine-tuned classifier into a smaller student with fewer layers.

The teacher is the full pretrained model fine-tuned here on the embedded
sentiment data, or a fine-tuned `TextClassifier` loaded from
`--teacher_path` (a `.keras` file such as `examples/classify.py` writes, or a
`tftransformer.saving.save_model` directory). The student is the teacher's
backbone cut to its first `--student_layers` encoder layers
(`tftransformer.finetune.keep_layers`) with a new head, trained by
`tftransformer.models.Distiller` on `alpha * T^2 * KL(teacher || student)
+ (1 - alpha) * cross-entropy`. With `--compare_labels_only`, the same
student is also trained on the labels alone, so that the effect of the
teacher can be told apart from that of the initialization. All models are
scored on the test split and their inference speed is timed in this process,
the models taking turns.

Usage:
```
python examples/distill.py --student_layers=3 --max_train_examples=2000 --epochs=2
python examples/distill.py --teacher_path=runs/classify/model.keras
```
"""

import inspect
import json
import os
import time

os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from absl import app, flags

FLAGS = flags.FLAGS


def run(
    preset="embedded",
    teacher_path=None,
    student_layers=3,
    temperature=2.0,
    alpha=0.5,
    compare_labels_only=True,
    teacher_epochs=2,
    epochs=2,
    batch_size=32,
    learning_rate=5e-5,
    max_length=128,
    max_train_examples=2000,
    max_test_examples=None,
    timing_rounds=3,
    model_dir="runs/distill",
    seed=0,
    verbose=1,
):
    """Trains (or loads) the teacher, distills the student; returns the scores.

    Returns:
        A dict with `teacher`, `student` and, with `compare_labels_only`,
        `student_labels_only` (each: `accuracy`, `macro_f1`,
        `examples_per_second`, `backbone_parameters`, `num_layers`,
        `train_seconds`), `speedup` (student over teacher examples/s),
        `student_path` and `models`. Also written, without the models, to
        `model_dir/distill_report.json`.
    """
    settings = {k: v for k, v in locals().items() if k != "verbose"}
    import keras

    import tftransformer as tft
    from tftransformer._arguments import check_int

    for name in (
        "student_layers",
        "teacher_epochs",
        "epochs",
        "batch_size",
        "max_length",
        "timing_rounds",
    ):
        _check_positive_int(name, settings[name])
    # The Distiller checks these too, but only after the teacher trained.
    if not temperature > 0 or not 0 <= alpha <= 1:
        raise ValueError(
            "temperature must be > 0 and alpha in [0, 1]. Received: "
            f"temperature={temperature}, alpha={alpha}"
        )
    # NumPy's range: set_random_seed would fail with a traceback.
    check_int("seed", seed, 0, 2**32 - 1)
    keras.utils.set_random_seed(seed)

    train = tft.data.load_rotten_tomatoes("train")
    test = tft.data.load_rotten_tomatoes("test")
    if max_train_examples:
        train = train.sample(max_train_examples, seed)
    if max_test_examples:
        test = test.sample(max_test_examples, seed)
    num_classes = len(train.label_vocabulary)

    if teacher_path:
        # `tft.saving.load_model` compares the file's optimizer variables with
        # a freshly compiled task's and refuses an AdamW-trained `.keras` file.
        if str(teacher_path).endswith(".keras"):
            teacher = keras.saving.load_model(teacher_path)
        else:
            teacher = tft.saving.load_model(teacher_path)
        if not isinstance(teacher, tft.models.TextClassifier):
            raise ValueError(
                "--teacher_path must hold a tftransformer TextClassifier. "
                f"Received: a {type(teacher).__name__} from {teacher_path!r}"
            )
        labels = [str(label) for label in train.label_vocabulary]
        if teacher.num_classes != num_classes or (
            teacher.label_names is not None and list(teacher.label_names) != labels
        ):
            raise ValueError(
                f"The teacher predicts {teacher.num_classes} classes "
                f"{teacher.label_names}, the data has {num_classes}: {labels}. "
                f"Received: teacher_path={teacher_path!r}"
            )
        tokenizer = teacher.preprocessor.tokenizer
        num_layers = teacher.backbone.num_layers
    else:
        backbone, preprocessor = tft.presets.load_backbone(
            preset, sequence_length=max_length
        )
        tokenizer = preprocessor.tokenizer
        num_layers = backbone.num_layers
    if student_layers >= num_layers:
        raise ValueError(
            f"The student must have fewer layers than the teacher's {num_layers}. "
            f"Received: student_layers={student_layers}"
        )

    def dataset(data, shuffle):
        return tft.data.make_classification_dataset(
            list(data.texts),
            data.labels,
            tokenizer,
            batch_size=batch_size,
            max_length=max_length,
            shuffle=shuffle,
            seed=seed,
        )

    def classifier(backbone):
        return tft.models.TextClassifier(
            backbone,
            num_classes=num_classes,
            preprocessor=tft.models.TextClassifierPreprocessor(
                tokenizer, sequence_length=max_length
            ),
            pooling="mean",
            label_names=list(train.label_vocabulary),
        )

    def train_model(model, model_epochs):
        train_dataset = dataset(train, True)
        steps = tft.finetune.count_train_steps(train_dataset, model_epochs)
        model.compile(
            optimizer=tft.finetune.create_optimizer(
                learning_rate, num_train_steps=steps
            ),
            loss=tft.finetune.classification_loss(),
            metrics=[keras.metrics.SparseCategoricalAccuracy("accuracy")],
        )
        start = time.perf_counter()
        model.fit(train_dataset, epochs=model_epochs, verbose=verbose)
        return time.perf_counter() - start

    teacher_seconds = None
    if not teacher_path:
        if verbose:
            print(f"Fine-tuning the teacher on {len(train)} examples")
        teacher = classifier(backbone)
        teacher_seconds = train_model(teacher, teacher_epochs)

    # Both students start from the teacher's first layers and the same
    # freshly initialized head.
    def new_student():
        keras.utils.set_random_seed(seed)
        return classifier(tft.finetune.keep_layers(teacher.backbone, student_layers))

    if verbose:
        print(
            f"Distilling into {student_layers} layers (temperature {temperature}, "
            f"alpha {alpha})"
        )
    student = new_student()
    distiller = tft.models.Distiller(
        teacher, student, temperature=temperature, alpha=alpha
    )
    student_seconds = train_model(distiller, epochs)
    models = {"teacher": teacher, "student": student}
    seconds = {"teacher": teacher_seconds, "student": student_seconds}
    if compare_labels_only:
        if verbose:
            print("Training the same student on the labels alone")
        models["student_labels_only"] = new_student()
        seconds["student_labels_only"] = train_model(
            models["student_labels_only"], epochs
        )

    os.makedirs(model_dir, exist_ok=True)
    tft.training.checkpointing.remove_temporary_files(model_dir)
    student_path = os.path.join(model_dir, "student.keras")
    # Atomic: a kill while saving must not leave a torn student.keras.
    with tft.training.checkpointing.atomic_write(student_path) as temporary:
        student.save(temporary)

    test_dataset = dataset(test, False)
    speeds = tft.evaluation.compare_inference_speed(
        models, test_dataset, len(test), timing_rounds
    )
    summary = {"settings": settings}
    for name, model in models.items():
        report, _ = tft.evaluation.evaluate_classifier(
            model, test_dataset, test.labels, test.label_vocabulary
        )
        summary[name] = {
            "accuracy": report.accuracy,
            "macro_f1": report.averages["macro"]["f1"],
            "examples_per_second": speeds[name],
            "backbone_parameters": int(model.backbone.count_params()),
            "num_layers": model.backbone.num_layers,
            "train_seconds": seconds[name],
        }
    summary.update(
        speedup=speeds["student"] / speeds["teacher"],
        train_examples=len(train),
        test_examples=len(test),
        student_path=student_path,
    )
    with tft.training.checkpointing.atomic_write(
        os.path.join(model_dir, "distill_report.json")
    ) as temporary:
        with open(temporary, "w") as f:
            json.dump(summary, f, indent=2)
    if verbose:
        print(_format(summary, list(models)))
    return {**summary, "models": models}


def _format(summary, names):
    lines = [
        f"Test split: {summary['test_examples']} examples; trained on "
        f"{summary['train_examples']}.",
        f"{'model':20} {'layers':>6} {'params':>11} {'accuracy':>8} "
        f"{'macro F1':>8} {'ex/s':>8}",
    ]
    for name in names:
        r = summary[name]
        lines.append(
            f"{name:20} {r['num_layers']:>6} {r['backbone_parameters']:>11,} "
            f"{r['accuracy']:>8.4f} {r['macro_f1']:>8.4f} "
            f"{r['examples_per_second']:>8.1f}"
        )
    lines.append(
        f"Student inference speedup (same run, models alternating): "
        f"{summary['speedup']:.2f}x"
    )
    return "\n".join(lines)


def _check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{name} must be a positive integer. Received: {name}={value!r}"
        )


def define_flags():
    """Defines the script's flags (only when run as a script)."""
    flags.DEFINE_string("preset", "embedded", "Backbone of the teacher to fine-tune.")
    flags.DEFINE_string(
        "teacher_path",
        None,
        "A fine-tuned TextClassifier (.keras file or save_model directory) "
        "instead of fine-tuning one here.",
    )
    flags.DEFINE_integer(
        "student_layers", 3, "Student encoder layers (the teacher's first N)."
    )
    flags.DEFINE_float("temperature", 2.0, "Softmax temperature of the soft targets.")
    flags.DEFINE_float(
        "alpha", 0.5, "Weight of the teacher term (1 - alpha: the labels)."
    )
    flags.DEFINE_bool(
        "compare_labels_only",
        True,
        "Also train the same student on the labels alone.",
    )
    flags.DEFINE_integer("teacher_epochs", 2, "Epochs of the teacher's fine-tuning.")
    flags.DEFINE_integer("epochs", 2, "Epochs of each student's training.")
    flags.DEFINE_integer("batch_size", 32, "Batch size (training and timing).")
    flags.DEFINE_float("learning_rate", 5e-5, "Peak learning rate (AdamW).")
    flags.DEFINE_integer("max_length", 128, "Longest tokenized sequence.")
    flags.DEFINE_integer(
        "max_train_examples", 2000, "Train on a seeded subset of this size (0: all)."
    )
    flags.DEFINE_integer(
        "max_test_examples", None, "Score on a seeded test subset of this size."
    )
    flags.DEFINE_integer(
        "timing_rounds", 3, "Timed passes over the test split per model."
    )
    flags.DEFINE_string("model_dir", "runs/distill", "Output directory.")
    flags.DEFINE_integer("seed", 0, "Random seed (weights, shuffling, subsets).")


def main(argv):
    del argv
    names = [name for name in inspect.signature(run).parameters if name != "verbose"]
    run(**{name: FLAGS[name].value for name in names})


if __name__ == "__main__":
    define_flags()
    app.run(main)
