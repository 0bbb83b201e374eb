import json
import os
import subprocess
import sys

import keras_hub
import numpy as np
import pytest

from tftransformer.data import (
    join_word_pieces,
    learn_word_piece_vocabulary,
    tokenize_texts,
    word_piece_tokenizer,
)
from tftransformer.export import export_generator
from tftransformer.models import CausalLM
from tftransformer.presets import load_generator

MAX_LENGTH = 12
PROMPTS = ["the cat", "", "john smith lives in", "a"]

# Loads each SavedModel in a process that imports only TensorFlow and
# TensorFlow Text, and prints each signature's outputs as JSON.
CLIENT = """
import json, sys
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the tokenizer's ops)
results = {}
for version_dir in json.loads(sys.argv[1]):
    serve = tf.saved_model.load(version_dir).signatures["serving_default"]
    outputs = serve(prompt=tf.constant(json.loads(sys.argv[2]), tf.string))
    results[version_dir] = {
        name: [s.decode("utf-8") for s in value.numpy().tolist()]
        for name, value in outputs.items()
    }
loaded = {m.split(".")[0] for m in sys.modules} & {"keras_hub", "tftransformer"}
assert not loaded, loaded
print(json.dumps(results))
"""


@pytest.fixture(scope="module")
def lm(tiny_gpt2_preset):
    return load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH)


def _serve(version_dirs, prompts):
    result = subprocess.run(
        [sys.executable, "-c", CLIENT, json.dumps(version_dirs), json.dumps(prompts)],
        capture_output=True,
        text=True,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_exported_signature_generates_from_raw_prompts_like_keras(lm, tmp_path):
    greedy = export_generator(lm, str(tmp_path / "gpt2"))
    assert greedy == str(tmp_path / "gpt2" / "1")
    top_k = export_generator(
        lm, str(tmp_path / "gpt2"), sampler=keras_hub.samplers.TopKSampler(k=5)
    )
    assert top_k == str(tmp_path / "gpt2" / "2")
    served = _serve([greedy, top_k], PROMPTS)

    lm.compile(sampler="greedy")
    expected = lm.generate(PROMPTS, max_length=MAX_LENGTH)
    assert served[greedy]["text"] == expected
    for prompt, text, completion in zip(
        PROMPTS, served[greedy]["text"], served[greedy]["completion"]
    ):
        assert text == prompt + completion
    # Random weights: the greedy continuations are not empty.
    assert all(served[greedy]["completion"])
    # Top-k sampling continues the same prompts, within the same length.
    sampled = served[top_k]
    assert [t[: len(p)] for t, p in zip(sampled["text"], PROMPTS)] == PROMPTS
    assert sampled["text"] != served[greedy]["text"]


def test_exported_bart_signature_translates_raw_sources_like_keras(
    tiny_bart_preset, tmp_path
):
    seq2seq = load_generator(tiny_bart_preset, "seq2seq_lm", MAX_LENGTH)
    version_dir = export_generator(seq2seq, str(tmp_path / "bart"))
    served = _serve([version_dir], PROMPTS)[version_dir]
    assert set(served) == {"text"}
    seq2seq.compile(sampler="greedy")
    assert served["text"] == seq2seq.generate(PROMPTS, max_length=MAX_LENGTH)


def test_exported_tftransformer_causal_lm_generates_like_its_generate(tmp_path):
    # The learned vocabulary's special ids, as train_causal_lm's.
    pad, start, end = 0, 2, 3
    vocabulary = learn_word_piece_vocabulary(PROMPTS + ["the dog sat on a mat"], 1)
    tokenizer = word_piece_tokenizer(vocabulary)
    model = CausalLM(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=16,
        dropout=0.0,
    )
    version_dir = export_generator(
        model,
        str(tmp_path / "lm"),
        max_length=MAX_LENGTH,
        tokenizer=tokenizer,
        start_token_id=start,
        end_token_id=end,
    )
    served = _serve([version_dir], PROMPTS)[version_dir]

    rows = [[start, *ids] for ids in tokenize_texts(tokenizer, PROMPTS)]
    prompt_ids = np.zeros((len(rows), max(map(len, rows))), "int32")
    for i, row in enumerate(rows):
        prompt_ids[i, : len(row)] = row
    outputs = model.generate(
        prompt_ids,
        MAX_LENGTH,
        top_k=1,
        end_token_id=end,
        prompt_padding_mask=prompt_ids != pad,
        jit_compile=False,
    )
    expected = [join_word_pieces(row, vocabulary, end, (pad, start)) for row in outputs]
    assert served["text"] == expected
    assert all(served["completion"])


def test_export_checks_its_inputs(lm, tiny_bart_preset, tmp_path):
    with pytest.raises(ValueError, match="Received: model=str"):
        export_generator("model", str(tmp_path / "a"))
    # The position table ends at 64: longer would fail only when served.
    with pytest.raises(ValueError, match=r"\(64\). Received: max_length=65"):
        export_generator(lm, str(tmp_path / "b"), max_length=65)
    with pytest.raises(ValueError, match="max_length=1"):
        export_generator(lm, str(tmp_path / "c"), max_length=1)
    with pytest.raises(ValueError, match="`version` must be a non-negative integer"):
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
    assert not any(os.listdir(tmp_path))
