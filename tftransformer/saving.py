"""Saving and loading fine-tuned models as directories: config, weights and
optional preprocessor files, checked against each other before loading.

`save_model` and `load_model` store a user's own model as a directory and
refuse weights that do not fit the config before loading any of them;
`load_model` also reads `.keras` archives safely (no Lambda layers).
"""

import datetime
import json
import os
import shutil
import tempfile
import zipfile

import h5py
import keras
import keras_hub

from tftransformer._arguments import check_path
from tftransformer.models._weight_layout import weight_mismatches
from tftransformer.presets import (
    _TOKENIZER_FILE,
    CONFIG_FILE,
    WEIGHTS_FILE,
    _read_json,
)
from tftransformer.version import __version__

__all__ = ["load_model", "load_preprocessor", "save_model"]

METADATA_FILE = "metadata.json"
# Files keras-hub writes for a backbone and a preprocessor (`save_to_preset`).
_PREPROCESSOR_FILE = "preprocessor.json"
_ASSETS_DIR = "assets"
_SAVED_MODEL_ENTRIES = (
    CONFIG_FILE,
    METADATA_FILE,
    WEIGHTS_FILE,
    _PREPROCESSOR_FILE,
    _TOKENIZER_FILE,
    _ASSETS_DIR,
)


def save_model(model, directory, preprocessor=None, overwrite=False):
    """Saves a model as a directory that `load_model` reads back.

    The directory holds `config.json` (`keras.saving.serialize_keras_object`
    of the model), `model.weights.h5`, `metadata.json`, and, when there is a
    preprocessor, its keras-hub preset files (`preprocessor.json`,
    `tokenizer.json`, `assets/`). A keras-hub `Task` saves its own
    preprocessor.

    Args:
        model: a built `keras.Model`.
        directory: str or path-like, the directory to write; created if
            missing.
        preprocessor: optional keras-hub `Preprocessor` to save beside the
            model, e.g. the one `load_backbone` returned.
        overwrite: bool, whether to replace the files of an earlier save in
            `directory`.

    Returns:
        str, the directory written.

    Example:
    ```python
    save_model(classifier, "runs/sst2/model", preprocessor=preprocessor)
    classifier = load_model("runs/sst2/model")
    preprocessor = load_preprocessor("runs/sst2/model")
    ```
    """
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"`model` must be a keras.Model. Received: {type(model).__name__}"
        )
    if not model.built or not model.weights:
        raise ValueError(
            f"Model {model.name!r} has no weights yet: build it (call it on a "
            "batch) before saving it."
        )
    directory = check_path("directory", directory)
    if directory.endswith(".keras"):
        raise ValueError(
            "`save_model` writes a directory; for a single `.keras` file use "
            f"`model.save(path)`, which `load_model` reads too. Received: "
            f"directory={directory!r}"
        )
    if os.path.exists(directory) and not os.path.isdir(directory):
        raise ValueError(f"{directory!r} exists and is not a directory.")

    own_preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is None:
        preprocessor = own_preprocessor
    elif own_preprocessor is not None and own_preprocessor is not preprocessor:
        raise ValueError(
            f"Model {model.name!r} has its own preprocessor "
            f"({type(own_preprocessor).__name__}) and a different one was "
            "passed; a directory holds one preprocessor."
        )
    if preprocessor is not None and not hasattr(preprocessor, "save_to_preset"):
        raise ValueError(
            "`preprocessor` must be a keras-hub Preprocessor (with "
            f"`save_to_preset`). Received: {type(preprocessor).__name__}"
        )

    existing = [
        name
        for name in _SAVED_MODEL_ENTRIES
        if os.path.exists(os.path.join(directory, name))
    ]
    if existing and not overwrite:
        raise FileExistsError(
            f"{directory!r} already holds a saved model ({', '.join(existing)}). "
            "Pass overwrite=True to replace it, or choose another directory."
        )
    # Remove only what a save writes, so that a smaller save leaves no stale
    # preprocessor behind and unrelated files survive.
    for name in existing:
        path = os.path.join(directory, name)
        if os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.remove(path)

    os.makedirs(directory, exist_ok=True)
    config = keras.saving.serialize_keras_object(model)
    with open(os.path.join(directory, CONFIG_FILE), "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2)
    metadata = {
        "keras_version": keras.__version__,
        "keras_hub_version": keras_hub.__version__,
        "tftransformer_version": __version__,
        "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
    }
    with open(os.path.join(directory, METADATA_FILE), "w", encoding="utf-8") as f:
        json.dump(metadata, f, indent=2)
    model.save_weights(os.path.join(directory, WEIGHTS_FILE))
    if preprocessor is not None:
        preprocessor.save_to_preset(directory)
    return directory


def load_model(path):
    """Loads a model from a `.keras` file or a directory written by `save_model`.

    The model is built from its config with Keras' `safe_mode=True` (no
    arbitrary code such as lambdas), then the variable shapes stored in the
    weights file are compared with the model's before any weight is loaded.

    Args:
        path: str or path-like, a `.keras` file or a `save_model` directory.

    Returns:
        The `keras.Model` with its weights (and, for a keras-hub `Task`, its
        preprocessor's vocabulary) restored. A preprocessor saved beside the
        model loads with `load_preprocessor(path)`.

    Example:
    ```python
    model = load_model("runs/sst2/model")
    logits = model.predict(features)
    ```
    """
    path = check_path("path", path)
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"No saved model at {path!r}: expected a `.keras` file or a "
            "directory written by `save_model`."
        )
    if os.path.isdir(path):
        return _load_model_directory(path)
    if path.endswith(".keras") and zipfile.is_zipfile(path):
        return _load_keras_archive(path)
    raise ValueError(
        "Expected a `.keras` file or a directory written by `save_model`. "
        f"Received: path={path!r}"
    )


def load_preprocessor(directory):
    """Loads the preprocessor saved beside a model by `save_model`.

    Also reads the preprocessor of a keras-hub preset directory.

    Args:
        directory: str or path-like, a directory with `preprocessor.json`,
            `tokenizer.json` and the tokenizer's `assets/`.

    Returns:
        The keras-hub `Preprocessor`, of the class that was saved, with its
        vocabulary.

    Example:
    ```python
    preprocessor = load_preprocessor("runs/sst2/model")
    model = load_model("runs/sst2/model")
    logits = model.predict(preprocessor(["a fine film"]))
    ```
    """
    directory = check_path("directory", directory)
    config_path = os.path.join(directory, _PREPROCESSOR_FILE)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"No {_PREPROCESSOR_FILE} in {directory!r}: "
            "`save_model(model, directory, preprocessor=...)` writes it."
        )
    config = _read_json(config_path)
    try:
        preprocessor = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as e:
        raise ValueError(
            f"Could not build a preprocessor from {config_path}: {e}"
        ) from e
    if not hasattr(preprocessor, "load_preset_assets"):
        raise ValueError(
            f"{config_path} describes a {type(preprocessor).__name__}, not a "
            "keras-hub Preprocessor."
        )
    preprocessor.load_preset_assets(directory)
    return preprocessor


def _model_from_config(config, source):
    try:
        model = keras.saving.deserialize_keras_object(config, safe_mode=True)
    except Exception as e:
        if "safe_mode" in str(e):
            # Keras' advice names an argument this loader does not take.
            raise ValueError(
                f"{source} holds code (a Lambda layer) that loading would run: "
                "arbitrary code execution, which this loader refuses "
                "(Keras' safe_mode). If you wrote the file or trust it, load it "
                "with keras.saving.load_model(path, safe_mode=False); better, "
                "replace the Lambda layer with a registered layer class."
            ) from e
        raise ValueError(
            f"Could not build a model from {source}: {e} Custom classes must be "
            "registered with `keras.saving.register_keras_serializable` and "
            "imported before loading."
        ) from e
    if not isinstance(model, keras.Model):
        raise ValueError(
            f"{source} describes a {type(model).__name__}, not a keras.Model."
        )
    return model


def _load_model_directory(directory):
    config_path = os.path.join(directory, CONFIG_FILE)
    weights_path = os.path.join(directory, WEIGHTS_FILE)
    for path in (config_path, weights_path):
        if not os.path.isfile(path):
            archive = os.path.join(directory, "model.keras")
            # A run directory holds its model as model.keras.
            hint = f"; pass {archive!r}" if os.path.isfile(archive) else ""
            raise FileNotFoundError(
                f"No {os.path.basename(path)} in {directory!r}: a directory "
                f"written by `save_model` holds {CONFIG_FILE} and "
                f"{WEIGHTS_FILE}{hint}."
            )
    model = _model_from_config(_read_json(config_path), config_path)
    with h5py.File(weights_path, "r") as weights:
        _check_weight_shapes(model, weights, weights_path, config_path)
    model.load_weights(weights_path)
    # A keras-hub Task's config has its preprocessor without vocabulary; the
    # vocabulary is among the preprocessor's preset files.
    preprocessor = getattr(model, "preprocessor", None)
    if preprocessor is not None and hasattr(preprocessor, "load_preset_assets"):
        if not os.path.isdir(os.path.join(directory, _ASSETS_DIR)):
            raise FileNotFoundError(
                f"Model {model.name!r} has a preprocessor but {directory!r} has "
                f"no {_ASSETS_DIR}/ directory with its vocabulary."
            )
        preprocessor.load_preset_assets(directory)
    return model


def _load_keras_archive(path):
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
        for name in (CONFIG_FILE, WEIGHTS_FILE):
            if name not in names:
                raise ValueError(
                    f"{path!r} is not a Keras model archive: it has no {name}."
                )
        config_source = f"{path}/{CONFIG_FILE}"
        try:
            config = json.loads(archive.read(CONFIG_FILE))
        except json.JSONDecodeError as e:
            raise ValueError(f"{config_source} is not valid JSON: {e}") from e
        model = _model_from_config(config, config_source)
        with archive.open(WEIGHTS_FILE) as member, h5py.File(member, "r") as weights:
            _check_weight_shapes(
                model, weights, f"{path}/{WEIGHTS_FILE}", config_source
            )
    del model
    # The shapes fit; Keras' own loader also restores what an archive keeps
    # beside the weights (assets such as vocabularies, optimizer state).
    return keras.saving.load_model(path, safe_mode=True)


def _check_weight_shapes(model, weights, weights_source, config_source):
    # Saving the freshly built model gives the layout Keras will look up when
    # loading, so both files are compared path by path.
    with tempfile.TemporaryDirectory() as tmp:
        expected_path = os.path.join(tmp, WEIGHTS_FILE)
        model.save_weights(expected_path)
        with h5py.File(expected_path, "r") as expected_file:
            detail, mismatches, compared = weight_mismatches(expected_file, weights)
    if detail is None:
        return
    raise ValueError(
        f"The weights in {weights_source} do not fit the model built from "
        f"{config_source}. First mismatching variable: {detail}. "
        f"{mismatches} of {compared} variables differ."
    )
