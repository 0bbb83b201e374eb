import numpy as np
import pytest

from tftransformer.data import unknown_piece_share, unknown_token_id
from tftransformer.data.unknown_pieces import unknown_share_warning
from tftransformer.presets import embedded_tokenizer
from tftransformer.training import format_training_summary


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def test_english_text_has_no_unknown_pieces(tokenizer):
    assert unknown_token_id(tokenizer) == tokenizer.token_to_id("[UNK]")
    assert unknown_piece_share(tokenizer, ["a good film", "naïve and dull"]) == 0.0


def test_text_outside_the_vocabulary_counts_and_warns(tokenizer):
    # The uncased English vocabulary lacks most of these Thai characters.
    texts = ["a good film", "ภาพยนตร์เรื่องนี้ดีมาก ชอบมาก"]
    share = unknown_piece_share(tokenizer, texts)
    rows = [list(np.asarray(tokenizer(text))) for text in texts]
    pieces = sum(len(row) for row in rows)
    unknown = sum(row.count(unknown_token_id(tokenizer)) for row in rows)
    assert share == pytest.approx(unknown / pieces) and share > 0.1
    warning = unknown_share_warning(share)
    assert "xlm_roberta_base_multi" in warning and "bert_base_zh" in warning
    assert unknown_share_warning(0.05) is None


def test_training_summary_prints_the_share_and_the_warning():
    summary = {
        "strategy": None,
        "total_parameters": 10,
        "trainable_parameters": 10,
        "frozen_parameters": 0,
        "trainable_layers": [],
        "frozen_layers": [],
        "learning_rate": None,
        "learning_rate_groups": [],
        "unknown_piece_share": 0.4,
    }
    text = format_training_summary(summary)
    assert "Unknown word pieces in the training text: 40.0%" in text
    assert "Warning: 40.0% of the training text" in text
    summary["unknown_piece_share"] = 0.01
    assert "Warning" not in format_training_summary(summary)
