"""The embedded checkpoint written as other families' checkpoints.

all-MiniLM-L6-v2 is a BERT: post-norm encoder layers with GELU feed-forward
blocks, learned absolute positions and a token-type embedding. The same
network can be written exactly as

- a Hugging Face DistilBERT checkpoint: DistilBERT has no token types, so
  the token-type-0 row is added to every position embedding (BERT adds it to
  every token of a single-segment input), and the pooler is dropped;
- a keras-hub ELECTRA preset: ELECTRA's discriminator has BERT's layers
  (with an embedding as wide as the encoder there is no projection).
  keras-hub converts no Hugging Face ELECTRA checkpoint, so this one is a
  keras-hub preset directory.

Both load with `tftransformer.presets.load_backbone(directory)` and give the
BERT backbone's sequence outputs for single-segment inputs: ELECTRA exactly,
DistilBERT within keras-hub's GELU difference (keras-hub's DistilBERT uses
the exact GELU, its BERT the tanh approximation: up to a few 1e-3).
"""

import json
import os
import shutil

import numpy as np

from tftransformer._arguments import check_choice
from tftransformer.data.embedded_checkpoint import embedded_checkpoint_dir

__all__ = ["EMBEDDED_FAMILIES", "write_embedded_checkpoint"]

EMBEDDED_FAMILIES = ("distil_bert", "electra")

_TOKENIZER_FILES = ("vocab.txt", "special_tokens_map.json", "tokenizer.json")


def write_embedded_checkpoint(family, directory):
    """Writes the embedded all-MiniLM-L6-v2 weights as another family's checkpoint.

    Args:
        family: `"distil_bert"` (a Hugging Face DistilBERT directory:
            config.json, model.safetensors with Hugging Face's tensor names,
            vocab.txt, tokenizer_config.json) or `"electra"` (a keras-hub
            ELECTRA preset directory).
        directory: where to write; created if missing.

    Returns:
        `directory` as a string.

    Raises:
        ValueError: if `family` is not one of `EMBEDDED_FAMILIES`.

    Example:
    ```python
    path = write_embedded_checkpoint("distil_bert", "/tmp/minilm_distilbert")
    backbone, preprocessor = load_backbone(path)  # a DistilBertBackbone
    ```
    """
    check_choice("family", family, EMBEDDED_FAMILIES)
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    if family == "distil_bert":
        _write_distil_bert(directory)
    else:
        _write_electra(directory)
    return directory


def _bert_tensors():
    from safetensors.numpy import load_file

    return load_file(os.path.join(embedded_checkpoint_dir(), "model.safetensors"))


def _bert_config():
    with open(os.path.join(embedded_checkpoint_dir(), "config.json")) as f:
        return json.load(f)


def _write_distil_bert(directory):
    from safetensors.numpy import save_file

    bert = _bert_tensors()
    config = _bert_config()
    tensors = {
        "embeddings.word_embeddings.weight": bert["embeddings.word_embeddings.weight"],
        # Single-segment inputs add token type 0 at every position.
        "embeddings.position_embeddings.weight": (
            bert["embeddings.position_embeddings.weight"]
            + bert["embeddings.token_type_embeddings.weight"][0]
        ),
        "embeddings.LayerNorm.weight": bert["embeddings.LayerNorm.weight"],
        "embeddings.LayerNorm.bias": bert["embeddings.LayerNorm.bias"],
    }
    renames = {
        "attention.self.query": "attention.q_lin",
        "attention.self.key": "attention.k_lin",
        "attention.self.value": "attention.v_lin",
        "attention.output.dense": "attention.out_lin",
        "attention.output.LayerNorm": "sa_layer_norm",
        "intermediate.dense": "ffn.lin1",
        "output.dense": "ffn.lin2",
        "output.LayerNorm": "output_layer_norm",
    }
    for index in range(config["num_hidden_layers"]):
        for bert_name, distil_name in renames.items():
            for kind in ("weight", "bias"):
                tensors[f"transformer.layer.{index}.{distil_name}.{kind}"] = bert[
                    f"encoder.layer.{index}.{bert_name}.{kind}"
                ]
    # Hugging Face's DistilBERT checkpoints keep the `distilbert.` prefix of
    # the pretraining model, and keras-hub's conversion reads it.
    tensors = {
        f"distilbert.{name}": np.ascontiguousarray(value)
        for name, value in tensors.items()
    }
    save_file(tensors, os.path.join(directory, "model.safetensors"), {"format": "pt"})
    distil_config = {
        "architectures": ["DistilBertModel"],
        "model_type": "distilbert",
        "activation": config["hidden_act"],
        "attention_dropout": config["attention_probs_dropout_prob"],
        "dim": config["hidden_size"],
        "dropout": config["hidden_dropout_prob"],
        "hidden_dim": config["intermediate_size"],
        "initializer_range": config["initializer_range"],
        "max_position_embeddings": config["max_position_embeddings"],
        "n_heads": config["num_attention_heads"],
        "n_layers": config["num_hidden_layers"],
        "pad_token_id": config["pad_token_id"],
        "sinusoidal_pos_embds": False,
        "vocab_size": config["vocab_size"],
    }
    _write_json(os.path.join(directory, "config.json"), distil_config)
    with open(os.path.join(embedded_checkpoint_dir(), "tokenizer_config.json")) as f:
        tokenizer_config = json.load(f)
    tokenizer_config["tokenizer_class"] = "DistilBertTokenizer"
    _write_json(os.path.join(directory, "tokenizer_config.json"), tokenizer_config)
    for name in _TOKENIZER_FILES:
        source = os.path.join(embedded_checkpoint_dir(), name)
        if os.path.isfile(source):
            shutil.copyfile(source, os.path.join(directory, name))


def _write_electra(directory):
    import keras
    import keras_hub

    from tftransformer.presets import load_backbone

    bert, preprocessor = load_backbone("embedded", sequence_length=2)
    electra = keras_hub.models.ElectraBackbone(
        vocab_size=bert.vocabulary_size,
        num_layers=bert.num_layers,
        num_heads=bert.num_heads,
        hidden_dim=bert.hidden_dim,
        embedding_dim=bert.hidden_dim,
        intermediate_dim=bert.intermediate_dim,
        dropout=bert.dropout,
        max_sequence_length=bert.max_sequence_length,
        num_segments=bert.num_segments,
    )
    # The layers have the same names and variables in both backbones.
    for layer in electra.layers:
        if layer.weights:
            source = bert.get_layer(layer.name)
            for target, value in zip(layer.weights, source.weights, strict=True):
                target.assign(keras.ops.convert_to_numpy(value))
    electra.save_to_preset(directory)
    bert_tokenizer = preprocessor.tokenizer
    tokenizer = keras_hub.models.ElectraTokenizer(
        vocabulary=bert_tokenizer.get_vocabulary(),
        lowercase=bert_tokenizer.lowercase,
        strip_accents=bert_tokenizer.strip_accents,
    )
    tokenizer.save_to_preset(directory)


def _write_json(path, value):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2, sort_keys=True)
