"""Token classification (NER) through the library: `TokenClassificationConfig`,
`train_token_classifier` and its flags (what `examples/ner.py` calls)."""

import glob
import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags

import tftransformer as tft
from tests.training.interruptions import (
    STALE_TEMPORARY_FILE,
    final_checkpoint,
)
from tftransformer.data import (
    build_tag_vocabulary,
    load_tagging_file,
)
from tftransformer.datasets import load_wnut16
from tftransformer.evaluation import extract_entities, predict_tags
from tftransformer.finetune import (
    frozen_layer_names,
    lora_variables,
)
from tftransformer.presets import load_backbone
from tftransformer.training import ConfigError, TokenClassificationConfig
from tftransformer.training.checkpointing import (
    write_checkpoint,
)


def run_ner(**settings):
    """`train_token_classifier` on `TokenClassificationConfig(**settings)`."""
    config = TokenClassificationConfig(**settings)
    return tft.training.train_token_classifier(config, verbose=0)


def write_conll(path, data):
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in zip(data.words, data.tags):
            f.writelines(f"{word}\t{tag}\n" for word, tag in zip(words, tags))
            f.write("\n")
    return str(path)


# max_length 16: every batch is padded to 16, one traced train step.
TINY = dict(epochs=1, batch_size=8, max_length=16, learning_rate=1e-3)


def test_run_on_user_conll_files(small_vocabulary_preset, tmp_path):
    data = load_wnut16("train")
    splits = {"train": data.take(range(32)), "test": data.take(range(40, 52))}
    splits["validation"] = data.take(range(60, 68))
    files = {
        name: write_conll(tmp_path / f"{name}.txt", split)
        for name, split in splits.items()
    }
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    # Left by a run killed while saving model.keras.
    (model_dir / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    result = run_ner(
        preset=small_vocabulary_preset,
        train_file=files["train"],
        validation_file=files["validation"],
        test_file=files["test"],
        model_dir=str(model_dir),
        **TINY,
    )
    report = result.report
    test = splits["test"]
    assert report.num_sentences == 12
    assert report.num_words == test.num_words
    assert report.micro["support"] == sum(len(extract_entities(t)) for t in test.tags)
    assert "val_entity_f1" in result.training.history
    for name in ["model.keras", "report.json", "history.json", "predictions.jsonl"]:
        assert (model_dir / name).stat().st_size > 0, name
    assert not list(model_dir.glob(".tmp-*"))
    # Kept, so that a run killed after training does not train again.
    assert final_checkpoint(model_dir)["finished"]
    with open(model_dir / "report.json") as f:
        saved = json.load(f)
    assert saved["micro"]["f1"] == pytest.approx(report.micro["f1"])
    # A temperature fitted on validation tokens, judged on the test words.
    calibration = saved["calibration"]
    assert result.model.temperature != 1.0
    assert calibration["temperature"] == pytest.approx(result.model.temperature)
    assert sum(calibration["before"]["bins"]["count"]) <= test.num_words
    with open(model_dir / "predictions.jsonl") as f:
        records = [json.loads(line) for line in f]
    assert [r["tokens"] for r in records] == [list(w) for w in test.words]
    assert [r["predicted"] for r in records] == result.predictions

    # The saved model reloads without custom_objects and tags the same.
    reloaded = keras.saving.load_model(result.training.model_path)
    # One vocabulary for all files: test types unseen in training included.
    all_tags = [t for split in splits.values() for t in split.tags]
    assert reloaded.tag_names == list(build_tag_vocabulary(all_tags))
    assert reloaded.temperature == result.model.temperature
    assert predict_tags(reloaded, test.words)["tags"] == result.predictions


def test_a_packed_run_trains_on_rows_of_sentences(small_vocabulary_preset, tmp_path):
    data = load_wnut16("train")
    files = {
        "train": write_conll(tmp_path / "train.txt", data.take(range(24))),
        "validation": write_conll(tmp_path / "dev.txt", data.take(range(60, 66))),
    }
    model_dir = tmp_path / "run"
    result = run_ner(
        preset=small_vocabulary_preset,
        train_file=files["train"],
        validation_file=files["validation"],
        model_dir=str(model_dir),
        pack_sequences=True,
        **{**TINY, "max_length": 64, "batch_size": 4},
    )
    assert np.isfinite(result.training.history["loss"][0])
    # Validation and test sentences are tagged one a row.
    assert result.report.num_sentences == 6
    assert result.predictions == predict_tags(result.model, result.test.words)["tags"]
    # The summary counts the training sentences and the rows they share.
    with open(model_dir / "training_summary.json") as f:
        packing = json.load(f)["packing"]
    assert packing["texts"] == 24
    assert packing["rows"] < 24
    assert packing["row_length"] == 64


def test_max_examples_draw_seeded_subsets_of_every_split():
    whole = tft.training.load_tagging_splits(TokenClassificationConfig())
    config = TokenClassificationConfig(max_train_examples=7, max_eval_examples=5)
    splits = tft.training.load_tagging_splits(config)
    assert [len(split.words) for split in splits] == [7, 5, 5]
    for part, split in zip(splits, whole):
        assert all(words in split.words for words in part.words)
    again = tft.training.load_tagging_splits(config)
    assert [s.words for s in again] == [s.words for s in splits]


def test_an_entity_type_only_in_evaluation_data_is_named(tmp_path):
    # It gets output ids never trained: silent, an undertrained model
    # predicted it.
    train = write_conll(tmp_path / "train.txt", load_wnut16("train").take(range(8)))
    test = tmp_path / "test.txt"
    test.write_text("john\tO\nx\tB-surprise\n")
    config = TokenClassificationConfig(
        train_file=train, validation_file=train, test_file=str(test)
    )
    with pytest.warns(
        UserWarning,
        match=r"only in the validation or test data: "
        r"\['surprise'\]",
    ):
        _, _, loaded = tft.training.load_tagging_splits(config)
    assert "B-surprise" in loaded.tag_vocabulary


def test_run_holds_out_validation_from_a_jsonl_train_file(
    small_vocabulary_preset, tmp_path
):
    data = load_wnut16("validation").take(range(20))
    path = tmp_path / "train.jsonl"
    with open(path, "w", encoding="utf-8") as f:
        for words, tags in zip(data.words, data.tags):
            f.write(json.dumps({"tokens": words, "tags": tags}) + "\n")
    result = run_ner(
        preset=small_vocabulary_preset,
        train_file=str(path),
        model_dir=str(tmp_path / "run"),
        freeze_layers=1,
        **TINY,
    )
    # 10% of 20 sentences held out, and used as the test data too.
    assert result.report.num_sentences == 2


def test_run_checks_its_arguments(tmp_path):
    with pytest.raises(ValueError, match="need a train_file"):
        run_ner(validation_file="dev.txt", model_dir=str(tmp_path))
    with pytest.raises(ValueError, match="epochs must be >= 1. Received: epochs=0"):
        run_ner(epochs=0, model_dir=str(tmp_path))
    with pytest.raises(
        ValueError, match="max_length must be >= 2. Received: max_length=1"
    ):
        run_ner(max_length=1, model_dir=str(tmp_path))
    # Before the data loads (a missing file would fail first).
    with pytest.raises(ValueError, match="max_train_examples=-5"):
        run_ner(
            train_file="missing.txt", max_train_examples=-5, model_dir=str(tmp_path)
        )
    with pytest.raises(ValueError, match="seed=-1"):
        run_ner(seed=-1, model_dir=str(tmp_path))
    assert not any(tmp_path.iterdir())


def test_run_refuses_a_directory_holding_another_runs_checkpoint(
    small_vocabulary_preset, tiny_conll_files, tmp_path
):
    backup = tmp_path / "run" / "backup"
    write_checkpoint(
        backup / "checkpoint.safetensors",
        {"model/00000": np.zeros(2)},
        {"run_config": {"learning_rate": 5e-5}},
    )
    with pytest.raises(ValueError, match="learning_rate: 5e-05 then, 0.001 now"):
        run_ner(
            preset=small_vocabulary_preset,
            model_dir=str(tmp_path / "run"),
            **tiny_conll_files,
            **TINY,
        )
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == [
        "backup",
        "checkpoint.safetensors",
    ]


@pytest.fixture(scope="module")
def tiny_conll_files(tmp_path_factory):
    """16 training, 6 validation and 6 test sentences of WNUT-16."""
    directory = tmp_path_factory.mktemp("tiny_conll")
    data = load_wnut16("train")
    ranges = {"train": range(16), "validation": range(20, 26), "test": range(30, 36)}
    return {
        f"{name}_file": write_conll(directory / f"{name}.txt", data.take(indices))
        for name, indices in ranges.items()
    }


@pytest.fixture(scope="module")
def preset_weights(small_vocabulary_preset):
    """The tiny preset's backbone weights by path, before any training."""
    backbone, _ = load_backbone(small_vocabulary_preset, sequence_length=16)
    return {v.path: v.numpy() for v in backbone.weights}


# conftest's tiny preset: 2 encoder layers, hidden 16, 2 heads.
EMBEDDINGS = ["token_embedding", "position_embedding", "segment_embedding"]
EMBEDDINGS += ["embeddings_layer_norm"]


def _layers(paths):
    return {path.split("/")[0] for path in paths}


def _unchanged_layers(model, preset_weights):
    """Top-level backbone layers whose weights all equal the preset's."""
    changed = {
        v.path.split("/")[0]
        for v in model.weights
        if v.path in preset_weights
        and not np.array_equal(v.numpy(), preset_weights[v.path])
    }
    return _layers(preset_weights) - changed


def _num_tags(files):
    """The tags of all three files: ner gives each split's tags an output."""
    tags = [t for path in files.values() for t in load_tagging_file(path).tags]
    return len(build_tag_vocabulary(tags))


def _check_freeze_backbone(result, preset_weights, files):
    # A new encoder block between the frozen backbone and the head trains.
    assert result.training.summary["trainable_layers"] == [
        "extra_block_0",
        "tag_logits",
    ]
    assert _unchanged_layers(result.model, preset_weights) == _layers(preset_weights)
    # Built inside the strategy's scope.
    assert isinstance(result.model.distribute_strategy, tf.distribute.OneDeviceStrategy)


def _check_gradual_unfreeze(result, preset_weights, files):
    # One step per unfreezing, two steps: the head, then layer 1 (with the
    # pooler) joins; layer 0 and the embeddings never train.
    unchanged = _unchanged_layers(result.model, preset_weights)
    assert set(EMBEDDINGS + ["transformer_layer_0"]) <= unchanged
    assert "transformer_layer_1" not in unchanged
    assert "transformer_layer_1" not in frozen_layer_names(result.model)
    assert "token_embedding" in frozen_layer_names(result.model)


def _check_layer_decay(result, preset_weights, files):
    # Head 3e-3 / 1e-3; layer 1 of 2: 0.5; layer 0: 0.25; embeddings
    # 0.5 ** 3. BERT's pooler, unread by the tagger, does not train.
    groups = result.training.summary["learning_rate_groups"]
    assert [g["multiplier"] for g in groups] == pytest.approx([3.0, 0.5, 0.25, 0.125])
    assert groups[0]["layers"] == ["tag_logits"]
    assert groups[-1]["layers"] == EMBEDDINGS
    backbone = result.model.backbone
    assert backbone.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in backbone.weights)


def _check_lora_and_head_warmup(result, preset_weights, files):
    # Query and value of 2 layers: A (16, 2 heads, rank 2) and B (2, 8).
    num_tags = _num_tags(files)
    adapters = 2 * 2 * (16 * 2 * 2 + 2 * 8)
    head = 16 * num_tags + num_tags
    assert result.training.summary["trainable_parameters"] == adapters + head
    model = result.model
    assert _unchanged_layers(model, preset_weights) == _layers(preset_weights)
    # The warmup lasts the first epoch (2 batches): the adapters trained
    # only in the second, so every B is zero in epoch 1's weights, not in
    # epoch 2's, and the adapters are trainable at the end.
    lora = lora_variables(model)
    assert {v.path for v in lora} <= {v.path for v in model.trainable_variables}
    model_dir = os.path.dirname(result.training.model_path)
    assert os.path.getsize(os.path.join(model_dir, "adapters.lora.h5")) > 0
    # Keras saves a LoRA layer's kernel with its adapters merged in: the
    # adapted kernels equal the preset's after epoch 1 only.
    adapted = [v.path.replace("lora_kernel_a", "kernel") for v in lora]
    adapted = [path for path in adapted if path.endswith("/kernel")]
    for epoch, trained in ((1, False), (2, True)):
        pattern = os.path.join(model_dir, "checkpoints", f"*{epoch:03d}*.h5")
        (weights,) = glob.glob(pattern)
        model.load_weights(weights)
        kernels = {v.path: v.numpy() for v in model.weights if v.path in adapted}
        assert len(kernels) == 4
        assert [
            not np.array_equal(kernel, preset_weights[path])
            for path, kernel in kernels.items()
        ] == [trained] * 4


@pytest.mark.parametrize(
    "options, check",
    [
        pytest.param(
            {"freeze_backbone": True, "extra_blocks": 1, "distribution": "one_device"},
            _check_freeze_backbone,
            id="freeze_backbone-extra_blocks",
        ),
        pytest.param(
            {"gradual_unfreeze": True, "unfreeze_every_steps": 1},
            _check_gradual_unfreeze,
            id="gradual_unfreeze",
        ),
        pytest.param(
            {"layer_decay": 0.5, "mixed_precision": "bfloat16"},
            _check_layer_decay,
            id="layer_decay",
        ),
        pytest.param(
            # A warmup as long as the run is refused (see
            # test_a_head_warmup_as_long_as_the_run_is_refused).
            {
                "lora_rank": 2,
                "head_warmup_steps": 2,
                "epochs": 2,
                "keep_checkpoints": None,
            },
            _check_lora_and_head_warmup,
            id="lora_rank-head_warmup_steps",
        ),
    ],
)
def test_each_strategy_flag_reaches_the_tagger(
    options, check, small_vocabulary_preset, preset_weights, tiny_conll_files, tmp_path
):
    result = run_ner(
        preset=small_vocabulary_preset,
        model_dir=str(tmp_path),
        **tiny_conll_files,
        **{**TINY, **options},
    )
    assert np.isfinite(result.training.history["loss"]).all()
    with open(tmp_path / "training_summary.json") as f:
        assert json.load(f) == result.training.summary
    check(result, preset_weights, tiny_conll_files)


def test_a_head_warmup_as_long_as_the_run_is_refused(tmp_path, tiny_conll_files):
    # 2 batches an epoch: the backbone would never train, while the
    # summary listed it as trainable.
    with pytest.raises(ConfigError, match=r"fewer than the run's 2 optimizer steps"):
        run_ner(
            head_warmup_steps=2, model_dir=str(tmp_path), **tiny_conll_files, **TINY
        )


def test_senseless_combination_is_refused_before_anything_is_written(tmp_path):
    model_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="lora_rank=2, freeze_layers=1"):
        run_ner(lora_rank=2, freeze_layers=1, model_dir=str(model_dir), **TINY)
    assert not model_dir.exists()


def test_command_line_refuses_a_senseless_combination(tmp_path):
    # The flags `tft.training.run` defines for the config; the config refuses.
    values = absl_flags.FlagValues()
    tft.training.define_flags(TokenClassificationConfig, values)
    argv = ["ner.py", "--freeze_backbone", "--gradual_unfreeze"]
    values([*argv, f"--model_dir={tmp_path / 'run'}"])
    with pytest.raises(ConfigError, match="freeze_backbone=True, gradual_unfreeze"):
        tft.training.config_from_flags(TokenClassificationConfig, values)
    assert not (tmp_path / "run").exists()
