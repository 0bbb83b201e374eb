import keras
import numpy as np
import pytest
import tensorflow as tf

import tftransformer as tft


def _pairs():
    return tft.data.TextPairs(
        ("a cat sleeps", "the sun is up", "rain falls", "snow is cold", "a red car"),
        ("a kitten naps", "daylight", "it pours", "ice and frost", "a fast auto"),
    )


def test_trains_through_the_trainer_and_resumes(tiny_preset, tmp_path):
    config = tft.training.FinetuneConfig(
        epochs=2,
        batch_size=4,
        learning_rate=1e-3,
        warmup_fraction=0.0,
        tensorboard=False,
        model_dir=str(tmp_path / "run"),
    )
    pairs = _pairs()

    def run(callbacks=()):
        trainer = tft.training.Trainer(config, verbose=0)
        with trainer.scope():
            embedder = tft.models.TextEmbedder.from_preset(
                tiny_preset, sequence_length=16
            )
            model = tft.models.ContrastiveEmbedder(embedder)

        def epoch_data(epoch):
            return tft.data.make_pair_dataset(
                pairs, embedder.preprocessor, 4, shuffle=True, seed=(0, epoch)
            )

        trainer.compile(
            model, epoch_data, loss=tft.finetune.MultipleNegativesRankingLoss()
        )
        return model, trainer.fit(model, epoch_data, callbacks=list(callbacks))

    class Kill(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            raise KeyboardInterrupt("killed after the first epoch")

    with pytest.raises(KeyboardInterrupt):
        run([Kill()])

    class CountEpochs(keras.callbacks.Callback):
        epochs = []

        def on_epoch_begin(self, epoch, logs=None):
            self.epochs.append(epoch)

    # The second command resumes after epoch 1 and trains epoch 2 only.
    model, resumed = run([CountEpochs()])
    assert CountEpochs.epochs == [1]
    assert len(resumed.history["loss"]) == 2
    assert resumed.history["loss"][1] < resumed.history["loss"][0]
    reloaded = keras.saving.load_model(resumed.model_path)
    assert isinstance(reloaded, tft.models.ContrastiveEmbedder)
    texts = ["a cat sleeps", "a kitten naps"]
    np.testing.assert_allclose(
        reloaded.embedder.embed(texts), model.embedder.embed(texts), atol=1e-5
    )


def test_refuses_what_is_not_an_embedder(tiny_preset):
    backbone, _ = tft.presets.load_backbone(tiny_preset, sequence_length=16)
    with pytest.raises(ValueError, match="embedder must be a"):
        tft.models.ContrastiveEmbedder(backbone)


def test_texts_in_memory_and_the_model_as_preprocessor_are_refused(tiny_preset):
    # Both failed inside the step (a string input, then an index error).
    embedder = tft.models.TextEmbedder.from_preset(tiny_preset, sequence_length=16)
    model = tft.models.ContrastiveEmbedder(embedder)
    model.compile(optimizer="adam", loss=tft.finetune.MultipleNegativesRankingLoss())
    with pytest.raises(ValueError, match=r"make_pair_dataset\(pairs, model.prepro"):
        model.fit([["a cat", "a kitten"], ["a dog", "a puppy"]], verbose=0)
    with pytest.raises(ValueError, match=r"\(`embedder.preprocessor`\), not the"):
        tft.data.make_pair_dataset(_pairs(), embedder, 16)
    # What the message says works.
    dataset = tft.data.make_pair_dataset(_pairs(), model.preprocessor, 16)
    assert np.isfinite(model.fit(dataset, verbose=0).history["loss"][0])


def test_a_repeated_text_is_embedded_once_with_the_same_outputs_and_gradients(
    tiny_preset, monkeypatch
):
    embedder = tft.models.TextEmbedder.from_preset(tiny_preset, sequence_length=16)
    pairs = tft.data.TextPairs(
        ("a cat sleeps", "rain falls", "a cat sleeps", "snow is cold"),
        ("rain falls", "a cat sleeps", "snow is cold", "a cat"),
        scores=[0.0, 0.0, 1.0, 1.0],
    )
    features, scores = next(
        iter(tft.data.make_pair_dataset(pairs, embedder.preprocessor, 4))
    )
    rows_embedded = []
    call = embedder.call

    def counting_call(inputs, *args, **kwargs):
        rows_embedded.append(int(inputs["token_ids"].shape[0]))
        return call(inputs, *args, **kwargs)

    monkeypatch.setattr(embedder, "call", counting_call)
    loss = tft.finetune.CosineSimilarityLoss()
    results = {}
    for deduplicate in (True, False):
        model = tft.models.ContrastiveEmbedder(embedder, deduplicate=deduplicate)
        with tf.GradientTape() as tape:
            outputs = model(features, training=False)
            value = loss(scores, outputs)
        gradients = tape.gradient(value, model.trainable_variables)
        results[deduplicate] = outputs, gradients
    # 8 texts, 4 of them distinct.
    assert rows_embedded == [4, 8]
    np.testing.assert_allclose(results[True][0], results[False][0], atol=1e-6)
    # The same sums in another order: equal up to float32 rounding.
    for deduplicated, each in zip(*(results[key][1] for key in (True, False))):
        np.testing.assert_allclose(
            tf.convert_to_tensor(deduplicated),
            tf.convert_to_tensor(each),
            rtol=1e-5,
            atol=1e-6,
        )
    assert float(tf.linalg.global_norm(results[True][1])) > 0


def test_deduplicate_round_trips_and_is_checked(tiny_preset):
    embedder = tft.models.TextEmbedder.from_preset(tiny_preset, sequence_length=16)
    # A NumPy bool (e.g. from a flag parsed with NumPy) is stored as a bool.
    model = tft.models.ContrastiveEmbedder(embedder, deduplicate=np.bool_(True))
    config = model.get_config()
    assert config["deduplicate"] is True
    assert tft.models.ContrastiveEmbedder.from_config(config).deduplicate is True
    # A step's distinct texts are known only when it runs: no XLA then.
    assert not model.supports_jit
    default = tft.models.ContrastiveEmbedder(embedder)
    assert default.deduplicate is False and default.supports_jit
    with pytest.raises(ValueError, match="deduplicate.*'yes'"):
        tft.models.ContrastiveEmbedder(embedder, deduplicate="yes")
