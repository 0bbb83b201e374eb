import keras
import numpy as np
import pytest

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
