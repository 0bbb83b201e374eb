import os

import keras

from tftransformer.finetune.checkpointing import (
    remove_temporary_files,
    save_weights_atomically,
)

__all__ = ["EpochWeightsCheckpoint"]


class EpochWeightsCheckpoint(keras.callbacks.Callback):
    """Writes the model's weights after every epoch, never leaving a torn file.

    Like `keras.callbacks.ModelCheckpoint(save_weights_only=True)`, in
    Keras' `.weights.h5` format, but each file is written to a temporary
    name and renamed into place, so a run killed while saving leaves the
    earlier files and no half-written one.

    Args:
        filepath: str or path-like ending in `.weights.h5`, with an
            `{epoch}` field (1-based), e.g.
            `"run/checkpoints/epoch_{epoch:03d}.weights.h5"`.

    Example:
    ```python
    model.fit(train, epochs=3, callbacks=[
        EpochWeightsCheckpoint("run/checkpoints/epoch_{epoch:03d}.weights.h5")
    ])
    model.load_weights("run/checkpoints/epoch_002.weights.h5")
    ```
    """

    def __init__(self, filepath):
        super().__init__()
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5") or "{epoch" not in filepath:
            raise ValueError(
                "filepath must end in '.weights.h5' and hold an {epoch} field. "
                f"Received: filepath={filepath!r}"
            )
        self.filepath = filepath

    def on_train_begin(self, logs=None):
        # The directory as written (the template's `{{` is a literal brace).
        directory = os.path.dirname(self.filepath.format(epoch=1)) or "."
        os.makedirs(directory, exist_ok=True)
        remove_temporary_files(directory)

    def on_epoch_end(self, epoch, logs=None):
        path = self.filepath.format(epoch=epoch + 1)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        save_weights_atomically(self.model, path)
