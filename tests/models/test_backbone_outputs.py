"""Task heads leave the backbone layers they do not read out of training."""

import warnings

import keras
import numpy as np
import pytest

from tests.finetune.tiny_models import (
    bert_inputs,
    tiny_bert_backbone,
    tiny_functional_encoder,
    tiny_tftransformer_encoder,
)
from tftransformer.models import (
    LongDocumentClassifier,
    TextClassifier,
    TokenClassifier,
    TransformerClassifier,
)
from tftransformer.models._task_base import freeze_unused_backbone_layers


def _chunked(x):
    # (batch, seq) -> (batch, chunks=2, seq)
    return {name: np.stack([value, value], axis=1) for name, value in x.items()}


CASES = {
    # head: (model builder, inputs, labels, whether the pooler trains)
    "text_classifier": (
        lambda: TextClassifier(tiny_bert_backbone(), num_classes=2),
        bert_inputs(),
        np.array([0, 1, 0, 1]),
        False,
    ),
    "token_classifier": (
        lambda: TokenClassifier(tiny_bert_backbone(), num_tags=3),
        bert_inputs(),
        np.arange(24).reshape(4, 6) % 3,
        False,
    ),
    "long_document_classifier": (
        lambda: LongDocumentClassifier(
            tiny_bert_backbone(), num_classes=2, max_chunks=2, chunk_length=6, stride=4
        ),
        _chunked(bert_inputs()),
        np.array([0, 1, 0, 1]),
        False,
    ),
    "transformer_classifier_mean": (
        lambda: TransformerClassifier(
            tiny_tftransformer_encoder(), num_classes=2, pooling="mean"
        ),
        {k: v for k, v in bert_inputs().items() if k != "segment_ids"},
        np.array([0, 1, 0, 1]),
        False,
    ),
    # The "cls" head reads the encoder's pooled output: its pooler trains.
    "transformer_classifier_cls": (
        lambda: TransformerClassifier(
            tiny_tftransformer_encoder(), num_classes=2, pooling="cls"
        ),
        {k: v for k, v in bert_inputs().items() if k != "segment_ids"},
        np.array([0, 1, 0, 1]),
        True,
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_fit_trains_what_the_head_reads_without_gradient_warnings(case):
    build, x, y, pooler_trains = CASES[case]
    model = build()
    backbone = getattr(model, "backbone", None) or model.encoder
    pooler = backbone.get_layer("pooled_dense")
    assert pooler.trainable == pooler_trains
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    before = [w.numpy().copy() for w in pooler.weights]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    moved = any(
        not np.array_equal(old, new.numpy()) for old, new in zip(before, pooler.weights)
    )
    assert moved == pooler_trains
    # The layer still computes its output.
    assert "pooled_output" in backbone.output


def test_only_layers_off_the_used_outputs_are_frozen():
    backbone = tiny_bert_backbone()
    frozen = freeze_unused_backbone_layers(backbone, ("sequence_output",))
    assert [layer.name for layer in frozen] == ["pooled_dense"]
    assert [layer.name for layer in backbone.layers if not layer.trainable] == [
        "pooled_dense"
    ]
    assert freeze_unused_backbone_layers(tiny_bert_backbone(), ("pooled_output",)) == []


def test_backbones_without_named_outputs_are_left_alone():
    # A model with a single output, and one not naming the output read.
    encoder = tiny_functional_encoder()
    assert freeze_unused_backbone_layers(encoder) == []
    assert all(layer.trainable for layer in encoder.layers)
    backbone = tiny_bert_backbone()
    assert freeze_unused_backbone_layers(backbone, ("hidden_states",)) == []
    assert all(layer.trainable for layer in backbone.layers)
