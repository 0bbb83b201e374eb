"""The exported question answerer, served in a process without Keras' models."""

import os
import random
import unicodedata

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text as tf_text
from tensorflow.lite.python.interpreter import InterpreterWithCustomOps

from tests.export.clients import job, run_clients
from tftransformer.data import context_pieces
from tftransformer.export import (
    LiteRTModel,
    QuestionAnswererServingModule,
    export_litert,
    export_question_answerer,
)
from tftransformer.export.question_answerer_serving_module import piece_delimiters
from tftransformer.models import QuestionAnswerer, TextClassifier
from tftransformer.testing import write_tiny_preset

QUESTIONS = ["where does john smith live?", "where did it open?", "what?", "who?"]
CONTEXTS = [
    # Longer than one window: answers come from several windows.
    "the quick brown fox jumped over the lazy dog. john smith lives in new "
    "york city, and the movie was great.",
    # Accents and a no-break space: character, not byte, offsets.
    "Café Müller opened in São Paulo\u00a0in 1990, near the river.",
    "",
    "a",
]

# Runs a LiteRT model (or a SavedModel) in a process without the toolkit.
# Contexts as the LiteRT graph and the SavedModel split them alike: ASCII
# words and punctuation, a no-break space, curly quotes and a dash (several
# UTF-8 bytes each); accented letters are left out (see docs/serving.md).
LITERT_QUESTIONS = [*QUESTIONS[:1], "where?", *QUESTIONS[2:]]
LITERT_CONTEXTS = [
    CONTEXTS[0],
    "The \u201criver\u201d \u2014 near the city\u00a0in 1990, isn't it?",
    *CONTEXTS[2:],
]


def random_questions(count, seed):
    """Questions and contexts of 0 to 50 words, some past one window."""
    rng = np.random.default_rng(seed)
    words = (
        "the quick brown fox jumped over lazy dog . john smith lives in new "
        "york city , and movie was great ? it's Paris"
    ).split()
    pairs = []
    for _ in range(count):
        question = " ".join(rng.choice(words, size=rng.integers(1, 6)))
        context = " ".join(rng.choice(words, size=rng.integers(0, 51)))
        pairs.append([question, context])
    return pairs


def make_answerer(preset):
    model = QuestionAnswerer.from_preset(preset, sequence_length=24, doc_stride=6)
    # Random weights give near-equal logits; a spread-out head makes the
    # chosen spans differ, so the comparison means something.
    dense = model.output_dense
    rng = np.random.default_rng(0)
    kernel = rng.normal(0, 3.0, dense.get_weights()[0].shape).astype("float32")
    dense.set_weights([kernel, np.zeros(2, "float32")])
    return model


def serving_module(answerer, allow_no_answer):
    """The serving module of `answerer`, with its preprocessor's settings."""
    preprocessor = answerer.preprocessor
    return QuestionAnswererServingModule(
        answerer,
        preprocessor.tokenizer,
        preprocessor.sequence_length,
        preprocessor.doc_stride,
        preprocessor.max_question_length,
        preprocessor.pair_separators,
        allow_no_answer=allow_no_answer,
    )


def check_answers(served, answerer, questions, contexts, allow_no_answer=True):
    # The export searches every span: n_best past the window's length.
    expected = answerer.predict_answers(
        questions, contexts, n_best=100, allow_no_answer=allow_no_answer
    )
    assert list(served["answer"]) == [answer["answer"] for answer in expected]
    assert list(served["start"]) == [answer["start"] for answer in expected]
    assert list(served["end"]) == [answer["end"] for answer in expected]
    np.testing.assert_allclose(
        served["score"], [answer["score"] for answer in expected], rtol=1e-4
    )
    for context, answer, start, end in zip(
        contexts, served["answer"], served["start"], served["end"]
    ):
        assert answer == (context[start:end] if start >= 0 else "")
    assert served["answer"][0], "the long context's answer is empty"


def test_served_answers_match_predict_answers(litert_answerer, clean_process_answers):
    answerer, _ = litert_answerer
    result = clean_process_answers["saved_model"]
    assert result["blocked_modules_loaded"] == []
    served = {name: value["outputs"][0] for name, value in result["by_name"].items()}
    check_answers(served, answerer, QUESTIONS, CONTEXTS)
    # The empty context has no answer.
    assert served["answer"][2] == "" and served["start"][2] == -1


@pytest.mark.parametrize(
    "family, allow_no_answer", [("bert", False), ("roberta", True)]
)
def test_serving_graph_matches_predict_answers(
    family, allow_no_answer, small_vocabulary_preset, tmp_path
):
    preset = small_vocabulary_preset
    if family != "bert":
        preset = write_tiny_preset(family, tmp_path / family)
    answerer = make_answerer(preset)
    module = serving_module(answerer, allow_no_answer)
    # Without "no answer", an empty context has no answer to give: left out.
    count = len(QUESTIONS) if allow_no_answer else 2
    questions, contexts = QUESTIONS[:count], CONTEXTS[:count]
    outputs = module.serve(tf.constant(questions), tf.constant(contexts))
    served = {name: value.numpy().tolist() for name, value in outputs.items()}
    served["answer"] = [answer.decode("utf-8") for answer in served["answer"]]
    check_answers(served, answerer, questions, contexts, allow_no_answer)


@pytest.mark.parametrize("family", ["bert", "roberta", "xlm_roberta", "albert"])
def test_graph_tokens_and_spans_are_the_windows(
    family, small_vocabulary_preset, tmp_path
):
    # Glued punctuation and word parts: a SentencePiece family's first
    # token of each reads inside a word, in the graph as in training.
    preset = small_vocabulary_preset
    if family != "bert":
        preset = write_tiny_preset(family, tmp_path / family)
    answerer = QuestionAnswerer.from_preset(preset, sequence_length=64)
    contexts = [
        "the earth is round, isn't it? (yes) the sun,too",
        CONTEXTS[1],
        " x,y\u00a0z.",
    ]
    # Traced, as served (keras-hub tokenizes eager calls to lists).
    pieces = tf.function(serving_module(answerer, True)._pieces)
    tokens, spans = pieces(tf.constant(contexts))
    windows = answerer.preprocessor.windows(["q?"] * len(contexts), contexts)
    assert windows.example_index.tolist() == [0, 1, 2]  # One window each.
    for row, context in enumerate(contexts):
        in_context = windows.features["segment_ids"][row] == 1
        in_context[np.flatnonzero(in_context)[-1]] = False  # The end token.
        assert tokens[row].numpy().tolist() == (
            windows.features["token_ids"][row][in_context].tolist()
        ), context
        assert spans[row].numpy().tolist() == (
            windows.offsets[row][in_context].tolist()
        ), context


@pytest.mark.parametrize("allow_no_answer", [True, False])
def test_an_empty_context_before_others_answers_empty(
    allow_no_answer, small_vocabulary_preset
):
    # An example without a single valid span, ahead of one spanning two
    # windows: it once took the last window's span, a slice past its end.
    answerer = make_answerer(small_vocabulary_preset)
    module = serving_module(answerer, allow_no_answer)
    outputs = module.serve(tf.constant(QUESTIONS[2::-2]), tf.constant(CONTEXTS[2::-2]))
    answers = [answer.decode("utf-8") for answer in outputs["answer"].numpy()]
    assert (answers[0], outputs["start"][0], outputs["end"][0]) == ("", -1, -1)
    (expected,) = answerer.predict_answers(
        QUESTIONS[:1], CONTEXTS[:1], n_best=100, allow_no_answer=allow_no_answer
    )
    assert answers[1] == expected["answer"] != ""


def test_export_checks_its_inputs(small_vocabulary_preset, tmp_path):
    classifier = TextClassifier.from_preset(
        small_vocabulary_preset, num_classes=2, sequence_length=16
    )
    with pytest.raises(ValueError, match="must be a QuestionAnswerer"):
        export_question_answerer(classifier, tmp_path / "a")
    answerer = QuestionAnswerer.from_preset(small_vocabulary_preset, sequence_length=16)
    with pytest.raises(
        ValueError,
        match="max_answer_length must be an integer >= 1.*max_answer_length=0",
    ):
        export_question_answerer(answerer, tmp_path / "a", max_answer_length=0)
    with pytest.raises(ValueError, match="`allow_no_answer` must be a bool"):
        export_question_answerer(answerer, tmp_path / "a", allow_no_answer="yes")


def test_graph_pieces_are_the_python_pieces():
    """The served graph splits contexts as training did, across Unicode."""
    characters = [
        chr(code)
        for code in range(0x20, 0x3100)
        if unicodedata.category(chr(code)) != "Cs"
    ]
    characters += list("\t\n\x0b\x0c\r\x1c\x1f\x85\u2028\u2029\u3000\u200b\ufeff")
    rng = random.Random(0)
    texts = ["".join(rng.choice(characters) for _ in range(40)) for _ in range(200)]
    _, begins, ends = tf_text.regex_split_with_offsets(
        tf.constant(texts), *piece_delimiters()
    )
    for text, begin, end in zip(texts, begins.to_list(), ends.to_list()):
        data = text.encode("utf-8")
        served = [data[b:e].decode("utf-8") for b, e in zip(begin, end)]
        assert served == [text[b:e] for _, b, e in context_pieces(text)], text


# Full int8 (activations too) of the tiny answerer picked the float32 span
# on 0.92 to 0.93 of 100 held-out pairs (three batches, two exports each,
# the same every time; 2026-11-27): the random backbone's small
# activations lose much in int8 (docs/serving.md).
FULL_INT8_AGREEMENT = 0.85


@pytest.fixture(scope="module")
def litert_answerer(small_vocabulary_preset, tmp_path_factory):
    """The Keras answerer, and its float32, dynamic-range and full int8 files."""
    answerer = make_answerer(small_vocabulary_preset)
    directory = tmp_path_factory.mktemp("litert_qa")
    representative = [tuple(pair) for pair in random_questions(100, seed=2)]
    files = {
        quantization: export_litert(
            answerer, directory / str(quantization), quantization, representative
        )
        for quantization in (None, "dynamic_int8", "int8")
    }
    return answerer, files


def litert_batches():
    """The batches the float32 LiteRT file answers in a clean process."""
    batches = [[list(pair) for pair in zip(LITERT_QUESTIONS, LITERT_CONTEXTS)]]
    batches.append(random_questions(100, seed=0))
    return batches


@pytest.fixture(scope="module")
def clean_process_answers(litert_answerer, tmp_path_factory):
    """In one clean process: the answerer's SavedModel's answers to
    `QUESTIONS` and `CONTEXTS` (`saved_model`), and its float32 LiteRT
    file's to `litert_batches()` (`litert`)."""
    answerer, files = litert_answerer
    version_dir = export_question_answerer(
        answerer, tmp_path_factory.mktemp("saved_model_qa") / "qa"
    )
    results = run_clients(
        [
            job(
                version_dir,
                [[list(pair) for pair in zip(QUESTIONS, CONTEXTS)]],
                output="answer,start,end,score",
            ),
            job(files[None], litert_batches(), output="byte_start,byte_end,score"),
        ]
    )
    return dict(zip(["saved_model", "litert"], results, strict=True))


def test_litert_answers_raw_pairs_in_a_clean_process(
    litert_answerer, clean_process_answers
):
    answerer, _ = litert_answerer
    held_out = random_questions(100, seed=0)
    batches = litert_batches()
    result = clean_process_answers["litert"]
    assert result["blocked_modules_loaded"] == []
    by_name = result["by_name"]
    for index, batch in enumerate(batches):
        questions, contexts = zip(*batch)
        expected = answerer.predict_answers(questions, contexts, n_best=100)
        starts = by_name["byte_start"]["outputs"][index]
        ends = by_name["byte_end"]["outputs"][index]
        # Byte offsets in the UTF-8 context: the same answer text.
        answers = [
            context.encode("utf-8")[start:end].decode("utf-8") if start >= 0 else ""
            for context, start, end in zip(contexts, starts, ends)
        ]
        assert answers == [answer["answer"] for answer in expected]
        assert [start >= 0 for start in starts] == [
            answer["start"] >= 0 for answer in expected
        ]
        np.testing.assert_allclose(
            by_name["score"]["outputs"][index],
            [answer["score"] for answer in expected],
            rtol=1e-4,
        )
    # Over-long contexts answer from several windows; the empty one has none.
    assert max(len(context.split()) for _, context in held_out) > 40
    assert by_name["byte_start"]["outputs"][0][2] == -1
    assert sum(start >= 0 for start in by_name["byte_start"]["outputs"][1]) > 50


def test_litert_model_answers_as_the_saved_model(litert_answerer):
    answerer, files = litert_answerer
    outputs = LiteRTModel(files[None])(LITERT_QUESTIONS, LITERT_CONTEXTS)
    # Character offsets and answers, as the SavedModel export answers them.
    check_answers(outputs, answerer, LITERT_QUESTIONS, LITERT_CONTEXTS)
    # The dash and quotes are 3 bytes each: character and byte offsets differ.
    assert outputs["byte_start"][1] > outputs["start"][1] >= 0
    # An empty batch answers empty outputs.
    empty = LiteRTModel(files[None])([], [])
    assert empty["answer"] == [] and empty["score"].shape == (0,)
    # Dynamic-range int8 picks the float32 spans on held-out pairs.
    questions, contexts = zip(*random_questions(100, seed=1))
    served = {
        quantization: LiteRTModel(file)(questions, contexts)
        for quantization, file in files.items()
    }
    spans = {
        quantization: list(zip(outputs["start"], outputs["end"]))
        for quantization, outputs in served.items()
    }
    for quantization, bound in (("dynamic_int8", 0.98), ("int8", FULL_INT8_AGREEMENT)):
        agreement = np.mean([a == b for a, b in zip(spans[None], spans[quantization])])
        assert agreement >= bound, quantization
    assert len(set(spans[None])) > 10


def test_full_int8_answerer_searches_spans_in_float32(litert_answerer):
    interpreter = InterpreterWithCustomOps(
        model_path=litert_answerer[1]["int8"],
        custom_op_registerers=list(tf_text.tflite_registrar.SELECT_TFTEXT_OPS),
    )
    dtypes = {}
    for tensor in interpreter.get_tensor_details():
        dtypes.setdefault(tensor["name"].split("/")[0], set()).add(tensor["dtype"])
    # The layers in int8, the span search after them in float32: an int8
    # sum of two logits, or a mask in int8, would move the chosen spans.
    assert np.int8 in set().union(*dtypes.values())
    assert dtypes["span_search"] and np.int8 not in dtypes["span_search"]


def test_litert_answerer_refuses_bad_input(litert_answerer, tmp_path):
    answerer, files = litert_answerer
    model = LiteRTModel(files[None])
    with pytest.raises(ValueError, match=r"2 texts and 1 text_pairs"):
        model(["who?", "what?"], ["a"])
    with pytest.raises(ValueError, match=r"`text_pairs` must be a list of strings.*3"):
        model(["who?"], [3])
    with pytest.raises(ValueError, match="one context per question"):
        model(["who?"])
    # A single string would be read letter by letter.
    with pytest.raises(ValueError, match=r"not a single string.*texts='who\?'"):
        model("who?", ["a"])
    with pytest.raises(ValueError, match=r"UTF-8.*text_pairs\[0\]=b'\\xff'"):
        model(["who?"], [b"\xff"])
    with pytest.raises(ValueError, match=r"\(question, context\) tuples.*\['who\?'\]"):
        export_litert(answerer, tmp_path, "int8", ["who?"])
    with pytest.raises(ValueError, match="max_answer_length=0"):
        export_litert(answerer, tmp_path, max_answer_length=0)
    with pytest.raises(ValueError, match="allow_no_answer='yes'"):
        export_litert(answerer, tmp_path, allow_no_answer="yes")
    with pytest.raises(ValueError, match="not a classifier or regressor"):
        export_litert(answerer, tmp_path, text_pair=True)
    assert not os.listdir(tmp_path)


def test_litert_model_takes_texts_as_keras_does(litert_answerer):
    # A string tensor and arrays of bytes, as a Keras model takes them.
    model = LiteRTModel(litert_answerer[1][None])
    questions, contexts = ["who sat?", "où?"], ["a cat sat", "à Paris, une fête"]
    expected = model(questions, contexts)
    answers = model(
        tf.constant(questions), np.array([c.encode() for c in contexts], object)
    )
    assert answers["answer"] == expected["answer"]
    np.testing.assert_array_equal(answers["start"], expected["start"])
