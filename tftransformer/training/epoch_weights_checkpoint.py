import json
import math
import os
import re

import keras
from absl import logging

from tftransformer._arguments import check_int
from tftransformer.training.checkpointing import (
    atomic_write,
    remove_temporary_files,
    save_weights_atomically,
)

# Beside the weight files: each epoch's monitored value, so that a resumed
# run still knows which file is the best.
SCORES_FILE = "scores.json"

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

    With `keep`, the files are bounded: after each epoch only the `keep`
    most recent files and the best epoch's file (by `monitor` and `mode`,
    as early stopping judges) stay; the others are deleted. Each epoch's
    monitored value is kept in `scores.json` beside the files, so a resumed
    run keeps the bound and the best file.

    Args:
        filepath: str or path-like ending in `.weights.h5`, with an
            `{epoch}` field (1-based), e.g.
            `"run/checkpoints/epoch_{epoch:03d}.weights.h5"`.
        keep: `None` keeps every file; an int >= 0 keeps that many most
            recent files plus the best one (0: the best only).
        monitor: the logged metric that names the best epoch, e.g.
            `"val_accuracy"`; epochs without it are never the best.
        mode: `"max"` if a larger `monitor` is better, else `"min"`.

    Example:
    ```python
    model.fit(train, epochs=3, callbacks=[
        EpochWeightsCheckpoint("run/checkpoints/epoch_{epoch:03d}.weights.h5")
    ])
    model.load_weights("run/checkpoints/epoch_002.weights.h5")
    ```
    """

    def __init__(self, filepath, keep=None, monitor="val_loss", mode="min"):
        super().__init__()
        filepath = os.fspath(filepath)
        if not filepath.endswith(".weights.h5") or "{epoch" not in filepath:
            raise ValueError(
                "filepath must end in '.weights.h5' and hold an {epoch} field. "
                f"Received: filepath={filepath!r}"
            )
        if keep is not None:
            check_int("keep", keep, 0)
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max'. Received: mode={mode!r}")
        self.filepath = filepath
        self.keep = keep
        self.monitor = monitor
        self.mode = mode
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
        scores = self._read_scores()
        if any(int(e) > epoch for e in scores):
            self._write_scores({e: v for e, v in scores.items() if int(e) <= epoch})
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
        if self.keep is None:
            return
        value = (logs or {}).get(self.monitor)
        scores = self._read_scores()
        scores[str(epoch + 1)] = (
            float(value) if value is not None and math.isfinite(value) else None
        )
        self._write_scores(scores)
        self._prune(scores, epoch + 1)

    def _scores_path(self):
        directory = os.path.dirname(self.filepath.format(epoch=1)) or "."
        return os.path.join(directory, SCORES_FILE)

    def _read_scores(self):
        try:
            with open(self._scores_path(), encoding="utf-8") as f:
                scores = json.load(f)
        except (OSError, ValueError):
            return {}
        return scores if isinstance(scores, dict) else {}

    def _write_scores(self, scores):
        with atomic_write(self._scores_path()) as temporary:
            with open(temporary, "w", encoding="utf-8") as f:
                json.dump(scores, f, indent=1, sort_keys=True)

    def _prune(self, scores, last_epoch):
        """Deletes the files of epochs neither recent enough nor the best."""
        kept = set(range(last_epoch - self.keep + 1, last_epoch + 1))
        scored = [(int(e), v) for e, v in scores.items() if v is not None]
        if scored:
            sign = -1 if self.mode == "max" else 1
            # The earliest of equal scores, as early stopping keeps it.
            best = min(scored, key=lambda item: (sign * item[1], item[0]))[0]
            kept.add(best)
        for epoch in range(1, last_epoch + 1):
            path = self.filepath.format(epoch=epoch)
            if epoch not in kept and os.path.exists(path):
                os.remove(path)
