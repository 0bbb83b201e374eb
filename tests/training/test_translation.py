"""A translation model trained from scratch through the library (what
`examples/translate.py` calls)."""

import json

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft
from tests.export.generator_client import serve_generators
from tests.training.interruptions import (
    STALE_TEMPORARY_FILE,
    assert_same_training,
    final_checkpoint,
    run_killed_then_rerun,
)
from tftransformer.data import SEQUENCE_RESERVED_TOKENS, DataError, join_word_pieces
from tftransformer.export import export_generator
from tftransformer.training import TranslationConfig
from tftransformer.training import translation as translation_run
from tftransformer.training.checkpointing import (
    write_checkpoint,
)
from tftransformer.training.language_model import tokens_in

# A toy language pair: each source word has one translation, kept in order.
LEXICON = {
    "the": "el",
    "dog": "perro",
    "cat": "gato",
    "sees": "ve",
    "eats": "come",
    "big": "grande",
    "small": "pequeño",
    "bread": "pan",
    "fish": "pez",
    "and": "y",
    "runs": "corre",
    "sleeps": "duerme",
}

TINY = dict(
    source_column="0",
    target_column="1",
    max_length=12,
    test_size=40,
    validation_size=20,
    min_token_count=2,
    num_layers=1,
    num_heads=2,
    hidden_dim=32,
    intermediate_dim=64,
    dropout=0.0,
    batch_size=16,
    learning_rate=5e-3,
    beam_width=3,
    num_samples=2,
)
# The special tokens' ids in every learned vocabulary.
PAD, START, END = 0, 2, 3


def run(**settings):
    """`train_translator` as the interruption helpers take it."""
    result = tft.training.train_translator(TranslationConfig(**settings), verbose=0)
    return {
        "bleu": result.bleu,
        "samples": result.samples,
        "history": result.training.history,
        "model": result.model,
        "model_path": result.training.model_path,
        "num_pairs": result.num_pairs,
        "rouge": result.rouge,
    }


def write_pairs(tmp_path, n=360, seed=0):
    rng = np.random.default_rng(seed)
    words = sorted(LEXICON)
    lines = []
    for _ in range(n):
        sentence = list(rng.choice(words, size=rng.integers(3, 7)))
        translation = [LEXICON[w] for w in sentence]
        lines.append(" ".join(sentence) + " .\t" + " ".join(translation) + " .\n")
    path = tmp_path / "pairs.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return str(path)


def test_run_learns_a_toy_language_and_writes_its_outputs(tmp_path):
    model_dir = tmp_path / "run"
    model_dir.mkdir()
    # Left by a run killed while saving model.keras.
    (model_dir / STALE_TEMPORARY_FILE).write_bytes(b"PK")
    result = run(
        pairs_file=write_pairs(tmp_path), epochs=6, model_dir=str(model_dir), **TINY
    )
    losses = result["history"]["loss"]
    assert losses[-1] < 0.3 * losses[0], losses
    bleu = result["bleu"]
    # Word-for-word translation of unseen sentences: most 4-grams right.
    assert bleu["greedy"]["bleu"] > 60, bleu["greedy"]
    assert bleu["beam"]["bleu"] > 60, bleu["beam"]
    assert result["num_pairs"] == {"train": 300, "validation": 20, "test": 40}

    report = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))
    assert report["bleu"]["greedy"] == pytest.approx(bleu["greedy"]["bleu"])
    assert report["bleu"]["beam"] == pytest.approx(bleu["beam"]["bleu"])
    # Mostly right words in the right order: high unigram and LCS overlap.
    assert report["rouge"] == result["rouge"]
    for name in ("greedy", "beam"):
        assert set(result["rouge"][name]) == {"rouge1", "rouge2", "rougeL"}
        assert result["rouge"][name]["rouge1"] > 0.8, result["rouge"]
        assert result["rouge"][name]["rougeL"] > 0.8, result["rouge"]
    assert len(report["samples"]) == 2
    sample = result["samples"][0]
    assert set(sample) == {"source", "reference", "greedy", "beam"}
    rows = (model_dir / "translations.tsv").read_text(encoding="utf-8").splitlines()
    assert rows[0] == "source\treference\tgreedy\tbeam"
    assert len(rows) == 41
    vocabulary = (model_dir / "target_vocabulary.txt").read_text(encoding="utf-8")
    assert vocabulary.split("\n")[:4] == list(SEQUENCE_RESERVED_TOKENS)
    assert "perro" in vocabulary.split("\n")
    assert not list(model_dir.glob(".tmp-*"))
    # Kept, so that a run killed after training does not train again.
    assert final_checkpoint(model_dir)["finished"]

    reloaded = keras.saving.load_model(result["model_path"])
    source = np.array([[5, 6, 7, 0]], "int32")
    np.testing.assert_array_equal(
        reloaded.greedy_decode(source, START, END, 12),
        result["model"].greedy_decode(source, START, END, 12),
    )


def budget_run(directory, validation_size, **settings):
    """A run on 120 pairs whose time budget ends after the first of 5 epochs."""
    return run(
        pairs_file=write_pairs(directory, n=120),
        epochs=5,
        max_train_minutes=1e-6,
        model_dir=str(directory / "run"),
        **{**TINY, "test_size": 10, "validation_size": validation_size, **settings},
    )


# validation_size=0: no validation split, early stopping on the training loss.
@pytest.mark.parametrize("validation_size", [10, 0])
def test_time_budget_stops_after_the_first_epoch(tmp_path, validation_size):
    if validation_size:
        # The same run shows the model built in the chosen strategy's scope.
        keras.utils.set_random_seed(1234)
        result = budget_run(tmp_path, validation_size, distribution="mirrored")
        assert isinstance(
            result["model"].distribute_strategy, tf.distribute.MirroredStrategy
        )
        assert (tmp_path / "run" / "report.json").exists()
    else:
        result = budget_run(tmp_path, validation_size)
    assert len(result["history"]["loss"]) == 1
    assert ("val_loss" in result["history"]) == (validation_size > 0)


def test_ids_to_text_joins_pieces_and_stops_at_the_end_token():
    vocabulary = [*SEQUENCE_RESERVED_TOKENS, "perro", "##s", "come", "."]
    ids = [START, 4, 5, 6, 7, END, 6, PAD]
    assert join_word_pieces(ids, vocabulary, END, (PAD, START)) == "perros come ."


def test_missing_default_corpus_says_how_to_make_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="make translation-data"):
        run(model_dir=str(tmp_path / "run"))
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"batch_size": 0}, "batch_size=0"),
        ({"max_length": 2}, "max_length=2"),
        ({"beam_width": 0}, "beam_width=0"),
        # Checked again by beam_search, which runs after training.
        ({"length_penalty": -1.0}, "length_penalty=-1.0"),
        ({"length_penalty": float("nan")}, "length_penalty=nan"),
        ({"test_size": 500}, "too few for test_size=500"),
        ({"validation_size": -1}, "validation_size=-1"),
        ({"max_train_pairs": 0}, "max_train_pairs=0"),
        ({"num_samples": -1}, "num_samples=-1"),
        # 0 meant no limit.
        ({"max_train_minutes": 0}, "max_train_minutes=0"),
        ({"max_train_minutes": -1.0}, "max_train_minutes=-1.0"),
        ({"target_column": "0"}, "source_column and target_column must differ"),
        ({"on_bad_rows": "ignore"}, "on_bad_rows='ignore'"),
        ({"seed": -1}, "seed=-1"),
        ({"source_prefix": "translate: "}, "Set --preset.*source_prefix='translate: '"),
        # Printed and recorded, never applied: keras-hub's beam has none.
        (
            {"preset": "bart_base_en", "length_penalty": 1.0},
            "BeamSampler, which has no length penalty.*length_penalty=1.0",
        ),
    ],
)
def test_rejects_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        run(
            pairs_file=write_pairs(tmp_path, n=50),
            model_dir=str(tmp_path / "run"),
            **{**TINY, **kwargs},
        )
    assert not (tmp_path / "run").exists()


def test_on_bad_rows_skips_the_lines_the_error_names(tmp_path):
    path = write_pairs(tmp_path, n=50)
    with open(path, "a", encoding="utf-8") as f:
        f.write("a line without a tab\n")
    settings = dict(pairs_file=path, model_dir=str(tmp_path / "run"), **TINY)
    with pytest.raises(DataError, match="line 51: .*on_bad_rows='skip'"):
        run(**settings)
    # Skipped, the 50 good pairs remain: too few for this test split.
    with pytest.raises(ValueError, match="has 50 pairs: too few for test_size=500"):
        run(**{**settings, "on_bad_rows": "skip", "test_size": 500})


def _no_decoding(decode, source_ids, batch_size):
    # Decoding takes longer than the tiny training and changes no weight.
    return [[START, END] for _ in source_ids]


def test_a_killed_run_ends_as_an_uninterrupted_one(tmp_path, monkeypatch):
    # Killed after epoch 1: the resumed epoch 2 shuffles as the
    # uninterrupted one did. Decoding settings change no training step:
    # the rerun may change them.
    monkeypatch.setattr(translation_run, "_decode", _no_decoding)
    tiny = {**TINY, "test_size": 10, "validation_size": 10, "epochs": 2}
    tiny.update(pairs_file=write_pairs(tmp_path, n=60), max_train_minutes=60)
    # Every epoch's weight file kept, for assert_same_training to compare.
    tiny["keep_checkpoints"] = None
    want = run(model_dir=str(tmp_path / "uninterrupted"), **tiny)
    got = run_killed_then_rerun(
        run,
        tmp_path / "killed",
        monkeypatch,
        kill_after_epoch=0,
        rerun=dict(beam_width=2, length_penalty=1.0, num_samples=1),
        **tiny,
    )
    assert_same_training(got, want)


def test_refuses_a_checkpoint_of_other_data_before_anything_is_written(tmp_path):
    backup = tmp_path / "run" / "backup"
    # Other data, and decoding settings that would not stop a resume.
    write_checkpoint(
        backup / "checkpoint.safetensors",
        {"model/00000": np.zeros(2)},
        {"run_config": {"data_sha256": "0" * 64, "beam_width": 9}},
    )
    with pytest.raises(ValueError, match="data_sha256") as refusal:
        run(
            pairs_file=write_pairs(tmp_path, n=120),
            model_dir=str(tmp_path / "run"),
            **{**TINY, "test_size": 10, "validation_size": 10},
        )
    assert "beam_width" not in str(refusal.value)
    # The vocabularies are not written over.
    assert sorted(p.name for p in (tmp_path / "run").rglob("*")) == [
        "backup",
        "checkpoint.safetensors",
    ]


# A pretrained (tiny random) preset's fine-tuning: two quick epochs on 40 pairs.
PRESET_RUN = dict(
    source_column="0",
    target_column="1",
    max_length=12,
    batch_size=16,
    epochs=2,
    learning_rate=3e-2,
    warmup_fraction=0.0,
    beam_width=2,
    distribution="one_device",
)


def run_bart(preset, model_dir, **settings):
    """A tiny BART preset's run on 40 pairs: 32 to train, 4, 4."""
    pairs_file = write_pairs(model_dir.parent, n=40)
    return run(
        preset=preset,
        pairs_file=pairs_file,
        test_size=4,
        validation_size=4,
        model_dir=str(model_dir),
        **{**PRESET_RUN, **settings},
    )


def test_fine_tunes_a_pretrained_bart_preset(tiny_bart_preset, tmp_path):
    model_dir = tmp_path / "run"
    result = run_bart(tiny_bart_preset, model_dir, num_samples=2)
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0], losses
    assert result["num_pairs"] == {"train": 32, "validation": 4, "test": 4}
    report = json.loads((model_dir / "report.json").read_text(encoding="utf-8"))
    assert report["preset"] == tiny_bart_preset
    rows = (model_dir / "translations.tsv").read_text(encoding="utf-8").splitlines()
    assert len(rows) == 5
    # The scores are those of the written translations.
    references = [" ".join(tft.data.split_words(r.split("\t")[1])) for r in rows[1:]]
    for column, name in ((2, "greedy"), (3, "beam")):
        hypotheses = [
            " ".join(tft.data.split_words(r.split("\t")[column])) for r in rows[1:]
        ]
        assert report["bleu"][name] == pytest.approx(
            tft.evaluation.corpus_bleu(hypotheses, references)["bleu"]
        )
        assert report["rouge"][name] == pytest.approx(
            tft.evaluation.corpus_rouge(hypotheses, references)
        )
    assert not list(model_dir.glob("*_vocabulary.txt"))
    reloaded = keras.saving.load_model(result["model_path"])
    assert isinstance(reloaded, keras_hub.models.BartSeq2SeqLM)
    # The loss per real target token: padding (the preprocessor's zero
    # sample weights) is left out of the mean.
    model = result["model"]
    x, y, weights = model.preprocessor(
        {"encoder_text": ["a b", "c d e f"], "decoder_text": ["x", "y z w v u"]}
    )
    assert 0 < float(tf.reduce_mean(tf.cast(weights, "float32"))) < 1
    with tokens_in(model):
        logits = model.predict(x, verbose=0)
        loss = model.evaluate(
            tf.data.Dataset.from_tensors((x, y, weights)), verbose=0, return_dict=True
        )["loss"]
    nll = keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True)
    weights = np.asarray(weights, "float32")
    assert loss == pytest.approx(float(np.sum(nll * weights) / np.sum(weights)), 1e-4)


def test_a_mirrored_bart_preset_run_trains_lora_adapters_at_layer_wise_rates(
    tiny_bart_preset, tmp_path
):
    model_dir = tmp_path / "run"
    result = run_bart(
        tiny_bart_preset,
        model_dir,
        num_samples=0,
        lora_rank=2,
        layer_decay=0.5,
        distribution="mirrored",
    )
    assert isinstance(
        result["model"].distribute_strategy, tf.distribute.MirroredStrategy
    )
    losses = result["history"]["loss"]
    assert losses[-1] < losses[0], losses
    summary = json.loads((model_dir / "training_summary.json").read_text())
    assert summary["strategy"] == "LoRA rank 2, layer-wise learning-rate decay 0.5"
    # Only the adapters train: the decoder's at half the rate, the encoder's
    # (below the decoder) at a quarter.
    groups = {g["multiplier"]: g["layers"] for g in summary["learning_rate_groups"]}
    assert groups == {
        0.5: ["transformer_decoder_layer_0"],
        0.25: ["transformer_encoder_layer_0"],
    }
    assert summary["trainable_parameters"] == sum(
        int(np.prod(v.shape)) for v in result["model"].trainable_weights
    )
    assert (model_dir / "adapters.lora.h5").exists()
    # The saved model holds the kernels with the adapters merged in.
    reloaded = keras.saving.load_model(result["model_path"])
    model = result["model"]
    tft.finetune.merge_lora(model)
    assert [v.path for v in reloaded.weights] == [v.path for v in model.weights]
    for saved, trained in zip(reloaded.weights, model.weights):
        np.testing.assert_allclose(saved.numpy(), trained.numpy(), atol=1e-6)


def _record_sources(monkeypatch, preprocessor_class):
    """Collects the source texts `preprocessor_class` tokenizes."""
    read = []

    def recording(method):
        def record(self, x, *args, **kwargs):
            sources = x["encoder_text"] if isinstance(x, dict) else x
            read.extend(
                text.decode() if isinstance(text, bytes) else text
                for text in np.ravel(keras.ops.convert_to_numpy(sources))
            )
            return method(self, x, *args, **kwargs)

        return record

    for name in ("call", "generate_preprocess"):
        method = getattr(preprocessor_class, name)
        monkeypatch.setattr(preprocessor_class, name, recording(method))
    return read


def _no_generation(self, inputs, max_length=None):
    return [""] * len(inputs)


def test_a_killed_t5_run_ends_as_an_uninterrupted_one_and_serves(
    tiny_t5_preset, tmp_path, monkeypatch
):
    # Killed after epoch 1 of 2: the rerun resumes the pretrained model's
    # fine-tuning from the checkpoint, with the same data order. T5 reads
    # each source after a task prefix, in training, test and serving.
    prefix = "translate: "
    tiny = dict(
        preset=tiny_t5_preset,
        source_prefix=prefix,
        pairs_file=write_pairs(tmp_path, n=40),
        test_size=2,
        validation_size=4,
        num_samples=0,
        keep_checkpoints=None,
        **PRESET_RUN,
    )
    read = _record_sources(monkeypatch, keras_hub.models.T5Seq2SeqLMPreprocessor)
    want = run(model_dir=str(tmp_path / "uninterrupted"), **tiny)
    monkeypatch.undo()
    # Training rows and the test translations: every source after the prefix.
    assert len(read) >= 36 and all(source.startswith(prefix) for source in read)
    written = (tmp_path / "uninterrupted" / "translations.tsv").read_text()
    assert not any(row.startswith(prefix) for row in written.splitlines())
    losses = want["history"]["loss"]
    assert losses[-1] < losses[0], losses
    report = json.loads((tmp_path / "uninterrupted" / "report.json").read_text())
    assert report["preset"] == tiny_t5_preset
    assert set(report["bleu"]) == {"greedy", "beam"}
    # The rerun's translations are not compared (decoding changes no weight
    # and the model is saved before it): they are left out.
    with monkeypatch.context() as patch:
        patch.setattr(keras_hub.models.T5Seq2SeqLM, "generate", _no_generation)
        got = run_killed_then_rerun(
            run, tmp_path / "killed", patch, kill_after_epoch=0, **tiny
        )
    assert_same_training(got, want)
    reloaded = keras.saving.load_model(got["model_path"])
    assert isinstance(reloaded, keras_hub.models.T5Seq2SeqLM)
    # The fine-tuned model served on raw sources, as keras-hub translates.
    # Sampled with a seed: two epochs teach it to end at once, so greedy
    # translations are all empty.
    model = got["model"]

    def sampler():
        return keras_hub.samplers.RandomSampler(seed=1)

    version_dir = export_generator(
        model, str(tmp_path / "serving"), sampler=sampler(), prefix=prefix
    )
    sources = ["the dog sees the cat .", "", " ".join(["big fish eats bread"] * 5)]
    [[served]] = serve_generators([[version_dir, 1]], sources)
    model.compile(sampler=sampler())
    assert served["text"] == model.generate(
        [prefix + source for source in sources], max_length=12
    )
    assert any(served["text"])
