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
from tftransformer.models import (
    MultiLabelClassifier,
    QuestionAnswerer,
    TextClassifier,
    TextEmbedder,
    TextRegressor,
    TokenClassifier,
)

TEXTS = ["a fine film", "a dull mess of a film", "Paris loves John"]
CONTEXTS = ["john is here", "the film is in paris", "john loves paris"]


def moved(model):
    # Weights no initializer gives: each text gets its own answer.
    rng = np.random.default_rng(0)
    for variable in model.trainable_weights:
        variable.assign(variable + rng.normal(0, 0.3, variable.shape))
    return model


@pytest.fixture(scope="module")
def models(small_vocabulary_preset):
    preset = small_vocabulary_preset
    return {
        "classifier": moved(
            TextClassifier.from_preset(
                preset,
                num_classes=3,
                label_names=["neg", "mid", "pos"],
                temperature=2.0,
                sequence_length=16,
            )
        ),
        "multi_label": moved(
            MultiLabelClassifier.from_preset(
                preset,
                num_labels=2,
                label_names=["a", "b"],
                thresholds=[0.4, 0.6],
                sequence_length=16,
            )
        ),
        "regressor": moved(
            TextRegressor.from_preset(
                preset,
                num_targets=2,
                target_names=["x", "y"],
                target_mean=[1.0, -2.0],
                target_std=[2.0, 0.5],
                sequence_length=16,
            )
        ),
        "tagger": moved(
            TokenClassifier.from_preset(
                preset, num_tags=3, tag_names=["O", "B-x", "I-x"], sequence_length=16
            )
        ),
        "answerer": moved(
            QuestionAnswerer.from_preset(
                preset, sequence_length=32, doc_stride=8, max_question_length=8
            )
        ),
        "embedder": moved(TextEmbedder.from_preset(preset, sequence_length=16)),
    }


def test_a_classifiers_columns_are_its_labels_and_probabilities(models):
    model = models["classifier"]
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


def test_sentence_pairs_reach_the_model(models):
    model = models["classifier"]
    columns = predict_columns(model, TEXTS, CONTEXTS)
    expected = predict_labels(model, (TEXTS, CONTEXTS))
    np.testing.assert_allclose(
        columns["probability_pos"], expected["probabilities"][:, 2], rtol=1e-5
    )
    with pytest.raises(ValueError, match="2 text pairs for 3 texts"):
        predict_columns(model, TEXTS, CONTEXTS[:2])


def test_a_multi_label_classifiers_columns_are_its_label_sets(models):
    model = models["multi_label"]
    columns = predict_columns(model, TEXTS)
    expected = predict_labels(model, TEXTS)
    assert list(columns) == ["predicted_labels", "probability_a", "probability_b"]
    assert columns["predicted_labels"] == expected["labels"]
    np.testing.assert_allclose(
        columns["probability_b"], expected["probabilities"][:, 1], rtol=1e-5
    )


def test_a_regressors_columns_are_its_targets_in_their_units(models):
    model = models["regressor"]
    columns = predict_columns(model, TEXTS)
    assert list(columns) == ["predicted_x", "predicted_y"]
    expected = model.predict_targets(TEXTS)
    np.testing.assert_allclose(
        np.array([columns["predicted_x"], columns["predicted_y"]]).T,
        expected,
        rtol=1e-5,
    )


def test_a_taggers_columns_are_its_tags_and_entities(models):
    model = models["tagger"]
    columns = predict_columns(model, TEXTS)
    assert list(columns) == ["predicted_tags", "predicted_entities"]
    tags = predict_tags(model, TEXTS)["tags"]
    assert columns["predicted_tags"] == [" ".join(t) for t in tags]
    assert [len(t.split()) for t in columns["predicted_tags"]] == [3, 6, 3]
    entities = [r["entities"] for r in predict_entities(model, TEXTS)]
    assert columns["predicted_entities"] == entities
    with pytest.raises(ValueError, match="single sentences"):
        predict_columns(model, TEXTS, CONTEXTS)


def test_an_answerers_columns_are_its_answers(models):
    model = models["answerer"]
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


def test_an_embedders_columns_are_its_embeddings_or_its_heads_labels(models):
    embedder = models["embedder"]
    columns = predict_columns(embedder, TEXTS, batch_size=2)
    assert list(columns) == ["embedding"]
    embeddings = embedder.embed(TEXTS)
    np.testing.assert_allclose(columns["embedding"], embeddings, rtol=1e-5, atol=1e-6)
    # A few-shot classifier: the embedder and a head on its embeddings,
    # ending in a temperature as `calibrate_logistic_head` leaves it.
    head = moved(
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
        predict_columns(models["classifier"], TEXTS, head=head)
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


def test_other_models_and_bad_arguments_are_refused(models):
    other = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Received: a Sequential"):
        predict_columns(other, TEXTS)
    with pytest.raises(ValueError, match="batch_size"):
        predict_columns(models["classifier"], TEXTS, batch_size=0)
