import keras
import keras_hub
import pytest

from tftransformer.data import word_piece_tokenizer
from tftransformer.evaluation import generate_texts
from tftransformer.models import seq2seq_translator
from tftransformer.presets import load_generator
from tftransformer.testing import (
    CAUSAL_LM_END,
    CAUSAL_LM_START,
    causal_lm_greedy_texts,
    move_weights,
    tiny_causal_lm,
    tiny_seq2seq_transformer,
)

MAX_LENGTH = 12
PROMPTS = ["the cat", "", "john smith lives in", "a"]


def keras_greedy(model, prompts, max_length=MAX_LENGTH):
    model.compile(sampler=keras_hub.samplers.GreedySampler())
    return list(model.generate(prompts, max_length=max_length))


@pytest.fixture(scope="module")
def gpt2(tiny_gpt2_preset):
    return load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH)


def test_a_causal_lm_generates_as_keras_hub_greedily_in_any_batches(gpt2):
    outputs = generate_texts(gpt2, PROMPTS, batch_size=3)
    assert set(outputs) == {"text", "completion"}
    assert outputs["text"] == keras_greedy(gpt2, PROMPTS)
    # Byte-level pieces give the prompt back as it was.
    for prompt, text, completion in zip(
        PROMPTS, outputs["text"], outputs["completion"], strict=True
    ):
        assert text == prompt + completion
    # Random weights: prompts are continued.
    assert any(outputs["completion"])
    assert generate_texts(gpt2, PROMPTS, batch_size=1) == outputs
    # The preprocessor's length is the default.
    assert generate_texts(gpt2, PROMPTS[:1], max_length=None) == {
        key: values[:1] for key, values in outputs.items()
    }


def test_a_seq2seq_lm_generates_its_targets_after_the_prefix(tiny_t5_preset):
    # Weights off their initializers: each source gets its own target.
    t5 = move_weights(load_generator(tiny_t5_preset, sequence_length=MAX_LENGTH), 1.0)
    prefix = "summarize: "
    outputs = generate_texts(t5, PROMPTS, max_length=8, prefix=prefix)
    assert set(outputs) == {"text"}
    assert outputs["text"] == keras_greedy(t5, [prefix + p for p in PROMPTS], 8)
    assert len(set(outputs["text"])) > 1
    assert outputs["text"] != generate_texts(t5, PROMPTS, max_length=8)["text"]


def test_a_tftransformer_causal_lm_generates_with_its_tokenizer():
    model, vocabulary, tokenizer = tiny_causal_lm(PROMPTS + ["the dog sat on a mat"])
    # Weights off their initializers: a continuation opens with a "##"
    # piece, going on with the prompt's last word.
    move_weights(model, 1.0)
    outputs = generate_texts(
        model,
        PROMPTS,
        max_length=MAX_LENGTH,
        tokenizer=tokenizer,
        start_token_id=CAUSAL_LM_START,
        end_token_id=CAUSAL_LM_END,
    )
    texts, completions = causal_lm_greedy_texts(
        model, vocabulary, tokenizer, PROMPTS, MAX_LENGTH
    )
    assert outputs == {"text": texts, "completion": completions}
    # That completion starts with its word ("##" left out).
    assert any(
        prompt and completion and text == prompt + completion
        for prompt, text, completion in zip(PROMPTS, texts, completions)
    ), outputs
    with pytest.raises(ValueError, match="has no tokenizer of its own"):
        generate_texts(model, PROMPTS, max_length=MAX_LENGTH)


@pytest.mark.parametrize("kind", ["keras_hub", "tftransformer"])
def test_a_prompt_that_fills_max_length_is_warned_of(gpt2, kind, recwarn):
    long = " ".join(["the cat"] * MAX_LENGTH)
    if kind == "keras_hub":
        model, options = gpt2, {}
    else:
        model, _, tokenizer = tiny_causal_lm(PROMPTS)
        options = dict(
            tokenizer=tokenizer,
            start_token_id=CAUSAL_LM_START,
            end_token_id=CAUSAL_LM_END,
        )
    outputs = generate_texts(model, PROMPTS, max_length=MAX_LENGTH, **options)
    assert not [w for w in recwarn if "max_length" in str(w.message)]
    with pytest.warns(
        UserWarning,
        match=r"1 of 3 prompt\(s\) fill all max_length=12 tokens \(the first: "
        r"prompts\[1\], 'the cat the cat .*no room for a continuation",
    ):
        outputs = generate_texts(
            model, ["a", long, "the cat"], max_length=MAX_LENGTH, **options
        )
    # As warned: cut to fit, it is not continued.
    assert outputs["completion"][1] == ""


def test_beam_search_answers_each_prompt_of_a_batch_as_alone(gpt2):
    # keras-hub's BeamSampler samples a batch from its shortest prompt's end:
    # a longer prompt's beams became copies of one text, scored with tokens
    # it does not hold, so its answer depended on the other prompts.
    prompts = ["the cat", "", "john smith lives in new", "a", "quick fox the dog"]
    beam = keras_hub.samplers.BeamSampler(num_beams=3)
    batched = generate_texts(gpt2, prompts, sampler=beam)
    gpt2.compile(sampler=keras_hub.samplers.BeamSampler(num_beams=3))
    alone = [gpt2.generate([prompt], max_length=MAX_LENGTH)[0] for prompt in prompts]
    assert batched["text"] == alone
    assert batched["text"] != generate_texts(gpt2, prompts)["text"]  # Not greedy.
    model, _, tokenizer = tiny_causal_lm(prompts + ["the dog sat on a mat"])
    move_weights(model, 0.8)
    settings = dict(
        max_length=MAX_LENGTH,
        tokenizer=tokenizer,
        start_token_id=CAUSAL_LM_START,
        end_token_id=CAUSAL_LM_END,
        sampler="beam",
    )
    batched = generate_texts(model, prompts, **settings)
    assert batched == {
        key: [generate_texts(model, [p], **settings)[key][0] for p in prompts]
        for key in batched
    }


SOURCE_VOCABULARY = ["[PAD]", "[UNK]", "[START]", "[END]", "the", "cat", "a", "##s"]
TARGET_VOCABULARY = ["[PAD]", "[UNK]", "[START]", "[END]", "el", "gato", "##s", "un"]


@pytest.mark.parametrize("position_kind", ["learned", "relative"])
def test_a_seq2seq_transformer_translates_as_seq2seq_translator(position_kind):
    model = tiny_seq2seq_transformer(
        SOURCE_VOCABULARY,
        TARGET_VOCABULARY,
        max_sequence_length=MAX_LENGTH,
        position_kind=position_kind,
        hidden_dim=16,
        seed=0,
    )
    prompts = PROMPTS + ["the cats the cats the cats the cats the cats"]
    settings = dict(
        max_length=MAX_LENGTH,
        tokenizer=word_piece_tokenizer(SOURCE_VOCABULARY),
        target_tokenizer=word_piece_tokenizer(TARGET_VOCABULARY),
        start_token_id=2,
        end_token_id=3,
    )
    outputs = generate_texts(model, prompts, batch_size=3, **settings)
    translate = seq2seq_translator(
        model, SOURCE_VOCABULARY, TARGET_VOCABULARY, MAX_LENGTH
    )
    # Sources cut to MAX_LENGTH pieces, an empty one, "##" pieces joined.
    assert outputs == {"text": translate(prompts)}
    assert len(set(outputs["text"])) > 1, outputs
    beams = generate_texts(model, prompts, sampler="beam", **settings)["text"]
    assert len(beams) == len(prompts)
    assert all(isinstance(text, str) for text in beams)
    with pytest.raises(ValueError, match="has no tokenizer of its own"):
        generate_texts(model, prompts, max_length=MAX_LENGTH)
    # Without a target tokenizer, the source one names the target pieces:
    # it must have the decoder's vocabulary.
    larger = word_piece_tokenizer(SOURCE_VOCABULARY + ["dog"])
    with pytest.raises(ValueError, match="Received: a vocabulary of 9 tokens"):
        generate_texts(
            model,
            prompts,
            **{**settings, "tokenizer": larger, "target_tokenizer": None},
        )


def test_no_prompts_give_empty_columns(gpt2):
    assert generate_texts(gpt2, []) == {"text": [], "completion": []}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"prompts": ["a", 3]}, r"`prompts` must be a list of strings"),
        ({"batch_size": 0}, r"batch_size.*Received: batch_size=0"),
        ({"max_length": 1}, r"max_length.*Received: max_length=1"),
        ({"sampler": "nucleus"}, r"Received: sampler='nucleus'"),
        ({"prefix": 3}, r"Received: prefix=3"),
        # Ignored: a keras-hub generator's preprocessor gives them.
        ({"end_token_id": 5}, r"end_token_id are a tftransformer model's"),
        # Taken unchecked by keras-hub: a TensorFlow op failed later, or the
        # sampler drew otherwise than asked (p=1.5, a negative temperature).
        *[
            ({"sampler": sampler}, message)
            for sampler, message in (
                (keras_hub.samplers.TopKSampler(k=0), r"TopKSampler's k .*k=0"),
                (keras_hub.samplers.TopPSampler(p=1.5), r"in \(0, 1\]. .*p=1.5"),
                (
                    keras_hub.samplers.RandomSampler(temperature=-1.0),
                    r"RandomSampler's temperature .*temperature=-1.0",
                ),
                (
                    keras_hub.samplers.GreedySampler(temperature=0.0),
                    r"temperature must be a finite number > 0",
                ),
                (keras_hub.samplers.BeamSampler(num_beams=0), r"num_beams=0"),
            )
        ],
    ],
)
def test_bad_arguments_are_refused_naming_the_value(gpt2, arguments, message):
    arguments = {"prompts": PROMPTS, **arguments}
    with pytest.raises(ValueError, match=message):
        generate_texts(gpt2, **arguments)


def test_another_model_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="Received: model=Sequential"):
        generate_texts(model, PROMPTS)
