import json
import os

import keras
import keras_hub
import numpy as np
import safetensors.numpy
import tensorflow as tf
from keras_hub.src.utils.keras_utils import gelu_approximate

from tftransformer._arguments import (
    TASK_KEYWORDS,
    check_bool,
    check_choice,
    check_int,
    check_model_keywords,
    check_texts_as_str,
)
from tftransformer.layers.sequence_pooling import POOLING_MODES, SequencePooling
from tftransformer.models._task_base import (
    EmptyBatchPredict,
    InMemoryBatches,
    TokenizedBatches,
    _column_as_1d,
    freeze_unused_backbone_layers,
    load_saved_task,
    predict_batch,
    saved_task,
)
from tftransformer.models.backbone_adapter import sequence_output, task_inputs
from tftransformer.models.text_classifier_preprocessor import (
    TextClassifierPreprocessor,
)
from tftransformer.presets import (
    EMBEDDED_PRESET,
    embedded_preset_path,
    load_backbone,
)

# sentence-transformers' files beside a Hugging Face checkpoint.
_SENTENCE_CONFIG = "sentence_bert_config.json"
_MODULES_FILE = "modules.json"
_NORMALIZE_MODULE = "sentence_transformers.models.Normalize"
_POOLING_MODULE = "sentence_transformers.models.Pooling"
_DENSE_MODULE = "sentence_transformers.models.Dense"
_TRANSFORMER_MODULE = "sentence_transformers.models.Transformer"
# The activations of sentence-transformers' Dense module, by class path.
_DENSE_ACTIVATIONS = {
    "torch.nn.modules.activation.Tanh": "tanh",
    "torch.nn.modules.linear.Identity": "linear",
    "torch.nn.modules.activation.ReLU": "relu",
    "torch.nn.modules.activation.GELU": "gelu",
    "torch.nn.modules.activation.Sigmoid": "sigmoid",
}
_POOLING_KEYS = {
    "pooling_mode_mean_tokens": "mean",
    "pooling_mode_cls_token": "cls",
    "pooling_mode_max_tokens": "max",
}


@keras.saving.register_keras_serializable(package="tftransformer")
class TextEmbedder(
    TokenizedBatches, EmptyBatchPredict, InMemoryBatches, keras_hub.models.Task
):
    """A pretrained encoder turning texts into sentence embeddings.

    The embedding is the backbone's sequence output pooled over the real
    tokens (`"mean"`, as sentence-transformers' all-MiniLM-L6-v2; `"cls"` or
    `"max"`), optionally projected by a dense layer (`projection_dim`), then,
    with `normalize=True`, scaled to unit L2 norm, so that a dot product is
    the cosine similarity. `from_preset` reads the pooling, the projection
    (a `Dense` module with its weights, as LaBSE and distiluse have), the
    normalization and the maximum length from a sentence-transformers
    checkpoint's files (`modules.json`, `1_Pooling/config.json`,
    `2_Dense/`, `sentence_bert_config.json`), as sentence-transformers does.

    keras-hub's BERT computes GELU with its tanh approximation; Hugging Face
    BERT checkpoints (`hidden_act: "gelu"`) were trained with the exact erf
    form. `exact_gelu=True` swaps the backbone's feed-forward activations
    for the exact form, which `from_preset` does for such checkpoints.

    It is a keras-hub `Task`: with a `preprocessor`, `predict` takes raw
    strings; `embed` also sorts texts by length so batches carry little
    padding.

    Args:
        backbone: an encoder `keras.Model` taking a dict with `token_ids`,
            `padding_mask` (and `segment_ids` for BERT) and returning a dict
            with `sequence_output`, e.g. a keras-hub `BertBackbone`.
        preprocessor: optional preprocessor turning raw strings into the
            backbone's inputs, e.g. a `TextClassifierPreprocessor`.
        pooling: `"mean"`, `"cls"` or `"max"`.
        normalize: bool, whether embeddings are scaled to unit L2 norm.
        exact_gelu: bool, whether the backbone's tanh-approximate GELU
            activations are replaced by the exact (erf) GELU.
        projection_dim: optional int, the width of a dense projection of
            the pooled vector (sentence-transformers' `Dense` module);
            `None` embeds the pooled vector as it is.
        projection_activation: the projection's activation (a Keras
            activation name), e.g. `"tanh"`, sentence-transformers' default.
        projection_use_bias: bool, whether the projection has a bias.
        **kwargs: passed to `keras.Model`.

    Call arguments:
        inputs: the backbone's input dict, each entry `(batch, seq)`.

    Returns:
        float32 embeddings of shape `(batch, hidden_dim)`, or
        `(batch, projection_dim)` with a projection.

    Example:
    ```python
    embedder = tftransformer.models.TextEmbedder.from_preset("embedded")
    vectors = embedder.embed(["A fine film.", "A dull film."])  # (2, 384)
    similarity = vectors[0] @ vectors[1]
    ```
    """

    def __init__(
        self,
        backbone,
        preprocessor=None,
        pooling="mean",
        normalize=True,
        exact_gelu=False,
        projection_dim=None,
        projection_activation="tanh",
        projection_use_bias=True,
        **kwargs,
    ):
        check_model_keywords(type(self), kwargs, TASK_KEYWORDS)
        check_choice("pooling", pooling, POOLING_MODES)
        normalize = check_bool("normalize", normalize)
        exact_gelu = check_bool("exact_gelu", exact_gelu)
        if projection_dim is not None:
            projection_dim = check_int("projection_dim", projection_dim, 1)
        projection_use_bias = check_bool("projection_use_bias", projection_use_bias)
        try:
            keras.activations.get(projection_activation)
        except (ValueError, TypeError):
            raise ValueError(
                "projection_activation must be a Keras activation, e.g. 'tanh' "
                f"or 'linear'. Received: projection_activation="
                f"{projection_activation!r}"
            ) from None
        if exact_gelu:
            use_exact_gelu(backbone)

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.pooler = SequencePooling(
            mode=pooling, dtype=backbone.dtype_policy, name="pooling"
        )
        self.projection = None
        if projection_dim is not None:
            self.projection = keras.layers.Dense(
                projection_dim,
                activation=projection_activation,
                use_bias=projection_use_bias,
                dtype=backbone.dtype_policy,
                name="projection",
            )
        # Normalized in float32 whatever the compute dtype: a float16 sum of
        # squares loses the norm's low bits.
        self.normalizer = (
            keras.layers.UnitNormalization(dtype="float32", name="l2_normalize")
            if normalize
            else keras.layers.Activation("linear", dtype="float32", name="float32")
        )

        # === Functional model ===
        inputs, backbone_inputs = task_inputs(backbone)
        # (batch, seq, hidden)
        sequence = sequence_output(backbone(backbone_inputs))
        pooled = self.pooler(sequence, padding_mask=inputs["padding_mask"])
        if self.projection is not None:
            # (batch, projection_dim)
            pooled = self.projection(pooled)
        # (batch, hidden) or (batch, projection_dim)
        outputs = self.normalizer(pooled)
        # Trained through `ContrastiveEmbedder`: no optimizer of its own,
        # which a saved training model would otherwise carry along unused.
        kwargs.setdefault("compile", False)
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)
        freeze_unused_backbone_layers(backbone)

        # === Config ===
        self.pooling = pooling
        self.normalize = normalize
        self.exact_gelu = exact_gelu
        self.projection_dim = projection_dim
        self.projection_activation = projection_activation
        self.projection_use_bias = projection_use_bias

    @property
    def embedding_dim(self):
        """The width of the embeddings."""
        return int(self.output.shape[-1])

    @classmethod
    def from_preset(
        cls,
        preset="embedded",
        sequence_length=None,
        dtype=None,
        pooling=None,
        normalize=None,
        exact_gelu=None,
        **kwargs,
    ):
        """Builds an embedder on a pretrained backbone and its tokenizer, or
        loads one saved with `save_to_preset`.

        A local preset directory that `save_to_preset` wrote for an embedder
        gives it back as saved; arguments given override its settings.
        Otherwise, settings left at `None` come from the checkpoint's
        sentence-transformers files when it has them (all-MiniLM-L6-v2:
        mean pooling, normalized, 256 word pieces), else mean pooling,
        normalized, 512 word pieces (or the backbone's maximum).

        Args:
            preset: what `tftransformer.presets.load_backbone` takes.
            sequence_length: int, the longest tokenized text, `[CLS]` and
                `[SEP]` included; longer texts are truncated.
            dtype: optional dtype policy name, e.g. `"mixed_bfloat16"`.
            pooling: `"mean"`, `"cls"` or `"max"`.
            normalize: bool, unit-norm embeddings.
            exact_gelu: bool; defaults to True for a Hugging Face checkpoint
                whose `config.json` says `hidden_act: "gelu"`.
            **kwargs: passed to the constructor (e.g. `name`).

        Returns:
            A `TextEmbedder` with a `TextClassifierPreprocessor`.

        Example:
        ```python
        embedder = TextEmbedder.from_preset("embedded")
        embedder.preprocessor.sequence_length  # 256
        ```
        """
        saved = saved_task(cls, preset, kwargs)
        if saved is not None:
            settings = dict(pooling=pooling, normalize=normalize, exact_gelu=exact_gelu)
            kwargs.update({k: v for k, v in settings.items() if v is not None})
            return load_saved_task(*saved, sequence_length, dtype, {}, kwargs)
        directory = preset
        if preset == EMBEDDED_PRESET:
            directory = embedded_preset_path()
        settings = sentence_transformers_settings(directory)
        if sequence_length is None:
            sequence_length = settings.get("sequence_length")
        if pooling is None:
            pooling = settings.get("pooling", "mean")
        if normalize is None:
            normalize = settings.get("normalize", True)
        if exact_gelu is None:
            exact_gelu = settings.get("exact_gelu", False)
        if sequence_length is not None:
            sequence_length = check_int("sequence_length", sequence_length, 2)
        # Only the tokenizer of this preprocessor is kept: any valid length.
        backbone, preprocessor = load_backbone(
            preset, sequence_length=sequence_length or 2, dtype=dtype
        )
        if sequence_length is None:
            sequence_length = min(512, getattr(backbone, "max_sequence_length", 512))
        projection = settings.get("projection")
        if projection is not None:
            kwargs.update(
                projection_dim=projection["dim"],
                projection_activation=projection["activation"],
                projection_use_bias=projection["bias"] is not None,
            )
        embedder = cls(
            backbone,
            preprocessor=TextClassifierPreprocessor(
                preprocessor.tokenizer, sequence_length=sequence_length
            ),
            pooling=pooling,
            normalize=normalize,
            exact_gelu=exact_gelu,
            **kwargs,
        )
        if projection is not None:
            _load_projection(embedder, projection)
        return embedder

    def embed(self, texts, batch_size=32, verbose=0):
        """Embeds a list of strings, in batches of similar lengths.

        Texts are sorted by length (longest first, as sentence-transformers
        does), embedded in batches, and returned in the order given.

        Args:
            texts: a list (or tuple, NumPy array, pandas column, string
                tensor) of strings, a `(texts, 1)` column of them, or one
                string. Bytes are read as UTF-8.
            batch_size: int >= 1, texts per forward pass.
            verbose: passed to `predict`.

        Returns:
            A float32 numpy array `(len(texts), embedding_dim)`, or
            `(embedding_dim,)` for one string.
        """
        if self.preprocessor is None:
            raise ValueError(
                "embed() takes raw strings and needs a preprocessor; this "
                "TextEmbedder has none. Call it on tokenized features instead."
            )
        batch_size = check_int("batch_size", batch_size, 1)
        texts = _column_as_1d(texts)
        if isinstance(texts, tf.Tensor) and texts.dtype == tf.string:
            texts = texts.numpy()  # bytes for a scalar
            texts = texts.tolist() if isinstance(texts, np.ndarray) else texts
        single = isinstance(texts, (str, bytes))
        texts = check_texts_as_str("texts", [texts] if single else list(texts))
        if not texts:
            return np.zeros((0, self.embedding_dim), "float32")
        order = np.argsort([-len(text) for text in texts], kind="stable")
        outputs = []
        for start in range(0, len(texts), batch_size):
            batch = [texts[i] for i in order[start : start + batch_size]]
            features = self.preprocessor(batch)
            if start == 0:
                self._trace_for_any_shape(features)
            outputs.append(predict_batch(self, features))
        embeddings = np.empty((len(texts), self.embedding_dim), "float32")
        embeddings[order] = np.concatenate(outputs)
        return embeddings[0] if single else embeddings

    def _trace_for_any_shape(self, features):
        """Traces `predict_on_batch`'s step once for batches of any shape.

        Keras traces the predict step for the first batch's exact shape,
        again for the next shape, then for unknown dimensions: up to three
        traces of the whole encoder, seconds each. Traced here first with
        unknown batch and sequence dimensions, every batch reuses that one.
        """
        if self.distribute_strategy.num_replicas_in_sync > 1:
            return  # `predict_batch` calls `predict` there.
        self.make_predict_function()
        if not hasattr(self.predict_function, "get_concrete_function"):
            return  # run_eagerly: nothing is traced.
        spec = keras.tree.map_structure(
            lambda t: tf.TensorSpec([None] * len(t.shape), t.dtype), features
        )
        # The argument `predict_on_batch` passes: one step of one input. Once
        # traced, a call with this spec only looks the trace up.
        self.predict_function.get_concrete_function([(spec,)])

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pooling": self.pooling,
                "normalize": self.normalize,
                "exact_gelu": self.exact_gelu,
                "projection_dim": self.projection_dim,
                "projection_activation": keras.activations.serialize(
                    keras.activations.get(self.projection_activation)
                ),
                "projection_use_bias": self.projection_use_bias,
            }
        )
        return config


def use_exact_gelu(backbone):
    """Replaces tanh-approximate GELU activations in `backbone` by exact GELU.

    keras-hub builds BERT's feed-forward layers with
    `gelu(x, approximate=True)`; the checkpoints converted from Hugging Face
    were trained with the exact form. The swap changes each feed-forward
    `Dense`'s activation in place (the encoder layer's own `activation` too,
    so its config says what it computes).

    Args:
        backbone: a built `keras.Model`.

    Returns:
        int, the number of activations replaced.
    """
    replaced = 0
    for layer in backbone._flatten_layers(include_self=False, recursive=True):
        if getattr(layer, "activation", None) is gelu_approximate:
            layer.activation = exact_gelu
            replaced += 1
    return replaced


@keras.saving.register_keras_serializable(package="tftransformer")
def exact_gelu(x):
    """GELU with the error function, `x * Phi(x)`."""
    return keras.activations.gelu(x, approximate=False)


def sentence_transformers_settings(directory):
    """What a checkpoint's sentence-transformers and Hugging Face files say.

    Args:
        directory: a checkpoint directory, or anything else (a preset name),
            for which nothing is read.

    Returns:
        A dict with some of `sequence_length` (int), `pooling` (str),
        `normalize` (bool), `exact_gelu` (bool) and `projection` (a dict:
        `dim`, `activation`, `kernel` `(in, out)` and `bias` or None, from
        a `Dense` module).

    Raises:
        ValueError: for a module sentence-transformers would run that the
            embedder cannot (its embeddings would differ), naming it.
    """
    settings = {}
    if not isinstance(directory, (str, os.PathLike)) or not os.path.isdir(directory):
        return settings
    directory = os.fspath(directory)
    hf_config = _read_json(os.path.join(directory, "config.json")) or {}
    if hf_config.get("hidden_act") == "gelu":
        settings["exact_gelu"] = True
    sentence = _read_json(os.path.join(directory, _SENTENCE_CONFIG)) or {}
    if "max_seq_length" in sentence:
        settings["sequence_length"] = int(sentence["max_seq_length"])
    modules = _read_json(os.path.join(directory, _MODULES_FILE))
    if not isinstance(modules, list):
        return settings
    settings["normalize"] = False
    known = (_TRANSFORMER_MODULE, _POOLING_MODULE, _DENSE_MODULE, _NORMALIZE_MODULE)
    for position, module in enumerate(modules):
        kind = module.get("type")
        path = os.path.join(directory, module.get("path", ""))
        # The embedder projects the pooled vector once, then normalizes.
        if kind not in known or (
            kind == _DENSE_MODULE
            and ("projection" in settings or settings["normalize"])
        ):
            raise ValueError(
                f"{directory}: {_MODULES_FILE} runs a module the embedder "
                "cannot (its embeddings would differ from sentence-transformers'"
                "). It takes a Transformer, a Pooling, at most one Dense and a "
                "Normalize module, in that order. Received: "
                f"modules[{position}]={module!r:.200}"
            )
        if kind == _NORMALIZE_MODULE:
            settings["normalize"] = True
        elif kind == _DENSE_MODULE:
            settings["projection"] = _dense_module(path)
        elif kind == _POOLING_MODULE:
            pooling = _read_json(os.path.join(path, "config.json")) or {}
            modes = [mode for key, mode in _POOLING_KEYS.items() if pooling.get(key)]
            if len(modes) != 1:
                raise ValueError(
                    f"{directory}: the sentence-transformers pooling must be one "
                    f"of mean, cls or max tokens. Received: {pooling}"
                )
            settings["pooling"] = modes[0]
    return settings


def _dense_module(path):
    """sentence-transformers' `Dense` module in `path`: its settings and
    weights (from `model.safetensors`), as `sentence_transformers_settings`
    returns them."""
    config = _read_json(os.path.join(path, "config.json")) or {}
    activation_path = config.get(
        "activation_function", "torch.nn.modules.activation.Tanh"
    )
    activation = _DENSE_ACTIVATIONS.get(activation_path)
    if activation is None:
        raise ValueError(
            f"{path}: the Dense module's activation must be one of "
            f"{sorted(_DENSE_ACTIVATIONS)}. Received: {activation_path!r}"
        )
    weights_file = os.path.join(path, "model.safetensors")
    if not os.path.isfile(weights_file):
        raise ValueError(
            f"{path}: the Dense module's weights must be in model.safetensors "
            "(a pytorch_model.bin needs PyTorch to read). Received the files "
            f"{sorted(os.listdir(path)) if os.path.isdir(path) else []}"
        )
    weights = safetensors.numpy.load_file(weights_file)
    kernel = weights.get("linear.weight")
    if kernel is None or kernel.ndim != 2:
        raise ValueError(
            f"{weights_file} must hold the Dense module's 'linear.weight' "
            f"(out_features, in_features). Received: {sorted(weights)}"
        )
    return {
        "dim": int(kernel.shape[0]),
        "activation": activation,
        # PyTorch's (out, in) as Keras' (in, out).
        "kernel": kernel.T,
        "bias": weights.get("linear.bias"),
    }


def _load_projection(embedder, projection):
    """Sets the embedder's projection to a `Dense` module's weights,
    refusing a module whose input is not the pooled vector's width."""
    kernel, bias = projection["kernel"], projection["bias"]
    expected = tuple(embedder.projection.kernel.shape)
    if kernel.shape != expected:
        raise ValueError(
            "The Dense module must take the pooled vector: in_features="
            f"{expected[0]}. Received a kernel of shape (in, out)={kernel.shape}"
        )
    embedder.projection.set_weights([kernel] + ([] if bias is None else [bias]))


def _read_json(path):
    """The JSON value in `path`, or None when there is no such file."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
