"""A tiny classifier trains and evaluates epoch after epoch for half a minute
in a real process: memory stays flat and no step is traced again."""

import json
import statistics

from tests.fast_exit import python_command
from tests.reliability.conftest import ROOT, run_to_completion

SECONDS = 30
MIN_EPOCHS = 10
WARM_UP_EPOCHS = 3
# Measured after a garbage collection, resident memory stays within about
# 10 MB from epoch to epoch; keeping what an epoch builds (its data, the
# checkpoint arrays, a trace) would add several MB every epoch.
MAX_GROWTH_BYTES = 32 * 2**20


def test_memory_and_tracing_stay_flat(tiny_preset, tiny_data, tmp_path):
    output = tmp_path / "soak.json"
    run_to_completion(
        [
            *python_command(),
            str(ROOT / "tests" / "reliability" / "soak_script.py"),
            tiny_preset,
            tiny_data["train"],
            str(tmp_path / "run"),
            str(output),
            str(SECONDS),
            str(MIN_EPOCHS),
        ],
        tmp_path / "soak.log",
        timeout=600,
    )
    records = json.loads(output.read_text())
    assert len(records) >= MIN_EPOCHS
    warm = records[WARM_UP_EPOCHS:]
    # The train and test steps are traced while warming up, never after.
    assert {r["traces"] for r in warm} == {warm[0]["traces"]}, records
    window = max(3, len(warm) // 3)
    early = statistics.median(r["rss"] for r in warm[:window])
    late = statistics.median(r["rss"] for r in warm[-window:])
    assert late - early < MAX_GROWTH_BYTES, [r["rss"] // 2**20 for r in records]
