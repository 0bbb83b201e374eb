"""The settings of an evaluation run: a fine-tuned model scored on a
labelled file."""

import dataclasses
import os

from tftransformer.training._model_file_settings import (
    batch_size_setting,
    check_file_config,
    generation_length_setting,
    model_path_setting,
    split_compression,
)
from tftransformer.training._settings import setting

__all__ = ["EvaluationConfig"]


@dataclasses.dataclass
class EvaluationConfig:
    """Which model is scored on which labelled file, and where the report
    goes.

    `tftransformer.training.evaluate_saved_model` reads it;
    `examples/evaluate.py` turns it into flags. The model is a run directory
    (its `model.keras`, as every training script writes it; a few-shot
    run's embedder and head) or a `.keras` file.

    Example:
    ```python
    config = EvaluationConfig(
        model_path="runs/demo", test_file="test.csv", text_column="review"
    )
    config.report_path()  # "test.report.json"
    ```
    """

    model_path: str = model_path_setting()
    test_file: str | None = setting(
        None,
        "Labelled file to score the model on: CSV, TSV or JSON Lines (.gz/.bz2 "
        "too) for classifiers, regressors and generators, CoNLL or JSON Lines "
        "for a tagger, SQuAD JSON for a question answerer.",
        run_setting=False,
    )
    report_file: str | None = setting(
        None,
        "Where the report goes (JSON). Default: the test file's name with "
        ".report.json for its extension.",
        run_setting=False,
    )
    text_column: str = setting("text", "Column of the texts.", run_setting=False)
    text_pair_column: str | None = setting(
        None,
        "Column of each row's second text, for a model of sentence pairs.",
        run_setting=False,
    )
    label_column: str | None = setting(
        None,
        "Column of the labels (default: 'label'; 'labels' for a multi-label "
        "classifier); for a regressor, its target columns, comma-separated "
        "(default: the targets it was trained on); for a generator, the "
        "references (default: 'target').",
        run_setting=False,
    )
    label_delimiter: str = setting(
        "|",
        "Between a multi-label row's label names (or a JSON list in the cell).",
        run_setting=False,
    )
    batch_size: int = batch_size_setting()
    max_length: int | None = generation_length_setting()
    max_answer_length: int | None = setting(
        None,
        "A question answerer's longest answer, in tokens; default: as its run "
        "decoded (decoding.json), else 30.",
        minimum=1,
        run_setting=False,
    )
    null_threshold: float | None = setting(
        None,
        "A question answerer answers 'no answer' when its score beats the best "
        "span's by more than this; default: as its run decoded (decoding.json), "
        "else 0.",
        run_setting=False,
    )
    allow_no_answer: bool | None = setting(
        None,
        "Whether a question answerer's answers may be empty; default: as its "
        "run decoded (decoding.json), else when the test file has "
        "unanswerable questions.",
        run_setting=False,
    )
    on_bad_rows: str = setting(
        "error",
        "A row with an empty text or no label: 'error' stops naming its line, "
        "'skip' leaves it out (the report counts the rows scored).",
        choices=("error", "skip"),
        run_setting=False,
    )

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Checks every field; raises `ConfigError`."""
        check_file_config(
            self,
            ("model_path", "test_file", "text_column", "label_delimiter"),
            "test_file",
            "report_file",
        )

    def report_path(self):
        """`report_file`, or the test file's path with `.report.json` for
        its extension (`test.csv.gz` -> `test.report.json`)."""
        if self.report_file is not None:
            return self.report_file
        path, _ = split_compression(self.test_file)
        return f"{os.path.splitext(path)[0]}.report.json"

    def to_dict(self):
        """Every field, as a JSON-serialisable dict (what `--config` reads)."""
        return dataclasses.asdict(self)
