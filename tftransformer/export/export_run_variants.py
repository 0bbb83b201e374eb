"""Writing every serving variant of a run's model, on the run's test data."""

import os

from tftransformer.export.export_variants import VARIANTS, export_variants
from tftransformer.models import TokenClassifier
from tftransformer.training.text_classification import load_classification_splits
from tftransformer.training.token_classification import load_tagging_splits

__all__ = ["export_run_variants"]

# Written into `variants_dir` beside the variants.
REPORT_FILES = ("report.md", "report.json")


def export_run_variants(
    model,
    config,
    variants_dir,
    representative_examples=200,
    variants=tuple(VARIANTS),
    calls=(50, 10),
    overwrite=False,
):
    """Exports a run's model in every variant, measured on the run's test data.

    Tells the task from the model: a
    `TokenClassifier` is measured on the tagging data the config names
    (`tftransformer.training.load_tagging_splits`: sentences joined by
    single spaces, their BIO tags), any other classifier on the text
    classification data (`load_classification_splits`), as sentence pairs
    when that data has a second text column. Then `export_variants` writes
    the variants, calibrating `litert_int8` on a seeded sample of
    `representative_examples` training examples, and the report lands in
    `variants_dir` as `report.md` and `report.json`.

    Args:
        model: the run's trained model (e.g. `tftransformer.saving.load_model`
            of its `model.keras`): a `TextClassifier` or `TokenClassifier`.
        config: the run's config: a `ClassificationConfig` or
            `TokenClassificationConfig` (their data settings: `train_file`,
            `test_file`, `max_eval_examples`, `seed`, ...).
        variants_dir: str, where the variants and the report are written.
        representative_examples: int, training examples that calibrate
            `litert_int8`.
        variants: names from `VARIANTS`, `saved_model_float32` first.
        calls: timed calls at batch sizes 1 and 32.
        overwrite: bool, whether existing variants are replaced.

    Returns:
        A `VariantsReport`.

    Example:
    ```python
    model = tftransformer.saving.load_model("runs/demo/model.keras")
    report = export_run_variants(model, config, "runs/demo/variants")
    print(report.format())
    ```
    """
    if isinstance(model, TokenClassifier):
        train, _, test = load_tagging_splits(config)
        calibration = train.sample(
            min(representative_examples, len(train)), config.seed
        )
        test_texts = [" ".join(words) for words in test.words]
        test_labels = [list(tags) for tags in test.tags]
        representative = [" ".join(words) for words in calibration.words]
        text_pair = False
    else:
        train, _, test = load_classification_splits(config)
        calibration = train.sample(
            min(representative_examples, len(train)), config.seed
        )
        text_pair = test.text_pairs is not None
        test_texts, representative = list(test.texts), list(calibration.texts)
        if text_pair:
            test_texts = list(zip(test_texts, test.text_pairs))
            representative = list(zip(representative, calibration.text_pairs))
        test_labels = test.labels
    report = export_variants(
        model,
        variants_dir,
        test_texts,
        test_labels,
        representative,
        variants=variants,
        calls=calls,
        overwrite=overwrite,
        text_pair=text_pair,
    )
    for name, text in zip(REPORT_FILES, (report.format() + "\n", report.to_json())):
        with open(os.path.join(os.fspath(variants_dir), name), "w") as f:
            f.write(text)
    return report
