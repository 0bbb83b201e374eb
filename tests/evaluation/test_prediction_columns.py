"""`predict_columns`: each model's own predictions, as table columns."""

import keras
import numpy as np
import pytest

from tftransformer.evaluation import (
    predict_columns,
    predict_entities,
    predict_labels,
    predict_tags,
)
from tftransformer.testing import move_weights

TEXTS = ["a fine film", "a dull mess of a film", "Paris loves John"]
CONTEXTS = ["john is here", "the film is in paris", "john loves paris"]


def test_a_classifiers_columns_are_its_labels_and_probabilities(task_models):
    model = task_models["classifier"]
    columns = predict_columns(model, TEXTS, batch_size=2)
    expected = predict_labels(model, TEXTS)
    assert list(columns) == [
        "predicted_label",
        "probability_neg",
        "probability_mid",
        "probability_pos",
    ]
    assert columns["predicted_label"] == expected["label"]
    # Rows answer differently: a row given another's answer would show.
    assert np.ptp(expected["probabilities"][:, 0]) > 1e-4
    probabilities = np.array([columns[f"probability_{n}"] for n in model.label_names])
    np.testing.assert_allclose(probabilities.T, expected["probabilities"], rtol=1e-5)


def test_sentence_pairs_reach_the_model(task_models):
    model = task_models["classifier"]
    columns = predict_columns(model, TEXTS, CONTEXTS)
    expected = predict_labels(model, (TEXTS, CONTEXTS))
    np.testing.assert_allclose(
        columns["probability_pos"], expected["probabilities"][:, 2], rtol=1e-5
    )
    with pytest.raises(ValueError, match="2 text pairs for 3 texts"):
        predict_columns(model, TEXTS, CONTEXTS[:2])


def test_a_multi_label_classifiers_columns_are_its_label_sets(task_models):
    model = task_models["multi_label"]
    columns = predict_columns(model, TEXTS)
    expected = predict_labels(model, TEXTS)
    assert list(columns) == ["predicted_labels", "probability_a", "probability_b"]
    assert columns["predicted_labels"] == expected["labels"]
    np.testing.assert_allclose(
        columns["probability_b"], expected["probabilities"][:, 1], rtol=1e-5
    )


def test_a_regressors_columns_are_its_targets_in_their_units(task_models):
    model = task_models["regressor"]
    columns = predict_columns(model, TEXTS)
    assert list(columns) == ["predicted_x", "predicted_y"]
    expected = model.predict_targets(TEXTS)
    np.testing.assert_allclose(
        np.array([columns["predicted_x"], columns["predicted_y"]]).T,
        expected,
        rtol=1e-5,
    )


def test_a_taggers_columns_are_its_tags_and_entities(task_models):
    model = task_models["tagger"]
    columns = predict_columns(model, TEXTS)
    assert list(columns) == ["predicted_tags", "predicted_entities"]
    tags = predict_tags(model, TEXTS)["tags"]
    assert columns["predicted_tags"] == [" ".join(t) for t in tags]
    assert [len(t.split()) for t in columns["predicted_tags"]] == [3, 6, 3]
    entities = [r["entities"] for r in predict_entities(model, TEXTS)]
    assert columns["predicted_entities"] == entities
    with pytest.raises(ValueError, match="single sentences"):
        predict_columns(model, TEXTS, CONTEXTS)


def test_an_answerers_columns_are_its_answers(task_models):
    model = task_models["answerer"]
    columns = predict_columns(model, TEXTS, CONTEXTS)
    answers = model.predict_answers(TEXTS, CONTEXTS)
    assert list(columns) == [
        "predicted_answer",
        "answer_start",
        "answer_end",
        "answer_score",
    ]
    assert columns["predicted_answer"] == [a["answer"] for a in answers]
    assert columns["answer_start"] == [a["start"] for a in answers]
    np.testing.assert_allclose(
        columns["answer_score"], [a["score"] for a in answers], rtol=1e-5
    )
    with pytest.raises(ValueError, match="contexts as text_pairs"):
        predict_columns(model, TEXTS)


def test_an_embedders_columns_are_its_embeddings_or_its_heads_labels(task_models):
    embedder = task_models["embedder"]
    columns = predict_columns(embedder, TEXTS, batch_size=2)
    assert list(columns) == ["embedding"]
    embeddings = embedder.embed(TEXTS)
    np.testing.assert_allclose(columns["embedding"], embeddings, rtol=1e-5, atol=1e-6)
    # A few-shot classifier: the embedder and a head on its embeddings,
    # ending in a temperature as `calibrate_logistic_head` leaves it.
    head = move_weights(
        keras.Sequential(
            [
                keras.Input((embedder.embedding_dim,)),
                keras.layers.Dense(3),
                keras.layers.Rescaling(0.5),
            ]
        )
    )
    names = ["neg", "mid", "pos"]
    columns = predict_columns(embedder, TEXTS, head=head, label_names=names)
    assert list(columns) == ["predicted_label"] + [f"probability_{n}" for n in names]
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(head(embeddings), axis=-1))
    assert np.ptp(expected[:, 0]) > 1e-4
    probabilities = np.array([columns[f"probability_{n}"] for n in names]).T
    np.testing.assert_allclose(probabilities, expected, rtol=1e-5)
    assert columns["predicted_label"] == [names[i] for i in expected.argmax(-1)]
    unnamed = predict_columns(embedder, TEXTS, head=head)
    assert list(unnamed)[1:] == ["probability_0", "probability_1", "probability_2"]
    with pytest.raises(ValueError, match="embeds single texts"):
        predict_columns(embedder, TEXTS, CONTEXTS)
    with pytest.raises(ValueError, match="Received: label_names=\\['a'\\] without"):
        predict_columns(embedder, TEXTS, label_names=["a"])
    with pytest.raises(ValueError, match="TextEmbedder .*Received: a TextClassifier"):
        predict_columns(task_models["classifier"], TEXTS, head=head)
    narrow = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    with pytest.raises(
        ValueError, match=r"shape \(None, 16\), to one logit.*giving an error"
    ):
        predict_columns(embedder, TEXTS, head=narrow)
    single = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match=r"giving \(None, 1\)"):
        predict_columns(embedder, TEXTS, head=single)
    with pytest.raises(ValueError, match="label_names"):
        predict_columns(embedder, TEXTS, head=head, label_names=["a", "b"])


def test_other_models_and_bad_arguments_are_refused(task_models):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Received: a Sequential"):
        predict_columns(other, TEXTS)
    with pytest.raises(ValueError, match="batch_size"):
        predict_columns(task_models["classifier"], TEXTS, batch_size=0)
