import pytest


def test_tiny_run_times_every_system_against_the_export(
    serving, small_vocabulary_preset
):
    # A tiny preset: the table, not the embedded checkpoint, is checked here.
    rows = serving.run(
        calls_batch_1=2,
        calls_batch_32=1,
        warmup_calls=1,
        sequence_length=16,
        preset=small_vocabulary_preset,
    )
    assert [(row["system"], row["batch_size"], row["calls"]) for row in rows] == [
        (system, batch, calls)
        for batch, calls in ((1, 2), (32, 1))
        for system in (
            "exported SavedModel signature",
            "keras-hub BertTextClassifier.predict",
            "tftransformer TextClassifier.predict",
        )
    ]
    for row in rows:
        assert row["p50_ms"] > 0 and row["examples_per_s"] > 0
        if row["system"] == "exported SavedModel signature":
            assert row["p50_vs_export"] == row["throughput_vs_export"] == 1.0
    assert "| exported SavedModel signature | 32 | 1 |" in serving.format_table(rows)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"calls_batch_1": 0}, "calls_batch_1=0"),
        ({"calls_batch_32": 2.5}, "calls_batch_32=2.5"),
        ({"warmup_calls": -1}, "warmup_calls=-1"),
        ({"sequence_length": 1}, "sequence_length=1"),
    ],
)
def test_bad_counts_are_refused_before_loading(serving, kwargs, message):
    with pytest.raises(ValueError, match=message):
        serving.run(**kwargs)
