"""The shared contract test for every tftransformer layer and model.

`run_layer_test` checks, for one layer class and one set of constructor
arguments, what every layer of this package promises: a config round trip, an
eager and a symbolic call that agree, a `.keras` save and reload (without
`custom_objects`) that gives equal outputs, one `model.fit` step that moves the
trainable weights, and a `mixed_bfloat16` run that keeps float32 variables and
stays close to the float32 outputs. Behaviour tests live beside each layer's
test; this helper only checks the contract.
"""

import os

import keras
import numpy as np
from keras import ops

from tftransformer.data import embedded_vocabulary_path

__all__ = [
    "CAUSAL_LM_END",
    "CAUSAL_LM_PAD",
    "CAUSAL_LM_START",
    "TINY_FAMILIES",
    "assert_all_close",
    "causal_lm_greedy_texts",
    "identity_logits_model",
    "move_weights",
    "run_layer_test",
    "run_model_test",
    "HUGGING_FACE_FAMILIES",
    "HUGGING_FACE_LAYER_NAMES",
    "tiny_bert_backbone",
    "tiny_causal_lm",
    "tiny_seq2seq_transformer",
    "write_tiny_bert_preset",
    "write_tiny_generator_preset",
    "write_tiny_hugging_face_checkpoint",
    "write_tiny_preset",
]


def _to_numpy(x):
    if isinstance(x, (bool, int, float, str)) or x is None:
        return x
    return ops.convert_to_numpy(x)


def move_weights(model, scale=0.3, seed=0):
    """Adds seeded normal noise to every trainable weight of `model`.

    Weights no initializer gives (a zero bias, a zero head): an untrained
    tiny model then answers each input differently.

    Returns:
        `model`.
    """
    rng = np.random.default_rng(seed)
    for variable in model.trainable_weights:
        variable.assign(variable + rng.normal(0, scale, variable.shape))
    return model


def assert_all_close(actual, expected, atol=1e-6, rtol=1e-6, msg=""):
    """Asserts two nested structures of tensors are numerically close."""
    actual = keras.tree.map_structure(_to_numpy, actual)
    expected = keras.tree.map_structure(_to_numpy, expected)
    # Paths, not types: a functional model returns a list where the layer
    # returned a tuple.
    keras.tree.assert_same_paths(actual, expected)
    for a, e in zip(keras.tree.flatten(actual), keras.tree.flatten(expected)):
        np.testing.assert_allclose(
            np.asarray(a, dtype="float64")
            if np.asarray(a).dtype.kind == "f" or str(np.asarray(a).dtype) == "bfloat16"
            else a,
            np.asarray(e, dtype="float64")
            if np.asarray(e).dtype.kind == "f" or str(np.asarray(e).dtype) == "bfloat16"
            else e,
            atol=atol,
            rtol=rtol,
            err_msg=msg,
        )


def _is_float(x):
    return "float" in str(keras.backend.standardize_dtype(x.dtype))


def _symbolic_inputs(input_data):
    """`keras.Input`s with the batch dimension left free."""
    return {
        name: keras.Input(
            shape=tuple(np.shape(value))[1:],
            dtype=keras.backend.standardize_dtype(np.asarray(value).dtype),
            name=name,
        )
        for name, value in input_data.items()
    }


def run_layer_test(
    layer_cls,
    init_kwargs,
    input_data,
    tmp_path,
    expected_output_shape=None,
    call_kwargs=None,
    run_training=True,
    run_mixed_precision=True,
    mixed_precision_atol=0.1,
):
    """Runs the contract checks shared by every layer and model.

    Args:
        layer_cls: the layer (or functional model) class under test.
        init_kwargs: dict, constructor arguments.
        input_data: dict mapping the call's tensor argument names to NumPy
            arrays, e.g. `{"inputs": x, "padding_mask": m}`; the layer is
            called as `layer(**input_data, **call_kwargs)`.
        tmp_path: a directory to write the `.keras` file into.
        expected_output_shape: a shape, or a structure of shapes matching the
            outputs, checked on the eager call.
        call_kwargs: dict of non-tensor call arguments (e.g. `training`).
        run_training: whether to run one `fit` step and check that the
            trainable weights moved.
        run_mixed_precision: whether to run the `mixed_bfloat16` check.
        mixed_precision_atol: tolerance between the bfloat16 and float32
            outputs for the same weights.

    Returns:
        The eager outputs of the float32 layer.
    """
    call_kwargs = dict(call_kwargs or {})
    input_data = {k: np.asarray(v) for k, v in input_data.items()}

    # 1. Config round trip: from_config(get_config()) rebuilds the same layer,
    # and every constructor argument is echoed in the config.
    layer = layer_cls(**init_kwargs)
    config = layer.get_config()
    for key, value in init_kwargs.items():
        assert key in config, f"get_config() lacks constructor argument {key!r}"
        if isinstance(value, (int, float, str, bool, tuple, list)) or value is None:
            echoed = config[key]
            if isinstance(value, tuple) and isinstance(echoed, list):
                echoed = tuple(echoed)
            assert echoed == value, (
                f"get_config()[{key!r}]={config[key]!r}, constructed with {value!r}"
            )
    revived = layer_cls.from_config(config)
    assert revived.get_config() == config, "config round trip changed the config"

    # 2. Eager call, with the expected shapes.
    eager_out = layer(**input_data, **call_kwargs)
    if expected_output_shape is not None:
        shapes = keras.tree.map_structure(lambda t: tuple(t.shape), eager_out)
        expected = keras.tree.map_shape_structure(tuple, expected_output_shape)
        assert shapes == expected, f"output shapes {shapes}, expected {expected}"

    # 3. Symbolic call inside a functional model agrees with the eager call.
    inputs = _symbolic_inputs(input_data)
    outputs = layer(**inputs, **call_kwargs)
    model = keras.Model(inputs, outputs)
    assert_all_close(model(input_data), eager_out, atol=1e-5, rtol=1e-5)

    # 4. `.keras` save and reload, with no custom_objects: registration is
    # what makes this work.
    path = os.path.join(str(tmp_path), f"{layer_cls.__name__}.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert_all_close(
        reloaded(input_data),
        model(input_data),
        atol=1e-5,
        rtol=1e-5,
        msg="outputs differ after .keras save and reload",
    )

    # 5. One fit step moves the trainable weights.
    float_outputs = [t for t in keras.tree.flatten(outputs) if _is_float(t)]
    if run_training and layer.trainable_weights and float_outputs:
        train_model = keras.Model(inputs, float_outputs[0])
        train_model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        before = [ops.convert_to_numpy(w) for w in layer.trainable_weights]
        target = np.ones(
            (len(next(iter(input_data.values()))),) + tuple(float_outputs[0].shape[1:]),
            "float32",
        )
        # One step, without a tf.data pipeline (whose autotuning thread
        # TensorFlow 2.21 can leave waiting on the iterator's deletion).
        train_model.train_on_batch(input_data, target)
        after = [ops.convert_to_numpy(w) for w in layer.trainable_weights]
        assert any(not np.array_equal(b, a) for b, a in zip(before, after)), (
            "one fit step changed none of the trainable weights"
        )

    # 6. Mixed precision: float32 variables, bfloat16 compute, outputs close
    # to the float32 layer's for the same weights.
    if run_mixed_precision:
        mp_layer = layer_cls(**{**init_kwargs, "dtype": "mixed_bfloat16"})
        mp_out = mp_layer(**input_data, **call_kwargs)
        for weight in mp_layer.weights:
            assert weight.dtype == "float32", (
                f"variable {weight.path} is {weight.dtype} under mixed_bfloat16"
            )
        ref_layer = layer_cls(**init_kwargs)
        ref_layer(**input_data, **call_kwargs)
        ref_layer.set_weights(mp_layer.get_weights())
        ref_out = ref_layer(**input_data, **call_kwargs)
        _check_mixed_precision_outputs(mp_out, ref_out, mixed_precision_atol)
    return eager_out


def run_model_test(
    build, input_data, tmp_path, expected_output_shape, mixed_precision_atol=0.15
):
    """The contract of `run_layer_test` for functional models taking one dict.

    Checks a config round trip, the output shapes, a `.keras` save and reload
    with equal outputs, one `fit` step that moves the trainable weights, and
    a `mixed_bfloat16` build with float32 variables whose outputs stay close
    to the float32 model's for the same weights.

    Args:
        build: callable `build(dtype=None)` returning a fresh model.
        input_data: dict of NumPy arrays, the model's inputs.
        tmp_path: directory for the `.keras` file.
        expected_output_shape: a shape, or a structure of shapes matching the
            outputs.
        mixed_precision_atol: tolerance between bfloat16 and float32 outputs.

    Returns:
        The float32 model's outputs.
    """
    model = build()
    config = model.get_config()
    revived = type(model).from_config(config)
    assert type(revived) is type(model)
    assert revived.get_config() == config, "config round trip changed the config"

    outputs = model(input_data)
    shapes = keras.tree.map_structure(lambda t: tuple(t.shape), outputs)
    expected = keras.tree.map_shape_structure(tuple, expected_output_shape)
    assert shapes == expected, f"output shapes {shapes}, expected {expected}"

    path = os.path.join(str(tmp_path), "model.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert type(reloaded) is type(model)
    assert_all_close(reloaded(input_data), outputs, atol=1e-5, rtol=1e-5)

    before = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    model.compile(
        optimizer=keras.optimizers.SGD(0.1),
        loss=keras.tree.map_structure(lambda _: "mse", outputs),
    )
    targets = keras.tree.map_structure(lambda t: np.ones(t.shape, "float32"), outputs)
    # One step, as `run_layer_test`'s.
    model.train_on_batch(input_data, targets)
    after = [ops.convert_to_numpy(w) for w in model.trainable_weights]
    assert any(not np.array_equal(b, a) for b, a in zip(before, after)), (
        "one fit step changed none of the trainable weights"
    )

    mp_model = build(dtype="mixed_bfloat16")
    mp_outputs = mp_model(input_data)
    for weight in mp_model.weights:
        assert weight.dtype == "float32", (
            f"variable {weight.path} is {weight.dtype} under mixed_bfloat16"
        )
    assert any(
        keras.backend.standardize_dtype(layer.compute_dtype) == "bfloat16"
        for layer in mp_model.layers
    ), "no layer computes in bfloat16 under mixed_bfloat16"
    ref_model = build()
    ref_model.set_weights(mp_model.get_weights())
    _check_mixed_precision_outputs(
        mp_outputs, ref_model(input_data), mixed_precision_atol, require_bfloat16=False
    )
    return outputs


def _check_mixed_precision_outputs(mp_out, ref_out, atol, require_bfloat16=True):
    """bfloat16 outputs are finite and close to float32 ones (same weights)."""
    for mp, ref in zip(keras.tree.flatten(mp_out), keras.tree.flatten(ref_out)):
        if not _is_float(ref):
            continue
        if require_bfloat16:
            assert keras.backend.standardize_dtype(mp.dtype) == "bfloat16", (
                f"float output is {mp.dtype} under mixed_bfloat16"
            )
        mp_np = np.asarray(ops.convert_to_numpy(ops.cast(mp, "float32")))
        assert np.all(np.isfinite(mp_np)), "non-finite output in bfloat16"
        np.testing.assert_allclose(
            mp_np,
            ops.convert_to_numpy(ref),
            atol=atol,
            rtol=atol,
            err_msg="mixed_bfloat16 outputs far from float32 outputs",
        )


def tiny_bert_backbone(
    vocabulary_size=64,
    num_layers=2,
    num_heads=2,
    hidden_dim=8,
    intermediate_dim=None,
    max_sequence_length=32,
    **kwargs,
):
    """A randomly initialized keras-hub `BertBackbone` small enough for tests.

    The one place tests take a tiny BERT from; each test names only what it
    needs to differ.

    Args:
        vocabulary_size: token ids the embedding takes.
        num_layers: encoder layers.
        num_heads: attention heads.
        hidden_dim: hidden width.
        intermediate_dim: feed-forward width; default twice `hidden_dim`.
        max_sequence_length: positions the embedding takes.
        **kwargs: other `BertBackbone` arguments (`dropout`, `dtype`).

    Returns:
        A `keras_hub.models.BertBackbone`.
    """
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=vocabulary_size,
        num_layers=num_layers,
        num_heads=num_heads,
        hidden_dim=hidden_dim,
        intermediate_dim=intermediate_dim or 2 * hidden_dim,
        max_sequence_length=max_sequence_length,
        **kwargs,
    )


def write_tiny_bert_preset(
    directory,
    num_layers=2,
    hidden_dim=16,
    seed=0,
    vocabulary_size=None,
    max_sequence_length=64,
):
    """Writes a tiny keras-hub BERT preset with the embedded vocabulary.

    The preset loads through `tftransformer.presets.load_backbone(directory)`
    like any local keras-hub preset, so tests exercise the real loading path
    with a model small enough to train in seconds.

    Args:
        directory: where to write the preset files.
        num_layers: encoder layers.
        hidden_dim: hidden width (2 heads, feed-forward 2x wider).
        seed: weight initialization seed.
        vocabulary_size: optional int, keep only the first entries of the
            embedded vocabulary: its special tokens, then characters and word
            pieces, then the most common words. A few thousand make the
            tokenizer (rebuilt in every traced input pipeline) and the
            embedding several times cheaper; the default keeps all 30,522.
        max_sequence_length: positions the embedding takes.

    Returns:
        `directory` as a string.
    """
    import keras_hub

    with open(embedded_vocabulary_path(), encoding="utf-8") as f:
        vocabulary = f.read().splitlines()[:vocabulary_size]
    keras.utils.set_random_seed(seed)
    backbone = tiny_bert_backbone(
        vocabulary_size=len(vocabulary),
        num_layers=num_layers,
        hidden_dim=hidden_dim,
        max_sequence_length=max_sequence_length,
    )
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=vocabulary, lowercase=True)
    backbone.save_to_preset(str(directory))
    keras_hub.models.BertTextClassifierPreprocessor(tokenizer).save_to_preset(
        str(directory)
    )
    return str(directory)


# Families `write_tiny_preset` writes, one per keras-hub text encoder kind.
TINY_FAMILIES = (
    "bert",
    "distil_bert",
    "roberta",
    "xlm_roberta",
    "deberta_v3",
    "albert",
    "electra",
)

# Sentences a tiny SentencePiece or byte-pair vocabulary is made from.
_TINY_CORPUS = (
    "the movie was great and the actors were wonderful",
    "a terrible film with a boring story",
    "the quick brown fox jumped over the lazy dog",
    "the earth is round and the sky is blue",
    "john smith lives in new york city",
    "an unforgettable performance by the lead actress",
    "i would not watch this movie again",
    "the plot was predictable but the music was lovely",
)


def _tiny_sentencepiece(bos, eos, pad, unk, user_defined=()):
    """A tiny unigram SentencePiece model (bytes) trained on `_TINY_CORPUS`.

    `bos=None` leaves the start piece out, as T5's vocabulary does (`<pad>`
    0, `</s>` 1, `<unk>` 2).
    """
    import io

    import sentencepiece

    model = io.BytesIO()
    special = {"pad": pad, "bos": bos or "<s>", "eos": eos, "unk": unk}
    if bos is None:
        order = ["pad", "eos", "unk"]
    elif unk == "<unk>" and bos == "<s>":
        order = ["unk", "bos", "eos", "pad"]
    else:
        order = ["pad", "unk", "bos", "eos"]
    ids = {name: i for i, name in enumerate(order)}
    ids.setdefault("bos", -1)
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(_TINY_CORPUS),
        model_writer=model,
        vocab_size=80,
        model_type="unigram",
        hard_vocab_limit=False,
        pad_id=ids["pad"],
        unk_id=ids["unk"],
        bos_id=ids["bos"],
        eos_id=ids["eos"],
        pad_piece=special["pad"],
        unk_piece=special["unk"],
        bos_piece=special["bos"],
        eos_piece=special["eos"],
        user_defined_symbols=list(user_defined),
        minloglevel=2,
    )
    return model.getvalue()


def _tiny_byte_pair_vocabulary():
    """A byte-level BPE vocabulary and merges that cover any text.

    Every byte has its own piece, and the corpus' words (with and without
    the leading-space marker "Ġ") merge into whole pieces.
    """
    from keras_hub.src.tokenizers.byte_pair_tokenizer import bytes_to_unicode

    _, characters = bytes_to_unicode()
    vocabulary = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3}
    for character in characters:
        vocabulary.setdefault(character, len(vocabulary))
    merges = []
    words = sorted({word for line in _TINY_CORPUS for word in line.split()})
    for word in words:
        for prefix in ("", "Ġ"):
            piece = prefix + word[0]
            for character in word[1:]:
                merge = f"{piece} {character}"
                if merge not in merges:
                    merges.append(merge)
                piece += character
                vocabulary.setdefault(piece, len(vocabulary))
            vocabulary.setdefault(piece, len(vocabulary))
    # "Ġ" + first letter must exist as a piece before merging on from it.
    for word in words:
        merge = f"Ġ {word[0]}"
        if merge not in merges:
            merges.insert(0, merge)
        vocabulary.setdefault("Ġ" + word[0], len(vocabulary))
    vocabulary["<mask>"] = len(vocabulary)
    return vocabulary, merges


def _tiny_sizes(num_layers, hidden_dim):
    """The backbone sizes of the tiny presets: 2 heads, a feed-forward layer
    twice as wide as `hidden_dim`, sequences of up to 64 tokens."""
    return dict(
        num_layers=num_layers,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=64,
    )


def write_tiny_preset(family, directory, num_layers=2, hidden_dim=16, seed=0):
    """Writes a tiny keras-hub preset of one text encoder family.

    WordPiece families (BERT, DistilBERT, ELECTRA) use the embedded
    vocabulary; RoBERTa a byte-level BPE vocabulary covering every byte;
    XLM-RoBERTa, DeBERTa-v3 and ALBERT a small SentencePiece model trained
    here on a few sentences. Each preset loads through
    `tftransformer.presets.load_backbone(directory)`.

    Args:
        family: one of `TINY_FAMILIES`.
        directory: where to write the preset files.
        num_layers: encoder layers (ALBERT: layers sharing one block).
        hidden_dim: hidden width (2 heads, feed-forward 2x wider).
        seed: weight initialization seed.

    Returns:
        `directory` as a string.

    Example:
    ```python
    backbone, preprocessor = load_backbone(write_tiny_preset("roberta", path))
    ```
    """
    import keras_hub

    if family not in TINY_FAMILIES:
        raise ValueError(
            f"family must be one of {TINY_FAMILIES}. Received: family={family!r}"
        )
    if family == "bert":
        return write_tiny_bert_preset(directory, num_layers, hidden_dim, seed)
    keras.utils.set_random_seed(seed)
    models = keras_hub.models
    sizes = _tiny_sizes(num_layers, hidden_dim)
    vocabulary = str(embedded_vocabulary_path())
    if family == "distil_bert":
        tokenizer = models.DistilBertTokenizer(vocabulary=vocabulary, lowercase=True)
        backbone = models.DistilBertBackbone(vocabulary_size=30522, **sizes)
        preprocessor_cls = models.DistilBertTextClassifierPreprocessor
    elif family == "electra":
        tokenizer = models.ElectraTokenizer(vocabulary=vocabulary, lowercase=True)
        # A narrower embedding than the encoder, as ELECTRA-small has.
        backbone = models.ElectraBackbone(
            vocab_size=30522, embedding_dim=hidden_dim // 2, **sizes
        )
        # keras-hub has no ELECTRA text classifier preprocessor.
        preprocessor_cls = None
    elif family == "roberta":
        vocab, merges = _tiny_byte_pair_vocabulary()
        tokenizer = models.RobertaTokenizer(vocabulary=vocab, merges=merges)
        backbone = models.RobertaBackbone(vocabulary_size=len(vocab), **sizes)
        preprocessor_cls = models.RobertaTextClassifierPreprocessor
    elif family == "xlm_roberta":
        tokenizer = models.XLMRobertaTokenizer(
            proto=_tiny_sentencepiece("<s>", "</s>", "<pad>", "<unk>")
        )
        backbone = models.XLMRobertaBackbone(
            vocabulary_size=tokenizer.vocabulary_size(), **sizes
        )
        preprocessor_cls = models.XLMRobertaTextClassifierPreprocessor
    elif family == "deberta_v3":
        tokenizer = models.DebertaV3Tokenizer(
            proto=_tiny_sentencepiece("[CLS]", "[SEP]", "[PAD]", "[UNK]", ["[MASK]"])
        )
        backbone = models.DebertaV3Backbone(
            vocabulary_size=tokenizer.vocabulary_size(), bucket_size=8, **sizes
        )
        preprocessor_cls = models.DebertaV3TextClassifierPreprocessor
    else:
        tokenizer = models.AlbertTokenizer(
            proto=_tiny_sentencepiece("[CLS]", "[SEP]", "<pad>", "<unk>", ["[MASK]"])
        )
        backbone = models.AlbertBackbone(
            vocabulary_size=tokenizer.vocabulary_size(),
            embedding_dim=hidden_dim // 2,
            **sizes,
        )
        preprocessor_cls = models.AlbertTextClassifierPreprocessor
    backbone.save_to_preset(str(directory))
    if preprocessor_cls is None:
        tokenizer.save_to_preset(str(directory))
    else:
        preprocessor_cls(tokenizer).save_to_preset(str(directory))
    return str(directory)


# Hugging Face's tensor names of one encoder layer's parts, below
# `<model>.encoder.layer.<i>.` (RoBERTa, XLM-RoBERTa) or ALBERT's shared
# `albert_layer_groups.0.albert_layers.0.`.
HUGGING_FACE_LAYER_NAMES = {
    "roberta": {
        "query": "attention.self.query",
        "key": "attention.self.key",
        "value": "attention.self.value",
        "attention_output": "attention.output.dense",
        "attention_norm": "attention.output.LayerNorm",
        "intermediate": "intermediate.dense",
        "output": "output.dense",
        "output_norm": "output.LayerNorm",
    },
    "albert": {
        "query": "attention.query",
        "key": "attention.key",
        "value": "attention.value",
        "attention_output": "attention.dense",
        "attention_norm": "attention.LayerNorm",
        "intermediate": "ffn",
        "output": "ffn_output",
        "output_norm": "full_layer_layer_norm",
    },
}


# Families `write_tiny_hugging_face_checkpoint` writes, by Hugging Face
# `model_type`. (BERT and DistilBERT directories come from the embedded
# checkpoint: `tftransformer.presets.write_embedded_checkpoint`.)
HUGGING_FACE_FAMILIES = {
    "roberta": "roberta",
    "xlm_roberta": "xlm-roberta",
    "albert": "albert",
}


def _hugging_face_encoder_tensors(rng, prefix, sizes, layer_prefixes, names):
    """Random tensors of one BERT-like encoder layer block, by HF name."""
    hidden, intermediate = sizes["hidden_size"], sizes["intermediate_size"]
    shapes = {
        names["query"]: (hidden, hidden),
        names["key"]: (hidden, hidden),
        names["value"]: (hidden, hidden),
        names["attention_output"]: (hidden, hidden),
        names["intermediate"]: (intermediate, hidden),
        names["output"]: (hidden, intermediate),
    }
    tensors = {}
    for layer_prefix in layer_prefixes:
        for name, shape in shapes.items():
            key = f"{prefix}{layer_prefix}{name}"
            # PyTorch's Linear keeps (out, in) kernels.
            tensors[f"{key}.weight"] = rng.normal(0, 0.2, shape)
            tensors[f"{key}.bias"] = rng.normal(0, 0.1, shape[:1])
        for name in (names["attention_norm"], names["output_norm"]):
            key = f"{prefix}{layer_prefix}{name}"
            tensors[f"{key}.weight"] = 1 + rng.normal(0, 0.1, (hidden,))
            tensors[f"{key}.bias"] = rng.normal(0, 0.1, (hidden,))
    return tensors


def write_tiny_hugging_face_checkpoint(
    family, directory, num_layers=2, hidden_dim=16, seed=0
):
    """Writes a tiny random checkpoint in Hugging Face's own format.

    `config.json` with Hugging Face's keys, `model.safetensors` with its
    tensor names (what `transformers`' `save_pretrained` writes for
    `RobertaModel`, `XLMRobertaModel` and `AlbertModel`) and the tokenizer
    files keras-hub's converters read: RoBERTa's `vocab.json` and
    `merges.txt` (the byte-level BPE vocabulary of `write_tiny_preset`),
    XLM-RoBERTa's `sentencepiece.bpe.model` and ALBERT's `spiece.model`
    (SentencePiece models trained here on a few sentences). The directory
    loads through `tftransformer.presets.load_backbone(directory)`, which
    converts it with keras-hub.

    RoBERTa's token type embedding (one row, added to every token) is
    random, as fine-tuning leaves it; the released checkpoints hold zeros.

    Args:
        family: a key of `HUGGING_FACE_FAMILIES`.
        directory: where to write the files.
        num_layers: encoder layers (ALBERT: layers sharing one block).
        hidden_dim: hidden width (2 heads, feed-forward 2x wider; ALBERT's
            embeddings half as wide).
        seed: the tensors' random seed.

    Returns:
        `directory` as a string.

    Example:
    ```python
    path = write_tiny_hugging_face_checkpoint("roberta", directory)
    backbone, preprocessor = load_backbone(path)
    ```
    """
    import json

    from safetensors.numpy import save_file

    if family not in HUGGING_FACE_FAMILIES:
        raise ValueError(
            f"family must be one of {tuple(HUGGING_FACE_FAMILIES)}. "
            f"Received: family={family!r}"
        )
    directory = str(directory)
    os.makedirs(directory, exist_ok=True)
    rng = np.random.default_rng(seed)
    sizes = {
        "hidden_size": hidden_dim,
        "num_hidden_layers": num_layers,
        "num_attention_heads": 2,
        "intermediate_size": 2 * hidden_dim,
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
    }
    if family == "albert":
        with open(os.path.join(directory, "spiece.model"), "wb") as f:
            f.write(_tiny_sentencepiece("[CLS]", "[SEP]", "<pad>", "<unk>", ["[MASK]"]))
        vocabulary_size = _sentencepiece_size(directory, "spiece.model")
        embedding_dim = hidden_dim // 2
        config = {
            "architectures": ["AlbertModel"],
            "model_type": "albert",
            "vocab_size": vocabulary_size,
            "embedding_size": embedding_dim,
            "num_hidden_groups": 1,
            "inner_group_num": 1,
            "max_position_embeddings": 64,
            "type_vocab_size": 2,
            "hidden_act": "gelu_new",
            "layer_norm_eps": 1e-12,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "eos_token_id": 3,
            **sizes,
        }
        embedding = {
            "word_embeddings": (vocabulary_size, embedding_dim),
            "position_embeddings": (64, embedding_dim),
            "token_type_embeddings": (2, embedding_dim),
        }
        tensors = {
            f"albert.embeddings.{name}.weight": rng.normal(0, 0.5, shape)
            for name, shape in embedding.items()
        }
        tensors["albert.embeddings.LayerNorm.weight"] = 1 + rng.normal(
            0, 0.1, (embedding_dim,)
        )
        tensors["albert.embeddings.LayerNorm.bias"] = rng.normal(
            0, 0.1, (embedding_dim,)
        )
        tensors["albert.encoder.embedding_hidden_mapping_in.weight"] = rng.normal(
            0, 0.3, (hidden_dim, embedding_dim)
        )
        tensors["albert.encoder.embedding_hidden_mapping_in.bias"] = rng.normal(
            0, 0.1, (hidden_dim,)
        )
        tensors.update(
            _hugging_face_encoder_tensors(
                rng,
                "albert.encoder.albert_layer_groups.0.albert_layers.0.",
                sizes,
                [""],
                HUGGING_FACE_LAYER_NAMES["albert"],
            )
        )
        tensors["albert.pooler.weight"] = rng.normal(0, 0.2, (hidden_dim, hidden_dim))
        tensors["albert.pooler.bias"] = rng.normal(0, 0.1, (hidden_dim,))
    else:
        if family == "roberta":
            vocabulary, merges = _tiny_byte_pair_vocabulary()
            with open(os.path.join(directory, "vocab.json"), "w") as f:
                json.dump(vocabulary, f)
            with open(os.path.join(directory, "merges.txt"), "w") as f:
                f.write("#version: 0.2\n" + "\n".join(merges) + "\n")
            vocabulary_size = len(vocabulary)
            # RobertaForSequenceClassification's names.
            prefix = "roberta."
        else:
            with open(os.path.join(directory, "sentencepiece.bpe.model"), "wb") as f:
                f.write(_tiny_sentencepiece("<s>", "</s>", "<pad>", "<unk>"))
            # fairseq's ids: `<pad>` put in at 1, `<mask>` added at the end.
            vocabulary_size = (
                _sentencepiece_size(directory, "sentencepiece.bpe.model") + 2
            )
            # XLMRobertaModel's names (no prefix).
            prefix = ""
        config = {
            "architectures": [
                "RobertaModel" if family == "roberta" else "XLMRobertaModel"
            ],
            "model_type": HUGGING_FACE_FAMILIES[family],
            "vocab_size": vocabulary_size,
            # Two rows more than the longest sequence: positions start at
            # padding_idx + 1 = 2.
            "max_position_embeddings": 66,
            "type_vocab_size": 1,
            "hidden_act": "gelu",
            "layer_norm_eps": 1e-5,
            "pad_token_id": 1,
            "bos_token_id": 0,
            "eos_token_id": 2,
            **sizes,
        }
        embedding = {
            "word_embeddings": (vocabulary_size, hidden_dim),
            "position_embeddings": (66, hidden_dim),
            "token_type_embeddings": (1, hidden_dim),
        }
        tensors = {
            f"{prefix}embeddings.{name}.weight": rng.normal(0, 0.5, shape)
            for name, shape in embedding.items()
        }
        tensors[f"{prefix}embeddings.LayerNorm.weight"] = 1 + rng.normal(
            0, 0.1, (hidden_dim,)
        )
        tensors[f"{prefix}embeddings.LayerNorm.bias"] = rng.normal(
            0, 0.1, (hidden_dim,)
        )
        tensors.update(
            _hugging_face_encoder_tensors(
                rng,
                f"{prefix}encoder.layer.",
                sizes,
                [f"{i}." for i in range(num_layers)],
                HUGGING_FACE_LAYER_NAMES["roberta"],
            )
        )
        tensors[f"{prefix}pooler.dense.weight"] = rng.normal(
            0, 0.2, (hidden_dim, hidden_dim)
        )
        tensors[f"{prefix}pooler.dense.bias"] = rng.normal(0, 0.1, (hidden_dim,))
    tensors = {name: value.astype("float32") for name, value in tensors.items()}
    save_file(tensors, os.path.join(directory, "model.safetensors"), {"format": "pt"})
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f, indent=2, sort_keys=True)
    return directory


def _sentencepiece_size(directory, name):
    import sentencepiece

    model = sentencepiece.SentencePieceProcessor(
        model_file=os.path.join(directory, name)
    )
    return model.get_piece_size()


# keras-hub generation families with a tiny preset writer.
TINY_GENERATOR_FAMILIES = ("gpt2", "bart", "t5")


def write_tiny_generator_preset(
    family, directory, num_layers=1, hidden_dim=16, sequence_length=32, seed=0
):
    """Writes a tiny keras-hub preset of a text generation task, random weights.

    `"gpt2"` writes a `GPT2CausalLM` (decoder only), `"bart"` a
    `BartSeq2SeqLM` (encoder-decoder), each with a byte-level BPE
    vocabulary covering every byte (so any text tokenizes), `"t5"` a
    `T5Seq2SeqLM` (encoder-decoder, relative positions) with a small
    SentencePiece model trained here on a few sentences (T5's special
    pieces: `<pad>` 0, `</s>` 1, `<unk>` 2; other characters become
    `<unk>`); 2 heads each. They load with
    `keras_hub.models.CausalLM.from_preset(directory)` and
    `keras_hub.models.Seq2SeqLM.from_preset(directory)`, as the released
    GPT-2, BART and T5 presets do.

    Args:
        family: one of `TINY_GENERATOR_FAMILIES`.
        directory: where to write the preset files.
        num_layers: decoder (and encoder) layers.
        hidden_dim: hidden width (feed-forward 2x wider).
        sequence_length: the preprocessor's sequence length (BART, T5: of
            the encoder and of the decoder).
        seed: weight initialization seed.

    Returns:
        `directory` as a string.

    Example:
    ```python
    preset = write_tiny_generator_preset("gpt2", path)
    lm = keras_hub.models.CausalLM.from_preset(preset)
    ```
    """
    import keras_hub

    if family not in TINY_GENERATOR_FAMILIES:
        raise ValueError(
            f"family must be one of {TINY_GENERATOR_FAMILIES}. "
            f"Received: family={family!r}"
        )
    keras.utils.set_random_seed(seed)
    models = keras_hub.models
    vocabulary, merges = _tiny_byte_pair_vocabulary()
    sizes = _tiny_sizes(num_layers, hidden_dim)
    if family == "gpt2":
        vocabulary["<|endoftext|>"] = len(vocabulary)
        tokenizer = models.GPT2Tokenizer(vocabulary=vocabulary, merges=merges)
        backbone = models.GPT2Backbone(vocabulary_size=len(vocabulary), **sizes)
        preprocessor = models.GPT2CausalLMPreprocessor(
            tokenizer, sequence_length=sequence_length
        )
        task = models.GPT2CausalLM(backbone, preprocessor)
    elif family == "bart":
        tokenizer = models.BartTokenizer(vocabulary=vocabulary, merges=merges)
        backbone = models.BartBackbone(vocabulary_size=len(vocabulary), **sizes)
        preprocessor = models.BartSeq2SeqLMPreprocessor(
            tokenizer,
            encoder_sequence_length=sequence_length,
            decoder_sequence_length=sequence_length,
        )
        task = models.BartSeq2SeqLM(backbone, preprocessor)
    else:
        tokenizer = models.T5Tokenizer(
            proto=_tiny_sentencepiece(None, "</s>", "<pad>", "<unk>")
        )
        del sizes["max_sequence_length"]  # relative positions: no table
        backbone = models.T5Backbone(
            vocabulary_size=tokenizer.vocabulary_size(), **sizes
        )
        preprocessor = models.T5Seq2SeqLMPreprocessor(
            tokenizer,
            encoder_sequence_length=sequence_length,
            decoder_sequence_length=sequence_length,
        )
        task = models.T5Seq2SeqLM(backbone, preprocessor)
    task.save_to_preset(str(directory))
    return str(directory)


# A tftransformer CausalLM's special ids in a learned WordPiece vocabulary
# (`tftransformer.data.learn_word_piece_vocabulary`, as `train_causal_lm`
# uses): pad, start and end.
def identity_logits_model(num_outputs):
    """A Keras model whose outputs `(batch, num_outputs)` are its inputs.

    One `Dense` layer with an identity kernel: evaluation and calibration
    code run on logits chosen by the test.
    """
    inputs = keras.Input((num_outputs,))
    layer = keras.layers.Dense(num_outputs, kernel_initializer="identity")
    return keras.Model(inputs, layer(inputs))


CAUSAL_LM_PAD, CAUSAL_LM_START, CAUSAL_LM_END = 0, 2, 3


def tiny_causal_lm(texts, max_sequence_length=16, seed=0):
    """A seeded 1-layer `tftransformer.models.CausalLM`, random weights, on a
    WordPiece vocabulary learned from `texts`.

    Returns:
        `(model, vocabulary, tokenizer)`; the special ids are
        `CAUSAL_LM_PAD`, `CAUSAL_LM_START` and `CAUSAL_LM_END`.
    """
    from tftransformer.data import learn_word_piece_vocabulary, word_piece_tokenizer
    from tftransformer.models import CausalLM

    vocabulary = learn_word_piece_vocabulary(list(texts), 1)
    keras.utils.set_random_seed(seed)
    model = CausalLM(
        vocabulary_size=len(vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=16,
        intermediate_dim=32,
        max_sequence_length=max_sequence_length,
        dropout=0.0,
    )
    return model, vocabulary, word_piece_tokenizer(vocabulary)


def tiny_seq2seq_transformer(
    source_vocabulary,
    target_vocabulary=None,
    max_sequence_length=8,
    position_kind="learned",
    hidden_dim=8,
    seed=None,
):
    """A 1-layer `tftransformer.models.Seq2SeqTransformer` with random
    weights over the two vocabularies (lists of tokens; the target one
    defaults to the source one), as `train_translator` builds from random
    weights; its feed-forward width is twice `hidden_dim`. With `seed`, the
    weights are seeded (`keras.utils.set_random_seed`)."""
    from tftransformer.models import Seq2SeqTransformer

    if seed is not None:
        keras.utils.set_random_seed(seed)
    return Seq2SeqTransformer(
        encoder_vocabulary_size=len(source_vocabulary),
        decoder_vocabulary_size=len(target_vocabulary or source_vocabulary),
        num_layers=1,
        num_heads=2,
        hidden_dim=hidden_dim,
        intermediate_dim=2 * hidden_dim,
        max_sequence_length=max_sequence_length,
        position_kind=position_kind,
    )


def causal_lm_greedy_texts(model, vocabulary, tokenizer, prompts, max_length):
    """A `tiny_causal_lm`'s greedy continuations of `prompts` by its own
    `generate`, as a generator export answers them.

    Returns:
        `(texts, completions)`: each prompt and its continuation, and the
        continuation alone, as words joined by spaces.
    """
    from tftransformer.data import join_word_pieces, tokenize_texts

    start, end, pad = CAUSAL_LM_START, CAUSAL_LM_END, CAUSAL_LM_PAD
    rows = [[start, *ids] for ids in tokenize_texts(tokenizer, prompts)]
    prompt_ids = np.zeros((len(rows), max(map(len, rows))), "int32")
    for i, row in enumerate(rows):
        prompt_ids[i, : len(row)] = row
    generated = model.generate(
        prompt_ids,
        max_length,
        top_k=1,
        end_token_id=end,
        prompt_padding_mask=prompt_ids != pad,
        jit_compile=False,
    )
    texts = [join_word_pieces(row, vocabulary, end, (pad, start)) for row in generated]
    completions = [
        join_word_pieces(row[len(prompt) :], vocabulary, end, (pad, start))
        for row, prompt in zip(generated, rows, strict=True)
    ]
    return texts, completions
