import os
import re

import keras
from absl import logging

from tftransformer.training.checkpointing import (
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

    A fit that starts at epoch `e` (0 for a new run, later for a resumed one)
    first deletes the files of later epochs (`e + 1` on, 1-based) that the
    template names: they are another run's, and their weights, maybe of
    another model, would pass for this run's.

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
        self._first_epoch = True

    def on_train_begin(self, logs=None):
        # The directory as written (the template's `{{` is a literal brace).
        directory = os.path.dirname(self.filepath.format(epoch=1)) or "."
        os.makedirs(directory, exist_ok=True)
        remove_temporary_files(directory)
        self._first_epoch = True

    def on_epoch_begin(self, epoch, logs=None):
        if self._first_epoch:
            self._first_epoch = False
            self._remove_files_after(epoch)

    def _remove_files_after(self, epoch):
        # The template split at its epoch field; only a field in the file
        # name (not in a directory) is looked for.
        parts = re.split(r"\{epoch(?::[^}]*)?\}", self.filepath)
        if len(parts) != 2 or os.sep in parts[1] or "/" in parts[1]:
            return
        prefix, suffix = (p.replace("{{", "{").replace("}}", "}") for p in parts)
        directory, name_prefix = os.path.split(prefix)
        pattern = re.compile(re.escape(name_prefix) + r"(\d+)" + re.escape(suffix))
        stale = [
            name
            for name in sorted(os.listdir(directory or "."))
            if (match := pattern.fullmatch(name)) and int(match.group(1)) > epoch
        ]
        for name in stale:
            os.remove(os.path.join(directory, name))
        if stale:
            logging.warning(
                "Removed %d checkpoint(s) of another run from %s: %s",
                len(stale),
                directory or ".",
                ", ".join(stale),
            )

    def on_epoch_end(self, epoch, logs=None):
        path = self.filepath.format(epoch=epoch + 1)
        os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
        save_weights_atomically(self.model, path)
