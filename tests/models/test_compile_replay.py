import warnings

import keras
import keras_hub
import numpy as np
import pytest

from tests.finetune.tiny_models import tiny_bert_backbone
from tftransformer.finetune import (
    GradualUnfreezing,
    create_optimizer,
    frozen_layer_names,
)
from tftransformer.models import (
    TextClassifier,
    TextClassifierPreprocessor,
    TokenClassifier,
)

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "fine", "dull", "film"]
TEXTS = ["a fine film", "dull", "a dull film", "fine"]
FEATURES = {
    "token_ids": np.array([[2, 5, 6, 8, 3], [2, 7, 3, 0, 0]] * 2, "int32"),
    "segment_ids": np.zeros((4, 5), "int32"),
    "padding_mask": np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]] * 2, "int32"),
}


def _text_classifier():
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    preprocessor = TextClassifierPreprocessor(tokenizer, sequence_length=8)
    model = TextClassifier(
        tiny_bert_backbone(dropout=0.0), 2, preprocessor=preprocessor, dropout=0.0
    )
    return model, TEXTS, np.array([1, 0, 0, 1])


def _token_classifier():
    model = TokenClassifier(tiny_bert_backbone(dropout=0.0), num_tags=3, dropout=0.0)
    return model, FEATURES, np.array([[0, 1, 2, 1, 0], [0, 2, 0, 0, 0]] * 2)


@pytest.mark.parametrize(
    "make, layer_decay, unfreeze",
    [
        (_text_classifier, None, False),
        (_text_classifier, 0.8, False),
        (_token_classifier, None, False),
        # The optimizer holds slots for layers still frozen at save time.
        (_text_classifier, None, True),
    ],
    ids=["text", "text-layer-decay", "token", "text-gradual-unfreezing"],
)
def test_loaded_model_trains_on_with_its_saved_optimizer(
    make, layer_decay, unfreeze, tmp_path
):
    model, x, y = make()
    # Weight decay large enough that decaying a bias or LayerNorm scale after
    # loading would move the weights apart.
    optimizer = create_optimizer(
        1e-2,
        num_train_steps=10,
        weight_decay=0.5,
        layer_decay=layer_decay,
        model=model if layer_decay else None,
    )
    model.compile(optimizer=optimizer)
    callbacks = [GradualUnfreezing(every_epochs=2)] if unfreeze else []
    model.fit(
        x, y, batch_size=4, epochs=3, verbose=0, shuffle=False, callbacks=callbacks
    )
    path = tmp_path / "model.keras"
    model.save(path)
    with warnings.catch_warnings():
        # Keras warns when it skips compile() or the optimizer's variables.
        warnings.simplefilter("error")
        loaded = keras.saving.load_model(path)
    assert type(loaded.optimizer) is type(model.optimizer)
    assert frozen_layer_names(loaded) == frozen_layer_names(model)
    assert int(loaded.optimizer.iterations) == 3

    model.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    loaded.fit(x, y, batch_size=4, epochs=2, verbose=0, shuffle=False)
    for got, want in zip(loaded.get_weights(), model.get_weights()):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-7)
