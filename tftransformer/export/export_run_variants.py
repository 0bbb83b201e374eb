"""Writing every serving variant of a run's model, on the run's test data."""

import os

import keras_hub
import numpy as np

from tftransformer.export.export_variants import export_variants
from tftransformer.export.variants_config import VariantsConfig
from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    Seq2SeqTransformer,
    TextRegressor,
    TokenClassifier,
)
from tftransformer.models._prompt_generation import is_generator
from tftransformer.training.file_predictions import (
    check_run_text_pairs,
    run_decoding,
)
from tftransformer.training.generation_settings import generation_settings
from tftransformer.training.multi_label_config import MultiLabelConfig
from tftransformer.training.multi_label_training import load_multi_label_data
from tftransformer.training.question_answering import load_squad_splits
from tftransformer.training.question_answering_config import QuestionAnsweringConfig
from tftransformer.training.regression_config import RegressionConfig
from tftransformer.training.regression_training import load_regression_data
from tftransformer.training.text_classification import load_classification_splits
from tftransformer.training.token_classification import load_tagging_splits
from tftransformer.training.translation import TRANSLATIONS_FILE

__all__ = ["export_run_variants"]

# Written into `variants_dir` beside the variants.
REPORT_FILES = ("report.md", "report.json")


def export_run_variants(
    model,
    config,
    variants_dir,
    representative_examples=200,
    variants=None,
    calls=(50, 10),
    overwrite=False,
    litert_runtime="auto",
):
    """Exports a run's model in every variant, measured on the run's test data.

    Tells the task from the model: a
    `TokenClassifier` is measured on the tagging data the config names
    (`tftransformer.training.load_tagging_splits`: sentences joined by
    single spaces, their BIO tags), a `MultiLabelClassifier` on its
    multi-label data (`load_multi_label_data`, with a `MultiLabelConfig`:
    micro / macro F1 of the predicted label sets), a `TextRegressor` on its
    regression data (`load_regression_data`, with a `RegressionConfig`:
    RMSE), a `QuestionAnswerer` on its SQuAD files (`load_squad_splits`,
    with a `QuestionAnsweringConfig`: exact match and F1 of the answers to
    the test questions, decoded with the config's `max_answer_length`,
    `null_threshold` and `allow_no_answer`, unset: whether the training
    questions include unanswerable ones, as training decided), any other
    classifier on the text classification data
    (`load_classification_splits`); the classifiers and regressor as
    sentence pairs when the data has a second text column. A `VariantsConfig` (the data
    settings of any head) becomes the config of the model's task first
    (`VariantsConfig.task_config`), so one command measures a run of any
    head. Then `export_variants` writes
    the variants, calibrating `litert_int8` on a seeded sample of
    `representative_examples` training examples, and the report lands in
    `variants_dir` as `report.md` and `report.json`.

    A `Seq2SeqTransformer` (`train_translator` from random weights) is
    measured on the test pairs its run wrote (`translations.tsv` in the
    config's `model_dir`: each source and its reference, as the run scored
    them), with the run's tokenizers and settings
    (`tftransformer.training.generation_settings`), by BLEU and agreement
    with its greedy translations (see `export_variants`).

    Args:
        model: the run's trained model (e.g. `tftransformer.saving.load_model`
            of its `model.keras`): a `TextClassifier`, `MultiLabelClassifier`,
            `TextRegressor`, `TokenClassifier`, `QuestionAnswerer` or
            `Seq2SeqTransformer`.
        config: the run's config: a `ClassificationConfig`,
            `MultiLabelConfig`, `RegressionConfig`,
            `TokenClassificationConfig` or `QuestionAnsweringConfig` (their
            data settings: `train_file`,
            `test_file`, `max_eval_examples`, `seed`, ...), or a
            `VariantsConfig` of any of them; for a translator, any config
            whose `model_dir` is the run's directory.
        variants_dir: str, where the variants and the report are written.
        representative_examples: int, training examples that calibrate
            `litert_int8`.
        variants: names from `VARIANTS`, `saved_model_float32` first;
            None: every variant the model has.
        calls: timed calls at batch sizes 1 and 32.
        overwrite: bool, whether existing variants are replaced.
        litert_runtime: the interpreter the LiteRT variants run on (see
            `export_variants`).

    Returns:
        A `VariantsReport`.

    Raises:
        ValueError: for another model (a few-shot run's embedder, a
            multi-task model), naming its class, or a config of another
            task than the model's.

    Example:
    ```python
    model = tftransformer.saving.load_model("runs/demo/model.keras")
    report = export_run_variants(model, config, "runs/demo/variants")
    print(report.format())
    ```
    """
    if is_generator(model):
        report = export_variants(
            model,
            variants_dir,
            *_translation_test_set(model, config.model_dir),
            None,
            variants=variants,
            calls=calls,
            overwrite=overwrite,
            litert_runtime=litert_runtime,
            generation=generation_settings(model, config.model_dir),
        )
        _write_report(report, variants_dir)
        return report
    if not isinstance(
        model, (keras_hub.models.TextClassifier, TokenClassifier, QuestionAnswerer)
    ):
        # A few-shot run's embedder would be scored as a retrieval embedder
        # on its class ids.
        raise ValueError(
            "export_run_variants measures the model of a classification, "
            "multi-label, regression, tagging, question answering or "
            "translation run. Received: a "
            f"{type(model).__name__} ({model.name!r}). A few-shot run's "
            "embedder exports with its head (export_few_shot_classifier, "
            "export_litert(head=...)); export_variants measures an embedder "
            "on your own texts, and a multi-task model's heads export one by one "
            "(its head_model(task))."
        )
    # The run's directory: its run_config.json and decoding.json tell how
    # it read its texts and decoded its answers.
    run_dir = config.model_dir
    if isinstance(config, VariantsConfig):
        config = config.task_config(model)
    decoding = {}
    if isinstance(model, QuestionAnswerer):
        _check_config(model, config, QuestionAnsweringConfig)
        config.validate()
        train, _, test = load_squad_splits(config)
        rng = np.random.default_rng(config.seed)
        calibration = rng.permutation(len(train))[:representative_examples]
        test_texts = [(example.question, example.context) for example in test]
        test_labels = [list(example.answers) for example in test]
        representative = [
            (train[i].question, train[i].context) for i in np.sort(calibration)
        ]
        text_pair = False
        allow_no_answer = config.allow_no_answer
        if allow_no_answer is None:
            allow_no_answer = any(example.is_impossible for example in train)
        decoding = {
            "max_answer_length": config.max_answer_length,
            "null_threshold": config.null_threshold,
            "allow_no_answer": allow_no_answer,
        }
        _check_run_decoding(model, run_dir, decoding)
    elif isinstance(model, TokenClassifier):
        train, _, test = load_tagging_splits(config)
        calibration = train.sample(
            min(representative_examples, len(train)), config.seed
        )
        test_texts = [" ".join(words) for words in test.words]
        test_labels = [list(tags) for tags in test.tags]
        representative = [" ".join(words) for words in calibration.words]
        text_pair = False
    else:
        check_run_text_pairs(run_dir, config.text_pair_column)
        train, _, test = _text_splits(model, config)
        calibration = train.sample(
            min(representative_examples, len(train)), config.seed
        )
        text_pair = test.text_pairs is not None
        test_texts, representative = list(test.texts), list(calibration.texts)
        if text_pair:
            test_texts = list(zip(test_texts, test.text_pairs))
            representative = list(zip(representative, calibration.text_pairs))
        if isinstance(model, TextRegressor):
            test_labels = _target_columns(model, test)
        elif isinstance(model, MultiLabelClassifier):
            test_labels = _label_columns(model, test)
        else:
            test_labels = _class_ids(model, test)
    report = export_variants(
        model,
        variants_dir,
        test_texts,
        test_labels,
        representative,
        variants=variants,
        calls=calls,
        overwrite=overwrite,
        litert_runtime=litert_runtime,
        text_pair=text_pair,
        **decoding,
    )
    _write_report(report, variants_dir)
    return report


def _write_report(report, variants_dir):
    for name, text in zip(REPORT_FILES, (report.format() + "\n", report.to_json())):
        with open(os.path.join(os.fspath(variants_dir), name), "w") as f:
            f.write(text)


def _translation_test_set(model, model_dir):
    """A translation run's test sources and references, from the
    `translations.tsv` its run wrote."""
    path = os.path.join(os.fspath(model_dir), TRANSLATIONS_FILE)
    if not isinstance(model, Seq2SeqTransformer) or not os.path.isfile(path):
        raise ValueError(
            "A run's generator is measured on the test pairs a translation "
            "run from random weights wrote (its Seq2SeqTransformer and "
            f"{TRANSLATIONS_FILE}); measure others with export_variants and "
            "your prompts and references. Received: a "
            f"{type(model).__name__} and model_dir={model_dir!r}"
            + ("" if os.path.isfile(path) else f" without {TRANSLATIONS_FILE}")
        )
    with open(path, encoding="utf-8") as f:
        header, *lines = f.read().splitlines()
    rows = [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]
    return [row["source"] for row in rows], [row["reference"] for row in rows]


def _label_columns(model, data):
    """A multi-label test split's 0/1 labels, one column per model label.

    The data's columns follow its label vocabulary (a file's: sorted), the
    model's outputs its `label_names`: the columns are put in the model's
    order, and other labels are refused."""
    names = model.label_names
    if names is None:
        return data.labels
    vocabulary = list(data.label_vocabulary)
    if sorted(names) != sorted(vocabulary):
        raise ValueError(
            f"The test data's labels {vocabulary} are not the model's "
            f"{list(names)}: pass the data settings the model was trained with."
        )
    return data.labels[:, [vocabulary.index(name) for name in names]]


def _check_run_decoding(model, model_dir, decoding):
    """Refuses a question answerer's `decoding` unless its run in
    `model_dir` decoded alike (its `decoding.json`): the variants and the
    Keras reference would all answer with other settings than the run's,
    agreeing perfectly."""
    run = run_decoding(model, model_dir) or {}
    differ = [name for name in decoding if name in run and run[name] != decoding[name]]
    if differ:
        raise ValueError(
            f"The run in {model_dir!r} decoded its answers with "
            + ", ".join(f"{name}={run[name]!r}" for name in differ)
            + " (its decoding.json): pass the same (--"
            + ", --".join(differ)
            + ") to measure its variants. Received: "
            + ", ".join(f"{name}={decoding[name]!r}" for name in differ)
        )


def _class_ids(model, data):
    """A test split's labels as the model's class ids.

    The data's ids follow its label vocabulary (a file's: sorted), the
    model's outputs its `label_names`: each label is mapped by its name
    (a model with `label_names=["pos", "neg"]` was scored against the
    file's `neg` = 0), and a label the model does not know is refused."""
    names = model.label_names
    if names is None:
        return data.labels
    names, vocabulary = list(names), list(data.label_vocabulary)
    unknown = [label for label in vocabulary if label not in names]
    if unknown:
        raise ValueError(
            f"The test data's labels {unknown} are not among the model's "
            f"{names}: pass the data settings the model was trained with."
        )
    ids = np.array([names.index(label) for label in vocabulary], dtype="int64")
    return ids[np.asarray(data.labels)]


def _target_columns(model, data):
    """A regression test split's targets, one column per model target.

    Columns named as the model's targets are put in its order (a config's
    `target_columns` in another order were scored under the wrong names);
    columns of other names only are taken as given, as `evaluate.py` takes
    them; some of each are refused."""
    names = model.target_names
    columns = list(data.target_names)
    if names is None or list(names) == columns:
        return data.targets
    names = list(names)
    if sorted(names) == sorted(columns):
        return data.targets[:, [columns.index(name) for name in names]]
    if set(names) & set(columns):
        raise ValueError(
            f"The test data's target columns {columns} name some of the "
            f"model's targets {names} and other columns: name all its targets "
            "(in any order), or columns of another file's names only."
        )
    return data.targets


def _text_splits(model, config):
    """The train, validation and test data of a classifier or regressor run."""
    for model_class, config_class, load in (
        (MultiLabelClassifier, MultiLabelConfig, load_multi_label_data),
        (TextRegressor, RegressionConfig, load_regression_data),
    ):
        if isinstance(model, model_class):
            _check_config(model, config, config_class)
            return load(config)
    return load_classification_splits(config)


def _check_config(model, config, config_class):
    """Refuses a config of another task than `model`'s."""
    if not isinstance(config, config_class):
        raise ValueError(
            f"A {type(model).__name__} is measured on the data of a "
            f"{config_class.__name__}. Received: config of class "
            f"{type(config).__name__}"
        )
