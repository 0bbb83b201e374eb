"""How much of a text a checkpoint's vocabulary cannot read.

A checkpoint's tokenizer turns what its vocabulary lacks into its unknown
token (`[UNK]`, `<unk>`): an English uncased BERT reads Chinese or Thai as a
row of unknown tokens, and fine-tuning then learns from almost nothing.
Measuring the unknown-piece share of the training text before training
tells that apart from a hard task.
"""

import numpy as np

__all__ = [
    "UNKNOWN_SHARE_WARNING",
    "unknown_piece_share",
    "unknown_share_warning",
    "unknown_token_id",
]

# Above this share of unknown pieces, training warns.
UNKNOWN_SHARE_WARNING = 0.10

# Texts tokenized to measure the share: enough for a stable figure.
_MAX_TEXTS = 2000
_BATCH = 256


def unknown_token_id(tokenizer):
    """The id a tokenizer gives to what its vocabulary lacks, or None.

    Args:
        tokenizer: a keras-hub tokenizer (WordPiece, SentencePiece or
            byte-pair).

    Returns:
        int, or None for a tokenizer without an unknown token (byte-level
        BPE such as RoBERTa's reads every byte).

    Example:
    ```python
    unknown_token_id(tftransformer.presets.embedded_tokenizer())  # 100
    ```
    """
    token_id = getattr(tokenizer, "unk_token_id", None)
    if isinstance(token_id, (int, np.integer)):
        return int(token_id)
    vocabulary = set(tokenizer.get_vocabulary())
    for token in (
        getattr(tokenizer, "oov_token", None),
        getattr(tokenizer, "unk_token", None),
        "[UNK]",
        "<unk>",
    ):
        if isinstance(token, str) and token in vocabulary:
            # Byte-level BPE vocabularies list "<unk>" but never produce it.
            if _is_byte_level(tokenizer):
                return None
            return int(tokenizer.token_to_id(token))
    return None


def _is_byte_level(tokenizer):
    return hasattr(tokenizer, "merges")


def unknown_piece_share(tokenizer, texts, max_texts=_MAX_TEXTS):
    """The share of a text's pieces that are the unknown token.

    Args:
        tokenizer: a keras-hub tokenizer.
        texts: a list of strings (the first `max_texts` are read).
        max_texts: int, how many texts to tokenize at most.

    Returns:
        A float in [0, 1], or None when the tokenizer has no unknown token
        or the texts have no pieces.

    Example:
    ```python
    unknown_piece_share(embedded_tokenizer(), ["good film", "好电影"])  # 0.6
    ```
    """
    unknown = unknown_token_id(tokenizer)
    if unknown is None:
        return None
    texts = [str(text) for text in list(texts)[:max_texts]]
    total = found = 0
    for start in range(0, len(texts), _BATCH):
        values = _flat_ids(tokenizer(texts[start : start + _BATCH]))
        total += values.size
        found += int(np.sum(values == unknown))
    return found / total if total else None


def _flat_ids(pieces):
    """The ids of a batch, whether a ragged tensor or lists of rows."""
    if hasattr(pieces, "flat_values"):
        return np.asarray(pieces.flat_values).ravel()
    rows = [np.ravel(np.asarray(row)) for row in pieces]
    return np.concatenate(rows) if rows else np.zeros((0,), "int32")


def unknown_share_warning(share, threshold=UNKNOWN_SHARE_WARNING):
    """The warning for an unknown-piece share above `threshold`, or None.

    Args:
        share: a float from `unknown_piece_share`, or None.
        threshold: float, the share above which to warn.

    Returns:
        A str naming checkpoints that read more languages, or None.
    """
    if share is None or share <= threshold:
        return None
    return (
        f"{share:.1%} of the training text's word pieces are unknown to the "
        "checkpoint's vocabulary: it cannot read much of this text, and "
        "fine-tuning learns from little. Use a checkpoint whose vocabulary "
        "covers the language: 'bert_base_zh' (Chinese), 'bert_base_multi' or "
        "'xlm_roberta_base_multi' (about 100 languages)."
    )
