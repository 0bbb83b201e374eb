"""A causal language model trained from scratch through the library (what
`examples/causal_lm.py` calls)."""

import json
import math

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags

import tftransformer as tft
from tests.training.interruptions import assert_same_training, run_killed_then_rerun
from tftransformer.data import (
    SEQUENCE_RESERVED_TOKENS,
    DataError,
    join_word_pieces,
    load_language_model_texts,
    load_texts,
)
from tftransformer.datasets import load_rotten_tomatoes
from tftransformer.training import LanguageModelConfig
from tftransformer.training.checkpointing import (
    write_checkpoint,
)
from tftransformer.training.language_model import tokens_in

TINY = dict(
    max_length=24,
    num_layers=1,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    dropout=0.0,
    batch_size=16,
    learning_rate=5e-3,
    num_samples=2,
)


def run(**settings):
    """`train_causal_lm` as the interruption helpers take it."""
    result = tft.training.train_causal_lm(LanguageModelConfig(**settings), verbose=0)
    history = dict(result.training.history)
    return {
        "perplexity": result.perplexity,
        "samples": result.samples,
        "history": history,
        "model": result.model,
        "model_path": result.training.model_path,
        "vocabulary_size": len(result.vocabulary),
        "num_texts": result.num_texts,
    }


def test_training_lowers_the_validation_perplexity(tmp_path):
    model_dir = tmp_path / "run"
    result = run(
        max_train_texts=300,
        max_validation_texts=50,
        min_token_count=3,
        epochs=2,
        temperature=0.7,
        top_k=10,
        distribution="one_device",
        model_dir=str(model_dir),
        **TINY,
    )
    perplexity = result["perplexity"]
    assert math.isfinite(perplexity["validation"])
    # Small random weights predict nearly uniformly: a perplexity near the
    # vocabulary size.
    size = result["vocabulary_size"]
    assert 0.7 * size < perplexity["initial"] < 1.5 * size, (perplexity, size)
    # Unigram frequencies alone take it far below that.
    assert perplexity["validation"] < 0.6 * perplexity["initial"], perplexity
    assert result["history"]["val_perplexity"][-1] == pytest.approx(
        perplexity["validation"], rel=1e-4
    )
    assert result["num_texts"] == {"train": 300, "validation": 50}

    samples = result["samples"]
    assert len(samples) == 2
    for sample in samples:
        assert isinstance(sample["prompt"], str) and sample["prompt"]
        assert isinstance(sample["text"], str)
        assert sample["text"].startswith(sample["prompt"].rsplit(" ", 1)[0])
    # Built inside the strategy's scope.
    assert isinstance(
        result["model"].distribute_strategy, tf.distribute.OneDeviceStrategy
    )

    report = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))
    assert report["perplexity"] == pytest.approx(perplexity)
    assert report["samples"] == samples
    vocabulary = (model_dir / "vocabulary.txt").read_text(encoding="utf-8").split()
    assert vocabulary[:4] == list(SEQUENCE_RESERVED_TOKENS)
    assert len(vocabulary) == size
    reloaded = keras.saving.load_model(result["model_path"])
    ids = np.array([[2, 10, 11, 12]], "int32")
    inputs = {"token_ids": ids, "padding_mask": np.ones_like(ids)}
    np.testing.assert_allclose(
        reloaded(inputs), result["model"](inputs), rtol=1e-5, atol=1e-5
    )


def test_tsv_column_with_the_embedded_vocabulary_and_a_time_budget(tmp_path):
    texts = list(load_rotten_tomatoes("validation").texts[:40])
    path = tmp_path / "texts.tsv"
    path.write_text(
        "id\ttext\n" + "".join(f"{i}\t{t}\n" for i, t in enumerate(texts)),
        encoding="utf-8",
    )
    result = run(
        text_file=str(path),
        text_column="text",
        validation_fraction=0.25,
        vocabulary="embedded",
        epochs=3,
        max_train_minutes=1e-6,
        model_dir=str(tmp_path / "run"),
        **{**TINY, "hidden_dim": 16, "intermediate_dim": 16},
    )
    assert result["num_texts"] == {"train": 30, "validation": 10}
    assert result["vocabulary_size"] == 30522
    assert len(result["history"]["loss"]) == 1
    assert math.isfinite(result["perplexity"]["validation"])
    assert all(isinstance(s["text"], str) for s in result["samples"])


def test_texts_are_lines_or_a_tsv_column(tmp_path):
    lines = tmp_path / "lines.txt"
    lines.write_text("first text\n\n  second\ttext  \n", encoding="utf-8")
    assert load_texts(str(lines)) == ["first text", "second\ttext"]
    table = tmp_path / "table.tsv"
    table.write_text("a\tb\n1\tone\n2\ttwo\n", encoding="utf-8")
    assert load_texts(str(table), "b") == ["one", "two"]
    assert load_texts(str(table), "0") == ["a", "1", "2"]
    with pytest.raises(DataError, match="Columns found"):
        load_texts(str(table), "c")
    table.write_text("a\tb\n1\tone\n2\n3\tthree\n", encoding="utf-8")
    with pytest.raises(DataError, match="line 3: .*on_bad_rows='skip'"):
        load_texts(str(table), "b")
    assert load_texts(str(table), "b", on_bad_rows="skip") == [
        "one",
        "three",
    ]
    with pytest.raises(FileNotFoundError, match="nope.txt"):
        load_texts(str(tmp_path / "nope.txt"))


def test_a_validation_fraction_that_leaves_nothing_to_train_on_is_refused(tmp_path):
    path = tmp_path / "three.txt"
    path.write_text("one text\nanother text\na third text\n")
    with pytest.raises(ValueError, match="validation_fraction=0.9 of the 3 texts"):
        load_language_model_texts(str(path), None, 0.9, seed=0)
    train, validation, _ = load_language_model_texts(str(path), None, 0.5, seed=0)
    assert (len(train), len(validation)) == (1, 2)


def test_ids_to_text_joins_pieces_and_stops_at_the_end():
    tokens = ["[PAD]", "[UNK]", "[START]", "[END]", "the", "film", "##s", "."]
    ids = [2, 4, 5, 6, 7, 3, 5, 0]
    assert join_word_pieces(ids, tokens, 3, {0, 2, 3}) == "the films ."


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"temperature": 0}, "temperature=0"),
        # Checked again by generate, which runs after training.
        ({"temperature": float("inf")}, "temperature=inf"),
        ({"top_k": -1}, "top_k=-1"),
        ({"vocabulary": "bpe"}, "vocabulary='bpe'"),
        ({"max_length": 4, "prompt_tokens": 3}, "max_length=4, prompt_tokens=3"),
        ({"epochs": 0}, "epochs=0"),
        ({"validation_fraction": 1.0}, "validation_fraction=1.0"),
        ({"text_column": "en"}, "text_column needs a text_file"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows='ignore'"),
        # A slice would keep all but the last 5 texts, or samples.
        ({"max_train_texts": -5}, "max_train_texts=-5"),
        ({"max_validation_texts": 0}, "max_validation_texts=0"),
        ({"num_samples": -1}, "num_samples=-1"),
        # 0 meant no limit.
        ({"max_train_minutes": 0}, "max_train_minutes=0"),
        ({"max_train_minutes": -1.0}, "max_train_minutes=-1.0"),
        ({"seed": -1}, "seed=-1"),
        ({"lora_rank": 2}, "set preset too. Received: preset=None"),
        ({"freeze_layers": 1}, "freeze_layers=1"),
        (
            {"preset": "p", "lora_rank": 2, "freeze_layers": 1},
            "lora_rank=2, freeze_layers=1",
        ),
    ],
)
def test_bad_arguments_are_refused_before_anything_is_written(
    kwargs, message, tmp_path
):
    with pytest.raises(ValueError, match=message):
        run(**{**TINY, **kwargs, "model_dir": str(tmp_path / "run")})
    assert not (tmp_path / "run").exists()


def test_a_killed_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    # Killed after epoch 1, then while saving after epoch 2: the resumed
    # epoch 2 shuffles as the uninterrupted one did, and the rerun after
    # the second kill keeps the trained weights. Sampling settings change
    # no training step: the last rerun may change them.
    tiny = dict(TINY, max_train_texts=96, max_validation_texts=16, num_samples=0)
    tiny.update(min_token_count=3, epochs=2, max_train_minutes=60)
    # Every epoch's weight file kept, for assert_same_training to compare.
    tiny["keep_checkpoints"] = None
    want = run(model_dir=str(tmp_path / "uninterrupted"), **tiny)
    got = run_killed_then_rerun(
        run,
        tmp_path / "killed",
        monkeypatch,
        kill_after_epoch=0,
        kill_while_saving=True,
        rerun=dict(temperature=0.5, top_k=3, prompt_tokens=2, max_train_minutes=30),
        **tiny,
    )
    assert_same_training(got, want)
    assert got["perplexity"] == pytest.approx(want["perplexity"], abs=1e-4)


def test_refuses_a_checkpoint_of_other_data_before_anything_is_written(tmp_path):
    backup = tmp_path / "run" / "backup"
    # Other data, and sampling settings that would not stop a resume.
    write_checkpoint(
        backup / "checkpoint.safetensors",
        {"model/00000": np.zeros(2)},
        {"run_config": {"data_sha256": "0" * 64, "temperature": 0.1, "top_k": 1}},
    )
    with pytest.raises(ValueError, match="data_sha256") as refusal:
        run(
            max_train_texts=40,
            max_validation_texts=8,
            model_dir=str(tmp_path / "run"),
            **TINY,
        )
    assert "temperature" not in str(refusal.value)
    assert "top_k" not in str(refusal.value)
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == [
        "backup",
        "checkpoint.safetensors",
    ]


def test_command_line_flags_reach_the_config(tmp_path):
    values = absl_flags.FlagValues()
    tft.training.define_flags(LanguageModelConfig, values)
    argv = ["causal_lm.py", "--temperature=-1", "--top_k=5"]
    values([*argv, f"--model_dir={tmp_path / 'run'}"])
    # A flag for every field of the config, and the config refuses.
    with pytest.raises(ValueError, match="temperature=-1"):
        tft.training.config_from_flags(LanguageModelConfig, values)


# A pretrained (tiny random) preset's fine-tuning: two quick epochs on 16 texts.
PRESET_RUN = dict(
    max_train_texts=16,
    max_validation_texts=8,
    max_length=16,
    batch_size=8,
    epochs=2,
    learning_rate=3e-2,
    warmup_fraction=0.0,
    distribution="one_device",
)


def test_fine_tunes_a_pretrained_preset(tiny_gpt2_preset, tmp_path):
    settings = dict(
        preset=tiny_gpt2_preset,
        num_samples=2,
        prompt_tokens=2,
        top_k=1,
        model_dir=str(tmp_path / "run"),
        **PRESET_RUN,
    )
    result = run(**settings)
    perplexity = result["perplexity"]
    # Random weights over the tiny preset's 637 tokens: near uniform; four
    # full steps at this rate learn at least the frequent tokens.
    assert 400 < perplexity["initial"] < 900, perplexity
    assert perplexity["validation"] < 0.8 * perplexity["initial"], perplexity
    report = json.loads((tmp_path / "run" / "report.json").read_text())
    assert report["preset"] == tiny_gpt2_preset
    assert report["trainable_parameters"] == report["parameters"]
    assert not (tmp_path / "run" / "vocabulary.txt").exists()
    # Greedy samples continue their prompts, a whole number of tokens each;
    # each text holds its prompt, as from random weights.
    assert len(result["samples"]) == 2
    for sample in result["samples"]:
        assert sample["prompt"] and sample["text"].startswith(sample["prompt"])
    reloaded = keras.saving.load_model(result["model_path"])
    assert isinstance(reloaded, keras_hub.models.GPT2CausalLM)

    # Perplexity and loss per real token: padding positions (the
    # preprocessor's zero sample weights) are left out of both.
    model = result["model"]
    texts = ["a short one", "a somewhat longer text than the others here", "hi"]
    x, y, weights = model.preprocessor(tf.constant(texts))
    assert 0 < float(tf.reduce_mean(tf.cast(weights, "float32"))) < 1
    with tokens_in(model):
        logits = model.predict(x, verbose=0)
        scores = model.evaluate(
            tf.data.Dataset.from_tensors((x, y, weights)), verbose=0, return_dict=True
        )
    nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    weights = np.asarray(weights, "float32")
    expected = float(np.sum(nll * weights) / np.sum(weights))
    assert scores["loss"] == pytest.approx(expected, rel=1e-4)
    assert scores["perplexity"] == pytest.approx(math.exp(expected), rel=1e-4)


def test_a_preset_run_refuses_top_k_past_its_vocabulary_before_training(
    tiny_gpt2_preset, tmp_path
):
    with pytest.raises(ValueError) as info:
        run(
            preset=tiny_gpt2_preset,
            top_k=638,
            model_dir=str(tmp_path / "run"),
            **PRESET_RUN,
        )
    assert str(info.value) == (
        "top_k must be at most the vocabulary size 637. Received: top_k=638"
    )
    assert not (tmp_path / "run" / "model.keras").exists()


def test_a_preset_run_trains_in_mixed_precision(tiny_gpt2_preset, tmp_path):
    # bfloat16 computations on float32 weights, as for the encoders.
    result = run(
        preset=tiny_gpt2_preset,
        mixed_precision="bfloat16",
        num_samples=1,
        prompt_tokens=2,
        top_k=1,
        model_dir=str(tmp_path / "run"),
        **PRESET_RUN,
    )
    model = result["model"]
    assert model.backbone.dtype_policy.name == "mixed_bfloat16"
    assert {w.dtype for w in model.weights} == {"float32"}
    perplexity = result["perplexity"]
    assert perplexity["validation"] < 0.8 * perplexity["initial"], perplexity
    assert isinstance(result["samples"][0]["text"], str)


@pytest.mark.parametrize(
    "recipe, trainable",
    [
        # LoRA: only the adapters of the query and value projections.
        ({"lora_rank": 2}, {"lora_kernel_a", "lora_kernel_b"}),
        # The embeddings and the one decoder layer frozen: the final norm.
        ({"freeze_layers": 1}, {"gamma", "beta"}),
    ],
)
def test_a_preset_run_applies_the_recipe(tiny_gpt2_preset, recipe, trainable):
    config = LanguageModelConfig(preset=tiny_gpt2_preset, **recipe)
    model = tft.presets.load_generator(tiny_gpt2_preset, sequence_length=16)
    tft.training.apply_strategy(model, config)
    assert {v.path.split("/")[-1] for v in model.trainable_weights} == trainable


def test_a_killed_preset_run_ends_as_an_uninterrupted_one(
    tiny_gpt2_preset, tmp_path, monkeypatch
):
    # Killed after epoch 1 of 2: the rerun resumes the pretrained model's
    # fine-tuning from the checkpoint, with the same data order.
    tiny = dict(
        preset=tiny_gpt2_preset, num_samples=0, keep_checkpoints=None, **PRESET_RUN
    )
    want = run(model_dir=str(tmp_path / "uninterrupted"), **tiny)
    got = run_killed_then_rerun(
        run, tmp_path / "killed", monkeypatch, kill_after_epoch=0, **tiny
    )
    assert_same_training(got, want)
    assert got["perplexity"]["validation"] == pytest.approx(
        want["perplexity"]["validation"], rel=1e-5
    )
