import keras

from tftransformer._arguments import check_int
from tftransformer.finetune.trainable_state import (
    _optimizer_steps,
    apply_trainable_change,
    capture_trainable_state,
    claim_trainable_schedule,
    prepare_optimizer,
    restore_trainable_state,
)
from tftransformer.models.freezing import (
    _hold_frozen,
    _release_hold,
    backbone_sublayers,
)


class HeadWarmup(keras.callbacks.Callback):
    """Trains the head alone for the first steps, then the chosen strategy.

    A freshly initialised head sends large, noisy gradients into the
    pretrained backbone; training it alone first avoids that. When `fit`
    begins the callback records what is trainable (whatever strategy was
    applied: full fine-tuning, `freeze_layers`, LoRA adapters, ...), freezes
    the whole backbone (see `tftransformer.finetune.freeze_backbone`) and,
    after `steps` steps, gives every backbone layer and variable its
    recorded trainable flag back.

    The optimizer is built at train begin over the strategy's variables, so
    the backbone's slots exist from the start and the head keeps its Adam
    moments through the switch; the learning-rate schedule runs on
    throughout. Compile with a new optimizer before `fit`. If training ends
    before `steps` steps, the strategy's trainable set is restored at the
    end. A model saved during the warmup (`keras.callbacks.ModelCheckpoint`)
    records the strategy's freeze, not the warmup's.

    Steps are the optimizer's step count (`optimizer.iterations`): a resumed
    run (see `tftransformer.training.ResumableTraining`, placed before this
    callback) or a second `fit` with the same optimizer does not warm up
    again once `steps` are done.

    Args:
        steps: int >= 0, the optimizer steps the head trains alone; 0 does
            nothing.
            With `steps_per_execution > 1` the switch happens at the first
            execution boundary at or after `steps`.
        verbose: bool, print when the backbone joins.

    Example:
    ```python
    freeze_layers(classifier, 2)
    classifier.compile(optimizer=create_optimizer(5e-5, num_train_steps=steps))
    classifier.fit(train_ds, epochs=3, callbacks=[HeadWarmup(steps=100)])
    ```
    """

    def __init__(self, steps, verbose=False):
        super().__init__()
        self.steps = check_int("steps", steps, 0)
        self.verbose = verbose
        self._state = None
        self._warming_up = False

    @property
    def warming_up(self):
        """Whether the backbone is currently held frozen."""
        return self._warming_up

    def set_params(self, params):
        super().set_params(params)
        # Before any callback's `on_train_begin` changes the model.
        if self.steps and self.model is not None:
            claim_trainable_schedule(self)

    def on_train_begin(self, logs=None):
        if self.steps == 0 or _optimizer_steps(self.model) >= self.steps:
            return
        self._state = capture_trainable_state(self.model)
        prepare_optimizer(self.model, self.model.trainable_variables)
        _hold_frozen(self.model)
        self._warming_up = True
        apply_trainable_change(self.model)

    def on_epoch_begin(self, epoch, logs=None):
        # A resumed run restores the optimizer's step count by now.
        self._end_warmup_when_done()

    def on_train_batch_end(self, batch, logs=None):
        self._end_warmup_when_done()

    def _end_warmup_when_done(self):
        if not self._warming_up:
            return
        steps = _optimizer_steps(self.model)
        if steps >= self.steps:
            self._end_warmup()
            if self.verbose:
                print(f"\nHeadWarmup: the backbone trains from step {steps + 1} on.")

    def on_train_end(self, logs=None):
        if self._warming_up:
            self._end_warmup()

    def _end_warmup(self):
        restore_trainable_state(self._state, backbone_sublayers(self.model))
        _release_hold(self.model)
        self._warming_up = False
        apply_trainable_change(self.model)
