import json
import os
import re
import shutil
import subprocess
import sys
import types

import keras
import keras_hub
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import types_pb2
from tensorflow.core.protobuf import saved_model_pb2

from tests import fork_server
from tests.fast_exit import python_command
from tftransformer.export import (
    LABELS_FILE,
    WARMUP_FILE,
    export_for_serving,
    read_warmup_requests,
)
from tftransformer.export.inference_copy import has_lora
from tftransformer.finetune import (
    merge_lora,
)
from tftransformer.models import TextClassifier, TextClassifierPreprocessor
from tftransformer.presets import embedded_tokenizer
from tftransformer.testing import tiny_bert_backbone

predict_pb2 = pytest.importorskip("tensorflow_serving.apis.predict_pb2")

SEQUENCE_LENGTH = 16
LABELS = ["negative", "neutral", "positive"]
WORDS = (
    "the movie was great awful a fine film dull mess quietly devastating boring "
    "unbelievably overlong but charming"
).split()
# Far more than SEQUENCE_LENGTH word pieces: truncated in the graph.
LONG_TEXT = " ".join(WORDS * 8)
WARMUP_TEXTS = ["great movie", "boring"]
CLIENT = os.path.join(os.path.dirname(__file__), "serving_client.py")
# The Keras model and the exported graph run the same float32 ops.
ATOL = 1e-5


def review_texts(count, seed=0):
    """Texts of 0 to 40 words, with an empty and an over-long one."""
    rng = np.random.default_rng(seed)
    texts = [
        " ".join(rng.choice(WORDS, size=rng.integers(0, 40))) for _ in range(count)
    ]
    texts[0] = ""
    texts[-1] = LONG_TEXT
    return texts


BATCHES = {
    "batch_1": ["a fine film"],
    "batch_37": review_texts(37),
    "empty_strings": ["", "", "great"],
    "over_max_length": [LONG_TEXT, LONG_TEXT + " dull mess", "awful"],
}


@pytest.fixture(scope="module")
def tokenizer():
    return embedded_tokenizer()


def tiny_classifier(tokenizer, dtype=None, label_names=tuple(LABELS)):
    backbone = tiny_bert_backbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1, dtype=dtype
    )
    return TextClassifier(
        backbone,
        num_classes=len(label_names),
        preprocessor=TextClassifierPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
        pooling="mean",
        label_names=list(label_names),
    )


def keras_probabilities(model, texts):
    """The Keras model's probabilities, through its own preprocessor."""
    outputs = model(model.preprocessor(x=texts), training=False)
    if model.activation is not keras.activations.softmax:
        outputs = keras.ops.softmax(outputs)
    return keras.ops.convert_to_numpy(outputs)


def serve(version_dir):
    return tf.saved_model.load(version_dir).signatures["serving_default"]


def graph_dtypes(version_dir):
    """Every dtype attribute of the saved graph and its functions."""
    saved_model = saved_model_pb2.SavedModel()
    with open(os.path.join(version_dir, "saved_model.pb"), "rb") as f:
        saved_model.ParseFromString(f.read())
    graph = saved_model.meta_graphs[0].graph_def
    nodes = list(graph.node)
    for function in graph.library.function:
        nodes.extend(function.node_def)
    return {
        types_pb2.DataType.Name(value.type)
        for node in nodes
        for value in node.attr.values()
        if value.type
    }


@pytest.fixture(scope="module")
def exported(tokenizer, tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = tiny_classifier(tokenizer)
    base_path = str(tmp_path_factory.mktemp("serving") / "sentiment")
    version_dir = export_for_serving(model, base_path, warmup_texts=WARMUP_TEXTS)
    expected = {
        name: keras_probabilities(model, tf.constant(texts))
        for name, texts in BATCHES.items()
    }
    # And once through `predict`, the path that tokenizes in a tf.data map.
    predicted = model.predict(BATCHES["batch_37"], batch_size=37, verbose=0)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(keras.ops.softmax(predicted)),
        expected["batch_37"],
        atol=ATOL,
    )
    return types.SimpleNamespace(
        model=model, base_path=base_path, version_dir=version_dir, expected=expected
    )


def test_layout_is_tf_servings(exported):
    assert exported.version_dir == os.path.join(exported.base_path, "1")
    assert sorted(os.listdir(exported.base_path)) == ["1"]
    entries = set(os.listdir(exported.version_dir))
    assert {"saved_model.pb", "variables", "assets", "assets.extra"} <= entries
    assert os.listdir(os.path.join(exported.version_dir, "variables"))
    with open(os.path.join(exported.version_dir, "assets", LABELS_FILE)) as f:
        assert f.read().splitlines() == LABELS
    assert os.path.isfile(os.path.join(exported.version_dir, WARMUP_FILE))


@pytest.mark.parametrize("mode", ["tensorflow_text", "kernels_only"])
def test_fresh_process_matches_keras_model(exported, mode, tmp_path):
    # The client runs with keras_hub and tftransformer made unimportable, and
    # in "kernels_only" Keras and TF Text's Python code too.
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    env.pop("PYTHONPATH", None)
    process = fork_server.run(
        [*python_command(), CLIENT, exported.version_dir, mode],
        input=json.dumps(list(BATCHES.values())),
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=300,
        # "kernels_only" blocks Keras, which `import tensorflow` loads.
        preload=None if mode == "kernels_only" else "tensorflow",
    )
    assert process.returncode == 0, process.stderr[-3000:]
    answer = json.loads(process.stdout.strip().splitlines()[-1])
    assert answer["blocked_modules_loaded"] == []
    for name, result in zip(BATCHES, answer["results"]):
        expected = exported.expected[name]
        assert result["probabilities_dtype"] == "float32"
        np.testing.assert_allclose(
            result["probabilities"], expected, atol=ATOL, err_msg=name
        )
        assert result["label_id"] == np.argmax(expected, axis=-1).tolist()
        assert result["label"] == [LABELS[i] for i in result["label_id"]]


@pytest.mark.parametrize(
    "text, shape", [([["a fine film"], ["dull"]], "[2,1]"), ("a fine film", "[]")]
)
def test_a_request_that_is_not_a_batch_of_strings_is_refused(exported, text, shape):
    # The signature declares (None,), which a loaded model does not enforce:
    # a column was flattened into as many rows, a scalar read as one.
    with pytest.raises(tf.errors.InvalidArgumentError, match=re.escape(shape)):
        serve(exported.version_dir)(text=tf.constant(text))


def test_saved_model_cli_lists_signature(exported):
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    command = (
        [cli]
        if os.path.isfile(cli)
        else [sys.executable, "-m", "tensorflow.python.tools.saved_model_cli"]
    )
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": ""}
    process = subprocess.run(
        command + ["show", "--all", "--dir", exported.version_dir],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert process.returncode == 0, process.stderr[-3000:]
    listing = process.stdout
    signature = listing[listing.index("signature_def['serving_default']") :]
    for kind, name, dtype, shape in [
        ("inputs", "text", "DT_STRING", "(-1)"),
        ("outputs", "probabilities", "DT_FLOAT", "(-1, 3)"),
        ("outputs", "label", "DT_STRING", "(-1)"),
        ("outputs", "label_id", "DT_INT64", "(-1)"),
    ]:
        pattern = rf"{kind}\['{name}'\] tensor_info:\s+dtype: {dtype}\s+shape: "
        assert re.search(pattern + re.escape(shape), signature), (name, listing)
    assert "Method name is: tensorflow/serving/predict" in signature


def check_response(outputs, batch_size):
    assert set(outputs) == {"probabilities", "label", "label_id"}
    assert outputs["probabilities"].dtype == tf.float32
    assert outputs["probabilities"].shape == (batch_size, len(LABELS))
    assert outputs["label"].dtype == tf.string
    assert outputs["label"].shape == (batch_size,)
    assert outputs["label_id"].dtype == tf.int64
    assert outputs["label_id"].shape == (batch_size,)
    labels = [label.decode() for label in outputs["label"].numpy()]
    assert set(labels) <= set(LABELS)
    assert labels == [LABELS[i] for i in outputs["label_id"].numpy()]
    np.testing.assert_allclose(outputs["probabilities"].numpy().sum(-1), 1, atol=ATOL)


def test_rest_and_grpc_request_formats_convert_to_the_signature_inputs(exported):
    # Request-format conversion only: no TF Serving binary installs here, so
    # the requests are converted as the server converts them and fed to the
    # signature in this process.
    signature = serve(exported.version_dir)
    assert list(signature.structured_input_signature[1]) == ["text"]
    expected = keras_probabilities(
        exported.model, tf.constant(["great movie", "boring"])
    )

    # REST, row format: with a single named input, each instance is one value
    # of that input.
    body = json.loads('{"instances": ["great movie", "boring"]}')
    rest = signature(text=tf.constant(body["instances"]))
    check_response(rest, 2)
    np.testing.assert_allclose(rest["probabilities"], expected, atol=ATOL)
    # TF Serving answers in the same row format, one object per instance.
    predictions = [
        {
            "probabilities": rest["probabilities"][i].numpy().tolist(),
            "label": rest["label"][i].numpy().decode(),
            "label_id": int(rest["label_id"][i]),
        }
        for i in range(2)
    ]
    response = json.loads(json.dumps({"predictions": predictions}))
    assert [row["label"] for row in response["predictions"]] == [
        LABELS[row["label_id"]] for row in response["predictions"]
    ]

    # gRPC: a PredictRequest with a `text` TensorProto, through the wire format.
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "sentiment"
    request.model_spec.signature_name = "serving_default"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(["great movie", "boring"]))
    request = predict_pb2.PredictRequest.FromString(request.SerializeToString())
    inputs = {
        name: tf.constant(tf.make_ndarray(proto))
        for name, proto in request.inputs.items()
    }
    grpc = signature(**inputs)
    check_response(grpc, 2)
    np.testing.assert_allclose(grpc["probabilities"], expected, atol=ATOL)
    # An empty request answers with empty outputs.
    check_response(signature(text=tf.constant([], dtype=tf.string)), 0)
    grpc_response = predict_pb2.PredictResponse()
    for name, value in grpc.items():
        grpc_response.outputs[name].CopyFrom(tf.make_tensor_proto(value.numpy()))
    assert grpc_response.outputs["label_id"].dtype == types_pb2.DT_INT64


def test_warmup_requests_replay(exported):
    requests = read_warmup_requests(exported.version_dir)
    texts = [
        [text.decode() for text in tf.make_ndarray(request.inputs["text"])]
        for request in requests
    ]
    assert texts == [["great movie"], ["boring"], WARMUP_TEXTS]
    signature = serve(exported.version_dir)
    for request in requests:
        assert request.model_spec.name == "sentiment"
        assert request.model_spec.signature_name == "serving_default"
        # TF Serving replays each request on the loaded version.
        batch = tf.make_ndarray(request.inputs["text"])
        check_response(signature(text=tf.constant(batch)), len(batch))


def test_versions_increment_and_are_not_overwritten(exported, tmp_path):
    base_path = str(tmp_path / "sentiment")
    shutil.copytree(exported.version_dir, os.path.join(base_path, "3"))
    with pytest.raises(FileExistsError, match="Version 3"):
        export_for_serving(exported.model, base_path, version=3)
    version_dir = export_for_serving(exported.model, base_path)
    assert version_dir == os.path.join(base_path, "4")
    assert not os.path.exists(os.path.join(version_dir, WARMUP_FILE))
    assert sorted(os.listdir(base_path)) == ["3", "4"]


def test_a_fitted_temperature_scales_the_served_probabilities(tokenizer, tmp_path):
    model = tiny_classifier(tokenizer)
    model.temperature = 0.25
    texts = tf.constant(BATCHES["empty_strings"])
    logits = model(model.preprocessor(x=texts), training=False)
    outputs = serve(export_for_serving(model, tmp_path))(text=texts)
    np.testing.assert_allclose(
        outputs["probabilities"],
        keras.ops.convert_to_numpy(keras.ops.softmax(logits / 0.25)),
        atol=ATOL,
    )


def test_sentence_pairs(tokenizer, tmp_path):
    model = tiny_classifier(tokenizer)
    firsts = ["great movie", "", LONG_TEXT]
    seconds = ["a dull mess", "boring", LONG_TEXT]
    version_dir = export_for_serving(
        model,
        tmp_path,
        warmup_texts=[("great movie", "a fine film")],
        text_pair=True,
    )
    signature = serve(version_dir)
    assert sorted(signature.structured_input_signature[1]) == ["text", "text_pair"]
    outputs = signature(text=tf.constant(firsts), text_pair=tf.constant(seconds))
    check_response(outputs, 3)
    expected = keras_probabilities(model, (tf.constant(firsts), tf.constant(seconds)))
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=ATOL)
    request = read_warmup_requests(version_dir)[0]
    assert sorted(request.inputs) == ["text", "text_pair"]
    # TF Serving does not compare input sizes: the signature must.
    for texts, pairs in ((2, 3), (3, 2), (3, 1)):
        with pytest.raises(tf.errors.InvalidArgumentError, match="same number"):
            signature(
                text=tf.constant(["a fine film"] * texts),
                text_pair=tf.constant(["dull"] * pairs),
            )
    # Each a 1-D batch: a (2, 2) text passed the size check beside 4 pairs.
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"text \[2,2\]"):
        signature(
            text=tf.constant([["a", "b"], ["c", "d"]]),
            text_pair=tf.constant(["w", "x", "y", "z"]),
        )


def test_mixed_bfloat16_model_from_strategy_exports_float32(tokenizer, tmp_path):
    # Built as it is trained on accelerators: a mixed policy, under a strategy.
    with tf.distribute.MirroredStrategy(["/cpu:0"]).scope():
        mixed = tiny_classifier(tokenizer, dtype="mixed_bfloat16")
    assert mixed.backbone.compute_dtype == "bfloat16"
    float32 = tiny_classifier(tokenizer)
    float32.set_weights(mixed.get_weights())
    texts = tf.constant(BATCHES["batch_37"])

    version_dir = export_for_serving(mixed, tmp_path)
    assert "DT_BFLOAT16" not in graph_dtypes(version_dir)
    outputs = serve(version_dir)(text=texts)
    assert outputs["probabilities"].dtype == tf.float32
    np.testing.assert_allclose(
        outputs["probabilities"], keras_probabilities(float32, texts), atol=ATOL
    )
    # bfloat16 keeps 8 bits of mantissa: the mixed model itself is close.
    np.testing.assert_allclose(
        outputs["probabilities"], keras_probabilities(mixed, texts), atol=2e-2
    )


def test_lora_adapters_are_merged(tokenizer, tmp_path):
    model = tiny_classifier(tokenizer)
    model.backbone.enable_lora(rank=2)
    lora_b = [v for v in model.weights if "lora_kernel_b" in v.path]
    assert lora_b
    rng = np.random.default_rng(0)
    for variable in lora_b:
        # Non-zero adapters, so that merging them changes the outputs.
        variable.assign(rng.normal(0, 0.5, variable.shape).astype("float32"))
    texts = tf.constant(BATCHES["over_max_length"] + BATCHES["batch_1"])
    expected = keras_probabilities(model, texts)

    with pytest.raises(ValueError, match="LoRA"):
        export_for_serving(model, tmp_path, merge_lora=False)
    version_dir = export_for_serving(model, tmp_path)
    loaded = tf.saved_model.load(version_dir)
    names = [v.name for v in loaded.model_variables]
    assert names and not [name for name in names if "lora" in name]
    outputs = loaded.signatures["serving_default"](text=texts)
    np.testing.assert_allclose(outputs["probabilities"], expected, atol=ATOL)
    # The export left the model's adapters alone; merging them in place with
    # the fine-tuning API gives the same model.
    assert has_lora(model)
    merge_lora(model)
    np.testing.assert_allclose(
        outputs["probabilities"], keras_probabilities(model, texts), atol=ATOL
    )


def test_keras_hub_classifier_with_softmax_and_default_labels(tokenizer, tmp_path):
    backbone = tiny_bert_backbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=1
    )
    preprocessor = keras_hub.models.BertTextClassifierPreprocessor(
        tokenizer, sequence_length=SEQUENCE_LENGTH
    )
    model = keras_hub.models.BertTextClassifier(
        backbone, num_classes=2, preprocessor=preprocessor, activation="softmax"
    )
    texts = tf.constant(BATCHES["over_max_length"])
    version_dir = export_for_serving(model, tmp_path)
    outputs = serve(version_dir)(text=texts)
    np.testing.assert_allclose(
        outputs["probabilities"], keras_probabilities(model, texts), atol=ATOL
    )
    labels = {label.decode() for label in outputs["label"].numpy()}
    assert labels <= {"0", "1"}


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"label_names": ["a", "b"]}, "label_names"),
        ({"warmup_texts": "great movie"}, "warmup_texts='great movie'"),
        ({"warmup_texts": [("a", "b")]}, "strings"),
        ({"text_pair": True, "warmup_texts": ["a"]}, "tuples"),
        ({"text_pair": "yes"}, "'yes'"),
        ({"version": -1}, "version=-1"),
        ({"overwrite": "no"}, "overwrite='no'"),
        ({"merge_lora": "no"}, "merge_lora='no'"),
        ({"model_name": 5}, "model_name"),
        ({"label_names": "ab"}, "label_names='ab'"),
        ({"label_names": ["a\nb", "c", "d"]}, "line breaks"),
    ],
)
def test_rejects_bad_arguments(exported, tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        export_for_serving(exported.model, tmp_path, **kwargs)
    assert os.listdir(tmp_path) == []


def test_refuses_a_single_logit(tokenizer, tmp_path):
    # A softmax over one logit answers 1.0 whatever the text.
    model = keras_hub.models.BertTextClassifier(
        tiny_classifier(tokenizer).backbone,
        num_classes=1,
        preprocessor=keras_hub.models.BertTextClassifierPreprocessor(
            tokenizer, sequence_length=SEQUENCE_LENGTH
        ),
    )
    with pytest.raises(ValueError, match=r"at least 2 classes.*\(None, 1\)"):
        export_for_serving(model, tmp_path)
    assert os.listdir(tmp_path) == []


def test_needs_a_text_preprocessor(tokenizer, tmp_path):
    model = tiny_classifier(tokenizer)
    model.preprocessor = None
    with pytest.raises(ValueError, match="preprocessor=None"):
        export_for_serving(model, tmp_path)
