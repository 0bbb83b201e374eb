"""A fine-tuned classifier distilled into a student with fewer layers."""

import dataclasses
import os

from tftransformer._arguments import (
    check_bool,
    check_int,
    check_positive_number,
    is_finite_number,
)
from tftransformer.finetune.shrink import keep_layers
from tftransformer.models.distiller import Distiller
from tftransformer.models.text_classifier import TextClassifier
from tftransformer.models.text_classifier_preprocessor import (
    TextClassifierPreprocessor,
)
from tftransformer.presets import load_backbone
from tftransformer.training._compressed_runs import (
    format_scores,
    score_models,
    write_report,
)
from tftransformer.training._random_seed import set_random_seed
from tftransformer.training._several_models import (
    refuse_export_dir,
    trains_several_models,
)
from tftransformer.training.checkpointing import fingerprint
from tftransformer.training.text_classification import (
    calibrate_classifier,
    classifier_loss_and_metrics,
    load_classification_splits,
    train_text_classifier,
)
from tftransformer.training.trainer import Trainer

__all__ = ["distill_classifier", "format_distill_report"]


@trains_several_models
def distill_classifier(
    config,
    student_layers,
    teacher=None,
    temperature=2.0,
    alpha=0.5,
    compare_labels_only=True,
    teacher_epochs=2,
    timing_rounds=3,
    verbose=1,
):
    """Distills a fine-tuned classifier into a student with fewer layers.

    The teacher is `teacher`, or the config's classifier fine-tuned by a
    `train_text_classifier` run of `teacher_epochs` epochs in
    `model_dir/teacher`. The student is the teacher's backbone cut to its
    first `student_layers` encoder layers
    (`tftransformer.finetune.keep_layers`) with a new head, trained by
    `tftransformer.models.Distiller` on `alpha * T^2 * KL(teacher ||
    student) + (1 - alpha) * cross-entropy` for `config.epochs` epochs as a
    `Trainer` run in `model_dir/student`: the config's optimizer and
    recipe, validation each epoch with early stopping and the best epoch
    kept, resumable after a kill, and with `config.calibrate` a temperature
    fitted on the validation split and saved with the student. With
    `compare_labels_only`, the same student is also trained on the labels
    alone (`model_dir/student_labels_only`), so that the effect of the
    teacher can be told apart from that of the initialization. All models
    are scored on the test split and their inference speed timed in this
    process, the models taking turns.

    Args:
        config: a `ClassificationConfig`.
        student_layers: int >= 1, fewer than the teacher's layers.
        teacher: optional fine-tuned `TextClassifier` for the config's data
            (the same labels).
        temperature: number > 0, the softmax temperature of the soft targets.
        alpha: number in [0, 1], the weight of the teacher term.
        compare_labels_only: whether to train the labels-only student too.
        teacher_epochs: int >= 1, epochs of the teacher's fine-tuning.
        timing_rounds: int >= 1, timed passes over the test split per model.
        verbose: 0 or 1.

    Returns:
        A dict with `teacher`, `student` and, with `compare_labels_only`,
        `student_labels_only` (each: `accuracy`, `macro_f1`,
        `examples_per_second`, `backbone_parameters`, `num_layers`,
        `num_heads`, `train_seconds`), `speedup` (student over teacher
        examples/s), `student_path` (`model_dir/student/model.keras`) and
        `models`. Also written, without the models, to
        `model_dir/distill_report.json`.
    """
    student_layers = check_int("student_layers", student_layers, 1)
    refuse_export_dir(config, "distill_classifier", "a teacher and its students")
    teacher_epochs = check_int("teacher_epochs", teacher_epochs, 1)
    timing_rounds = check_int("timing_rounds", timing_rounds, 1)
    compare_labels_only = check_bool("compare_labels_only", compare_labels_only)
    # The Distiller checks these too, but only after the teacher trained.
    check_positive_number("temperature", temperature)
    if not is_finite_number(alpha) or not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be a number in [0, 1]. Received: alpha={alpha}")
    config.validate()
    train, validation, test = load_classification_splits(config)
    labels = [str(label) for label in train.label_vocabulary]
    if teacher is not None:
        if not isinstance(teacher, TextClassifier):
            raise ValueError(
                "teacher must be a tftransformer TextClassifier. "
                f"Received: a {type(teacher).__name__}"
            )
        if teacher.num_classes != len(labels) or (
            teacher.label_names is not None and list(teacher.label_names) != labels
        ):
            raise ValueError(
                f"The teacher predicts {teacher.num_classes} classes "
                f"{teacher.label_names}, the data has {len(labels)}: {labels}."
            )
        num_layers = teacher.backbone.num_layers
        # Before any training: the student shares the teacher's positions.
        longest = getattr(teacher.backbone, "max_sequence_length", None)
        if longest is not None and config.max_length > longest:
            raise ValueError(
                f"max_length must be at most {longest}, the longest sequence "
                "the teacher's backbone takes. Received: "
                f"max_length={config.max_length}"
            )
    else:
        backbone, _ = load_backbone(config.preset, sequence_length=config.max_length)
        num_layers = backbone.num_layers
        del backbone
    if student_layers >= num_layers:
        raise ValueError(
            f"The student must have fewer layers than the teacher's {num_layers}. "
            f"Received: student_layers={student_layers}"
        )

    model_dir = config.model_dir
    seconds = {"teacher": None}
    trains_teacher = teacher is None
    if trains_teacher:
        run = train_text_classifier(
            dataclasses.replace(
                config,
                epochs=teacher_epochs,
                model_dir=os.path.join(model_dir, "teacher"),
                export_dir=None,
            ),
            verbose=verbose,
        )
        teacher, seconds["teacher"] = run.model, run.training.train_seconds
    tokenizer = teacher.preprocessor.tokenizer
    # What a resumed student must share: it starts from the teacher's
    # layers (a teacher file replaced at the same path, or other settings,
    # reused the old student), and learns from it.
    students_of = {
        "teacher_sha256": fingerprint(*teacher.get_weights()),
        "student_layers": student_layers,
    }

    def new_student():
        # Every student starts from the teacher's first layers and the same
        # freshly initialized head. The teacher's tokenizer, built before,
        # survives the seeding.
        set_random_seed(config.seed, [tokenizer])
        return TextClassifier(
            keep_layers(teacher.backbone, student_layers),
            num_classes=len(labels),
            preprocessor=TextClassifierPreprocessor(
                tokenizer, sequence_length=config.max_length
            ),
            pooling=config.pooling,
            dropout=config.dropout,
            num_extra_blocks=config.extra_blocks,
            label_names=labels,
        )

    strategy = trainer = None

    def train_run(name, build, run_config):
        """Trains `build()`'s `(model, student)` as a `Trainer` run in
        `model_dir/name`: resumable, early stopping on the validation split,
        the student calibrated with the config's `calibrate` and written
        to its `model.keras`."""
        nonlocal strategy, trainer
        trainer = Trainer(
            dataclasses.replace(
                config, model_dir=os.path.join(model_dir, name), export_dir=None
            ),
            strategy=strategy,
            verbose=verbose,
        )
        strategy = trainer.strategy
        with trainer.scope():
            model, student = build()
            options = classifier_loss_and_metrics(config, len(labels))
        run = trainer.fit(
            model,
            train,
            validation,
            label_names=labels,
            final_model=student,
            run_config=run_config,
            **options,
        )
        if config.calibrate:
            calibrate_classifier(
                student, trainer.dataset(validation, student), validation.labels
            )
            trainer.save(student)
        return student, run.train_seconds, run.model_path

    if verbose:
        print(
            f"Distilling into {student_layers} layers (temperature {temperature}, "
            f"alpha {alpha})"
        )

    def distiller():
        student = new_student()
        return (
            Distiller(teacher, student, temperature=temperature, alpha=alpha),
            student,
        )

    def labels_only():
        student = new_student()
        return student, student

    models = {"teacher": teacher}
    models["student"], seconds["student"], student_path = train_run(
        "student",
        distiller,
        {**students_of, "temperature": temperature, "alpha": alpha},
    )
    if compare_labels_only:
        if verbose:
            print("Training the same student on the labels alone")
        name = "student_labels_only"
        models[name], seconds[name], _ = train_run(name, labels_only, students_of)

    # In the split's order (the last run's trainer, with the students'
    # length and pair separators), scored against its labels.
    test_dataset = trainer.dataset(test, models["student"])
    scores = score_models(models, test_dataset, test, timing_rounds, seconds)
    summary = {
        "settings": {
            **config.to_dict(),
            "student_layers": student_layers,
            "temperature": temperature,
            "alpha": alpha,
            "compare_labels_only": compare_labels_only,
            # Of the teacher trained here; None for a given teacher.
            "teacher_epochs": teacher_epochs if trains_teacher else None,
            "timing_rounds": timing_rounds,
        },
        **scores,
        "speedup": scores["student"]["examples_per_second"]
        / scores["teacher"]["examples_per_second"],
        "train_examples": len(train),
        "test_examples": len(test),
        "student_path": student_path,
    }
    write_report(summary, os.path.join(model_dir, "distill_report.json"))
    return {**summary, "models": models}


def format_distill_report(result):
    """The teacher's and students' scores as a table, then the speedup."""
    names = [n for n in ("teacher", "student", "student_labels_only") if n in result]
    return format_scores(result, names, "Student's")
