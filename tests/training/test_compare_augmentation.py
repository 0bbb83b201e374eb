import json

import pytest

from examples import augment_compare


def test_tiny_comparison(tiny_preset, tmp_path):
    output = tmp_path / "compare.json"
    summary = augment_compare.run(
        train_examples=12,
        num_aug=1,
        epochs=1,
        batch_size=8,
        max_length=32,
        max_test_examples=10,
        preset=tiny_preset,
        synonym_source={"film": ["movie"], "good": ["fine"]},
        output=str(output),
        verbose=0,
    )
    results = summary["results"]
    assert list(results) == ["baseline", "eda", "baseline_same_steps"]
    assert [r["train_examples"] for r in results.values()] == [12, 24, 12]
    assert [r["epochs"] for r in results.values()] == [1, 1, 2]
    # The schedule lasts exactly the steps run: every batch of the length
    # buckets counted, at least ceil(12 / 8) = 2 an epoch for the subset.
    for r in results.values():
        assert r["steps"] == r["schedule_steps"]
    baseline, eda, same_steps = results.values()
    assert baseline["schedule_steps"] >= 2 and eda["schedule_steps"] >= 3
    assert same_steps["schedule_steps"] == 2 * baseline["schedule_steps"]
    for r in results.values():
        assert 0 <= r["accuracy"] <= 1
    assert summary["test_examples"] == 10
    with open(output) as f:
        written = json.load(f)["results"]
    assert {k: r["accuracy"] for k, r in written.items()} == pytest.approx(
        {k: r["accuracy"] for k, r in results.items()}
    )


def test_bad_arguments():
    with pytest.raises(ValueError, match="train_examples=0"):
        augment_compare.run(train_examples=0, verbose=0)
    with pytest.raises(ValueError, match="num_aug=0"):
        augment_compare.run(train_examples=4, num_aug=0, verbose=0)
    with pytest.raises(ValueError, match=r"alpha must be a number in \[0, 1\]"):
        augment_compare.run(train_examples=4, alpha=2.0, verbose=0)
    with pytest.raises(ValueError, match="seed=-1"):
        augment_compare.run(train_examples=4, seed=-1, verbose=0)
