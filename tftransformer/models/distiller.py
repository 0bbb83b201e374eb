import copy

import keras
from keras import ops

from tftransformer._arguments import check_positive_number
from tftransformer.models._task_base import (
    InMemoryBatches,
    replay_compile,
    with_optimizer_variables,
)


@keras.saving.register_keras_serializable(package="tftransformer")
class Distiller(InMemoryBatches, keras.Model):
    """Trains a student classifier to match a teacher's soft predictions.

    Knowledge distillation (Hinton et al. 2015): the training loss is

        alpha * T^2 * KL(softmax(teacher / T) || softmax(student / T))
            + (1 - alpha) * hard loss(labels, student)

    where the hard loss is the loss given to `compile` (sparse categorical
    cross-entropy on logits by default) and `T` the temperature; `T^2` keeps
    the soft term's gradients on the scale of the hard term's. The teacher is
    frozen and runs in inference mode (no dropout); the student is what the
    model calls, so `compile` metrics, `evaluate` and `predict` are the
    student's. Save or export `distiller.student` once trained.

    Teacher and student must output logits over the same classes and read
    the same features: batches are tokenized features (e.g. from
    `tftransformer.data.make_classification_dataset`), not raw strings.

    Args:
        teacher: a `keras.Model` returning logits `(batch, num_classes)`,
            e.g. a fine-tuned `TextClassifier`.
        student: a `keras.Model` returning logits of the same shape.
        temperature: float > 0, the softmax temperature `T`.
        alpha: float in [0, 1], the weight of the soft (teacher) term; 0 is
            plain training on the labels.
        **kwargs: passed to `keras.Model`, e.g. `name`.

    Call arguments:
        inputs: the student's inputs.

    Returns:
        The student's logits.

    Example:
    ```python
    student = tftransformer.models.TextClassifier(
        tftransformer.finetune.keep_layers(teacher.backbone, 3), num_classes=2
    )
    distiller = tftransformer.models.Distiller(teacher, student, temperature=2.0)
    distiller.compile(optimizer=keras.optimizers.AdamW(5e-5), metrics=["accuracy"])
    distiller.fit(train_dataset, epochs=2)
    distiller.student.save("student.keras")
    ```
    """

    def __init__(self, teacher, student, temperature=2.0, alpha=0.5, **kwargs):
        for name, model in (("teacher", teacher), ("student", student)):
            if not isinstance(model, keras.Model):
                raise ValueError(
                    f"{name} must be a keras.Model. Received: "
                    f"{name}={type(model).__name__}"
                )
        if teacher is student:
            raise ValueError("teacher and student must be two different models.")
        check_positive_number("temperature", temperature)
        if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
            raise ValueError(
                f"alpha must be a number in [0, 1]. Received: alpha={alpha!r}"
            )
        if not 0 <= alpha <= 1:
            raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha!r}")
        teacher_classes = _num_classes(teacher)
        student_classes = _num_classes(student)
        if None not in (teacher_classes, student_classes) and (
            teacher_classes != student_classes
        ):
            raise ValueError(
                "teacher and student must predict the same classes. Received: "
                f"teacher with {teacher_classes} outputs, student with "
                f"{student_classes}."
            )
        super().__init__(**kwargs)
        self.teacher = teacher
        self.student = student
        # Frozen: the optimizer never sees the teacher's variables.
        self.teacher.trainable = False
        self.temperature = float(temperature)
        self.alpha = float(alpha)
        self._soft_loss = _SoftTargetKLDivergence(self.temperature)
        # Its variables are the two models': built when both are, so saving
        # it before a first call holds them (Keras warns of an unbuilt model).
        self.built = teacher.built and student.built

    @property
    def backbone(self):
        """The student's backbone, which the transfer recipes act on."""
        return self.student.backbone

    @property
    def preprocessor(self):
        """The student's preprocessor; the teacher reads its features too."""
        return getattr(self.student, "preprocessor", None)

    @property
    def num_extra_blocks(self):
        """The student's extra encoder blocks, which a recipe's
        `extra_blocks` describes."""
        return getattr(self.student, "num_extra_blocks", 0)

    def call(self, inputs, training=None):
        return self.student(inputs, training=training)

    def compile(self, optimizer="rmsprop", loss=None, **kwargs):
        """Configures training; `loss` is the hard-label loss.

        Args:
            optimizer: the student's optimizer.
            loss: the loss on the true labels; defaults to
                `keras.losses.SparseCategoricalCrossentropy(from_logits=True)`.
            **kwargs: passed to `keras.Model.compile` (`metrics`, ...).
        """
        if loss is None:
            loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        super().compile(optimizer=optimizer, loss=loss, **kwargs)

    def get_compile_config(self):
        return with_optimizer_variables(self, super().get_compile_config())

    def compile_from_config(self, config):
        replay_compile(self, config)

    def compute_loss(
        self, x=None, y=None, y_pred=None, sample_weight=None, training=True
    ):
        hard = super().compute_loss(
            x=x, y=y, y_pred=y_pred, sample_weight=sample_weight, training=training
        )
        if self.alpha == 0:
            return hard
        teacher_logits = ops.stop_gradient(self.teacher(x, training=False))
        soft = self._soft_loss(teacher_logits, y_pred, sample_weight=sample_weight)
        return self.alpha * soft + (1.0 - self.alpha) * hard

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "teacher": _serialize_model(self.teacher),
                "student": _serialize_model(self.student),
                "temperature": self.temperature,
                "alpha": self.alpha,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        # Deserializing consumes the nested configs: work on a copy.
        config = copy.deepcopy(config)
        for name in ("teacher", "student"):
            config[name] = keras.saving.deserialize_keras_object(config[name])
        return cls(**config)


class _SoftTargetKLDivergence(keras.losses.Loss):
    """`T^2 * KL(softmax(teacher / T) || softmax(student / T))` per example.

    A `keras.losses.Loss`, so sample weights and the scaling of the loss
    across replicas work as for the compiled loss.
    """

    def __init__(self, temperature):
        super().__init__(name="soft_target_kl_divergence")
        self.temperature = temperature

    def call(self, teacher_logits, student_logits):
        t = self.temperature
        teacher_log_probs = ops.log_softmax(
            ops.cast(teacher_logits, "float32") / t, axis=-1
        )
        student_log_probs = ops.log_softmax(
            ops.cast(student_logits, "float32") / t, axis=-1
        )
        kl = ops.sum(
            ops.exp(teacher_log_probs) * (teacher_log_probs - student_log_probs),
            axis=-1,
        )
        return kl * (t * t)


def _serialize_model(model):
    config = keras.saving.serialize_keras_object(model)
    # The Distiller's own compile settings are what train; a keras-hub task
    # compiles itself on construction, with optimizer names that change on
    # every rebuild.
    config.pop("compile_config", None)
    return config


def _num_classes(model):
    try:
        return model.output.shape[-1]
    except (AttributeError, ValueError):
        # Subclassed models have no symbolic output until called.
        return None
