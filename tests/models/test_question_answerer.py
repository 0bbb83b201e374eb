"""The span head on BERT's and RoBERTa's tiny backbones, and span decoding."""

import keras
import numpy as np
import pytest

from tftransformer.data import SquadExample, make_question_answering_windows
from tftransformer.models import QuestionAnswerer, SpanCrossEntropy, best_answers
from tftransformer.presets import embedded_tokenizer
from tftransformer.testing import write_tiny_preset

CONTEXT = (
    "the quick brown fox jumped over the lazy dog. john smith lives in new york city."
)
EXAMPLES = [
    SquadExample(
        "q1",
        "where does john smith live?",
        CONTEXT,
        ("new york city",),
        (CONTEXT.index("new york"),),
    ),
    SquadExample("q2", "what is blue?", CONTEXT),
]


@pytest.fixture(params=["bert", "roberta"])
def preset(request, small_vocabulary_preset, tmp_path):
    if request.param == "bert":
        return small_vocabulary_preset
    return write_tiny_preset(request.param, tmp_path / request.param)


def test_fits_answers_saves_and_reloads(preset, tmp_path):
    answerer = QuestionAnswerer.from_preset(preset, sequence_length=48, doc_stride=16)
    windows = answerer.preprocessor.windows(EXAMPLES)
    logits = answerer.predict(windows.features, verbose=0)
    assert logits.shape == (len(windows), 48, 2)
    # Only the context window and the start token can be picked.
    allowed = (windows.features["segment_ids"] == 1) & (
        windows.features["padding_mask"] == 1
    )
    allowed[:, 0] = True
    assert np.all(logits[~allowed] == -1e9)
    assert np.all(logits[allowed] > -1e8)

    answerer.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = answerer.fit(windows.features, windows.labels, epochs=25, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 4
    first, second = answerer.predict_answers(
        [e.question for e in EXAMPLES], [e.context for e in EXAMPLES]
    )
    assert first["answer"] == "new york city"
    assert CONTEXT[first["start"] : first["end"]] == "new york city"
    assert 0 < first["score"] <= 1
    assert second == {"answer": "", "start": -1, "end": -1, "score": second["score"]}

    path = str(tmp_path / "answerer.keras")
    answerer.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict(windows.features, verbose=0),
        answerer.predict(windows.features, verbose=0),
        atol=1e-5,
    )
    assert loaded.preprocessor.get_config() == answerer.preprocessor.get_config()
    assert loaded.predict_answers(EXAMPLES) == answerer.predict_answers(EXAMPLES)


def test_refuses_bad_arguments(small_vocabulary_preset):
    with pytest.raises(ValueError, match="dropout must be in"):
        QuestionAnswerer.from_preset(
            small_vocabulary_preset, sequence_length=32, dropout=1.5
        )
    answerer = QuestionAnswerer.from_preset(small_vocabulary_preset, sequence_length=32)
    with pytest.raises(ValueError, match="same length. Received: 2 questions"):
        answerer.predict_answers(["a?", "b?"], ["one context"])
    with pytest.raises(ValueError, match="must be SquadExamples"):
        answerer.predict_answers(["a?"])
    with pytest.raises(ValueError, match="questions must be a list, not a single"):
        answerer.predict_answers("who?", "bob is here")
    with pytest.raises(ValueError, match="contexts must be a list.*contexts='bob'"):
        answerer.predict_answers(["who?"], "bob")
    with pytest.raises(ValueError, match="n_best must be an integer >= 1. .* n_best=0"):
        answerer.predict_answers(["a?"], ["a context"], n_best=0)


def _windows():
    context = "alpha beta gamma delta"
    examples = [SquadExample("q", "which?", context)]
    windows = make_question_answering_windows(
        examples, embedded_tokenizer(), sequence_length=12, doc_stride=4
    )
    return context, windows


def _logits(windows, starts, ends):
    logits = np.full((1, 12, 2), -5.0)
    for position, value in starts.items():
        logits[0, position, 0] = value
    for position, value in ends.items():
        logits[0, position, 1] = value
    return logits


def test_best_answers_picks_the_best_valid_span_or_no_answer():
    context, windows = _windows()
    # [CLS] which ? [SEP] alpha beta gamma delta [SEP]: context at 4 to 7.
    assert windows.offsets[0][4].tolist() == [0, 5]
    # The best end (4) is before the best start (5): the best valid span is
    # beta..gamma (3 + 2), not alpha (1 + 4).
    logits = _logits(windows, {0: 0.0, 4: 1.0, 5: 3.0}, {0: 0.0, 4: 4.0, 6: 2.0})
    (answer,) = best_answers(logits, windows, [context])
    assert answer["answer"] == "beta gamma"
    assert (answer["start"], answer["end"]) == (6, 16)
    # One token at most: alpha alone (1 + 4) beats beta-only spans.
    (short,) = best_answers(logits, windows, [context], max_answer_length=1)
    assert short["answer"] == "alpha"
    # A null score of 6 beats the span's 5 by 1: empty, unless the threshold
    # asks for more or no answer is not allowed.
    logits[0, 0] = [3.0, 3.0]
    assert best_answers(logits, windows, [context])[0]["answer"] == ""
    kept = best_answers(logits, windows, [context], null_threshold=1.5)
    assert kept[0]["answer"] == "beta gamma"
    forced = best_answers(logits, windows, [context], allow_no_answer=False)
    assert forced[0]["answer"] == "beta gamma"


def test_a_context_without_tokens_gets_the_empty_answer_either_way():
    # As the export answers it; it used to raise for the whole batch (with
    # a message that printed "{context!r:.80}").
    examples = [
        SquadExample("q0", "which?", "   "),
        SquadExample("q1", "which?", "a b"),
    ]
    windows = make_question_answering_windows(
        examples, embedded_tokenizer(), sequence_length=12, doc_stride=4
    )
    logits = np.zeros((len(windows.example_index), 12, 2))
    for allow_no_answer in (True, False):
        empty, other = best_answers(
            logits, windows, ["   ", "a b"], allow_no_answer=allow_no_answer
        )
        assert empty == {"answer": "", "start": -1, "end": -1, "score": 1.0}
        assert allow_no_answer or other["answer"] in ("a", "b", "a b")


def test_span_cross_entropy_is_the_mean_of_start_and_end_losses():
    logits = np.log(np.array([[[0.5, 0.25], [0.25, 0.5], [0.25, 0.25]]]))
    loss = SpanCrossEntropy()(np.array([[0, 1]]), logits)
    np.testing.assert_allclose(float(loss), -np.log(0.5), rtol=1e-6)


@pytest.mark.parametrize(
    "family", ["distil_bert", "xlm_roberta", "deberta_v3", "albert", "electra"]
)
def test_answers_on_every_family(family, tmp_path):
    preset = write_tiny_preset(family, tmp_path / family)
    answerer = QuestionAnswerer.from_preset(preset, sequence_length=32, doc_stride=8)
    separators = 2 if family == "xlm_roberta" else 1
    assert answerer.preprocessor.pair_separators == separators
    (answer,) = answerer.predict_answers(
        ["where does john smith live?"], [CONTEXT], allow_no_answer=False
    )
    assert (
        answer["answer"]
        and CONTEXT[answer["start"] : answer["end"]] == (answer["answer"])
    )
