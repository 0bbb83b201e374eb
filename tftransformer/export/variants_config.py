"""The data settings of a run of any head whose variants are measured."""

import dataclasses

from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    TextRegressor,
    TokenClassifier,
)
from tftransformer.training._settings import setting
from tftransformer.training.classification_config import ClassificationConfig
from tftransformer.training.multi_label_config import MultiLabelConfig
from tftransformer.training.question_answering_config import QuestionAnsweringConfig
from tftransformer.training.regression_config import RegressionConfig
from tftransformer.training.token_classification_config import (
    TokenClassificationConfig,
)

__all__ = ["VariantsConfig"]

# The fields that name a run's data (and a question answerer's decoding);
# `task_config` copies those its task's config has.
_DATA_FIELDS = (
    "train_file",
    "validation_file",
    "test_file",
    "text_column",
    "text_pair_column",
    "label_column",
    "label_delimiter",
    "target_columns",
    "tfds_data_dir",
    "on_bad_rows",
    "max_train_examples",
    "max_eval_examples",
    "seed",
    "max_answer_length",
    "null_threshold",
    "allow_no_answer",
)


@dataclasses.dataclass
class VariantsConfig(ClassificationConfig):
    """The data settings of a classifier, multi-label classifier, regressor,
    tagger or question answerer run, whichever the saved model is.

    `ClassificationConfig`'s data settings plus `MultiLabelConfig`'s
    `label_delimiter`, `RegressionConfig`'s `target_columns` and
    `QuestionAnsweringConfig`'s decoding (`max_answer_length`,
    `null_threshold`, `allow_no_answer`; a question answerer's files are
    SQuAD JSON); `label_column` and `target_columns` left unset take the
    task's default.
    `task_config(model)` gives the config of the model's task, which
    `export_run_variants` reads the run's data with: without files, each
    task's embedded data.

    Example:
    ```python
    config = VariantsConfig(train_file="tags.csv", label_delimiter=";")
    config.task_config(multi_label_classifier)  # a MultiLabelConfig
    ```
    """

    label_column: str | None = setting(
        None,
        "Label column (or TFDS feature); default: the task's ('label', for a "
        "multi-label classifier 'labels').",
    )
    label_delimiter: str = setting(
        "|", "Multi-label classifier: what separates labels in a label cell."
    )
    target_columns: str | None = setting(
        None,
        "Regressor: numeric target column(s), comma-separated; default: "
        "RegressionConfig's ('label').",
    )
    max_answer_length: int = setting(
        30, "Question answerer: longest answer, in tokens.", minimum=1
    )
    null_threshold: float = setting(
        0.0,
        "Question answerer: answer 'no answer' when its score beats the best "
        "span's by more than this.",
    )
    allow_no_answer: bool | None = setting(
        None,
        "Question answerer: whether answers may be empty; default: when the "
        "training data has unanswerable questions.",
    )

    def task_config(self, model):
        """The config of `model`'s task holding these data settings.

        Args:
            model: a `TokenClassifier` (gives a `TokenClassificationConfig`),
                `MultiLabelClassifier` (`MultiLabelConfig`), `TextRegressor`
                (`RegressionConfig`), `QuestionAnswerer`
                (`QuestionAnsweringConfig`) or other classifier
                (`ClassificationConfig`).

        Returns:
            A config of that class: these data settings, its defaults
            otherwise.
        """
        if isinstance(model, TokenClassifier):
            config_class = TokenClassificationConfig
        elif isinstance(model, MultiLabelClassifier):
            config_class = MultiLabelConfig
        elif isinstance(model, TextRegressor):
            config_class = RegressionConfig
        elif isinstance(model, QuestionAnswerer):
            config_class = QuestionAnsweringConfig
        else:
            config_class = ClassificationConfig
        names = {field.name for field in dataclasses.fields(config_class)}
        return config_class(
            **{
                name: getattr(self, name)
                for name in _DATA_FIELDS
                if name in names and getattr(self, name) is not None
            }
        )
