import os
import shutil

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

from tests.export.generator_client import serve_generators
from tests.training.saved_files import PROMPT_ROWS
from tftransformer.evaluation import corpus_bleu
from tftransformer.export import (
    LiteRTModel,
    VariantsConfig,
    export_generator,
    export_generator_run,
    export_litert_generator_run,
    export_run_variants,
    inference_copy,
)
from tftransformer.models import CausalLM
from tftransformer.presets import load_generator
from tftransformer.testing import (
    CAUSAL_LM_END,
    CAUSAL_LM_PAD,
    CAUSAL_LM_START,
    causal_lm_greedy_texts,
    tiny_causal_lm,
)
from tftransformer.training import generation_settings

MAX_LENGTH = 12
# An empty prompt, and one of more than MAX_LENGTH tokens (cut to them).
LONG_PROMPT = " ".join(["the quick brown fox jumped over the lazy dog"] * 3)
PROMPTS = ["the cat", "", "john smith lives in", "a", LONG_PROMPT]
TOP_P, SEED, NUM_BEAMS = 0.2, 7, 3


def top_p_sampler():
    return keras_hub.samplers.TopPSampler(p=TOP_P, seed=SEED)


def beam_sampler():
    return keras_hub.samplers.BeamSampler(num_beams=NUM_BEAMS)


def keras_generate(model, sampler):
    """keras-hub's own `generate` of `PROMPTS` with `sampler`."""
    model.compile(sampler=sampler)
    return model.generate(PROMPTS, max_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def lm(tiny_gpt2_preset):
    return load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH)


@pytest.fixture(scope="module")
def gpt2_exports(lm, tmp_path_factory):
    """Version directories of one base path, by sampler."""
    base = str(tmp_path_factory.mktemp("exports") / "gpt2")
    samplers = {
        "greedy": "greedy",
        "top_k": keras_hub.samplers.TopKSampler(k=5),
        "top_p": top_p_sampler(),
        "beam": beam_sampler(),
    }
    exports = {
        name: export_generator(lm, base, sampler=sampler)
        for name, sampler in samplers.items()
    }
    exports["greedy_int8"] = export_generator(lm, base, precision="int8")
    return exports


# Beam search over an encoder-decoder's caches is checked once, on T5.
SEQ2SEQ_SAMPLERS = {"bart": ["greedy"], "t5": ["greedy", "beam"]}
MAKE_SAMPLER = {"greedy": lambda: "greedy", "beam": beam_sampler}
# The tftransformer CausalLM's learned vocabulary's special ids, as
# train_causal_lm's.
PAD, START, END = CAUSAL_LM_PAD, CAUSAL_LM_START, CAUSAL_LM_END


@pytest.fixture(scope="module")
def seq2seq_exports(request, tmp_path_factory):
    """By family, the keras-hub Seq2SeqLM and its version directories, one
    per sampler of `SEQ2SEQ_SAMPLERS`."""
    exports = {}
    for family, samplers in SEQ2SEQ_SAMPLERS.items():
        preset = request.getfixturevalue(f"tiny_{family}_preset")
        seq2seq = load_generator(preset, "seq2seq_lm", MAX_LENGTH)
        base = str(tmp_path_factory.mktemp("seq2seq") / family)
        version_dirs = [
            export_generator(seq2seq, base, sampler=MAKE_SAMPLER[name]())
            for name in samplers
        ]
        exports[family] = (seq2seq, version_dirs)
    return exports


@pytest.fixture(scope="module")
def own_lm(tmp_path_factory):
    """A tftransformer CausalLM of a vocabulary learned from the prompts, its
    vocabulary, tokenizer and version directory."""
    # Random weights, seeded: each prompt is continued.
    model, vocabulary, tokenizer = tiny_causal_lm(
        PROMPTS[:-1] + ["the dog sat on a mat"]
    )
    version_dir = export_generator(
        model,
        str(tmp_path_factory.mktemp("own_lm") / "lm"),
        max_length=MAX_LENGTH,
        tokenizer=tokenizer,
        start_token_id=START,
        end_token_id=END,
    )
    return model, vocabulary, tokenizer, version_dir


@pytest.fixture(scope="module")
def served(gpt2_exports, seq2seq_exports, own_lm):
    """Every export's answers in one clean process: each call's outputs. The
    GPT-2 exports answer `PROMPTS`, the top-p one called twice, then loaded
    afresh; the seq2seq exports (`"<family>_<sampler>"`) answer `PROMPTS`;
    the CausalLM's (`"own_lm"`) all prompts but the cut one."""
    names = ["greedy", "top_k", "beam", "top_p", "top_p_reloaded", "greedy_int8"]
    calls = [
        [gpt2_exports[name.replace("_reloaded", "")], 2 if name == "top_p" else 1]
        for name in names
    ]
    for family, (_, version_dirs) in seq2seq_exports.items():
        for sampler, version_dir in zip(SEQ2SEQ_SAMPLERS[family], version_dirs):
            names.append(f"{family}_{sampler}")
            calls.append([version_dir, 1])
    names.append("own_lm")
    calls.append([own_lm[-1], 1, PROMPTS[:-1]])
    return dict(zip(names, serve_generators(calls, PROMPTS), strict=True))


def test_exported_signature_generates_from_raw_prompts_like_keras(
    lm, gpt2_exports, served
):
    base = os.path.dirname(gpt2_exports["greedy"])
    assert [gpt2_exports[name] for name in ("greedy", "top_k")] == [
        os.path.join(base, "1"),
        os.path.join(base, "2"),
    ]
    (greedy,) = served["greedy"]
    assert greedy["text"] == keras_generate(lm, "greedy")
    for prompt, text, completion in zip(PROMPTS, greedy["text"], greedy["completion"]):
        if prompt == LONG_PROMPT:
            # Cut to MAX_LENGTH tokens: no room left to continue.
            assert LONG_PROMPT.startswith(text) and len(text) < len(LONG_PROMPT)
            assert completion == ""
        else:
            assert text == prompt + completion
            # Random weights: the greedy continuations are not empty.
            assert completion
    # Top-k sampling continues the same prompts, within the same length.
    (sampled,) = served["top_k"]
    assert [t[: len(p)] for t, p in zip(sampled["text"], PROMPTS[:-1])] == PROMPTS[:-1]
    assert sampled["text"] != greedy["text"]


def test_exported_beam_search_answers_each_prompt_as_keras_hub_alone(lm, served):
    (beam,) = served["beam"]
    # keras-hub's own beam search of a batch lets a longer prompt's beams
    # collapse (tests/evaluation/test_generated_texts.py): each prompt is
    # answered as keras-hub's generate answers it alone.
    lm.compile(sampler=beam_sampler())
    assert beam["text"] == [lm.generate([p], max_length=MAX_LENGTH)[0] for p in PROMPTS]
    for prompt, text, completion in zip(PROMPTS[:-1], beam["text"], beam["completion"]):
        assert text == prompt + completion


def test_exported_top_p_sampling_is_seeded_and_keeps_to_the_nucleus(lm, served):
    first, second = served["top_p"]
    # A fresh load answers as the first did; each request draws anew.
    assert served["top_p_reloaded"] == [first]
    assert second["text"] != first["text"]
    # The same seed draws the same tokens as keras-hub's generate.
    assert first["text"] == keras_generate(lm, top_p_sampler())

    # Those tokens, from keras-hub's generate on token ids, each within the
    # top-p nucleus of the model's own next-token distribution.
    inputs = lm.preprocessor.generate_preprocess(PROMPTS, sequence_length=MAX_LENGTH)
    lm.compile(sampler=top_p_sampler())
    preprocessor, lm.preprocessor = lm.preprocessor, None
    try:
        outputs = lm.generate(
            inputs, stop_token_ids=[preprocessor.tokenizer.end_token_id]
        )
    finally:
        lm.preprocessor = preprocessor
    token_ids = np.asarray(outputs["token_ids"])
    generated = np.asarray(outputs["padding_mask"]) & ~np.asarray(
        inputs["padding_mask"]
    )
    assert lm.preprocessor.generate_postprocess(outputs) == first["text"]
    logits = lm({"token_ids": token_ids, "padding_mask": np.ones_like(generated)})
    # (batch, max_length, vocabulary): position t - 1 predicts token t.
    probabilities = keras.ops.convert_to_numpy(
        keras.ops.softmax(keras.ops.cast(logits, "float32"))
    )
    nucleus_sizes = []
    for row, t in zip(*np.nonzero(generated)):
        p = probabilities[row, t - 1]
        # The mass of the tokens more likely than the one drawn: within the
        # nucleus, at most TOP_P (the most likely token always is in it).
        assert p[p > p[token_ids[row, t]]].sum() <= TOP_P + 1e-5, (row, t)
        ranked = np.sort(p)[::-1]
        nucleus_sizes.append(int(np.sum(np.cumsum(ranked) - ranked <= TOP_P)))
    # Every prompt but the cut one continued; and a nucleus far smaller than
    # the vocabulary, so that a draw from outside it would be caught.
    assert set(np.nonzero(generated)[0]) == set(range(len(PROMPTS) - 1))
    assert max(nucleus_sizes) < probabilities.shape[-1] // 2, nucleus_sizes


@pytest.mark.parametrize("family", list(SEQ2SEQ_SAMPLERS))
def test_exported_seq2seq_signature_translates_raw_sources_like_keras(
    family, seq2seq_exports, served
):
    seq2seq, _ = seq2seq_exports[family]
    for name in SEQ2SEQ_SAMPLERS[family]:
        [outputs] = served[f"{family}_{name}"]
        assert set(outputs) == {"text"}
        assert outputs["text"] == keras_generate(seq2seq, MAKE_SAMPLER[name]()), name
        # Random weights: not every translation ends at once.
        assert any(outputs["text"]), name


def test_exported_tftransformer_causal_lm_generates_like_its_generate(own_lm, served):
    model, vocabulary, tokenizer, _ = own_lm
    [answer] = served["own_lm"]
    texts, completions = causal_lm_greedy_texts(
        model, vocabulary, tokenizer, PROMPTS[:-1], MAX_LENGTH
    )
    assert answer == {"text": texts, "completion": completions}
    assert all(completions)


def test_export_checks_its_inputs(lm, tiny_bart_preset, tmp_path):
    with pytest.raises(ValueError, match="Received: model=str"):
        export_generator("model", str(tmp_path / "a"))
    # The position table ends at 64: longer would fail only when served.
    with pytest.raises(ValueError, match=r"\(64\). Received: max_length=65"):
        export_generator(lm, str(tmp_path / "b"), max_length=65)
    with pytest.raises(ValueError, match="max_length=1"):
        export_generator(lm, str(tmp_path / "c"), max_length=1)
    with pytest.raises(
        ValueError, match=r"version must be an integer >= 0 .*Received: version=-1"
    ):
        export_generator(lm, str(tmp_path / "d"), version=-1)
    with pytest.raises(ValueError, match="overwrite='yes'"):
        export_generator(lm, str(tmp_path / "e"), overwrite="yes")
    own = CausalLM(
        vocabulary_size=8,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=8,
        max_sequence_length=8,
    )
    with pytest.raises(ValueError, match="pass `tokenizer=`"):
        export_generator(own, str(tmp_path / "g"), max_length=8)
    bare = keras_hub.models.GPT2CausalLM(lm.backbone, preprocessor=None)
    with pytest.raises(ValueError, match="preprocessor=None"):
        export_generator(bare, str(tmp_path / "f"), max_length=8)
    for sampler, message in (
        ("nucleus", "one of .*'top_p'.* Received: sampler='nucleus'"),
        ("Greedy", "Received: sampler='Greedy'"),
        (0.9, "Received: sampler=0.9"),
        (
            keras_hub.samplers.BeamSampler(num_beams=2, return_all_beams=True),
            r"num_beams=2, return_all_beams=True\)",
        ),
    ):
        with pytest.raises(ValueError, match=message):
            export_generator(lm, str(tmp_path / "h"), sampler=sampler)
    with pytest.raises(ValueError, match="Received: prefix=b'x' of type bytes"):
        export_generator(lm, str(tmp_path / "i"), prefix=b"x")
    with pytest.raises(ValueError, match="Received: precision='float16'"):
        export_generator(lm, str(tmp_path / "j"), precision="float16")
    assert not any(os.listdir(tmp_path))


def saved_dtypes(version_dir):
    """The dtypes of a SavedModel's variables, read from its checkpoint."""
    reader = tf.train.load_checkpoint(
        os.path.join(version_dir, "variables", "variables")
    )
    return set(reader.get_variable_to_dtype_map().values())


def test_int8_export_generates_as_the_int8_keras_model(lm, gpt2_exports, served):
    [int8] = served["greedy_int8"]
    assert int8["text"] == keras_generate(
        inference_copy(lm, precision="int8"), "greedy"
    )
    assert tf.int8 in saved_dtypes(gpt2_exports["greedy_int8"])
    assert tf.int8 not in saved_dtypes(gpt2_exports["greedy"])


def test_a_bfloat16_generator_exports_in_float32(tiny_gpt2_preset, tmp_path):
    lm = load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH, dtype="bfloat16")
    version_dir = export_generator(lm, str(tmp_path / "lm"), max_length=8)
    dtypes = saved_dtypes(version_dir)
    assert tf.float32 in dtypes and tf.bfloat16 not in dtypes, dtypes


@pytest.mark.parametrize("kind", ["gpt2", "t5", "causal_lm", "seq2seq"])
def test_a_generator_run_exports_as_its_predictions_generate(
    generator_runs, kind, tmp_path
):
    run, expected = generator_runs[kind]
    version_dir = export_generator_run(run, str(tmp_path / kind))
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    prompts = [row["prompt"] for row in PROMPT_ROWS]
    outputs = serve(prompt=tf.constant(prompts))
    answer = outputs["text" if kind in ("t5", "seq2seq") else "completion"]
    # The run's settings are baked in: T5's prefix, its source length and the
    # run's max_length; the tftransformer models' vocabularies (the
    # Seq2SeqTransformer's expected texts are `seq2seq_translator`'s).
    assert [text.decode("utf-8") for text in answer.numpy()] == expected


@pytest.mark.parametrize("kind", ["causal_lm", "seq2seq"])
def test_a_generator_run_exports_to_litert_as_its_predictions_generate(
    generator_runs, kind, tmp_path
):
    run, expected = generator_runs[kind]
    tflite_file = export_litert_generator_run(run, str(tmp_path / kind))
    outputs = LiteRTModel(tflite_file)([row["prompt"] for row in PROMPT_ROWS])
    assert outputs["text" if kind == "seq2seq" else "completion"] == expected


def test_a_translation_run_is_measured_on_the_test_pairs_it_wrote(
    generator_runs, tmp_path
):
    run, expected = generator_runs["seq2seq"]
    # What train_translator writes: source, reference, greedy and beam.
    translations = tmp_path / "run"
    shutil.copytree(run, translations)
    references = [row["target"] for row in PROMPT_ROWS]
    (translations / "translations.tsv").write_text(
        "source\treference\tgreedy\tbeam\n"
        + "".join(f"{row['prompt']}\t{row['target']}\tx\tx\n" for row in PROMPT_ROWS)
    )
    model = keras.saving.load_model(translations / "model.keras")
    variants = ["saved_model_float32", "litert_float32"]
    report = export_run_variants(
        model,
        VariantsConfig(model_dir=str(translations)),
        tmp_path / "variants",
        variants=variants,
        calls=(1, 1),
    )
    assert [row["variant"] for row in report.rows] == variants
    for row in report.rows:
        assert row["agreement"] == 1.0, row
        assert row["bleu"] == pytest.approx(corpus_bleu(expected, references)["bleu"])
    assert (tmp_path / "variants" / "report.json").is_file()
    # Without its test pairs, or another generator's run: refused by name.
    for kind, missing in (("seq2seq", " without"), ("causal_lm", "")):
        run, _ = generator_runs[kind]
        model = keras.saving.load_model(f"{run}/model.keras")
        with pytest.raises(
            ValueError,
            match=f"Received: a {type(model).__name__} and model_dir=.*{missing}",
        ):
            export_run_variants(model, VariantsConfig(model_dir=run), "unused")
    assert not os.path.exists("unused")


def test_a_run_export_refuses_what_it_cannot_serve(generator_runs, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    model = keras.saving.load_model(f"{generator_runs['seq2seq'][0]}/model.keras")
    model.save(run / "model.keras")
    with pytest.raises(FileNotFoundError, match="lacks source_vocabulary.txt"):
        export_generator_run(str(run), str(tmp_path / "a"))
    with pytest.raises(FileNotFoundError, match="No model.keras in"):
        export_generator_run(str(tmp_path), str(tmp_path / "b"))
    with pytest.raises(ValueError, match="run_dir must be a string or a path"):
        export_generator_run(3, str(tmp_path / "c"))
    with pytest.raises(ValueError, match="Received: run_dir=3"):
        generation_settings(model, 3)
    with pytest.raises(FileNotFoundError, match="lacks source_vocabulary.txt"):
        export_litert_generator_run(str(run), str(tmp_path / "d"))
    with pytest.raises(ValueError, match="Received: a run in .* with prefix="):
        export_litert_generator_run(generator_runs["t5"][0], str(tmp_path / "e"))
    assert sorted(os.listdir(tmp_path)) == ["run"]
