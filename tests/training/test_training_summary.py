import json
import types

import keras
import pytest
import tensorflow as tf

from tests.finetune.strategy_models import (
    EMBEDDINGS_WITH_WEIGHTS,
    ENCODERS,
    tiny_text_classifier,
)
from tftransformer.finetune import (
    create_optimizer,
    freeze_layers,
)
from tftransformer.training import (
    describe_training,
    format_training_summary,
    write_training_summary,
)
from tftransformer.training.training_summary import describe_packing

# Parameters of the tiny BERT (vocabulary 64, hidden 8, 2 heads of 4,
# feed-forward 16, 32 positions, 2 segments), counted by hand:
EMBEDDINGS = 64 * 8 + 32 * 8 + 2 * 8 + 2 * 8  # token, position, segment, norm: 800
ATTENTION = 3 * (8 * 8 + 8) + (8 * 8 + 8)  # q, k, v, output: 288
FEED_FORWARD = (8 * 16 + 16) + (16 * 8 + 8)  # 280
ENCODER = ATTENTION + FEED_FORWARD + 2 * 2 * 8  # two layer norms: 600
POOLER = 8 * 8 + 8  # 72
LOGITS = 8 * 2 + 2  # 18
TOTAL = EMBEDDINGS + 3 * ENCODER + POOLER + LOGITS  # 2,690


def test_counts_layers_and_single_rate_of_a_partial_freeze():
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 1)
    optimizer = create_optimizer(3e-4, num_train_steps=100)
    summary = describe_training(classifier, optimizer, "freeze 1 layer")

    # BERT's pooler, unused by the classifier's head, is not trained.
    trainable = 2 * ENCODER + LOGITS
    assert summary["strategy"] == "freeze 1 layer"
    assert summary["total_parameters"] == TOTAL == 2690
    assert summary["trainable_parameters"] == trainable == 1218
    assert summary["frozen_parameters"] == EMBEDDINGS + ENCODER + POOLER == 1472
    assert summary["trainable_layers"] == ENCODERS[1:] + ["logits"]
    assert summary["frozen_layers"] == EMBEDDINGS_WITH_WEIGHTS + ENCODERS[:1] + [
        "pooled_dense"
    ]
    # The schedule's peak, not its value at step 0 (0 during warmup).
    assert summary["learning_rate"] == pytest.approx(3e-4)
    assert summary["learning_rate_groups"] == [
        {
            "multiplier": 1.0,
            "learning_rate": pytest.approx(3e-4),
            "parameters": trainable,
            "layers": summary["trainable_layers"],
        }
    ]


def test_groups_rates_by_the_optimizer_multipliers():
    classifier = tiny_text_classifier()
    multipliers = {v.path: 0.5 for v in classifier.get_layer("logits").weights}
    backbone = classifier.backbone
    for name, multiplier in (("transformer_layer_2", 0.25), ("token_embedding", 0.1)):
        for v in backbone.get_layer(name).weights:
            multipliers[v.path] = multiplier
    optimizer = types.SimpleNamespace(
        learning_rate=0.2, learning_rate_multipliers=multipliers
    )
    groups = describe_training(classifier, optimizer)["learning_rate_groups"]
    assert groups == [
        {
            "multiplier": 1.0,
            "learning_rate": pytest.approx(0.2),
            "parameters": TOTAL - LOGITS - ENCODER - 64 * 8 - POOLER,
            "layers": ["position_embedding", "segment_embedding"]
            + ["embeddings_layer_norm", "transformer_layer_0", "transformer_layer_1"],
        },
        {
            "multiplier": 0.5,
            "learning_rate": pytest.approx(0.1),
            "parameters": LOGITS,
            "layers": ["logits"],
        },
        {
            "multiplier": 0.25,
            "learning_rate": pytest.approx(0.05),
            "parameters": ENCODER,
            "layers": ["transformer_layer_2"],
        },
        {
            "multiplier": 0.1,
            "learning_rate": pytest.approx(0.02),
            "parameters": 64 * 8,
            "layers": ["token_embedding"],
        },
    ]


def test_layer_decay_optimizer_is_read_through_its_multipliers():
    classifier = tiny_text_classifier()
    optimizer = create_optimizer(
        1e-3, num_train_steps=10, layer_decay=0.5, model=classifier
    )
    groups = describe_training(classifier, optimizer)["learning_rate_groups"]
    # Encoder layer l of 3 at 0.5 ** (3 - l), embeddings at 0.5 ** 4.
    assert [(g["multiplier"], g["parameters"], g["layers"]) for g in groups] == [
        (1.0, LOGITS, ["logits"]),
        (0.5, ENCODER, ["transformer_layer_2"]),
        (0.25, ENCODER, ["transformer_layer_1"]),
        (0.125, ENCODER, ["transformer_layer_0"]),
        (0.0625, EMBEDDINGS, EMBEDDINGS_WITH_WEIGHTS),
    ]
    assert groups[-1]["learning_rate"] == pytest.approx(1e-3 / 16)


def test_loss_scale_optimizer_is_read_through_to_the_schedule_peak():
    classifier = tiny_text_classifier()
    optimizer = keras.optimizers.LossScaleOptimizer(
        create_optimizer(1e-3, num_train_steps=10, layer_decay=0.5, model=classifier)
    )
    summary = describe_training(classifier, optimizer)
    # The warmup schedule is at 0 now; its peak is the rate to report.
    assert summary["learning_rate"] == pytest.approx(1e-3)
    assert [g["learning_rate"] for g in summary["learning_rate_groups"]] == (
        pytest.approx([1e-3, 5e-4, 2.5e-4, 1.25e-4, 6.25e-5])
    )


def test_format_and_write(tmp_path):
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 1)
    summary = describe_training(
        classifier, create_optimizer(3e-4, num_train_steps=100), "freeze 1 layer"
    )
    text = format_training_summary(summary)
    assert text.splitlines() == [
        "Strategy: freeze 1 layer",
        # 1,218 / 2,690 = 45.28%
        "Parameters: 2,690 total, 1,218 trainable (45.3%), 1,472 frozen",
        "Trainable layers (3): transformer_layer_1, transformer_layer_2, logits",
        "Frozen layers (6): token_embedding, position_embedding, "
        "segment_embedding, embeddings_layer_norm, transformer_layer_0, "
        "pooled_dense",
        "Learning rates (base 0.0003):",
        "  x1 = 0.0003: 1,218 parameters in transformer_layer_1, "
        "transformer_layer_2, logits",
    ]

    # A schedule's line says the counts are of its end.
    lines = format_training_summary({**summary, "schedule": "the head alone"})
    assert lines.splitlines()[1] == (
        "Schedule: the head alone; the counts below are once it is done"
    )

    path = write_training_summary(summary, tmp_path / "run")
    assert path == str(tmp_path / "run" / "training_summary.json")
    with open(path) as f:
        assert json.load(f) == summary


def test_optimizer_defaults_to_the_compiled_one():
    classifier = tiny_text_classifier()
    classifier.compile(optimizer=create_optimizer(2e-4, num_train_steps=10))
    assert describe_training(classifier)["learning_rate"] == pytest.approx(2e-4)


def test_without_optimizer_reports_no_rates():
    # A backbone alone is not compiled: no optimizer.
    summary = describe_training(tiny_text_classifier().backbone)
    assert summary["total_parameters"] == TOTAL - LOGITS
    assert summary["learning_rate"] is None
    assert summary["learning_rate_groups"] == []
    # The classifier left BERT's pooler, unused by its head, not trainable.
    assert summary["frozen_layers"] == ["pooled_dense"]
    assert "Learning rates" not in format_training_summary(summary)


def test_packing_shows_how_many_texts_a_batch_of_rows_holds():
    summary = describe_training(tiny_text_classifier().backbone)
    summary["packing"] = {
        "texts": 10_264,
        "rows": 2_178,
        "batch_rows": 7,
        "row_length": 128,
        "longest_text": 78,
        "padded_token_share": 0.004,
    }
    # 10,264 / 2,178 = 4.71 texts a row; 7 rows hold 33.
    assert format_training_summary(summary).splitlines()[-1] == (
        "Packed rows: 10,264 texts in 2,178 rows of 128 tokens (4.71 a row, "
        "the longest text 78 tokens), 0.4% padding; a batch of 7 rows holds "
        "about 33 texts"
    )


def test_rows_packed_without_texts_have_no_packing_summary():
    # Masked language model rows pack texts too, but hold no `text_mask`.
    rows = tf.data.Dataset.from_tensor_slices(
        ({"token_ids": [[1, 2]], "padding_mask": [[True, True]]}, [[0, 1]])
    ).batch(1)
    assert describe_packing(rows) == {}
