"""Generators on LiteRT: greedy generation from raw prompts with a T5, a
tftransformer CausalLM and a Seq2SeqTransformer, in a clean process too."""

import os

import pytest
import tensorflow as tf

import tftransformer as tft
from tests.export.clients import job, run_clients
from tftransformer.data import learn_word_piece_vocabulary, word_piece_tokenizer
from tftransformer.export._litert_word_piece_generator import _words_of_suffixes
from tftransformer.presets import load_generator
from tftransformer.testing import (
    CAUSAL_LM_END,
    CAUSAL_LM_START,
    tiny_causal_lm,
    tiny_seq2seq_transformer,
    write_tiny_generator_preset,
)

MAX_LENGTH = 12
LONG_PROMPT = "hello world how are you " * 10
PROMPTS = ["the cat", "", "john smith lives in", "a", "the house is big", LONG_PROMPT]
POSITION_KINDS = ("learned", "sine", "relative")


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    # Wider than the shared tiny T5, and seeded: its greedy targets differ
    # from prompt to prompt, so a prompt lost on the way would show.
    preset = write_tiny_generator_preset(
        "t5", tmp_path_factory.mktemp("t5") / "preset", hidden_dim=32, seed=1
    )
    return load_generator(preset, "seq2seq_lm", MAX_LENGTH)


@pytest.fixture(scope="module")
def causal_lm():
    """A CausalLM and its export arguments (random weights, seeded)."""
    model, _, tokenizer = tiny_causal_lm(PROMPTS[:-1] + ["the dog sat on a mat"])
    return model, {
        "max_length": MAX_LENGTH,
        "tokenizer": tokenizer,
        "start_token_id": CAUSAL_LM_START,
        "end_token_id": CAUSAL_LM_END,
    }


@pytest.fixture(scope="module")
def translators():
    """A Seq2SeqTransformer of each position kind and its export arguments
    (random weights, seeded; source and target vocabularies of their own)."""
    source = learn_word_piece_vocabulary(PROMPTS[:-1] + ["the dog sat on a mat"], 1)
    target = learn_word_piece_vocabulary(["der hund sitzt auf der matte"], 1)
    arguments = {
        "max_length": MAX_LENGTH,
        "tokenizer": word_piece_tokenizer(source),
        "target_tokenizer": word_piece_tokenizer(target),
        "start_token_id": CAUSAL_LM_START,
        "end_token_id": CAUSAL_LM_END,
    }
    return {
        kind: (
            tiny_seq2seq_transformer(
                source, target, MAX_LENGTH, kind, hidden_dim=16, seed=1
            ),
            arguments,
        )
        for kind in POSITION_KINDS
    }


@pytest.fixture(scope="module")
def exports(t5, causal_lm, translators, tmp_path_factory):
    base = tmp_path_factory.mktemp("litert_generators")
    model, arguments = causal_lm
    return {
        **{
            kind: tft.export.export_litert(model, base / kind, **arguments)
            for kind, (model, arguments) in translators.items()
        },
        **{
            str(quantization): tft.export.export_litert(
                t5, base / str(quantization), quantization=quantization
            )
            for quantization in (None, "dynamic_int8")
        },
        "causal_lm": tft.export.export_litert(model, base / "causal_lm", **arguments),
    }


@pytest.fixture(scope="module")
def clean(exports):
    """Each file's answers in one process with TensorFlow and TF Text only."""
    outputs = {"causal_lm": "text,completion"}
    return dict(
        zip(
            exports,
            run_clients(
                [
                    job(path, [[p] for p in PROMPTS], output=outputs.get(name, "text"))
                    for name, path in exports.items()
                ]
            ),
        )
    )


def test_litert_t5_generates_as_keras_hubs_greedy_generate(t5, exports, clean):
    t5.compile(sampler="greedy")
    expected = t5.generate(PROMPTS, max_length=MAX_LENGTH)
    assert len(set(expected)) > 1, expected
    assert tft.export.LiteRTModel(exports["None"])(PROMPTS)["text"] == expected
    assert [out for [out] in clean["None"]["outputs"]] == expected
    assert clean["None"]["blocked_modules_loaded"] == []
    # Dynamic-range int8: int8 weights in a smaller file, a target for each
    # prompt (the random weights' targets are not compared: near ties).
    assert all(isinstance(out, str) for [out] in clean["dynamic_int8"]["outputs"])
    assert os.path.getsize(exports["dynamic_int8"]) < os.path.getsize(exports["None"])


def test_litert_causal_lm_continues_as_its_saved_model_graph(causal_lm, exports, clean):
    model, arguments = causal_lm
    module = tft.export.GeneratorServingModule(model, **arguments)
    served = module.serve(tf.constant(PROMPTS))
    expected = {
        name: [text.decode("utf-8") for text in served[name].numpy()]
        for name in ("text", "completion")
    }
    # Most prompts continued (one ends at once); the cut one cannot be.
    assert sum(map(bool, expected["completion"])) >= 3, expected
    # A continuation that opens with a "##" piece (the prompt's last word
    # goes on) starts with its word.
    assert any(
        prompt and completion and text == prompt + completion
        for prompt, text, completion in zip(PROMPTS, *expected.values())
    ), expected
    assert expected["completion"][-1] == "", expected
    assert tft.export.LiteRTModel(exports["causal_lm"])(PROMPTS) == expected
    for name in ("text", "completion"):
        outputs = clean["causal_lm"]["by_name"][name]["outputs"]
        assert [out for [out] in outputs] == expected[name], name


@pytest.mark.parametrize("kind", POSITION_KINDS)
def test_litert_seq2seq_transformer_translates_as_its_saved_model_graph(
    kind, translators, exports, clean
):
    model, arguments = translators[kind]
    module = tft.export.GeneratorServingModule(model, **arguments)
    served = module.serve(tf.constant(PROMPTS))["text"].numpy()
    expected = [text.decode("utf-8") for text in served]
    assert len(set(expected)) > 1, expected
    assert tft.export.LiteRTModel(exports[kind])(PROMPTS)["text"] == expected
    assert [out for [out] in clean[kind]["outputs"]] == expected


def test_a_target_starting_with_a_suffix_piece_starts_with_its_word():
    vocabulary, first_ids = _words_of_suffixes(
        ["[PAD]", "a", "##a", "##bc", "##"], "##"
    )
    # "bc" is added for "##bc"; "##" alone has no word and stays.
    assert vocabulary == ["[PAD]", "a", "##a", "##bc", "##", "bc"]
    assert first_ids.numpy().tolist() == [0, 1, 1, 5, 4]


def test_litert_generator_refusals(
    t5, translators, exports, tiny_bart_preset, tiny_gpt2_preset
):
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
    with pytest.raises(ValueError, match="tokenizer=.* for a T5Seq2SeqLM"):
        tft.export.export_litert(t5, "unused", tokenizer=t5.preprocessor.tokenizer)
    translator, arguments = translators["learned"]
    with pytest.raises(ValueError, match="target_tokenizer=.* for a T5Seq2SeqLM"):
        tft.export.export_litert(
            t5, "unused", target_tokenizer=arguments["target_tokenizer"]
        )
    # The source vocabulary is not the decoder's.
    wrong = {**arguments, "target_tokenizer": arguments["tokenizer"]}
    with pytest.raises(ValueError, match="decoder's vocabulary .* Received: a voc"):
        tft.export.export_litert(translator, "unused", **wrong)
    model = tft.export.LiteRTModel(exports["None"])
    with pytest.raises(ValueError, match="not pairs. Received: text_pairs"):
        model(["a"], ["b"])
    with pytest.raises(ValueError, match="not a single string.*Received: texts='a'"):
        model("a")
    assert not os.path.exists("unused")
