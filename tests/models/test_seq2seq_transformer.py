import keras
import numpy as np
import pytest

from tftransformer.models.seq2seq_transformer import Seq2SeqTransformer
from tftransformer.testing import run_model_test

PAD, START, END = 0, 1, 2
VOCAB, MAX_SOURCE = 10, 5


def copy_task(n, seed):
    """Variable-length copy: the target is the source followed by END."""
    rng = np.random.default_rng(seed)
    lengths = rng.integers(2, MAX_SOURCE + 1, size=n)
    source = rng.integers(3, VOCAB, size=(n, MAX_SOURCE)).astype("int32")
    source[np.arange(MAX_SOURCE)[None] >= lengths[:, None]] = PAD
    target = np.zeros((n, MAX_SOURCE + 1), "int32")
    target[:, :MAX_SOURCE] = source
    target[np.arange(n), lengths] = END
    # Teacher forcing: the decoder reads the target shifted right.
    decoder_ids = np.concatenate([np.full((n, 1), START), target[:, :-1]], 1)
    decoder_ids[decoder_ids == END] = PAD
    x = {
        "encoder_token_ids": source,
        "encoder_padding_mask": (source != PAD).astype("int32"),
        "decoder_token_ids": decoder_ids.astype("int32"),
        "decoder_padding_mask": (
            np.arange(MAX_SOURCE + 1)[None] <= lengths[:, None]
        ).astype("int32"),
    }
    return x, target


def tiny_seq2seq(dtype=None, **kwargs):
    args = dict(
        encoder_vocabulary_size=VOCAB,
        decoder_vocabulary_size=VOCAB + 2,
        num_layers=1,
        num_heads=2,
        hidden_dim=8,
        intermediate_dim=16,
        max_sequence_length=8,
        dropout=0.0,
    )
    return Seq2SeqTransformer(**{**args, **kwargs}, dtype=dtype)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    model = tiny_seq2seq(
        decoder_vocabulary_size=VOCAB, hidden_dim=32, intermediate_dim=64
    )
    model.compile(
        optimizer=keras.optimizers.Adam(3e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(
            from_logits=True, ignore_class=PAD
        ),
    )
    x, y = copy_task(1024, seed=0)
    history = model.fit(x, y, batch_size=64, epochs=4, verbose=0)
    return model, history.history["loss"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position_kind": "learned"},
        {"position_kind": "sine", "norm_first": True},
        {"position_kind": "relative", "dropout": 0.1},
    ],
)
def test_model_contract(kwargs, tmp_path):
    x, _ = copy_task(2, seed=1)
    run_model_test(
        lambda dtype=None: tiny_seq2seq(dtype, **kwargs), x, tmp_path, (2, 6, 12)
    )


def test_logits_stay_float32_under_mixed_precision():
    x, _ = copy_task(2, seed=1)
    logits = tiny_seq2seq(dtype="mixed_bfloat16")(x)
    assert keras.backend.standardize_dtype(logits.dtype) == "float32"


def test_teacher_forcing_training_learns_copy(trained):
    _, losses = trained
    # Uniform guessing over the 10 ids costs log(10) = 2.3 nats per token.
    assert losses[-1] < 0.1 * losses[0], losses
    assert losses[-1] < 0.2, losses


def test_greedy_decode_copies_unseen_inputs(trained):
    model, _ = trained
    x, target = copy_task(64, seed=2)
    decoded = model.greedy_decode(x["encoder_token_ids"], START, END, max_length=8)
    assert decoded.dtype == np.int32
    # Every target ends by position 5, so decoding stops at 7 columns.
    assert decoded.shape == (64, 7)
    np.testing.assert_array_equal(decoded[:, 0], START)
    exact = (decoded[:, 1:] == target).all(axis=1)
    assert exact.mean() >= 0.9, exact.mean()


@pytest.mark.parametrize("use_trained", [True, False])
def test_greedy_decode_agrees_with_teacher_forced_logits(trained, use_trained):
    model = trained[0] if use_trained else tiny_seq2seq(decoder_vocabulary_size=VOCAB)
    x, _ = copy_task(16, seed=3)
    decoded = model.greedy_decode(x["encoder_token_ids"], START, END, max_length=8)
    batch, length = decoded.shape
    assert length <= 8
    # Feed the decoded sequences back as teacher-forced decoder inputs.
    logits = np.asarray(
        model(
            {
                "encoder_token_ids": x["encoder_token_ids"],
                "encoder_padding_mask": x["encoder_padding_mask"],
                "decoder_token_ids": decoded[:, :-1],
                "decoder_padding_mask": np.ones((batch, length - 1), "int32"),
            }
        )
    )
    predicted = logits.argmax(axis=-1)
    checked = 0
    for row in range(batch):
        ends = np.flatnonzero(decoded[row, 1:] == END)
        stop = ends[0] + 1 if len(ends) else length - 1
        np.testing.assert_array_equal(predicted[row, :stop], decoded[row, 1 : stop + 1])
        # Only padding follows the end token.
        np.testing.assert_array_equal(decoded[row, stop + 1 :], PAD)
        checked += stop
    assert checked >= batch


def test_encoder_padding_does_not_change_logits(trained):
    model, _ = trained
    x, _ = copy_task(8, seed=4)
    reference = np.asarray(model(x))
    changed = dict(x)
    ids = x["encoder_token_ids"].copy()
    ids[x["encoder_padding_mask"] == 0] = 7
    changed["encoder_token_ids"] = ids
    assert (ids != x["encoder_token_ids"]).any()
    np.testing.assert_allclose(np.asarray(model(changed)), reference, atol=1e-4)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_length": 1}, "max_length=1"),
        ({"max_length": 9}, "max_length=9, max_sequence_length=8"),
        ({"max_length": 4, "jit_compile": 1}, "jit_compile=1"),
    ],
)
def test_greedy_decode_rejects_bad_max_length(kwargs, message):
    model = tiny_seq2seq()
    with pytest.raises(ValueError, match=message):
        model.greedy_decode(np.ones((1, 3), "int32"), START, END, **kwargs)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"position_kind": "none"}, "position_kind='none'"),
        ({"decoder_vocabulary_size": 0}, "decoder_vocabulary_size=0"),
        ({"hidden_dim": 6, "num_heads": 4}, "hidden_dim=6, num_heads=4"),
    ],
)
def test_rejects_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        tiny_seq2seq(**kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"position_kind": "learned"},
        {"position_kind": "sine", "norm_first": True},
        {"position_kind": "relative", "num_layers": 2},
    ],
)
@pytest.mark.parametrize("per_layer", [False, True])
def test_call_with_cache_gives_the_teacher_forced_logits(kwargs, per_layer):
    keras.utils.set_random_seed(0)
    model = tiny_seq2seq(dropout=0.1, **kwargs)  # inactive: inference
    x, _ = copy_task(3, seed=6)
    expected = np.asarray(model(x))
    encoder_mask = x["encoder_padding_mask"]
    encoded = model.encode(x["encoder_token_ids"], encoder_mask)
    self_cache, cross_cache = model.build_cache(
        3, MAX_SOURCE + 1, MAX_SOURCE, per_layer=per_layer
    )
    if per_layer:
        # One (batch, 2, length, heads, head_dim) cache per layer, kept so.
        assert len(self_cache) == model.num_layers
        assert tuple(cross_cache[0].shape)[:3] == (3, 2, MAX_SOURCE)
    decoder_ids = x["decoder_token_ids"]
    # The first call fills the cross-attention cache from the encoder output.
    logits, self_cache, cross_cache = model.call_with_cache(
        decoder_ids[:, :2], 0, self_cache, cross_cache, encoder_mask, encoded
    )
    pieces = [logits]
    for index in range(2, MAX_SOURCE + 1):
        logits, self_cache, cross_cache = model.call_with_cache(
            decoder_ids[:, index : index + 1],
            index,
            self_cache,
            cross_cache,
            encoder_mask,
        )
        pieces.append(logits)
    assert isinstance(self_cache, list) == per_layer
    # Only real decoder positions: the full call also masks padded ones.
    real = x["decoder_padding_mask"].astype(bool)
    np.testing.assert_allclose(
        np.concatenate(pieces, 1)[real], expected[real], atol=1e-5
    )
