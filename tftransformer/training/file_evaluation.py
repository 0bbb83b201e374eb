"""A fine-tuned model scored on a labelled file, as its run scored its test
split."""

import tensorflow as tf

from tftransformer.data import (
    DataError,
    load_multi_label_file,
    load_regression_file,
    load_squad,
    load_tagging_file,
    load_text_classification_file,
    load_text_rows,
)
from tftransformer.data.classification_dataset import make_classification_dataset
from tftransformer.evaluation import (
    GenerationReport,
    evaluate_classifier,
    evaluate_multi_label_classifier,
    evaluate_question_answerer,
    evaluate_regressor,
    evaluate_tagger,
)
from tftransformer.evaluation._json_utils import write_json
from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    TextClassifier,
    TextEmbedder,
    TextRegressor,
    TokenClassifier,
)
from tftransformer.models._prompt_generation import is_generator
from tftransformer.models.backbone_adapter import preprocessor_pair_separators
from tftransformer.training._generator_runs import GENERATED_COLUMN, generated_column
from tftransformer.training._model_file_settings import (
    refuse_settings_of_other_models,
)
from tftransformer.training.evaluation_config import EvaluationConfig
from tftransformer.training.file_predictions import (
    check_text_pairs,
    load_saved_model,
    run_decoding,
)

__all__ = ["evaluate_saved_model"]

SUPPORTED = (
    "classifier (single- or multi-label, or a few-shot run's embedder and "
    "head), regressor, tagger, question answerer or generator"
)


def evaluate_saved_model(config):
    """Scores a saved model on a labelled file and writes the report.

    The model (`config.model_path`: a run directory's `model.keras`, or a
    `.keras` file) is scored as its training run scored its test split,
    with the same report:

    - a classifier (`TextClassifier`): accuracy, per-class precision,
      recall and F1, ROC-AUC, the confusion matrix and, with a fitted
      temperature, its calibration; the file's labels are read as the
      model's label names (a label it does not know is an error, naming
      the row), so ids agree even when the file lacks a class;
    - a multi-label classifier: micro and macro F1 at the model's decision
      thresholds, per label (`config.label_column` defaults to `labels`,
      names joined by `config.label_delimiter` or a JSON list);
    - a regressor: RMSE, MAE, Pearson and Spearman per target, in target
      units (the target columns default to those it was trained on);
    - a few-shot run's directory (a text embedder with `head.keras`
      beside it): the head's classification report on the embeddings;
    - a tagger (`TokenClassifier`): entity precision, recall and F1 on a
      CoNLL or JSON Lines file of tagged words, tags read as the model's;
    - a question answerer: SQuAD exact match and F1 on a SQuAD JSON file,
      decoded with the config's `max_answer_length`, `null_threshold` and
      `allow_no_answer` (each unset: its run's, from the run directory's
      `decoding.json`, else 30, 0, and empty answers allowed when the file
      has unanswerable questions);
    - a generator (what `predict_to_file` takes: a keras-hub `CausalLM` or
      `Seq2SeqLM`, or one trained from random weights by `train_causal_lm`
      or `train_translator`): corpus BLEU and ROUGE (`GenerationReport`) of
      each prompt's greedy continuation, or target, against the file's
      references (`config.label_column`, default `target`), generated as
      `predict_to_file` generates them (the run's settings, up to
      `config.max_length` tokens).

    Texts are tokenized as the training runs tokenize their test split, up
    to the model's own sequence length.

    Args:
        config: an `EvaluationConfig`.

    Returns:
        The report (`ClassificationReport`, `MultiLabelReport`,
        `RegressionReport`, `EntityReport`, `SquadReport` or
        `GenerationReport`), also written
        as JSON to `config.report_path()`.

    Raises:
        FileNotFoundError: no model or test file there.
        DataError: the test file cannot be read as asked, or holds a label
            the model does not know.
        ValueError: the model is not one this scores (a text embedder
            without a head, for instance).

    Example:
    ```python
    config = EvaluationConfig(model_path="runs/demo", test_file="test.csv")
    print(evaluate_saved_model(config).format())  # writes test.report.json
    ```
    """
    if not isinstance(config, EvaluationConfig):
        raise ValueError(
            "evaluate_saved_model takes an EvaluationConfig. Received: "
            f"{type(config).__name__}"
        )
    config.validate()
    # Before the model's loading time (any path `tf.io.gfile` reads).
    if not tf.io.gfile.exists(config.test_file):
        raise FileNotFoundError(f"No test file at {config.test_file!r}.")
    check_text_pairs(config)
    model, head, label_names = load_saved_model(config.model_path)
    refuse_settings_of_other_models(
        config, model, is_generator(model), isinstance(model, QuestionAnswerer)
    )
    report = _evaluate(model, head, label_names, config)
    write_json(
        {"model_path": config.model_path, "test_file": config.test_file}
        | report.to_dict(),
        config.report_path(),
    )
    return report


def _evaluate(model, head, label_names, config):
    if is_generator(model):
        references = config.label_column or "target"
        try:
            rows = load_text_rows(
                config.test_file,
                text_column=config.text_column,
                text_pair_column=references,
                on_bad_rows=config.on_bad_rows,
            )
        except DataError as error:
            # The loader reads the references as a second text.
            message = str(error).replace(
                f"no text pair column {references!r}",
                f"no column {references!r} of references",
            )
            raise _label_column_hint(message, "text_pair_column") from None
        generated = generated_column(model, config, rows.texts)
        return GenerationReport(generated[GENERATED_COLUMN], rows.text_pairs)
    if isinstance(model, TokenClassifier):
        data = load_tagging_file(config.test_file, tag_vocabulary=model.tag_names)
        return evaluate_tagger(model, data, batch_size=config.batch_size)[0]
    if isinstance(model, QuestionAnswerer):
        examples = load_squad(config.test_file)
        # Each setting unset: as the run decoded (its `decoding.json`, as
        # `predict_to_file` reads it), else the function's default; empty
        # answers allowed as the file's questions need.
        settings = run_decoding(model, config.model_path) or {}
        for name in ("max_answer_length", "null_threshold", "allow_no_answer"):
            if getattr(config, name) is not None:
                settings[name] = getattr(config, name)
        settings.setdefault(
            "allow_no_answer", any(example.is_impossible for example in examples)
        )
        return evaluate_question_answerer(
            model, examples, batch_size=config.batch_size, **settings
        )[0]
    if isinstance(model, TextEmbedder) and head is not None:
        if config.text_pair_column is not None:
            raise ValueError(
                "A few-shot classifier reads single texts. Received: "
                f"text_pair_column={config.text_pair_column!r}"
            )
        names = label_names or [str(i) for i in range(head.output_shape[-1])]
        data = _labelled(config, names)
        embeddings = model.embed(list(data.texts), batch_size=config.batch_size)
        return evaluate_classifier(head, embeddings, data.labels, names)[0]
    if not isinstance(model, TextClassifier):
        raise ValueError(
            f"evaluate_saved_model scores a {SUPPORTED}. Received: a "
            f"{type(model).__name__} ({model.name!r}) from {config.model_path!r}"
        )
    if isinstance(model, TextRegressor):
        try:
            data = load_regression_file(
                config.test_file,
                text_column=config.text_column,
                target_columns=_target_columns(model, config.label_column),
                text_pair_column=config.text_pair_column,
                on_bad_rows=config.on_bad_rows,
            )
        except DataError as error:
            raise _label_column_hint(str(error), "target_columns") from None
        if data.targets.shape[1] != model.num_targets:
            raise ValueError(
                f"The model predicts {model.num_targets} targets. Received: "
                f"{data.targets.shape[1]} target columns {list(data.target_names)}"
            )
        return evaluate_regressor(model, _dataset(model, data, config), data.targets)[0]
    names = model.label_names or [str(i) for i in range(model.num_classes)]
    if isinstance(model, MultiLabelClassifier):
        data = load_multi_label_file(
            config.test_file,
            text_column=config.text_column,
            label_column=config.label_column or "labels",
            text_pair_column=config.text_pair_column,
            label_delimiter=config.label_delimiter,
            label_vocabulary=names,
            on_bad_rows=config.on_bad_rows,
        )
        return evaluate_multi_label_classifier(
            model, _dataset(model, data, config), data.labels, names
        )[0]
    data = _labelled(config, names)
    return evaluate_classifier(
        model, _dataset(model, data, config), data.labels, names
    )[0]


def _label_column_hint(message, argument):
    """A loader's `DataError` whose hint names the config's `label_column`
    (`--label_column`), where the loader's names its own `argument`."""
    return DataError(message.replace(f"Pass {argument}=", "Pass label_column="))


def _target_columns(model, label_column):
    """The test file's columns of a regressor's targets, in its target
    order: `label_column`'s comma-separated names (the model's own target
    names in any order are put in its order; spaces around commas are
    dropped), else the columns it was trained on (`label` for one unnamed
    target).

    Raises:
        ValueError: for a column named as one of the model's targets but
            given at another target's place, or the model's target names
            mixed with other columns: scores would be reported under the
            wrong name.
    """
    names = list(model.target_names or ["label"])
    if not label_column:
        return names
    # Spaces around the commas are not part of a name, as in --target_columns.
    columns = [name.strip() for name in label_column.split(",")]
    if sorted(columns) == sorted(names):
        return names
    for i, column in enumerate(columns):
        if column in names and i < len(names) and names[i] != column:
            raise ValueError(
                f"label_column names the model's target {column!r} at the "
                f"place of its target {names[i]!r}: list the columns in the "
                f"order of the model's targets {names}. Received: "
                f"label_column={label_column!r}"
            )
    others = [c for c in columns if c not in names]
    if others and len(others) < len(columns):
        # Some of the model's own names, and others: a column that is not a
        # target would be scored under a target's name.
        raise ValueError(
            f"label_column names some of the model's targets {names} and "
            f"other columns {others}: name all its targets, in its order, or "
            f"columns of another file's names only. Received: "
            f"label_column={label_column!r}"
        )
    return columns


def _labelled(config, label_names):
    return load_text_classification_file(
        config.test_file,
        text_column=config.text_column,
        label_column=config.label_column or "label",
        text_pair_column=config.text_pair_column,
        label_vocabulary=label_names,
        on_bad_rows=config.on_bad_rows,
    )


def _dataset(model, data, config):
    """The texts in file order, tokenized as a run's test split."""
    preprocessor = model.preprocessor
    return make_classification_dataset(
        list(data.texts),
        None,
        preprocessor.tokenizer,
        batch_size=config.batch_size,
        max_length=preprocessor.sequence_length,
        shuffle=False,
        text_pairs=None if data.text_pairs is None else list(data.text_pairs),
        pair_separators=preprocessor_pair_separators(preprocessor),
    )
