import json

import numpy as np
import pytest

from tftransformer.evaluation import (
    EntityReport,
    TokenAccuracy,
    entity_report,
    extract_entities,
)

# --- Reading entities from BIO tags -----------------------------------------


@pytest.mark.parametrize(
    "tags, expected",
    [
        ([], []),
        (["O", "O"], []),
        # An entity at the sentence's end.
        (["O", "B-PER", "I-PER"], [("PER", 1, 3)]),
        (["B-LOC"], [("LOC", 0, 1)]),
        # Consecutive entities of one type: B- B- is two entities.
        (["B-LOC", "B-LOC", "I-LOC"], [("LOC", 0, 1), ("LOC", 1, 3)]),
        # An I- without a B- starts an entity (conlleval).
        (["I-ORG", "I-ORG", "O"], [("ORG", 0, 2)]),
        (["O", "I-ORG", "O", "I-ORG"], [("ORG", 1, 2), ("ORG", 3, 4)]),
        # An I- of another type ends the entity and starts a new one.
        (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 3)]),
        (["I-PER", "I-LOC"], [("PER", 0, 1), ("LOC", 1, 2)]),
        # Types with hyphens (WNUT's "geo-loc").
        (["B-geo-loc", "I-geo-loc", "O"], [("geo-loc", 0, 2)]),
    ],
)
def test_extract_entities_follows_conlleval(tags, expected):
    assert extract_entities(tags) == expected


def test_extract_entities_refuses_non_bio_tags():
    with pytest.raises(ValueError, match=r"Tag 'E-PER' \(position 1\) is not a BIO"):
        extract_entities(["O", "E-PER"])
    with pytest.raises(ValueError, match="not a string"):
        extract_entities("B-PER")


# --- Scores ---------------------------------------------------------------


def test_entity_report_scores_exact_span_and_type():
    true = [
        ["B-PER", "I-PER", "O", "B-LOC"],  # PER 0-2, LOC 3-4
        ["B-LOC", "B-LOC", "O", "B-ORG", "I-ORG"],  # LOC 0-1, LOC 1-2, ORG 3-5
        ["O", "O", "B-PER"],  # PER 2-3 (sentence end)
    ]
    predicted = [
        ["B-PER", "I-PER", "O", "B-LOC"],  # both right
        ["B-LOC", "I-LOC", "O", "B-ORG", "O"],  # LOC 0-2 wrong span, ORG 3-4 wrong
        ["O", "O", "B-LOC"],  # wrong type
    ]
    report = entity_report(true, predicted)
    assert report.entity_types == ("LOC", "ORG", "PER")
    per_type = report.per_type
    # LOC: true 3, predicted 3 (3-4, 0-2, 2-3), correct 1.
    assert per_type["LOC"]["support"] == 3
    assert per_type["LOC"]["predicted"] == 3
    assert per_type["LOC"]["correct"] == 1
    assert per_type["LOC"]["precision"] == pytest.approx(1 / 3)
    assert per_type["LOC"]["recall"] == pytest.approx(1 / 3)
    assert per_type["LOC"]["f1"] == pytest.approx(1 / 3)
    # ORG: true 1, predicted 1, correct 0.
    assert per_type["ORG"] == {
        "precision": 0.0,
        "recall": 0.0,
        "f1": 0.0,
        "support": 1,
        "predicted": 1,
        "correct": 0,
    }
    # PER: true 2, predicted 1, correct 1.
    assert per_type["PER"]["precision"] == 1.0
    assert per_type["PER"]["recall"] == 0.5
    assert per_type["PER"]["f1"] == pytest.approx(2 / 3)
    # Micro: 2 correct of 5 predicted and 6 true.
    micro = report.micro
    assert (micro["correct"], micro["predicted"], micro["support"]) == (2, 5, 6)
    assert micro["precision"] == pytest.approx(0.4)
    assert micro["recall"] == pytest.approx(1 / 3)
    assert micro["f1"] == pytest.approx(2 * 0.4 * (1 / 3) / (0.4 + 1 / 3))
    macro = report.macro
    assert macro["precision"] == pytest.approx((1 / 3 + 0 + 1) / 3)
    assert macro["recall"] == pytest.approx((1 / 3 + 0 + 0.5) / 3)
    assert macro["f1"] == pytest.approx((1 / 3 + 0 + 2 / 3) / 3)
    # Words: 12, wrong at sentence 2 positions 1 and 4, sentence 3 position 2.
    assert report.num_words == 12
    assert report.token_accuracy == pytest.approx(9 / 12)
    assert report.num_sentences == 3


def test_malformed_prediction_is_scored_as_conlleval_reads_it():
    # The predicted I-PER I-PER is read as one PER entity: a correct match.
    report = entity_report([["B-PER", "I-PER", "O"]], [["I-PER", "I-PER", "O"]])
    assert report.micro["f1"] == 1.0
    # Token accuracy still counts the differing tag.
    assert report.token_accuracy == pytest.approx(2 / 3)


def test_types_only_predicted_count_in_the_macro_average():
    report = entity_report([["B-PER", "O"]], [["B-PER", "B-LOC"]])
    assert report.entity_types == ("LOC", "PER")
    assert report.per_type["LOC"]["support"] == 0
    assert report.macro["f1"] == pytest.approx(0.5)
    assert report.micro["precision"] == 0.5
    assert report.micro["recall"] == 1.0


def test_no_entities_gives_zeros():
    report = entity_report([["O", "O"]], [["O", "O"]])
    assert report.entity_types == ()
    assert report.micro["f1"] == 0.0
    assert report.macro["f1"] == 0.0
    assert report.token_accuracy == 1.0


def test_entity_report_checks_its_inputs():
    with pytest.raises(ValueError, match="same number of sentences"):
        entity_report([["O"]], [])
    with pytest.raises(ValueError, match="Sentence 0 has 2 true tags but 1 predicted"):
        entity_report([["O", "O"]], [["O"]])
    with pytest.raises(ValueError, match="'PER' .* is not a BIO tag"):
        entity_report([["PER"]], [["O"]])


def test_report_round_trips_through_json(tmp_path):
    report = entity_report(
        [["B-PER", "I-PER", "O", "B-LOC"]], [["B-PER", "I-PER", "B-LOC", "O"]]
    )
    path = tmp_path / "out" / "report.json"
    report.to_json(str(path))
    with open(path) as f:
        loaded = json.load(f)
    assert loaded == report.to_dict()
    assert loaded["micro"]["f1"] == pytest.approx(0.5)
    rebuilt = EntityReport.from_dict(loaded)
    assert rebuilt.to_dict() == report.to_dict()
    assert EntityReport.from_json(path).to_dict() == report.to_dict()
    text = report.format()
    assert "PER" in text and "micro" in text and "token accuracy 0.5000" in text


def test_report_refuses_inconsistent_counts():
    with pytest.raises(ValueError, match=r"correct_counts\['PER'\]=2 exceeds"):
        EntityReport({"PER": 1}, {"PER": 3}, {"PER": 2}, 5, 5, 1)
    with pytest.raises(ValueError, match="num_correct_words must be at most"):
        EntityReport({}, {}, {}, 2, 3, 1)
    with pytest.raises(ValueError, match="true_counts must be a dict"):
        EntityReport({"PER": -1}, {}, {}, 0, 0, 0)


# --- Token accuracy metric --------------------------------------------------


def test_token_accuracy_skips_ignored_positions():
    metric = TokenAccuracy()
    y_true = np.array([[-100, 1, 0, -100], [-100, 2, -100, -100]])
    logits = np.zeros((2, 4, 3), "float32")
    logits[0, 1, 1] = 1.0  # right
    logits[0, 2, 2] = 1.0  # wrong
    logits[1, 1, 2] = 1.0  # right
    logits[:, [0, 3], 0] = 5.0  # ignored positions, whatever their argmax
    metric.update_state(y_true, logits)
    assert float(metric.result()) == pytest.approx(2 / 3)
    metric.update_state(y_true, logits, sample_weight=np.array([1.0, 0.0]))
    assert float(metric.result()) == pytest.approx(3 / 5)
    config = metric.get_config()
    assert TokenAccuracy.from_config(config).ignore_label == -100


def test_token_accuracy_pools_batches_of_different_lengths():
    # 1 of 1 labelled positions right in a batch of length 2, 0 of 2 in a
    # batch of length 4: 1 right of 3, as one batch of both would give.
    metric = TokenAccuracy()
    metric.update_state([[1, -100]], [[[0.0, 1.0], [1.0, 0.0]]])
    metric.update_state([[0, 0, -100, -100]], [[[0.0, 1.0]] * 4])
    assert float(metric.result()) == pytest.approx(1 / 3)
