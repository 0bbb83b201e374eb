"""Crash-safe checkpoint files and the checks that keep runs from mixing.

Every file here is written atomically: to a temporary file in the same
directory, flushed to disk, then renamed over the final name with
`os.replace`. A process killed at any moment leaves either the previous
file or the new one, never a torn one; at worst a temporary file remains,
which `remove_temporary_files` deletes and no reader ever opens.

Checkpoints are safetensors files (`write_checkpoint`, `read_checkpoint`):
named numeric arrays plus a JSON state in the header, with no pickled
Python objects, so reading one cannot run code.
"""

import contextlib
import hashlib
import json
import os
import re
import time
import uuid
import zipfile

import keras
import keras_hub
import numpy as np
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

from tftransformer._arguments import check_bool, check_int, check_path

__all__ = [
    "BACKUP_DIR",
    "CHECKPOINT_FILE",
    "WRITE_DELAY_ENV",
    "atomic_write",
    "check_run_directory",
    "epoch_seed",
    "fingerprint",
    "read_checkpoint",
    "read_checkpoint_state",
    "remove_temporary_files",
    "save_weights_atomically",
    "write_checkpoint",
]

CHECKPOINT_FILE = "checkpoint.safetensors"
# Seconds to wait between writing a checkpoint's temporary file and renaming
# it into place: lets a test (or a user checking their storage) kill a run
# in the middle of a checkpoint write.
WRITE_DELAY_ENV = "TFTRANSFORMER_CHECKPOINT_WRITE_DELAY"

_TEMPORARY_PREFIX = ".tmp-"
_FORMAT = "tftransformer.checkpoint.v1"
# The subdirectory of a run's directory holding its resume checkpoint.
BACKUP_DIR = "backup"
# Written by `examples/classify.py` and read by `check_run_directory`.
_MODEL_FILE = "model.keras"


def _fsync_directory(directory):
    # The rename itself is durable only once the directory entry is flushed.
    try:
        fd = os.open(directory or ".", os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_delay():
    value = os.environ.get(WRITE_DELAY_ENV)
    if not value:
        return 0.0
    try:
        return max(0.0, float(value))
    except ValueError:
        raise ValueError(
            f"{WRITE_DELAY_ENV} must be a number of seconds. Received: "
            f"{WRITE_DELAY_ENV}={value!r}"
        ) from None


@contextlib.contextmanager
def atomic_write(path):
    """Yields a temporary path to write; moves it to `path` when done.

    The temporary file sits in `path`'s directory (a rename is atomic only
    within one file system) and ends with `path`'s own name, so writers that
    check the extension (`model.save_weights` wants `.weights.h5`) accept
    it. If the body raises, the temporary file is deleted and `path` is
    left as it was.

    Args:
        path: str or path-like, the final file; its directory must exist.

    Returns:
        A context manager yielding the temporary path (str).

    Example:
    ```python
    with atomic_write("run/report.json") as tmp:
        with open(tmp, "w") as f:
            json.dump(report, f)
    ```
    """
    path = os.fspath(path)
    directory, name = os.path.split(path)
    temporary = os.path.join(
        directory, f"{_TEMPORARY_PREFIX}{uuid.uuid4().hex[:12]}-{name}"
    )
    try:
        yield temporary
        with open(temporary, "rb+") as f:
            os.fsync(f.fileno())
        delay = _write_delay()
        if delay:
            time.sleep(delay)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temporary)
        raise
    _fsync_directory(directory)


# The safetensors writer's temporary files: ".tmp" and six random characters.
_WRITER_TEMPORARY = re.compile(r"\.tmp[0-9A-Za-z]{6}")


def remove_temporary_files(directory):
    """Deletes the temporary files that killed writers left behind.

    Those of `atomic_write` (`.tmp-*`), and those of the safetensors writer
    under it, which writes through a `.tmpXXXXXX` file of its own (Rust's
    `tempfile` naming) in the same directory: a kill while checkpointing
    left one as large as the checkpoint.

    Args:
        directory: str or path-like; nothing happens if it does not exist.

    Returns:
        The list of paths deleted.

    Example:
    ```python
    remove_temporary_files("runs/sst2/checkpoints")
    ```
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        return []
    removed = []
    for name in sorted(os.listdir(directory)):
        path = os.path.join(directory, name)
        torn = name.startswith(_TEMPORARY_PREFIX) or _WRITER_TEMPORARY.fullmatch(name)
        if torn and os.path.isfile(path):
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
                removed.append(path)
    return removed


@contextlib.contextmanager
def _without_training_state(model, keep_compile_config=True):
    """Saves a compiled model's optimizer unbuilt: its config, no state.

    A keras-hub task compiles itself when it is made, so loading one always
    makes an optimizer, which must find matching (unbuilt) state in the file
    or Keras warns: such a model keeps its compile config and an unbuilt
    copy of its optimizer (with `keep_compile_config`). Other models, and
    weights files, are saved uncompiled.
    """
    optimizer, compiled = model.optimizer, model.compiled
    keep_compiled = keep_compile_config and isinstance(model, keras_hub.models.Task)
    model.optimizer = (
        optimizer.__class__.from_config(optimizer.get_config())
        if keep_compiled
        else None
    )
    model.compiled = keep_compiled
    if keep_compiled and not _compiles_from_config(type(model)):
        # keras-hub's generators (GPT-2, BART, T5) override `compile` alone:
        # Keras skips their saved compile config with a warning, and the
        # loaded task keeps the optimizer its constructor compiled. The file
        # holds that optimizer, unbuilt, and no compile config.
        default = _constructor_optimizer(model)
        if default is not None:
            model.optimizer, model.compiled = default, False
    try:
        yield
    finally:
        model.optimizer = optimizer
        model.compiled = compiled


def _compiles_from_config(model_class):
    """Whether Keras compiles a loaded `model_class` from its saved config:
    it skips a config when `compile` is overridden and
    `compile_from_config` is not."""
    return (
        model_class.compile is keras.Model.compile
        or model_class.compile_from_config is not keras.Model.compile_from_config
    )


def _constructor_optimizer(task):
    """The unbuilt optimizer a new `task` of the same class compiles itself
    with (on the same backbone), or None when the class takes other
    constructor arguments."""
    try:
        return type(task)(backbone=task.backbone, preprocessor=None).optimizer
    except (TypeError, ValueError):
        return None


def save_model_file(model, path, include_optimizer=False):
    """Writes `model` to a `.keras` file atomically, for users to load.

    Without `include_optimizer` the file holds the model's config and
    weights, and no optimizer state: about the size of the weights (a
    fine-tuned model's Adam slots would triple it). `keras.saving.load_model`
    loads it without warnings: a keras-hub task compiled with a new
    optimizer of the saved config (a generator, whose compile config Keras
    cannot replay, with the optimizer its constructor compiles), another
    model uncompiled. A run's
    optimizer state lives in its resume checkpoint (`backup/`).

    Args:
        model: a built `keras.Model`.
        path: str or path-like ending in `.keras`.
        include_optimizer: bool; True saves the compile config and the
            optimizer's state too, as `model.save` does, so a loaded model
            trains on where it stopped.

    Returns:
        str, `path`.

    Example:
    ```python
    save_model_file(classifier, "runs/sst2/model.keras")
    classifier = keras.saving.load_model("runs/sst2/model.keras")
    ```
    """
    path = os.fspath(path)
    if not path.endswith(".keras"):
        raise ValueError(f"path must end in '.keras'. Received: path={path!r}")
    include_optimizer = check_bool("include_optimizer", include_optimizer)
    with atomic_write(path) as temporary:
        if include_optimizer or not model.compiled:
            model.save(temporary)
        else:
            with _without_training_state(model):
                model.save(temporary)
    return path


def save_weights_atomically(model, path):
    """Writes `model.save_weights(path)` so that a kill never tears the file.

    The file holds the model's weights only, not its optimizer's state
    (Keras' `save_weights` adds the Adam slots of a compiled model, three
    times the weights' size); a run's optimizer state lives in its resume
    checkpoint. Loading the file into a compiled model loads every weight;
    Keras then notes that the file has no state for that model's optimizer.

    Args:
        model: a built `keras.Model`.
        path: str or path-like ending in `.weights.h5`.

    Returns:
        str, `path`.

    Example:
    ```python
    save_weights_atomically(classifier, "run/checkpoints/epoch_001.weights.h5")
    ```
    """
    path = os.fspath(path)
    if not path.endswith(".weights.h5"):
        raise ValueError(
            f"path must end in '.weights.h5' (Keras' weights format). "
            f"Received: path={path!r}"
        )
    with atomic_write(path) as temporary:
        if model.compiled:
            with _without_training_state(model, keep_compile_config=False):
                model.save_weights(temporary)
        else:
            model.save_weights(temporary)
    return path


def _to_storable(array):
    # Not `np.ascontiguousarray`, which turns a scalar into shape (1,).
    array = np.array(array, order="C", copy=None)
    # safetensors' NumPy API has no bfloat16: keep its bits as uint16.
    if array.dtype.name == "bfloat16":
        return array.view(np.uint16), "bfloat16"
    return array, array.dtype.name


def write_checkpoint(path, arrays, state):
    """Writes arrays and a JSON state to a safetensors file, atomically.

    Args:
        path: str or path-like, the file to write; its directory is created.
        arrays: dict of name to NumPy array (any shape; numeric or bool).
        state: JSON-serialisable dict, kept in the file's header.

    Returns:
        str, `path`.

    Example:
    ```python
    write_checkpoint("run/backup/checkpoint.safetensors",
                     {"w": np.zeros((2, 2))}, {"epoch": 3})
    arrays, state = read_checkpoint("run/backup/checkpoint.safetensors")
    ```
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    tensors, dtypes = {}, {}
    for name, array in arrays.items():
        tensors[name], dtypes[name] = _to_storable(array)
    metadata = {
        "format": _FORMAT,
        "state": json.dumps(state),
        "dtypes": json.dumps(dtypes),
    }
    with atomic_write(path) as temporary:
        save_file(tensors, temporary, metadata=metadata)
    return path


def _unreadable(path, reason):
    return ValueError(
        f"{path} is not a readable checkpoint ({reason}). Checkpoints are "
        "written atomically, so this file was damaged or written by something "
        "else: delete it to start the run over."
    )


def read_checkpoint_state(path):
    """Reads only the JSON state of a checkpoint, not its arrays.

    Args:
        path: str or path-like, a file written by `write_checkpoint`.

    Returns:
        The state dict.

    Raises:
        ValueError: if the file is not such a checkpoint.

    Example:
    ```python
    read_checkpoint_state("run/backup/checkpoint.safetensors")["epoch"]
    ```
    """
    path = os.fspath(path)
    try:
        with safe_open(path, framework="np") as f:
            metadata = f.metadata() or {}
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(path, e) from None
    if metadata.get("format") != _FORMAT:
        raise _unreadable(
            path, f"format {metadata.get('format')!r}, expected {_FORMAT!r}"
        )
    try:
        return json.loads(metadata["state"])
    except (KeyError, json.JSONDecodeError) as e:
        raise _unreadable(path, f"bad state: {e}") from None


def read_checkpoint(path):
    """Reads a checkpoint written by `write_checkpoint`.

    Args:
        path: str or path-like.

    Returns:
        A tuple `(arrays, state)`: a dict of name to NumPy array and the
        state dict.

    Raises:
        ValueError: if the file is not such a checkpoint.

    Example:
    ```python
    arrays, state = read_checkpoint("run/backup/checkpoint.safetensors")
    ```
    """
    path = os.fspath(path)
    state = read_checkpoint_state(path)
    try:
        with safe_open(path, framework="np") as f:
            dtypes = json.loads((f.metadata() or {}).get("dtypes", "{}"))
        arrays = load_file(path)
    except (SafetensorError, OSError, ValueError) as e:
        raise _unreadable(path, e) from None
    for name, dtype in dtypes.items():
        if dtype == "bfloat16" and name in arrays:
            import ml_dtypes

            arrays[name] = arrays[name].view(ml_dtypes.bfloat16)
    return arrays, state


def epoch_seed(seed, epoch):
    """Returns the data shuffling seed of one epoch of a seeded run.

    Each epoch's order is a function of `(seed, epoch)` alone, so that a run
    resumed at epoch `epoch` sees the order an uninterrupted run saw.

    Args:
        seed: int, the run's seed.
        epoch: int >= 0, the epoch (0-based).

    Returns:
        An int in [0, 2**31).

    Example:
    ```python
    make_classification_dataset(texts, labels, tokenizer, 32,
                                seed=epoch_seed(0, epoch))
    ```
    """
    seed, epoch = check_int("seed", seed), check_int("epoch", epoch)
    digest = hashlib.sha256(f"{seed}:{epoch}".encode()).digest()
    return int.from_bytes(digest[:4], "little") & 0x7FFFFFFF


def fingerprint(*values):
    """Returns a SHA-256 hex digest of strings, numbers and arrays.

    Used to tell whether a resumed run trains on the same data.

    Args:
        *values: each a string, number, `None`, NumPy array, or a sequence
            of these.

    Returns:
        str, 64 hex digits.

    Example:
    ```python
    fingerprint(train.texts, train.labels)
    ```
    """
    digest = hashlib.sha256()

    def add(value):
        if isinstance(value, np.ndarray):
            digest.update(f"array{value.dtype.str}{value.shape}".encode())
            digest.update(value.tobytes(order="C"))
        elif isinstance(value, (list, tuple)):
            digest.update(f"seq{len(value)}[".encode())
            for item in value:
                add(item)
            digest.update(b"]")
        else:
            text = json.dumps(
                value if not isinstance(value, np.generic) else value.item()
            )
            digest.update(f"{len(text)}:{text}".encode())

    for value in values:
        add(value)
    return digest.hexdigest()


def setting_differences(saved, current):
    """Describes the settings that differ between two run configs.

    Only settings both configs have are compared: a setting added to (or
    removed from) the code between the two runs is not a difference.
    """
    return [
        f"{key}: {saved[key]!r} then, {current[key]!r} now{_NOTES.get(key, '')}"
        for key in sorted(set(saved) & set(current))
        if saved[key] != current[key]
    ]


# Why a difference in these settings stops a resume.
_NOTES = {
    "data_sha256": (
        " (a fingerprint of the training and validation examples: the data "
        "files, their columns, max_train_examples, max_eval_examples or the "
        "augmentation changed)"
    ),
    "global_batch_size": (
        " (batch_size times the replicas of the distribution strategy; the "
        "checkpoint counts its steps in batches of the first size)"
    ),
}


def _saved_model_labels(path):
    """Returns `(class name, label names)` from a `.keras` file's config."""
    try:
        with zipfile.ZipFile(path) as archive:
            config = json.loads(archive.read("config.json"))
    except (zipfile.BadZipFile, KeyError, OSError, json.JSONDecodeError) as e:
        raise ValueError(
            f"{path} is not a readable Keras model ({e}); move it away or "
            "choose another output directory."
        ) from None
    inner = config.get("config") if isinstance(config, dict) else None
    inner = inner if isinstance(inner, dict) else {}
    # A text classifier's labels, a token classifier's tags, or a
    # regressor's targets.
    labels = inner.get("label_names", inner.get("tag_names", inner.get("target_names")))
    return config.get("class_name"), labels


def check_run_directory(directory, run_config, label_names=None):
    """Refuses an output directory that holds another run's work.

    Reads (never deserialises) what a run of `examples/classify.py` left in
    `directory`: the resume checkpoint `backup/checkpoint.safetensors` must
    have been written with the same `run_config` (compared on the settings
    both have, so that a version adding a setting still resumes), and a
    `model.keras` must be a text classifier with the same labels (or a token
    classifier with the same tags). Nothing is written.

    Args:
        directory: str or path-like, the run's output directory (need not
            exist).
        run_config: JSON-serialisable dict of the run's settings.
        label_names: optional list of the run's label names, compared with
            those of a `model.keras` already there.

    Raises:
        ValueError: naming the directory, the file and what differs.

    Example:
    ```python
    check_run_directory("runs/sst2", {"epochs": 3, "seed": 0}, ["neg", "pos"])
    ```
    """
    directory = check_path("directory", directory)
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(
            f"The output directory {directory!r} exists and is not a directory."
        )
    checkpoint = os.path.join(directory, BACKUP_DIR, CHECKPOINT_FILE)
    if os.path.isfile(checkpoint):
        state = read_checkpoint_state(checkpoint)
        saved = state.get("run_config")
        current = json.loads(json.dumps(run_config, default=repr))
        changes = setting_differences(saved, current) if saved is not None else []
        if changes:
            raise ValueError(
                f"{directory!r} holds a checkpoint of a run with other settings "
                f"({checkpoint}): {'; '.join(changes)}. Rerun with the same "
                "settings to resume it, choose another output directory, or "
                f"delete {os.path.join(directory, BACKUP_DIR)} to start over."
            )
    model_path = os.path.join(directory, _MODEL_FILE)
    if label_names is not None and os.path.isfile(model_path):
        class_name, saved_labels = _saved_model_labels(model_path)
        if saved_labels is None or list(saved_labels) != [
            str(name) for name in label_names
        ]:
            raise ValueError(
                f"{directory!r} holds a model of another task: {model_path} is a "
                f"{class_name} with labels {saved_labels}, this run trains "
                f"labels {[str(name) for name in label_names]}. Choose another "
                f"output directory, or move {model_path} away."
            )
