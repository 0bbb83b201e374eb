"""Each export refuses a model of another kind, naming its class, before it
writes anything: an embedder's embedding served as class scores, or a
classifier's logits served as an embedding, would answer without a word."""

import keras
import pytest

from tftransformer import presets
from tftransformer.export import (
    VariantsConfig,
    export_few_shot_classifier,
    export_for_serving,
    export_litert,
    export_question_answerer,
    export_run_variants,
    export_text_embedder,
    export_token_classifier,
    export_variants,
)
from tftransformer.models import MultiTaskModel

NOT_AN_EMBEDDER = "embedder must be a tftransformer.models.TextEmbedder"
NOT_A_RUN_MODEL = "export_run_variants measures the model of a classification"


def few_shot_head():
    return keras.Sequential([keras.Input((16,)), keras.layers.Dense(2)])


@pytest.mark.parametrize(
    "kind, export, message",
    [
        (
            "embedder",
            lambda model, path: export_for_serving(model, path),
            "A TextEmbedder outputs embeddings, not class scores",
        ),
        (
            "classifier",
            lambda model, path: export_text_embedder(model, path),
            NOT_AN_EMBEDDER,
        ),
        (
            "classifier",
            lambda model, path: export_few_shot_classifier(
                model, few_shot_head(), path
            ),
            NOT_AN_EMBEDDER,
        ),
        (
            "embedder",
            lambda model, path: export_run_variants(model, VariantsConfig(), path),
            NOT_A_RUN_MODEL + r".*Received: a TextEmbedder",
        ),
    ],
)
def test_an_export_refuses_a_model_of_another_kind(
    task_models, tmp_path, kind, export, message
):
    with pytest.raises(ValueError, match=message):
        export(task_models[kind], tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def multi_task_model(small_vocabulary_preset):
    backbone, preprocessor = presets.load_backbone(
        small_vocabulary_preset, sequence_length=16
    )
    tasks = {"topic": {"kind": "classification", "num_classes": 2}}
    return MultiTaskModel(
        backbone, tasks, tokenizer=preprocessor.tokenizer, sequence_length=16
    )


# Its outputs are every head's logits: each head exports alone.
HEAD_AT_A_TIME = (
    r"exports one head at a time: export model.head_model\(task\) "
    r"\('topic': export_for_serving or export_litert\)"
)


@pytest.mark.parametrize(
    "export, message",
    [
        *(
            (export, HEAD_AT_A_TIME)
            for export in (
                export_for_serving,
                export_token_classifier,
                export_question_answerer,
                export_text_embedder,
                export_litert,
                lambda model, path: export_variants(model, path, ["a"], [0], ["a"]),
            )
        ),
        (
            lambda model, path: export_run_variants(model, VariantsConfig(), path),
            NOT_A_RUN_MODEL + r".*Received: a MultiTaskModel.*head_model\(task\)",
        ),
    ],
)
def test_an_export_refuses_a_multi_task_model_naming_it(
    multi_task_model, tmp_path, export, message
):
    # A subclassed model has no `output` for a check to read.
    with pytest.raises(ValueError, match=message):
        export(multi_task_model, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "export, what",
    [
        (export_for_serving, "TF Serving's model base path"),
        # It converted the model first, then failed on os.makedirs.
        (export_litert, "where model.tflite is written"),
    ],
)
def test_an_export_to_a_file_is_refused_before_any_work(
    task_models, tmp_path, export, what
):
    path = tmp_path / "a_file"
    path.write_text("")
    with pytest.raises(ValueError, match=rf"path must be a directory \({what}\)"):
        export(task_models["classifier"], path)
