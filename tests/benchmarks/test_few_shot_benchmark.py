import pytest


def test_settings_are_checked(few_shot_bench):
    config = few_shot_bench.default_config(num_iterations=3)
    # As many plain fine-tuning passes as pairs per example.
    assert config["finetune_epochs"] == 6
    assert few_shot_bench.default_config(finetune_epochs=2)["finetune_epochs"] == 2
    with pytest.raises(ValueError, match="batch_size=0"):
        few_shot_bench.default_config(batch_size=0)
    with pytest.raises(ValueError, match="epoch"):
        few_shot_bench.default_config(epoch=1)
    with pytest.raises(ValueError, match="'lora'"):
        few_shot_bench.run_benchmark(["ours-setfit", "lora"], [8], [0], config)
    with pytest.raises(ValueError, match=r"examples_per_class=\[0\]"):
        few_shot_bench.run_benchmark(["ours-setfit"], [0], [0], config)
    with pytest.raises(ValueError, match="method='lora'"):
        few_shot_bench.run_worker("lora", 8, 0, config)


def test_same_examples_and_test_texts_for_every_method(few_shot_bench):
    examples, test = few_shot_bench.load_data(4, 3, 20)
    again, test_again = few_shot_bench.load_data(4, 3, 20)
    assert list(examples.texts) == list(again.texts)
    assert sorted(examples.labels.tolist()) == [0] * 4 + [1] * 4
    # The test subset does not depend on the seed of the examples.
    _, other_test = few_shot_bench.load_data(8, 0, 20)
    assert len(test) == 20
    assert list(test.texts) == list(test_again.texts) == list(other_test.texts)


def _run(method, per_class, seed, accuracy, seconds=10.0):
    return {
        "method": method,
        "examples_per_class": per_class,
        "seed": seed,
        "accuracy": accuracy,
        "seconds": seconds,
    }


def test_summary_and_markdown(few_shot_bench):
    runs = [
        _run("setfit", 8, 0, 0.6, 30.0),
        _run("ours-setfit", 8, 0, 0.7, 20.0),
        _run("ours-setfit", 8, 1, 0.8, 40.0),
        _run("ours-setfit", 16, 0, 0.9),
        {"method": "setfit", "examples_per_class": 8, "seed": 1, "error": "E\nBoom"},
    ]
    rows = few_shot_bench.summarize(runs)
    # Sorted by examples per class, then in the order of METHODS.
    assert [(row["examples_per_class"], row["method"]) for row in rows] == [
        (8, "ours-setfit"),
        (8, "setfit"),
        (16, "ours-setfit"),
    ]
    ours = rows[0]
    assert ours["seeds"] == [0, 1]
    assert ours["accuracy_mean"] == pytest.approx(0.75)
    assert ours["accuracy_std"] == pytest.approx(0.0707107, abs=1e-6)
    assert ours["seconds_median"] == 30.0
    assert rows[1]["seeds"] == [0] and rows[1]["accuracy_std"] == 0.0
    config = few_shot_bench.default_config()
    report = few_shot_bench.format_markdown(
        {
            "date": "today",
            "command": "cmd",
            "machine": "cpu",
            "load_average_before": 1.0,
            "load_average_after": 2.0,
            "config": config,
            "test_examples": 500,
            "skipped": {"setfit": "setfit skipped: x"},
            "runs": runs,
            "summary": rows,
        }
    )
    assert "| 8 | ours-setfit | 2 | 0.750 ± 0.071 | 0.700-0.800 | 30 |" in report
    assert "- failed: setfit 8/class seed 1: Boom" in report
    assert "- setfit skipped: x" in report
    assert "pairs: 40 per example (num_iterations=20), batch 16" in report


@pytest.mark.parametrize("method", ["ours-setfit", "ours-finetune"])
def test_ours_in_process(few_shot_bench, small_vocabulary_preset, method):
    config = few_shot_bench.default_config(
        preset=small_vocabulary_preset,
        max_test_examples=8,
        num_iterations=1,
        batch_size=4,
        max_length=32,
        head_epochs=10,
    )
    run = few_shot_bench.run_worker(method, 2, 0, config)
    assert run["train_examples"] == 4 and run["test_examples"] == 8
    # The accuracy of 8 predictions.
    assert round(run["accuracy"] * 8, 6) == round(run["accuracy"] * 8)
    assert run["seconds"] > 0
    # One round: one pair with the same label and one with the other, each.
    assert run["pairs"] == (8 if method == "ours-setfit" else None)


def test_missing_setfit_is_skipped(few_shot_bench, monkeypatch):
    monkeypatch.setattr(
        few_shot_bench, "setfit_unavailable_reason", lambda: "setfit skipped: x"
    )
    results = few_shot_bench.run_benchmark(
        ["setfit"], [8], [0], few_shot_bench.default_config(), verbose=False
    )
    assert results["skipped"] == {"setfit": "setfit skipped: x"}
    assert results["runs"] == [] and results["summary"] == []
