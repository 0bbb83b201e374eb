import keras
import pytest

from tests.finetune.strategy_models import Recorder, batches, tiny_text_classifier
from tests.finetune.tiny_models import BERT_EMBEDDINGS
from tftransformer.finetune import (
    GradualUnfreezing,
    HeadWarmup,
    classification_loss,
    create_optimizer,
    freeze_layers,
    frozen_layer_names,
)


def every_path_but_the_pooler(classifier):
    # BERT's pooler is unused by the classifier's head and not trainable.
    return sorted(
        v.path for v in classifier.weights if not v.path.startswith("pooled_dense/")
    )


def compile_classifier(classifier, num_train_steps, run_eagerly=False):
    classifier.compile(
        optimizer=create_optimizer(
            1e-2, num_train_steps=num_train_steps, warmup_fraction=0.0
        ),
        loss=classification_loss(),
        run_eagerly=run_eagerly,
        jit_compile=False,
    )


@pytest.mark.parametrize("steps", [-1, 2.5, True, None])
def test_bad_steps_are_refused(steps):
    with pytest.raises(ValueError, match=rf"steps must be an integer >= 0.*{steps!r}"):
        HeadWarmup(steps)


def test_backbone_waits_for_the_head_in_graph_mode():
    # The strategy: embeddings and layer 0 frozen. The warmup holds layers 1
    # and 2 still for 2 steps, then they train; the strategy's frozen layers
    # never move.
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 1)
    strategy_paths = sorted(v.path for v in classifier.trainable_variables)
    compile_classifier(classifier, num_train_steps=4)
    warmup = HeadWarmup(steps=2)
    recorder = Recorder()
    x, y = batches(8)
    classifier.fit(
        x,
        y,
        batch_size=2,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[warmup, recorder],
    )

    assert recorder.trainable_paths[0] == ["logits/bias", "logits/kernel"]
    assert recorder.moved_layers(1) == ["logits"]
    assert recorder.moved_layers(2) == ["logits"]
    trained = ["logits", "transformer_layer_1", "transformer_layer_2"]
    assert recorder.moved_layers(3) == trained
    assert recorder.moved_layers(4) == trained
    # After the warmup the strategy's trainable set is back.
    assert recorder.trainable_paths[2] == strategy_paths
    assert sorted(v.path for v in classifier.trainable_variables) == strategy_paths
    assert frozen_layer_names(classifier) == BERT_EMBEDDINGS + ["transformer_layer_0"]
    assert not warmup.warming_up


def test_lora_state_comes_back_after_a_warmup_cut_short():
    # keras-hub's LoRA leaves the attention layers trainable but their
    # kernels frozen: the warmup must give back variable flags, not just
    # layer flags. Training stops after 1 of 5 warmup steps: the strategy is
    # restored at the end all the same.
    classifier = tiny_text_classifier()
    classifier.backbone.enable_lora(2)
    lora_paths = sorted(v.path for v in classifier.trainable_variables)
    assert any("lora_kernel_a" in path for path in lora_paths)
    assert not any(path.endswith("query/kernel") for path in lora_paths)

    compile_classifier(classifier, num_train_steps=1, run_eagerly=True)
    warmup = HeadWarmup(steps=5)
    recorder = Recorder()
    x, y = batches(2)
    classifier.fit(x, y, batch_size=2, verbose=0, callbacks=[warmup, recorder])

    assert recorder.trainable_paths[0] == ["logits/bias", "logits/kernel"]
    assert sorted(v.path for v in classifier.trainable_variables) == lora_paths
    assert frozen_layer_names(classifier) == []
    assert not warmup.warming_up


def test_zero_steps_changes_nothing():
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=1, run_eagerly=True)
    recorder = Recorder()
    x, y = batches(2)
    classifier.fit(x, y, batch_size=2, verbose=0, callbacks=[HeadWarmup(0), recorder])
    assert recorder.trainable_paths[0] == every_path_but_the_pooler(classifier)


@pytest.mark.parametrize("head_first", [True, False])
def test_gradual_unfreezing_in_the_same_fit_is_refused(head_first):
    # Each restores the trainable set it recorded: placed first, the warmup
    # ended by training the whole backbone, the schedule lost.
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=4, run_eagerly=True)
    x, y = batches(2)
    callbacks = [HeadWarmup(1), GradualUnfreezing(1)]
    if not head_first:
        callbacks.reverse()
    with pytest.raises(ValueError, match=r"both change which layers train"):
        classifier.fit(x, y, batch_size=2, verbose=0, callbacks=callbacks)
    # Refused before either changed the model; either alone, in a later
    # fit, works (the refused fit's claim is gone).
    assert not frozen_layer_names(classifier)
    assert [v.path for v in classifier.trainable_weights] == [
        v.path for v in classifier.weights if v.trainable
    ]
    recorder = Recorder()
    classifier.fit(
        x, y, batch_size=2, verbose=0, callbacks=[GradualUnfreezing(1), recorder]
    )
    # The first epoch trains the head and the top group only.
    trained = recorder.trainable_paths[0]
    assert "logits/kernel" in trained
    assert len(trained) < len(every_path_but_the_pooler(classifier))


def test_no_second_warmup_once_the_optimizer_has_taken_the_steps():
    # As in a resumed run or a second fit: the optimizer's step count says
    # the warmup is done.
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=10, run_eagerly=True)
    classifier.optimizer.iterations.assign(3)
    recorder = Recorder()
    x, y = batches(2)
    classifier.fit(x, y, batch_size=2, verbose=0, callbacks=[HeadWarmup(3), recorder])
    assert recorder.trainable_paths[0] == every_path_but_the_pooler(classifier)


def test_a_model_saved_during_the_warmup_records_the_strategy_freeze(tmp_path):
    # A ModelCheckpoint mid-warmup saves while the whole backbone is held
    # frozen; the file must reload with the strategy's freeze (embeddings
    # and layer 0), not the warmup's.
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 1)
    strategy = frozen_layer_names(classifier)
    compile_classifier(classifier, num_train_steps=2)
    path = str(tmp_path / "warming_up.keras")
    saved_while = []

    class SaveAfterFirstStep(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch == 0:
                saved_while.append(warmup.warming_up)
                self.model.save(path)

    # The warmup ends with the last of the two steps: no step is traced again.
    warmup = HeadWarmup(steps=2)
    x, y = batches(4)
    classifier.fit(
        x, y, batch_size=2, verbose=0, callbacks=[warmup, SaveAfterFirstStep()]
    )

    assert saved_while == [True]
    reloaded = keras.saving.load_model(path)
    assert frozen_layer_names(reloaded) == strategy
    assert frozen_layer_names(classifier) == strategy
