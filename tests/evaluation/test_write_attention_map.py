import dataclasses

import keras
import numpy as np
import pytest

import tftransformer as tft

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path):
    import matplotlib.image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and min(image.shape[:2]) > 100


def test_writes_a_png_for_a_review(tiny_preset, tmp_path):
    pytest.importorskip("matplotlib")
    output = tmp_path / "maps" / "attention.png"
    result = tft.evaluation.write_attention_map(
        str(output), preset=tiny_preset, layer=1, head=1, max_length=64
    )
    _assert_png(output)
    # The first embedded test review, tokenized with [CLS] ... [SEP].
    review = tft.datasets.load_rotten_tomatoes("test").texts[0]
    assert result.text == review
    tokens = result.tokens
    assert tokens[0] == "[CLS]" and tokens[-1] == "[SEP]" and "[PAD]" not in tokens
    assert result.weights.shape == (2, 2, len(tokens), len(tokens))
    np.testing.assert_allclose(result.weights.sum(-1), 1.0, atol=1e-5)
    # The report names each token's strongest link in the drawn head.
    lines = result.format().splitlines()
    assert lines[0] == f"Text: {review}" and "layer 1, head 1" in lines[1]
    assert len(lines) == 2 + len(tokens)
    # Counted from the last, they are named as the plot's title names them.
    from_last = dataclasses.replace(result, layer=-1, head=-1)
    assert "layer 1, head 1:" in from_last.format().splitlines()[1]
    assert from_last.format() == result.format()


def test_fine_tuned_classifier_file(tiny_preset, tmp_path):
    pytest.importorskip("matplotlib")
    backbone, preprocessor = tft.presets.load_backbone(tiny_preset, sequence_length=32)
    classifier = tft.models.TextClassifier(
        backbone,
        num_classes=2,
        preprocessor=tft.models.TextClassifierPreprocessor(
            preprocessor.tokenizer, sequence_length=32
        ),
    )
    model_path = tmp_path / "model.keras"
    classifier.save(model_path)
    output = tmp_path / "attention.png"
    result = tft.evaluation.write_attention_map(
        str(output), text="A fine film.", model_path=str(model_path)
    )
    _assert_png(output)
    assert result.tokens == ["[CLS]", "a", "fine", "film", ".", "[SEP]"]
    expected = tft.evaluation.attention_maps(classifier, "A fine film.")[1]
    np.testing.assert_allclose(result.weights, expected, atol=1e-6)
    keras.backend.clear_session()


def test_bad_input(tiny_preset, tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.keras"):
        tft.evaluation.write_attention_map(
            str(tmp_path / "x.png"), model_path=str(tmp_path / "missing.keras")
        )
    with pytest.raises(ValueError, match="layer=7"):
        tft.evaluation.write_attention_map(
            str(tmp_path / "x.png"),
            text="a film",
            preset=tiny_preset,
            max_length=64,
            layer=7,
        )
    with pytest.raises(ValueError, match="non-empty string"):
        tft.evaluation.write_attention_map(
            str(tmp_path / "x.png"), text=" ", preset=tiny_preset, max_length=64
        )
    assert not (tmp_path / "x.png").exists()
