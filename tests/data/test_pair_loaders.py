import numpy as np
import pytest

from tftransformer.data import DataError, TextPairs, load_text_pairs, make_pair_dataset
from tftransformer.models import TextClassifierPreprocessor
from tftransformer.presets import load_backbone


def test_reads_tsv_csv_and_jsonl(tmp_path):
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text(
        "anchor\tpositive\tnegative\na cat\ta kitten\ta car\nsun\tday\tnight\n"
    )
    pairs = load_text_pairs(tsv, negative_column="negative")
    assert pairs.anchors == ("a cat", "sun")
    assert pairs.negatives == ("a car", "night")
    assert pairs.texts_per_example == 3 and len(pairs) == 2

    csv = tmp_path / "scored.csv"
    csv.write_text('a,b,score\n"x, y",z,0.5\nq,r,1\n')
    pairs = load_text_pairs(csv, "a", "b", score_column="score")
    assert pairs.anchors == ("x, y", "q")
    np.testing.assert_allclose(pairs.scores, [0.5, 1.0])

    jsonl = tmp_path / "pairs.jsonl"
    jsonl.write_text(
        '{"anchor": "a", "positive": "b"}\n{"anchor": "c", "positive": ""}\n'
    )
    with pytest.raises(DataError, match="line 2: empty text in column 'positive'"):
        load_text_pairs(jsonl)
    assert len(load_text_pairs(jsonl, on_bad_rows="skip")) == 1


def test_bad_files_name_the_problem(tmp_path):
    path = tmp_path / "pairs.csv"
    path.write_text("query,answer\na,b\n")
    with pytest.raises(DataError, match="no anchor column 'anchor'"):
        load_text_pairs(path)
    path.write_text("anchor,positive,score\na,b,high\n")
    bad_score = r"expected a finite number \(float32\) in column .score."
    with pytest.raises(DataError, match=bad_score):
        load_text_pairs(path, score_column="score")
    # Finite, but inf as a float32 score.
    for score in ("1e39", "9" * 400):
        path.write_text(f"anchor,positive,score\na,b,{score}\n")
        with pytest.raises(DataError, match=bad_score):
            load_text_pairs(path, score_column="score")
    with pytest.raises(ValueError, match="Every field must hold one entry"):
        TextPairs(("a", "b"), ("c",))
    # In memory as from a file: a NaN score made the loss NaN.
    with pytest.raises(ValueError, match=r"scores must be finite.*scores\[1\]=nan"):
        TextPairs(("a", "b"), ("c", "d"), scores=[0.5, np.nan])
    with pytest.raises(ValueError, match=r"1-D\). Received: scores of shape \(2, 2\)"):
        TextPairs(("a", "b"), ("c", "d"), scores=[[0.5, 1.0], [0.0, 1.0]])
    with pytest.raises(ValueError, match="count=-1"):
        TextPairs(("a", "b"), ("c", "d")).sample(-1)


def test_dataset_groups_the_texts_of_each_example(tiny_preset):
    _, preprocessor = load_backbone(tiny_preset, sequence_length=16)
    preprocessor = TextClassifierPreprocessor(
        preprocessor.tokenizer, sequence_length=16
    )
    pairs = TextPairs(
        ("a cat", "sun", "rain falls", "snow"),
        ("a kitten", "day", "it pours down today", "ice"),
        scores=[1.0, 0.5, 0.0, -1.0],
    )
    batches = list(make_pair_dataset(pairs, preprocessor, batch_size=3))
    features, scores = batches[0]
    assert features["token_ids"].shape[:2] == (3, 2)
    np.testing.assert_allclose(scores, [1.0, 0.5, 0.0])
    # Each text is tokenized alone: row (0, 1) is "a kitten".
    alone = preprocessor(["a kitten"])["token_ids"][0]
    np.testing.assert_array_equal(features["token_ids"][0, 1, : alone.shape[0]], alone)
    shuffled = list(
        make_pair_dataset(pairs, preprocessor, 4, shuffle=True, seed=(0, 1))
    )
    again = list(make_pair_dataset(pairs, preprocessor, 4, shuffle=True, seed=(0, 1)))
    np.testing.assert_array_equal(shuffled[0][1], again[0][1])
    assert sorted(shuffled[0][1].numpy()) == sorted(pairs.scores)
    # No pairs: refused, not failed deep in the tokenizer.
    with pytest.raises(ValueError, match="pairs holds no pairs"):
        make_pair_dataset(TextPairs((), ()), preprocessor, 4)
