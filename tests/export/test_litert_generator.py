"""A T5 generator on LiteRT: greedy generation from raw prompts, in a clean
process too."""

import os

import pytest

import tftransformer as tft
from tests.export.clients import job, run_clients
from tftransformer.presets import load_generator
from tftransformer.testing import write_tiny_generator_preset

MAX_LENGTH = 12
LONG_PROMPT = "hello world how are you " * 10
PROMPTS = ["the cat", "", "john smith lives in", "a", "the house is big", LONG_PROMPT]


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    # Wider than the shared tiny T5, and seeded: its greedy targets differ
    # from prompt to prompt, so a prompt lost on the way would show.
    preset = write_tiny_generator_preset(
        "t5", tmp_path_factory.mktemp("t5") / "preset", hidden_dim=32, seed=1
    )
    return load_generator(preset, "seq2seq_lm", MAX_LENGTH)


@pytest.fixture(scope="module")
def exports(t5, tmp_path_factory):
    base = tmp_path_factory.mktemp("litert_t5")
    return {
        str(quantization): tft.export.export_litert(
            t5, base / str(quantization), quantization=quantization
        )
        for quantization in (None, "dynamic_int8")
    }


def test_litert_t5_generates_as_keras_hubs_greedy_generate(t5, exports):
    t5.compile(sampler="greedy")
    expected = t5.generate(PROMPTS, max_length=MAX_LENGTH)
    assert len(set(expected)) > 1, expected
    assert tft.export.LiteRTModel(exports["None"])(PROMPTS)["text"] == expected
    # Both files in a process with TensorFlow and TF Text only.
    float32, int8 = run_clients(
        [job(f, [[p] for p in PROMPTS], output="text") for f in exports.values()]
    )
    assert [out for [out] in float32["outputs"]] == expected
    assert float32["blocked_modules_loaded"] == []
    # Dynamic-range int8: int8 weights in a smaller file, a target for each
    # prompt (the random weights' targets are not compared: near ties).
    assert all(isinstance(out, str) for [out] in int8["outputs"])
    assert os.path.getsize(exports["dynamic_int8"]) < os.path.getsize(exports["None"])


def test_litert_generator_refusals(t5, exports, tiny_bart_preset, tiny_gpt2_preset):
    bart = load_generator(tiny_bart_preset, "seq2seq_lm", MAX_LENGTH)
    with pytest.raises(ValueError, match=r"Received: a BartSeq2SeqLM \(bart\)"):
        tft.export.export_litert(bart, "unused")
    gpt2 = load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH)
    with pytest.raises(ValueError, match="of class GPT2CausalLM"):
        tft.export.export_litert(gpt2, "unused")
    with pytest.raises(ValueError, match="Received: quantization='int8'"):
        tft.export.export_litert(t5, "unused", quantization="int8")
    with pytest.raises(ValueError, match="Received: max_length=1"):
        tft.export.export_litert(t5, "unused", max_length=1)
    model = tft.export.LiteRTModel(exports["None"])
    with pytest.raises(ValueError, match="not pairs. Received: text_pairs"):
        model(["a"], ["b"])
    with pytest.raises(ValueError, match="list of strings. Received: 'a'"):
        model("a")
    assert not os.path.exists("unused")
