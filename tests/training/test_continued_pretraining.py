"""Continued masked-LM pretraining of a pretrained encoder (what
`examples/pretrain_mlm.py` calls), on the tiny BERT preset."""

import warnings

import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from absl import flags as absl_flags

import tftransformer as tft
from tests.training.interruptions import Interrupt, interrupt_after_epoch
from tftransformer.data import (
    DataError,
    make_masked_lm_dataset,
    masked_lm_rows,
)
from tftransformer.datasets import load_rotten_tomatoes
from tftransformer.presets import bert_tokenizer_from_preset
from tftransformer.testing import write_tiny_preset
from tftransformer.training import ConfigError, PretrainingConfig, continued_pretraining

TINY = dict(max_length=32, batch_size=16, learning_rate=5e-3, warmup_fraction=0.0)


@pytest.fixture(scope="module")
def texts_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("texts") / "texts.txt"
    texts = load_rotten_tomatoes("validation").texts[:60]
    path.write_text("\n".join(texts) + "\n", encoding="utf-8")
    return path


def _masked(tokenizer, rows, whole_word_masking):
    data = make_masked_lm_dataset(
        rows, tokenizer, 64, whole_word_masking=whole_word_masking, seed=1
    )
    return [(x["token_ids"].numpy(), y.numpy(), w.numpy(), x) for x, y, w in data]


@pytest.mark.parametrize("whole_word_masking", [False, True])
def test_masking_statistics_are_bert_s(tiny_preset, whole_word_masking):
    tf.random.set_seed(0)
    tokenizer = bert_tokenizer_from_preset(tiny_preset)
    texts = list(load_rotten_tomatoes("validation").texts[:500])
    ids = tft.data.tokenize_texts(tokenizer, texts)
    rows = masked_lm_rows(ids, 64, tokenizer.cls_token_id, tokenizer.sep_token_id)
    selectable = chosen = as_mask = kept = 0
    for token_ids, mask_ids, weights, x in _masked(tokenizer, rows, whole_word_masking):
        positions = x["mask_positions"].numpy()
        real = x["padding_mask"].numpy().astype(bool)
        specials = (tokenizer.cls_token_id, tokenizer.sep_token_id)
        for row, (pos, ids_, w) in enumerate(zip(positions, mask_ids, weights)):
            pos, ids_ = pos[w > 0], ids_[w > 0]
            chosen += len(pos)
            as_mask += np.sum(token_ids[row, pos] == tokenizer.mask_token_id)
            kept += np.sum(token_ids[row, pos] == ids_)
        selectable += np.sum(real & ~np.isin(token_ids, specials))
    assert chosen / selectable == pytest.approx(0.15, abs=0.015)
    assert as_mask / chosen == pytest.approx(0.8, abs=0.03)
    assert kept / chosen == pytest.approx(0.1, abs=0.03)


def test_whole_word_masking_masks_all_pieces_of_a_word_or_none(tiny_preset):
    tokenizer = bert_tokenizer_from_preset(tiny_preset)
    vocabulary = tokenizer.get_vocabulary()
    texts = ["unbelievably overwrought melodramatics"] * 40
    ids = tft.data.tokenize_texts(tokenizer, texts)
    assert any(vocabulary[i].startswith("##") for i in ids[0]), "no multi-piece word"
    rows = masked_lm_rows(ids, 64, tokenizer.cls_token_id, tokenizer.sep_token_id)
    words_seen = set()
    index = 0
    for _, _, weights, x in _masked(tokenizer, rows, True):
        for row_positions, row_weights in zip(x["mask_positions"].numpy(), weights):
            chosen = set(row_positions[row_weights > 0].tolist())
            # Words of the row (unshuffled): a piece and the `##` pieces after.
            original, index = rows[index], index + 1
            words, word = [], []
            for position, token in enumerate(original[1:-1], start=1):
                if not vocabulary[token].startswith("##") and word:
                    words.append(word)
                    word = []
                word.append(position)
            words.append(word)
            for word in words:
                masked = [p in chosen for p in word]
                assert all(masked) or not any(masked), (word, chosen)
                words_seen.add((len(word) > 1, all(masked)))
    # Multi-piece words were masked whole, and left whole.
    assert {(True, True), (True, False)} <= words_seen


@pytest.mark.parametrize("whole_word_masking", [False, True])
def test_the_masks_are_drawn_from_the_seed(tiny_preset, whole_word_masking):
    # keras-hub's MaskedLMMaskGenerator takes no seed: two runs of one
    # command scored their validation on other masks.
    tokenizer = bert_tokenizer_from_preset(tiny_preset)
    texts = list(load_rotten_tomatoes("validation").texts[:40])
    ids = tft.data.tokenize_texts(tokenizer, texts)
    rows = masked_lm_rows(ids, 64, tokenizer.cls_token_id, tokenizer.sep_token_id)

    def masks(seed):
        tf.random.set_seed(seed)  # The global seed plays no part.
        data = make_masked_lm_dataset(
            rows, tokenizer, 8, whole_word_masking=whole_word_masking, seed=seed
        )
        return np.concatenate([x["token_ids"].numpy() for x, _, _ in data])

    np.testing.assert_array_equal(masks(3), masks(3))
    assert not np.array_equal(masks(3), masks(4))


def test_packing_fills_rows():
    rows = masked_lm_rows([[5, 6, 7], [8], [9, 10, 11, 12, 13]], 5, 1, 2)
    assert rows == [[1, 5, 6, 7, 2], [1, 8, 2, 9, 10], [1, 11, 12, 13, 2]]
    # No last row of the end token alone.
    assert masked_lm_rows([[5, 6, 7], [8, 9]], 4, 1, 2) == [[1, 5, 6, 7], [1, 2, 8, 9]]
    assert masked_lm_rows([[5, 6, 7, 8], []], 5, 1, 2, pack=False) == [[1, 5, 6, 7, 2]]
    with pytest.raises(ValueError, match=r"length must be an integer >= 3.*length=2"):
        masked_lm_rows([[5]], 2, 1, 2)
    # Texts where token ids belong: each character became a piece.
    for texts in ("abc", ["abc"]):
        with pytest.raises(ValueError, match="not texts. Received: token_ids="):
            masked_lm_rows(texts, 8, 1, 2)
    assert masked_lm_rows(iter([[5, 6], [7]]), 6, 1, 2) == [[1, 5, 6, 2, 7, 2]]


def _run_settings(preset, texts_file, tmp_path, **settings):
    """A tiny run's settings: `texts_file`, a fifth held out."""
    return {
        **TINY,
        "preset": preset,
        "text_path": str(texts_file),
        "validation_fraction": 0.2,
        "model_dir": str(tmp_path / "run"),
        "tensorboard": False,
        **settings,
    }


def test_a_run_lowers_the_loss_resumes_and_writes_a_preset(
    small_vocabulary_preset, texts_file, tmp_path, monkeypatch, capsys
):
    settings = _run_settings(
        small_vocabulary_preset,
        texts_file,
        tmp_path,
        epochs=2,
        whole_word_masking=True,
    )
    with monkeypatch.context() as patch:
        interrupt_after_epoch(patch, 0)
        with pytest.raises(Interrupt):
            tft.training.continue_pretraining(PretrainingConfig(**settings), verbose=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        run = tft.training.continue_pretraining(
            PretrainingConfig(**settings), verbose=0
        )
    # The pooler, which the masked-LM loss does not reach, was left out of
    # training: no "Gradients do not exist" warning at each step.
    assert not [w for w in caught if "Gradients do not exist" in str(w.message)]
    pooler = run.model.backbone.get_layer("pooled_dense")
    assert pooler.trainable
    # Epoch 1 was trained before the kill, epoch 2 after it.
    assert len(run.training.history["loss"]) == 2
    assert "Resuming from" in capsys.readouterr().out
    before, after = run.metrics["initial"], run.metrics["validation"]
    assert after["perplexity"] < 0.95 * before["perplexity"]
    assert run.training.history["val_perplexity"][-1] == pytest.approx(
        after["perplexity"]
    )
    # The loss is the mean cross-entropy of the chosen pieces, whose exp is
    # the perplexity (up to float32 sums; a mean over every slot of
    # `mask_positions` gave about a quarter of it).
    history = run.training.history
    for loss, perplexity in zip(history["val_loss"], history["val_perplexity"]):
        assert loss == pytest.approx(np.log(perplexity), rel=1e-3)
    classifier = tft.models.TextClassifier.from_preset(
        run.preset_dir, sequence_length=32, num_classes=2
    )
    trained = run.model.backbone.get_weights()
    loaded = classifier.backbone.get_weights()
    assert len(trained) == len(loaded)
    for want, got in zip(trained, loaded):
        np.testing.assert_array_equal(got, want)
    # The written preset differs from the one it started from.
    start = tft.models.TextClassifier.from_preset(
        small_vocabulary_preset, sequence_length=32, num_classes=2
    )
    assert any(
        not np.array_equal(a, b) for a, b in zip(start.backbone.get_weights(), loaded)
    )
    for want, got in zip(
        start.backbone.get_layer("pooled_dense").get_weights(), pooler.get_weights()
    ):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("family", ["roberta", "xlm_roberta", "deberta_v3"])
def test_other_families_pretrain(family, texts_file, tmp_path):
    # RoBERTa's and XLM-RoBERTa's tokenizers name [CLS] and [SEP] start and
    # end; DeBERTa-v3's SentencePiece vocabulary masks single pieces.
    preset = write_tiny_preset(family, tmp_path / "preset")
    settings = _run_settings(preset, texts_file, tmp_path, epochs=1, max_length=16)
    run = tft.training.continue_pretraining(PretrainingConfig(**settings), verbose=0)
    assert np.isfinite(run.metrics["validation"]["perplexity"])
    loaded = keras_hub.models.Backbone.from_preset(run.preset_dir)
    for want, got in zip(run.model.backbone.get_weights(), loaded.get_weights()):
        np.testing.assert_array_equal(got, want)


def test_bad_input_is_refused(tmp_path, small_vocabulary_preset):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    settings = dict(
        TINY, preset=small_vocabulary_preset, model_dir=str(tmp_path / "run")
    )
    with pytest.raises(DataError, match="no text"):
        tft.training.continue_pretraining(
            PretrainingConfig(text_path=str(empty), **settings), verbose=0
        )
    with pytest.raises(FileNotFoundError, match="missing"):
        tft.training.continue_pretraining(
            PretrainingConfig(text_path=str(tmp_path / "missing"), **settings),
            verbose=0,
        )
    for rate in (0, 1, 1.5):
        with pytest.raises(ConfigError, match=f"mask_rate.*{rate}"):
            PretrainingConfig(mask_rate=rate)
    # A validation split that draws no masked piece would score loss and
    # perplexity 0 (early stopping would keep epoch 1).
    few = tmp_path / "few.txt"
    few.write_text("hello world\nthe movie\nfoo bar\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"validation split \(1 texts in 1 rows\)"):
        tft.training.continue_pretraining(
            PretrainingConfig(text_path=str(few), mask_rate=0.01, **settings),
            verbose=0,
        )
    tokenizer = bert_tokenizer_from_preset(small_vocabulary_preset)
    with pytest.raises(ValueError, match=r"mask_rate must .*\(0, 1\).*mask_rate=1.5"):
        make_masked_lm_dataset([[101, 5, 102]], tokenizer, 2, mask_rate=1.5)


def test_command_line_flags_reach_the_config(tmp_path):
    values = absl_flags.FlagValues()
    tft.training.define_flags(PretrainingConfig, values)
    values(
        [
            "pretrain_mlm.py",
            "--whole_word_masking",
            "--nopack_sequences",
            f"--text_path={tmp_path}",
            "--mask_rate=0.2",
        ]
    )
    config = tft.training.config_from_flags(PretrainingConfig, values)
    assert (config.whole_word_masking, config.pack_sequences) == (True, False)
    assert (config.text_path, config.mask_rate) == (str(tmp_path), 0.2)


def test_text_directories_and_the_embedded_texts(tmp_path):
    (tmp_path / "b.txt").write_text("third\n\nfourth\n", encoding="utf-8")
    (tmp_path / "a.txt").write_text("first\nsecond\n", encoding="utf-8")
    (tmp_path / ".hidden").write_text("not read\n", encoding="utf-8")
    texts = tft.data.load_text_files(tmp_path)
    assert texts == ["first", "second", "third", "fourth"]
    train = tft.datasets.rotten_tomatoes_texts("train")
    test = set(tft.datasets.rotten_tomatoes_texts("test"))
    # The snippets, then the plot summaries of the same movies only.
    assert train[: len(load_rotten_tomatoes("train"))] == list(
        load_rotten_tomatoes("train").texts
    )
    assert len(train) > len(load_rotten_tomatoes("train"))
    assert not test & set(train[len(load_rotten_tomatoes("train")) :])


def test_whole_word_masking_without_word_pieces_is_refused_before_tokenizing(
    texts_file, tmp_path, monkeypatch
):
    preset = write_tiny_preset("roberta", tmp_path / "preset")
    settings = _run_settings(preset, texts_file, tmp_path, whole_word_masking=True)

    def tokenize_texts(*args, **kwargs):
        raise AssertionError("the texts were tokenized before the check")

    monkeypatch.setattr(continued_pretraining, "tokenize_texts", tokenize_texts)
    with pytest.raises(ValueError, match="whole_word_masking needs a WordPiece"):
        tft.training.continue_pretraining(PretrainingConfig(**settings), verbose=0)
