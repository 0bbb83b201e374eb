import json
import os
import warnings

import keras_tuner
import numpy as np
import pytest

from tests.tuning.tiny_splits import tiny_splits
from tftransformer import finetune, tuning
from tftransformer.tuning import (
    SEARCHABLE_PARAMETERS,
    SearchSpace,
    TextClassifierHyperModel,
    create_tuner,
)


@pytest.fixture(scope="module")
def splits():
    return tiny_splits()


class CountingHyperModel(TextClassifierHyperModel):
    """Counts the trials it trains."""

    fits = 0

    def fit(self, hp, model, *args, **kwargs):
        CountingHyperModel.fits += 1
        return super().fit(hp, model, *args, **kwargs)


SPACE = {
    "learning_rate": {"min": 1e-4, "max": 1e-2, "sampling": "log"},
    "batch_size": [4, 8],
    "freeze_layers": {"min": 0, "max": 2},
    "layer_decay": {"min": 0.5, "max": 1.0},
    "lora_rank": [0, 2],
    "dropout": {"min": 0.0, "max": 0.3},
    "warmup_fraction": {"min": 0.0, "max": 0.2},
}


def test_search_stays_in_space_and_resumes_from_its_directory(
    small_vocabulary_preset, splits, tmp_path
):
    train, validation = splits
    space = SearchSpace(SPACE)

    def tuner(max_trials):
        hypermodel = CountingHyperModel(
            space,
            num_classes=2,
            preset=small_vocabulary_preset,
            max_length=32,
            run_eagerly=True,
        )
        # Bayesian optimization: 1 random trial, then Gaussian-process proposals.
        return create_tuner(
            hypermodel,
            "bayesian",
            directory=tmp_path,
            project_name="resume",
            max_trials=max_trials,
            num_initial_points=1,
        )

    CountingHyperModel.fits = 0
    tuner(2).search(train, validation_data=validation, epochs=1, verbose=0)
    assert CountingHyperModel.fits == 2

    # A new tuner on the same directory reloads the oracle: 1 trial is missing.
    resumed = tuner(3)
    assert len(resumed.oracle.trials) == 2
    resumed.search(train, validation_data=validation, epochs=1, verbose=0)
    assert CountingHyperModel.fits == 3

    records = tuning.trial_records(resumed)
    assert [r["status"] for r in records] == ["COMPLETED"] * 3
    for record in records:
        # Trials with LoRA have no freeze_layers.
        expected = set(SPACE) - (
            {"freeze_layers"} if record["values"]["lora_rank"] else set()
        )
        assert set(record["values"]) == expected, record["values"]
        assert space.contains(record["values"]), record["values"]
        assert 0.0 <= record["score"] <= 1.0
    with open(os.path.join(resumed.project_dir, tuning.TRIALS_FILE)) as f:
        assert len(json.load(f)) == 3

    best = tuning.best_run_config(resumed)
    assert set(best) <= set(SPACE) and "learning_rate" in best
    path = tuning.save_run_config(best, tmp_path / "best.json")
    assert tuning.load_run_config(path, SEARCHABLE_PARAMETERS) == best


def test_failed_trial_is_recorded_and_search_goes_on(
    small_vocabulary_preset, splits, tmp_path
):
    train, validation = splits
    # Three trials, one per learning rate; the two huge ones blow the weights
    # up to inf and the loss to NaN. Whatever the order, a failure is
    # followed by another trial.
    space = SearchSpace(
        {"learning_rate": [1e-3, 1e30, 1e32], "batch_size": 8, "warmup_fraction": 0.0}
    )
    hypermodel = TextClassifierHyperModel(
        space,
        num_classes=2,
        preset=small_vocabulary_preset,
        max_length=32,
        run_eagerly=True,
    )
    tuner = create_tuner(
        hypermodel, "random", directory=tmp_path, project_name="fail", max_trials=3
    )
    tuner.search(train, validation_data=validation, epochs=1, verbose=0)

    records = tuning.trial_records(tuner)
    assert len(records) == 3
    for record in records:
        failed = record["values"]["learning_rate"] > 1.0
        assert record["status"] == ("FAILED" if failed else "COMPLETED"), record
        if failed:
            assert record["reason"].startswith(
                "FailedTrialError: Non-finite training loss"
            ), record["reason"]
            assert record["score"] is None
    with open(os.path.join(tuner.project_dir, tuning.FAILED_TRIALS_FILE)) as f:
        failed = json.load(f)
    assert sorted(r["values"]["learning_rate"] for r in failed) == [1e30, 1e32]
    assert all("learning_rate=1e+3" in r["reason"] for r in failed)
    assert tuning.best_run_config(tuner)["learning_rate"] == 1e-3
    table = tuning.format_trial_table(records)
    assert table.count("FAILED") == 2 and table.count("COMPLETED") == 1


class AdapterRecordingHyperModel(TextClassifierHyperModel):
    """Records each trial's LoRA adapters before and after training."""

    fits = []

    def fit(self, hp, model, *args, **kwargs):
        def adapters():
            return {v.path: v.numpy().copy() for v in finetune.lora_variables(model)}

        before = adapters()
        history = super().fit(hp, model, *args, **kwargs)
        AdapterRecordingHyperModel.fits.append((dict(hp.values), before, adapters()))
        return history


def test_hyperband_continuation_trials_train_their_lora_adapters(
    small_vocabulary_preset, splits, tmp_path
):
    train, validation = splits
    hypermodel = AdapterRecordingHyperModel(
        {
            "lora_rank": 2,
            "learning_rate": {"min": 1e-3, "max": 1e-2, "sampling": "log"},
            "batch_size": 8,
        },
        num_classes=2,
        preset=small_vocabulary_preset,
        max_length=32,
        run_eagerly=True,
    )
    # Factor 2 over 2 epochs: two 1-epoch trials, the better one continued
    # for a second epoch from its weights, then two 2-epoch trials.
    tuner = create_tuner(
        hypermodel, "hyperband", directory=tmp_path, max_epochs=2, hyperband_factor=2
    )
    AdapterRecordingHyperModel.fits = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        tuner.search(train, validation_data=validation, epochs=2, verbose=0)
        best = tuner.get_best_models(1)[0]
    # The continuation and the best model load a checkpoint's weights into a
    # new optimizer's model: that is meant, Keras' "Skipping variable
    # loading for optimizer" warning is not passed on.
    assert not [w for w in caught if "variable loading" in str(w.message)]
    assert best.count_params() > 0

    continued = [
        fit for fit in AdapterRecordingHyperModel.fits if "tuner/trial_id" in fit[0]
    ]
    assert len(continued) == 1 and len(AdapterRecordingHyperModel.fits) == 5
    for values, before, after in AdapterRecordingHyperModel.fits:
        assert before and set(before) == set(after)
        for path in before:
            kind = path.rsplit("/", 1)[-1]
            # Started as `enable_lora` does: A random, B zero.
            assert np.any(before[path]) == (kind == "lora_kernel_a"), (values, path)
            # And trained.
            assert not np.array_equal(before[path], after[path]), (values, path)
    # A trial's values, Hyperband's bookkeeping included, rebuild it.
    for trial in tuner.oracle.trials.values():
        hp = hypermodel.hyperparameters_for(trial.hyperparameters.values)
        assert hypermodel.trial_values(hp) == hypermodel.trial_values(
            trial.hyperparameters
        )


def test_create_tuner_algorithms_and_arguments(tmp_path):
    hypermodel = TextClassifierHyperModel({"dropout": [0.0, 0.1]}, num_classes=2)
    hyperband = create_tuner(
        hypermodel, "hyperband", directory=tmp_path, project_name="hb", max_epochs=3
    )
    assert hyperband.oracle.max_epochs == 3
    assert hyperband.oracle.objective.name == "val_accuracy"
    assert hyperband.oracle.objective.direction == "max"
    random = create_tuner(
        hypermodel, directory=tmp_path, project_name="loss", objective="val_loss"
    )
    assert random.oracle.objective.direction == "min"
    # Without an objective, the hypermodel's monitor is it.
    f1 = TextClassifierHyperModel(
        {"dropout": [0.0, 0.1]}, num_classes=2, monitor="val_macro_f1"
    )
    f1 = create_tuner(f1, directory=tmp_path, project_name="f1").oracle.objective
    assert (f1.name, f1.direction) == ("val_macro_f1", "max")
    with pytest.raises(ValueError, match="algorithm='grid'"):
        create_tuner(hypermodel, "grid", directory=tmp_path)
    with pytest.raises(ValueError, match="max_trials=0"):
        create_tuner(hypermodel, directory=tmp_path, max_trials=0)
    with pytest.raises(ValueError, match="direction='up'"):
        create_tuner(hypermodel, directory=tmp_path, direction="up")


def test_tied_trials_rank_in_the_order_they_ran_after_a_reload(tmp_path, monkeypatch):
    # A reloaded oracle held its trials in the order the file system listed
    # their folders: a rerun of a finished search wrote another of the
    # tied trials to best.json.
    hypermodel = TextClassifierHyperModel({"dropout": [0.0, 0.1, 0.2]}, num_classes=2)
    tuner = create_tuner(hypermodel, directory=tmp_path, max_trials=3)
    for _ in range(3):
        trial = tuner.oracle.create_trial("tuner0")
        tuner.oracle.update_trial(trial.trial_id, {"val_accuracy": 0.5})
        trial.status = "COMPLETED"
        tuner.oracle.end_trial(trial)
    tuner.save()
    first = tuner.oracle.trials["0"].hyperparameters.values
    assert tuning.best_run_config(tuner) == first
    # The file system lists the trials last first.
    io = keras_tuner.src.backend.io
    listed = io.glob
    monkeypatch.setattr(io, "glob", lambda pattern: sorted(listed(pattern))[::-1])
    reloaded = create_tuner(hypermodel, directory=tmp_path, max_trials=3)
    assert list(reloaded.oracle.trials) == ["0", "1", "2"]
    assert tuning.best_run_config(reloaded) == first


def test_project_resumes_only_with_its_own_settings(tmp_path):
    def tuner(space, **kwargs):
        hypermodel = TextClassifierHyperModel(space, num_classes=2)
        return create_tuner(hypermodel, directory=tmp_path, project_name="p", **kwargs)

    first = tuner({"dropout": [0.0, 0.1]}, search_settings={"data_sha256": "a"})
    with open(os.path.join(first.project_dir, tuning.SEARCH_SETTINGS_FILE)) as f:
        assert json.load(f)["search_space"] == {"dropout": {"values": [0.0, 0.1]}}
    # More trials extend the same search.
    tuner({"dropout": [0.0, 0.1]}, search_settings={"data_sha256": "a"}, max_trials=5)
    with pytest.raises(ValueError, match=r"/p' was .*search_space: .*--overwrite"):
        tuner({"dropout": [0.0, 0.2]}, search_settings={"data_sha256": "a"})
    with pytest.raises(
        ValueError,
        match=r"data_sha256: 'a' then, 'b' now \(a fingerprint of the training",
    ):
        tuner({"dropout": [0.0, 0.1]}, search_settings={"data_sha256": "b"})
    with pytest.raises(ValueError, match="algorithm: 'random' then, 'hyperband'"):
        tuner({"dropout": [0.0, 0.1]}, algorithm="hyperband")
    # Starting afresh records the new settings.
    tuner({"dropout": [0.0, 0.2]}, overwrite=True)
    tuner({"dropout": [0.0, 0.2]})
    with pytest.raises(ValueError, match="search_settings must be None or a dict"):
        tuner({"dropout": [0.0, 0.2]}, search_settings=["x"])


@pytest.mark.parametrize(
    "objective, direction, order",
    [
        ("val_accuracy", None, ["1", "0"]),
        ("val_loss", None, ["0", "1"]),
        ("val_perplexity", "min", ["0", "1"]),
    ],
)
def test_trial_table_puts_the_best_score_first(objective, direction, order):
    records = [
        {"trial_id": "0", "status": "COMPLETED", "score": 0.2, "values": {"lr": 1e-3}},
        {"trial_id": "1", "status": "COMPLETED", "score": 0.9, "values": {"lr": 1e-2}},
        {"trial_id": "2", "status": "FAILED", "score": None, "values": {"lr": 1.0}},
    ]
    table = tuning.format_trial_table(records, objective, direction=direction)
    rows = [line.split(" | ")[0].strip("| ") for line in table.splitlines()[2:]]
    assert rows == order + ["2"]
