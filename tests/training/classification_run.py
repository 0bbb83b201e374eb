"""The classification run of `examples/classify.py`, from keyword settings."""

import tftransformer as tft
from tftransformer.training import ClassificationConfig


def run_classification(**settings):
    """`train_text_classifier` on `ClassificationConfig(**settings)`."""
    config = ClassificationConfig(**settings)
    if config.export_dir:
        tft.export.check_base_path(config.export_dir, name="export_dir")
    return tft.training.train_text_classifier(config, verbose=0)
