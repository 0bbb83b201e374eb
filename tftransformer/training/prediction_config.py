"""The settings of a prediction run: a fine-tuned model over a file of texts."""

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

__all__ = ["PredictionConfig"]


@dataclasses.dataclass
class PredictionConfig:
    """Which model predicts which file, and where the predictions go.

    `tftransformer.training.predict_to_file` reads it; `examples/predict.py`
    turns it into flags. The model is a run directory (its `model.keras`,
    as every training script writes it) or a `.keras` file.

    Example:
    ```python
    config = PredictionConfig(
        model_path="runs/demo", input_file="reviews.csv", text_column="review"
    )
    config.predictions_path()  # "reviews.predictions.csv"
    ```
    """

    model_path: str = model_path_setting()
    input_file: str | None = setting(
        None,
        "CSV, TSV or JSON Lines file of texts to predict (.gz/.bz2 too); "
        "every column is kept in the output.",
        run_setting=False,
    )
    output_file: str | None = setting(
        None,
        "Where the rows go with their predictions, in the format of its "
        "extension. Default: the input's name with .predictions before the "
        "extension.",
        run_setting=False,
    )
    text_column: str = setting(
        "text",
        "Column of the texts (a question answerer's questions).",
        run_setting=False,
    )
    text_pair_column: str | None = setting(
        None,
        "Column of each row's second text, for a model of sentence pairs (a "
        "question answerer's contexts).",
        run_setting=False,
    )
    batch_size: int = batch_size_setting()
    max_length: int | None = generation_length_setting()
    on_bad_rows: str = setting(
        "error",
        "A row with an empty text: 'error' stops naming its line, 'skip' "
        "leaves it out of the output.",
        choices=("error", "skip"),
        run_setting=False,
    )

    def __post_init__(self):
        self.validate()

    def validate(self):
        """Checks every field; raises `ConfigError`."""
        check_file_config(
            self,
            ("model_path", "input_file", "text_column"),
            "input_file",
            "output_file",
        )

    def predictions_path(self):
        """`output_file`, or the input's path with `.predictions` before its
        extension (`reviews.csv.gz` -> `reviews.predictions.csv.gz`)."""
        if self.output_file is not None:
            return self.output_file
        path, compression = split_compression(self.input_file)
        stem, extension = os.path.splitext(path)
        return f"{stem}.predictions{extension}{compression}"

    def to_dict(self):
        """Every field, as a JSON-serialisable dict (what `--config` reads)."""
        return dataclasses.asdict(self)
