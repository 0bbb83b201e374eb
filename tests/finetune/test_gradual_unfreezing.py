import numpy as np
import pytest
import tensorflow as tf

from tests.finetune.strategy_models import (
    ENCODERS,
    Recorder,
    batches,
    tiny_text_classifier,
)
from tests.finetune.tiny_models import BERT_EMBEDDINGS
from tftransformer.finetune import (
    GradualUnfreezing,
    classification_loss,
    create_optimizer,
    freeze_layers,
    frozen_layer_names,
)
from tftransformer.models.freezing import backbone_sublayers
from tftransformer.training import (
    ResumableTraining,
)

BETA_1, BETA_2 = 0.9, 0.999


def compile_classifier(classifier, num_train_steps, run_eagerly=False):
    classifier.compile(
        optimizer=create_optimizer(
            1e-2,
            num_train_steps=num_train_steps,
            warmup_fraction=0.0,
            beta_1=BETA_1,
            beta_2=BETA_2,
        ),
        loss=classification_loss(),
        run_eagerly=run_eagerly,
        jit_compile=False,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"every_epochs": 0}, "every_epochs must be an integer >= 1.*every_epochs=0"),
        ({"every_epochs": 1.5}, "every_epochs=1.5"),
        ({"every_steps": -2}, "every_steps must be an integer >= 1.*every_steps=-2"),
        ({"every_steps": True}, "every_steps=True"),
        ({"every_epochs": 1, "every_steps": 5}, "not both.*every_steps=5"),
        ({"verbose": "no"}, "verbose must be True or False. Received: verbose='no'"),
    ],
)
def test_bad_intervals_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GradualUnfreezing(**kwargs)


def test_unfreezing_in_graph_mode_trains_the_new_layer_and_keeps_moments():
    # freeze_layers(2) keeps the embeddings and layers 0-1 frozen throughout:
    # the schedule is layer 2 (with BERT's pooler) after step 2. The order of
    # several layers is checked in eager mode below; here one change checks
    # that the traced train step follows it.
    classifier = tiny_text_classifier()
    freeze_layers(classifier, 2)
    compile_classifier(classifier, num_train_steps=4)
    optimizer = classifier.optimizer
    unfreezing = GradualUnfreezing(every_steps=2)
    recorder = Recorder()
    x, y = batches(8)
    classifier.fit(
        x,
        y,
        batch_size=2,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[unfreezing, recorder],
    )

    # BERT's pooler is unused by the classifier's pooling of the sequence:
    # it is not trainable, so the schedule leaves it out.
    assert recorder.moved_layers(1) == ["logits"]
    assert recorder.moved_layers(2) == ["logits"]
    assert recorder.moved_layers(3) == ["logits", "transformer_layer_2"]
    assert recorder.moved_layers(4) == ["logits", "transformer_layer_2"]
    assert unfreezing.unfrozen_layer_names == ["transformer_layer_2"]
    assert frozen_layer_names(classifier) == BERT_EMBEDDINGS + ENCODERS[:2]

    # The optimizer was built once, over everything the schedule trains: no
    # slot was added or dropped at the change.
    names = [list(step) for step in recorder.optimizer_variables]
    assert all(step == names[0] for step in names)
    trainable_at_end = {v.path for v in classifier.trainable_variables}
    slots = {v.path for v in optimizer.variables}
    for path in trainable_at_end:
        assert f"{optimizer.name}/{path.replace('/', '_')}_momentum" in slots

    # The head's Adam moments carry over the change after step 2: step 3
    # follows m3 = b1 m2 + (1 - b1) g and v3 = b2 v2 + (1 - b2) g^2 with the
    # moments of step 2, not with fresh zeros.
    m_path = f"{optimizer.name}/logits_kernel_momentum"
    v_path = f"{optimizer.name}/logits_kernel_velocity"
    m2, m3 = (recorder.optimizer_variables[i][m_path] for i in (1, 2))
    v2, v3 = (recorder.optimizer_variables[i][v_path] for i in (1, 2))
    assert np.abs(m2).min() > 0
    gradient = (m3 - BETA_1 * m2) / (1 - BETA_1)
    np.testing.assert_allclose(
        v3, BETA_2 * v2 + (1 - BETA_2) * gradient**2, rtol=1e-3, atol=1e-9
    )
    # A reset would give v3 = (1 - b2) g^2, far from it.
    assert not np.allclose(v3, (1 - BETA_2) * gradient**2, rtol=1e-2)


def trainable_backbone_layers(model):
    return [layer.name for layer in backbone_sublayers(model) if layer.trainable]


class EpochRecorder(Recorder):
    def __init__(self):
        super().__init__()
        self.per_epoch = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.per_epoch[epoch] = trainable_backbone_layers(self.model)


def test_epoch_schedule_follows_the_epoch_number():
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=4, run_eagerly=True)
    recorder = EpochRecorder()
    x, y = batches(2)
    classifier.fit(
        x,
        y,
        batch_size=2,
        epochs=4,
        verbose=0,
        callbacks=[GradualUnfreezing(every_epochs=1), recorder],
    )
    assert recorder.per_epoch == {
        0: [],
        1: ["transformer_layer_2"],
        2: ["transformer_layer_1", "transformer_layer_2"],
        3: ENCODERS,
    }

    # A run resumed at epoch 4 (as BackupAndRestore does) starts at stage 4:
    # everything, embeddings included, trains (but the unused pooler).
    resumed = tiny_text_classifier()
    compile_classifier(resumed, num_train_steps=4, run_eagerly=True)
    recorder = EpochRecorder()
    resumed.fit(
        x,
        y,
        batch_size=2,
        initial_epoch=4,
        epochs=5,
        verbose=0,
        callbacks=[GradualUnfreezing(every_epochs=1), recorder],
    )
    assert recorder.per_epoch == {
        4: [
            layer.name
            for layer in backbone_sublayers(resumed)
            if layer.name != "pooled_dense"
        ]
    }
    assert frozen_layer_names(resumed) == []
    assert len(resumed.trainable_variables) == len(resumed.weights) - 2


def test_a_second_fit_picks_up_the_stage_and_still_unfreezes_the_rest():
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=8, run_eagerly=True)
    x, y = batches(2)
    callback = GradualUnfreezing(every_epochs=1)
    classifier.fit(x, y, batch_size=2, epochs=2, verbose=0, callbacks=[callback])
    assert callback.unfrozen_layer_names == ["transformer_layer_2"]

    recorder = EpochRecorder()
    classifier.fit(
        x,
        y,
        batch_size=2,
        initial_epoch=2,
        epochs=5,
        verbose=0,
        callbacks=[callback, recorder],
    )
    assert recorder.per_epoch == {
        2: ["transformer_layer_1", "transformer_layer_2"],
        3: ENCODERS,
        4: [
            layer.name
            for layer in backbone_sublayers(classifier)
            if layer.name != "pooled_dense"
        ],
    }
    assert frozen_layer_names(classifier) == []


def test_an_optimizer_built_without_the_backbone_is_refused():
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=1, run_eagerly=True)
    classifier.optimizer.build(classifier.get_layer("logits").trainable_variables)
    x, y = batches(2)
    with pytest.raises(
        ValueError, match="built without variables.*token_embedding/embeddings"
    ):
        classifier.fit(
            x, y, batch_size=2, verbose=0, callbacks=[GradualUnfreezing(every_steps=1)]
        )


def test_step_schedule_follows_the_optimizer_step_count():
    # As in a resumed run: 5 steps done, every 2 steps -> stage 2 from the
    # first batch on, then stage 3 after step 6.
    classifier = tiny_text_classifier()
    compile_classifier(classifier, num_train_steps=10, run_eagerly=True)
    classifier.optimizer.iterations.assign(5)
    recorder = EpochRecorder()
    x, y = batches(2)
    classifier.fit(
        x,
        y,
        batch_size=2,
        epochs=2,
        verbose=0,
        callbacks=[GradualUnfreezing(every_steps=2), recorder],
    )
    assert recorder.per_epoch == {
        0: ["transformer_layer_1", "transformer_layer_2"],
        1: ENCODERS,
    }


@pytest.mark.parametrize("kwargs", [{"every_epochs": 1}, {"every_steps": 4}])
def test_rerunning_a_finished_run_ends_at_the_stage_it_reached(kwargs, tmp_path):
    x, y = batches(16)

    def run():
        classifier = tiny_text_classifier()
        compile_classifier(classifier, num_train_steps=8)
        resumable = ResumableTraining(str(tmp_path), keep_final_checkpoint=True)
        dataset = resumable.epoch_dataset(
            lambda epoch: tf.data.Dataset.from_tensor_slices((x, y)).batch(4)
        )
        # Two epochs end before the last stage (layer 0 still frozen): a
        # stage the rerun must restore, not start from or run past.
        classifier.fit(
            dataset,
            epochs=2,
            verbose=0,
            callbacks=[resumable, GradualUnfreezing(**kwargs)],
        )
        return classifier

    finished = run()
    # The same command again restores the finished run and trains no epoch.
    rerun = run()
    assert "transformer_layer_2" not in frozen_layer_names(finished)
    assert "transformer_layer_0" in frozen_layer_names(finished)
    assert frozen_layer_names(rerun) == frozen_layer_names(finished)
    assert len(rerun.trainable_variables) == len(finished.trainable_variables)
