"""TF Serving warmup requests: `<version>/assets.extra/tf_serving_warmup_requests`.

TF Serving replays these requests when it loads a version, before it reports
the version as available, so the first client requests do not pay for graph
optimization and kernel initialization. The file is a TFRecord of
`tensorflow.serving.PredictionLog` protos; the protos come from the
`tensorflow-serving-api` package (`pip install tensorflow-serving-api`,
the `serving` extra), imported only when warmup requests are written.
"""

import os
import types

import tensorflow as tf

from tftransformer.data._autotune import without_autotuning

__all__ = [
    "WARMUP_FILE",
    "make_predict_request",
    "read_warmup_requests",
    "write_warmup_requests",
]

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")
_INSTALL_HINT = (
    "Writing TF Serving warmup requests needs the `tensorflow-serving-api` "
    "package: `pip install tensorflow-serving-api==2.21.*` (or "
    "`pip install tftransformer[serving]`)."
)


def make_predict_request(inputs, model_name, signature_name="serving_default"):
    """Builds a TF Serving `PredictRequest` from named input values.

    Args:
        inputs: dict from input name to a value `tf.make_tensor_proto`
            accepts, e.g. `{"text": ["great movie", "boring"]}`.
        model_name: str, the model name TF Serving serves it under.
        signature_name: str, the signature to call.

    Returns:
        A `tensorflow_serving.apis.predict_pb2.PredictRequest`.

    Example:
    ```python
    request = make_predict_request({"text": ["great movie"]}, "sentiment")
    stub.Predict(request, timeout=5.0)  # with a gRPC PredictionServiceStub
    ```
    """
    predict_pb2 = _serving_apis().predict_pb2
    if not isinstance(inputs, dict) or not inputs:
        raise ValueError(
            "`inputs` must be a non-empty dict from input name to values. "
            f"Received: inputs={inputs!r}"
        )
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name, value in inputs.items():
        request.inputs[name].CopyFrom(tf.make_tensor_proto(value))
    return request


def write_warmup_requests(
    version_dir, requests, model_name, signature_name="serving_default"
):
    """Writes TF Serving warmup requests into an exported model version.

    Args:
        version_dir: str, the SavedModel directory (`<base_path>/<version>`).
        requests: non-empty list of dicts from input name to values, one
            `PredictRequest` each, e.g. `[{"text": ["great movie"]}]`.
        model_name: str, the model name recorded in each request.
        signature_name: str, the signature each request calls.

    Returns:
        str, the path of the written `tf_serving_warmup_requests` file.

    Example:
    ```python
    write_warmup_requests(
        "serving/sentiment/1", [{"text": ["great movie", "boring"]}], "sentiment"
    )
    ```
    """
    apis = _serving_apis()
    if not isinstance(requests, (list, tuple)) or not requests:
        raise ValueError(
            "`requests` must be a non-empty list of input dicts. "
            f"Received: requests={requests!r}"
        )
    path = os.path.join(version_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for inputs in requests:
            request = make_predict_request(inputs, model_name, signature_name)
            log = apis.prediction_log_pb2.PredictionLog(
                predict_log=apis.prediction_log_pb2.PredictLog(request=request)
            )
            writer.write(log.SerializeToString())
    return path


def read_warmup_requests(version_dir):
    """Reads back the warmup requests of an exported model version.

    Args:
        version_dir: str, the SavedModel directory (`<base_path>/<version>`).

    Returns:
        List of `tensorflow_serving.apis.predict_pb2.PredictRequest`.

    Example:
    ```python
    for request in read_warmup_requests("serving/sentiment/1"):
        print(tf.make_ndarray(request.inputs["text"]))
    ```
    """
    prediction_log_pb2 = _serving_apis().prediction_log_pb2
    path = os.path.join(version_dir, WARMUP_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No warmup requests in {version_dir!r}: {path}")
    requests = []
    for record in without_autotuning(tf.data.TFRecordDataset(path)).as_numpy_iterator():
        log = prediction_log_pb2.PredictionLog.FromString(record)
        requests.append(log.predict_log.request)
    return requests


def _serving_apis():
    try:
        from tensorflow_serving.apis import predict_pb2, prediction_log_pb2
    except ImportError as e:
        raise ImportError(_INSTALL_HINT) from e
    return types.SimpleNamespace(
        predict_pb2=predict_pb2, prediction_log_pb2=prediction_log_pb2
    )
