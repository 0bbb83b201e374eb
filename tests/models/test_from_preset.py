import numpy as np
import pytest

from tftransformer.models import (
    TextClassifier,
    TextClassifierPreprocessor,
    TokenClassifier,
    TokenClassifierPreprocessor,
)


@pytest.mark.parametrize(
    "task, preprocessor_cls, kwargs",
    [
        (TextClassifier, TextClassifierPreprocessor, {"num_classes": 3}),
        (TokenClassifier, TokenClassifierPreprocessor, {"num_tags": 5}),
    ],
)
def test_from_preset_builds_the_task_with_its_preprocessor(
    tiny_preset, task, preprocessor_cls, kwargs
):
    model = task.from_preset(tiny_preset, sequence_length=24, dropout=0.0, **kwargs)
    assert isinstance(model, task)
    assert isinstance(model.preprocessor, preprocessor_cls)
    assert model.preprocessor.sequence_length == 24
    outputs = model.predict(["a fine film", "a dull mess"], verbose=0)
    assert outputs.shape[0] == 2
    assert outputs.shape[-1] == next(iter(kwargs.values()))
    assert np.all(np.isfinite(outputs))


def test_from_preset_takes_a_dtype_policy(tiny_preset):
    model = TextClassifier.from_preset(
        tiny_preset, num_classes=2, sequence_length=16, dtype="mixed_bfloat16"
    )
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    # The logits stay float32 for a stable loss.
    assert model.predict(["a fine film"], verbose=0).dtype == np.float32


def test_text_classifier_reports_accuracy_as_accuracy(tiny_preset):
    model = TextClassifier.from_preset(tiny_preset, num_classes=2, sequence_length=16)
    model.compile()
    logs = model.evaluate(
        ["a fine film", "a dull mess"], [1, 0], verbose=0, return_dict=True
    )
    assert "accuracy" in logs


def test_from_preset_passes_the_preprocessors_arguments_to_it(tiny_preset):
    model = TextClassifier.from_preset(
        tiny_preset,
        num_classes=2,
        sequence_length=16,
        truncate="waterfall",
        pad_to_multiple_of=8,
        dropout=0.0,
    )
    assert model.preprocessor.truncate == "waterfall"
    assert model.preprocessor.pad_to_multiple_of == 8
    tagger = TokenClassifier.from_preset(
        tiny_preset, num_tags=3, sequence_length=16, pad_to_multiple_of=4
    )
    assert tagger.preprocessor.pad_to_multiple_of == 4
