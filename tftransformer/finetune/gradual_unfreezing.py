import keras

from tftransformer._arguments import check_bool, check_int
from tftransformer.finetune.trainable_state import (
    _optimizer_steps,
    apply_trainable_change,
    capture_trainable_state,
    claim_trainable_schedule,
    prepare_optimizer,
    restore_trainable_state,
)
from tftransformer.models.backbone_layers import embedding_layers, encoder_layers
from tftransformer.models.freezing import _freeze, backbone_sublayers


def _unfreezing_order(model):
    """The backbone's layers in groups, from the top encoder layer down.

    Layers on the encoder output (BERT's `pooled_dense`, a final layer norm)
    go with the top encoder layer; the embeddings come last.
    """
    encoders = encoder_layers(model)
    embeddings = embedding_layers(model)
    grouped = {id(layer) for layer in encoders + embeddings}
    on_top = [layer for layer in backbone_sublayers(model) if id(layer) not in grouped]
    groups = [[encoders[-1], *on_top]] + [[layer] for layer in encoders[-2::-1]]
    if embeddings:
        groups.append(embeddings)
    return groups


class GradualUnfreezing(keras.callbacks.Callback):
    """Unfreezes the backbone one encoder layer at a time, from the top.

    ULMFiT's gradual unfreezing: when training begins only the head (every
    layer outside the backbone) trains; then every `every_epochs` epochs, or
    every `every_steps` steps, the next encoder layer from the top starts
    training, the embeddings last. A layer gets back the trainable state it
    had when `fit` began, so layers frozen before (e.g. by `freeze_layers`)
    stay frozen and the schedule skips them. Frozen layers run in inference
    mode.

    At train begin the callback builds the optimizer over every variable the
    schedule will train, so each newly unfrozen layer finds its slots and the
    layers already training keep their Adam moments; after each change it
    makes Keras trace a new train step. Compile with a new optimizer before
    `fit` (a built one must already hold every variable to train).

    The stage follows the epoch number, or with `every_steps` the
    optimizer's step count (`optimizer.iterations`), so a resumed run (see
    `tftransformer.training.ResumableTraining`, placed before this callback)
    or a second `fit` with the same optimizer picks up the stage it had
    reached. Whatever is still frozen when training ends stays frozen.

    Args:
        every_epochs: int > 0, epochs between two unfreezings; the first
            `every_epochs` epochs train the head alone. The default when
            `every_steps` is not given is 1.
        every_steps: int > 0, optimizer steps between two unfreezings,
            instead of `every_epochs`. With `steps_per_execution > 1` a
            change happens at the first execution boundary at or after the
            step.
        verbose: bool, print each change.

    Example:
    ```python
    classifier.compile(optimizer=create_optimizer(1e-4, num_train_steps=steps))
    classifier.fit(train_ds, epochs=8, callbacks=[GradualUnfreezing(1)])
    ```
    """

    def __init__(self, every_epochs=None, every_steps=None, verbose=False):
        super().__init__()
        if every_epochs is not None and every_steps is not None:
            raise ValueError(
                "Give every_epochs or every_steps, not both. Received: "
                f"every_epochs={every_epochs!r}, every_steps={every_steps!r}"
            )
        if every_steps is None:
            every_epochs = 1 if every_epochs is None else every_epochs
            every_epochs = check_int("every_epochs", every_epochs, 1)
        else:
            every_steps = check_int("every_steps", every_steps, 1)
        self.every_epochs = every_epochs
        self.every_steps = every_steps
        self.verbose = check_bool("verbose", verbose)
        self._groups = []
        self._stage = 0
        self._state = None
        self._state_model = None
        self._initial_epoch = None
        self._epoch_ran = False

    @property
    def unfrozen_layer_names(self):
        """Names of the backbone layers the schedule has unfrozen so far."""
        return [layer.name for group in self._groups[: self._stage] for layer in group]

    @property
    def frozen_layer_names(self):
        """Names of the backbone layers the schedule still holds frozen."""
        return [layer.name for layer in self._frozen_layers()]

    def _frozen_layers(self):
        return [layer for group in self._groups[self._stage :] for layer in group]

    def set_params(self, params):
        super().set_params(params)
        # Before any callback's `on_train_begin` changes the model.
        if self.model is not None:
            claim_trainable_schedule(self)

    def on_train_begin(self, logs=None):
        if self._state is not None and self._state_model is self.model:
            # A second fit: the layers this callback still holds frozen go
            # back to their state before the first, so they are scheduled
            # again (they would otherwise look frozen by the user).
            restore_trainable_state(self._state, self._frozen_layers())
        self._state = capture_trainable_state(self.model)
        self._state_model = self.model
        prepare_optimizer(self.model, self.model.trainable_variables)
        trainable_at_start = {
            id(v) for v, trainable in self._state["variables"] if trainable
        }

        def trains(layer):
            return any(id(v) in trainable_at_start for v in layer.weights)

        # Layers and groups with nothing to train when fit began (frozen
        # before, or BERT's pooler under a head that does not read it) are
        # not scheduled. Layers without weights (dropout) go with their group.
        self._groups = []
        for group in _unfreezing_order(self.model):
            if any(trains(layer) for layer in group):
                self._groups.append(
                    [layer for layer in group if not layer.weights or trains(layer)]
                )
        for group in self._groups:
            for layer in group:
                _freeze(layer)
        self._stage = 0
        apply_trainable_change(self.model)
        # Set by `ResumableTraining` (placed before this callback) when it
        # resumes: a finished run runs no epoch at all.
        self._initial_epoch = getattr(self.model, "_initial_epoch", None)
        self._epoch_ran = False

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch_ran = True
        if self.every_epochs is not None:
            self._unfreeze_up_to(epoch // self.every_epochs, f"epoch {epoch + 1}")
        else:
            self._follow_steps()

    def on_train_batch_end(self, batch, logs=None):
        if self.every_steps is not None:
            self._follow_steps()

    def on_train_end(self, logs=None):
        if self._epoch_ran:
            return
        # A rerun of a finished (or early-stopped) run trains no epoch: end
        # at the stage that run reached, not with the whole backbone frozen.
        # `ResumableTraining.on_train_end` has restored the optimizer's step
        # count by now.
        if self.every_steps is not None:
            self._follow_steps()
        elif self._initial_epoch:
            self._unfreeze_up_to(
                (self._initial_epoch - 1) // self.every_epochs, "the restored run"
            )

    def _follow_steps(self):
        steps = _optimizer_steps(self.model)
        self._unfreeze_up_to(steps // self.every_steps, f"after step {steps}")

    def _unfreeze_up_to(self, stage, when):
        stage = min(stage, len(self._groups))
        if stage <= self._stage:
            return
        unfrozen = [
            layer for group in self._groups[self._stage : stage] for layer in group
        ]
        restore_trainable_state(self._state, unfrozen)
        self._stage = stage
        apply_trainable_change(self.model)
        if self.verbose:
            print(
                f"\nGradualUnfreezing, {when}: unfroze "
                f"{[layer.name for layer in unfrozen]}"
            )
