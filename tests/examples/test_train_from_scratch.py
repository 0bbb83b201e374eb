import keras
import numpy as np
import pytest

from examples import train_from_scratch

TINY = dict(
    num_layers=1,
    num_heads=2,
    hidden_dim=16,
    intermediate_dim=32,
    batch_size=16,
    max_length=32,
    max_train_examples=128,
    max_eval_examples=32,
    learning_rate=3e-3,
    verbose=0,
)


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
def test_run_trains_reports_and_saves(position_kind, tmp_path):
    result = train_from_scratch.run(
        epochs=8, position_kind=position_kind, model_dir=str(tmp_path), **TINY
    )
    # The model must fit its 128 training snippets: it can only if it reads
    # the token ids (a model fed the wrong features stays near 0.55).
    accuracy = result["history"]["accuracy"]
    assert accuracy[-1] > 0.9, accuracy
    assert int(np.sum(result["report"].support)) == 32
    assert (tmp_path / "report.json").exists()
    reloaded = keras.saving.load_model(result["model_path"])
    features = {
        "token_ids": np.array([[101, 2307, 3185, 102]], "int32"),
        "padding_mask": np.ones((1, 4), bool),
    }
    np.testing.assert_allclose(
        reloaded.predict(features, verbose=0),
        result["model"].predict(features, verbose=0),
        atol=1e-5,
    )


def test_bad_batch_size(tmp_path):
    with pytest.raises(ValueError, match="batch_size=0"):
        train_from_scratch.run(**{**TINY, "batch_size": 0}, model_dir=str(tmp_path))
