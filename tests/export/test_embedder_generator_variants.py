"""`export_variants` on an embedder (scored by retrieval) and on a
generator (scored by BLEU)."""

import os
import warnings

import numpy as np
import pytest

from tftransformer.data import learn_word_piece_vocabulary, word_piece_tokenizer
from tftransformer.evaluation import corpus_bleu, generate_texts
from tftransformer.export import export_litert, export_variants
from tftransformer.export.litert_tokenizer import LiteRTTokenizer
from tftransformer.models import TextClassifierPreprocessor, TextEmbedder
from tftransformer.presets import load_backbone, load_generator
from tftransformer.testing import (
    CAUSAL_LM_END,
    CAUSAL_LM_START,
    tiny_causal_lm,
    tiny_seq2seq_transformer,
    write_tiny_generator_preset,
)

SEQUENCE_LENGTH = 16
MAX_LENGTH = 12
LONG_TEXT = "hello world how are you " * 10
# Each query's relevant document; two queries share one, so the candidates
# are the five distinct documents.
QUERIES = ["a fine film", "the cat sat", "john smith lives here", "", LONG_TEXT, "dull"]
DOCUMENTS = [
    "a fine movie",
    "a cat was sitting",
    "smith lives here",
    "nothing at all",
    "hello world",
    "a fine movie",
]
TIMINGS = {"batch_sizes": (1, 4), "calls": (2, 1)}


@pytest.fixture(scope="module")
def embedder(tiny_preset):
    backbone, preprocessor = load_backbone(tiny_preset, sequence_length=SEQUENCE_LENGTH)
    return TextEmbedder(
        backbone,
        preprocessor=TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
    )


def test_embedder_report_scores_retrieval_per_variant(embedder, tmp_path):
    variants = ["saved_model_float32", "litert_dynamic_int8"]
    report = export_variants(
        embedder, tmp_path, QUERIES, DOCUMENTS, None, variants=variants, **TIMINGS
    )
    assert [row["variant"] for row in report.rows] == variants
    assert report.num_test_examples == len(QUERIES)
    # The Keras model's retrieval, computed here: cosine over the distinct
    # documents, best first.
    candidates = list(dict.fromkeys(DOCUMENTS))
    vectors = embedder.embed(QUERIES + candidates)
    scores = vectors[: len(QUERIES)] @ vectors[len(QUERIES) :].T
    ranks = [
        1 + int(np.sum(row > row[candidates.index(document)]))
        for row, document in zip(scores, DOCUMENTS)
    ]
    reference = report.row("saved_model_float32")
    assert reference["recall_at_1"] == pytest.approx(np.mean(np.equal(ranks, 1)))
    assert reference["recall_at_10"] == 1.0  # five candidates
    assert reference["mrr_at_10"] == pytest.approx(np.mean(1 / np.array(ranks)))
    assert reference["agreement"] == 1.0
    assert reference["min_cosine"] > 0.9999
    for row in report.rows[1:]:
        assert row["min_cosine"] > 0.95, row
        assert 0 <= row["agreement"] <= 1, row
        assert row["size_bytes"] < reference["size_bytes"], row
    for row in report.rows:
        assert row["p50_ms_batch_1"] > 0 and row["p99_ms_batch_4"] > 0, row
    assert os.path.isfile(report.row("litert_dynamic_int8")["path"])
    table = report.format()
    assert "recall@1" in table and "min cosine with Keras" in table
    assert "BLEU" not in table


def test_embedder_report_refuses_bad_input_before_writing(embedder, tmp_path):
    directory = tmp_path / "unused"
    with pytest.raises(ValueError, match="True only for a classifier"):
        export_variants(embedder, directory, QUERIES, DOCUMENTS, None, text_pair=True)
    with pytest.raises(ValueError, match=r"For an embedder, `test_labels` must be"):
        export_variants(embedder, directory, QUERIES, [0] * len(QUERIES), None)
    with pytest.raises(ValueError, match="6 queries and 5 documents"):
        export_variants(embedder, directory, QUERIES, DOCUMENTS[:5], None)
    with pytest.raises(ValueError, match="representative_texts=\\[\\]"):
        export_variants(embedder, directory, QUERIES, DOCUMENTS, None)
    assert not directory.exists()


@pytest.fixture(scope="module")
def t5(tmp_path_factory):
    # Seeded and wider than the shared tiny T5: its greedy targets differ
    # from prompt to prompt (as in test_litert_generator.py).
    preset = write_tiny_generator_preset(
        "t5", tmp_path_factory.mktemp("t5") / "preset", hidden_dim=32, seed=1
    )
    return load_generator(preset, "seq2seq_lm", MAX_LENGTH)


def test_generator_report_scores_bleu_and_agreement(t5, tmp_path):
    t5.compile(sampler="greedy")
    expected = t5.generate(QUERIES, max_length=MAX_LENGTH)
    assert len(set(expected)) > 1, expected
    # Half the references are the greedy outputs: a BLEU between 0 and 100.
    references = expected[:3] + ["the cat", "a house", "dull"]
    bleu = corpus_bleu(expected, references)["bleu"]
    assert 0 < bleu < 100, (bleu, expected)
    sampler = t5.sampler
    variants = ["saved_model_float32", "litert_float32"]
    report = export_variants(
        t5, tmp_path, QUERIES, references, None, variants=variants, **TIMINGS
    )
    # The model's own sampler is back.
    assert t5.sampler is sampler
    assert [row["variant"] for row in report.rows] == variants
    for row in report.rows:
        assert row["agreement"] == 1.0, row
        assert row["bleu"] == pytest.approx(bleu), row
        assert row["p50_ms_batch_1"] > 0, row
    assert "BLEU" in report.format()


def test_a_tftransformer_generator_is_measured_with_its_settings(tmp_path):
    source = learn_word_piece_vocabulary(QUERIES + ["the dog sat on a mat"], 1)
    target = learn_word_piece_vocabulary(["der hund sitzt auf der matte"], 1)
    translator = tiny_seq2seq_transformer(
        source, target, MAX_LENGTH, hidden_dim=16, seed=1
    )
    generation = {
        "max_length": MAX_LENGTH,
        "prefix": "",
        "tokenizer": word_piece_tokenizer(source),
        "target_tokenizer": word_piece_tokenizer(target),
        "start_token_id": CAUSAL_LM_START,
        "end_token_id": CAUSAL_LM_END,
    }
    expected = generate_texts(translator, QUERIES, **generation)["text"]
    assert len(set(expected)) > 1, expected
    references = expected[:3] + ["der hund", "die matte", "auf"]
    bleu = corpus_bleu(expected, references)["bleu"]
    assert 0 < bleu < 100, (bleu, expected)
    variants = ["saved_model_float32", "litert_float32"]
    report = export_variants(
        translator,
        tmp_path,
        QUERIES,
        references,
        None,
        variants=variants,
        generation=generation,
        **TIMINGS,
    )
    assert [row["variant"] for row in report.rows] == variants
    for row in report.rows:
        assert row["agreement"] == 1.0, row
        assert row["bleu"] == pytest.approx(bleu), row


def test_generator_report_lists_each_models_variants(t5, tiny_gpt2_preset, tmp_path):
    directory = tmp_path / "unused"
    # T5 exports to every variant but full-int8 LiteRT.
    with pytest.raises(ValueError, match="no full-int8 LiteRT export.*'litert_dyn"):
        export_variants(
            t5,
            directory,
            ["a"],
            ["b"],
            None,
            variants=["saved_model_float32", "litert_int8"],
        )
    # A keras-hub CausalLM has SavedModels only.
    gpt2 = load_generator(tiny_gpt2_preset, sequence_length=MAX_LENGTH)
    with pytest.raises(
        ValueError,
        match=r"not a keras-hub GPT2CausalLM. Its variants: \['saved_model_float32', "
        r"'saved_model_int8'\]",
    ):
        export_variants(
            gpt2,
            directory,
            ["a"],
            ["b"],
            None,
            variants=["saved_model_float32", "litert_float32"],
        )
    with pytest.raises(ValueError, match="1 prompts and 2 references"):
        export_variants(gpt2, directory, ["a"], ["b", "c"], None)
    with pytest.raises(ValueError, match="For a generator, `test_texts`"):
        export_variants(gpt2, directory, "a", ["b"], None)
    # A tftransformer generator needs its settings, and has both LiteRT
    # variants but full int8; a keras-hub one takes none.
    model, _, tokenizer = tiny_causal_lm(["the cat sat"])
    with pytest.raises(ValueError, match="Received: generation=None for model"):
        export_variants(model, directory, ["a"], ["b"], None)
    with pytest.raises(ValueError, match=r"Received: generation=\{...\} for model"):
        export_variants(gpt2, directory, ["a"], ["b"], None, generation={})
    generation = {"tokenizer": tokenizer, "max_length": 8, "start_token_id": 2}
    for variant, settings, message in [
        ("litert_int8", generation, "'saved_model_int8', 'litert_float32', 'l"),
        (
            "litert_float32",
            {**generation, "prefix": "go: "},
            "cannot put a task prefix .* Received: prefix='go: '",
        ),
    ]:
        # Telling which variants exist makes a LiteRT tokenizer, silently:
        # each LiteRT export makes its own and warns there (this one
        # lower-cases without stripping accents).
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with pytest.raises(ValueError, match=message):
                export_variants(
                    model,
                    directory,
                    ["a"],
                    ["b"],
                    None,
                    variants=["saved_model_float32", variant],
                    generation=settings,
                )
        assert not [w for w in caught if "FastBertTokenizer" in str(w.message)]
    with pytest.warns(UserWarning, match="lowercase=True, strip_accents=False"):
        LiteRTTokenizer(tokenizer)
    translator = tiny_seq2seq_transformer(["[PAD]", "[UNK]", "[START]", "[END]"])
    with pytest.raises(ValueError, match="Seq2SeqTransformer has no tokenizer"):
        export_litert(translator, str(directory))
    assert not directory.exists()
