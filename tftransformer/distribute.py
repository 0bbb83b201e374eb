"""tftransformer.distribute: one training script for a CPU, GPUs, TPUs or workers.

`get_strategy` picks a `tf.distribute.Strategy` by name. Build the model,
optimizer and metrics inside `strategy.scope()`, batch the data with
`global_batch_size`, and `fit` as usual: Keras splits every batch over the
replicas and averages the gradients. When several workers train together,
each runs the same script; `is_chief`, `write_dir`, `cleanup_write_dir` and
`training_callbacks` keep them from writing over each other's files.
"""

import glob
import json
import numbers
import os
import threading

import tensorflow as tf

from tftransformer import _distribute_compat
from tftransformer._arguments import check_choice, check_positive_number
from tftransformer._warnings import warn

__all__ = [
    "STRATEGY_NAMES",
    "cleanup_write_dir",
    "get_strategy",
    "global_batch_size",
    "is_chief",
    "read_tf_config",
    "task_type",
    "write_dir",
]

STRATEGY_NAMES = ("auto", "default", "one_device", "mirrored", "multi_worker", "tpu")

# Environment variables that name a Cloud TPU to TPUClusterResolver.
_TPU_ENV_VARIABLES = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG")
# PCI vendor id of Google, the maker of the TPU chips of a TPU VM.
_GOOGLE_PCI_VENDOR = "0x1ae0"
_TF_CONFIG_EXAMPLE = (
    '{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
    '"task": {"type": "worker", "index": 0}}'
)


def get_strategy(name="auto", devices=None, tpu=None, tpu_timeout=30.0):
    """Returns the `tf.distribute.Strategy` a training run uses.

    - `"auto"`: a TPU if one is attached or named (see `"tpu"`; if it cannot
      be reached, a warning and the next choice), else `"multi_worker"` if
      `TF_CONFIG` describes a cluster of several tasks, else `"mirrored"`
      over all local GPUs if there is one, else `"default"`.
    - `"default"`: TensorFlow's default strategy: no distribution, ops on
      the first GPU if any.
    - `"one_device"`: everything on `devices[0]` (default: the first GPU, or
      the CPU).
    - `"mirrored"`: synchronous data parallelism over `devices` (default:
      all local GPUs, or the CPU). A process gets one
      `tf.distribute.MirroredStrategy` per set of devices: every call for
      the same devices returns it. Two of them in one process number their
      collective ops alike, and the second model's steps then fail with
      "Shape mismatch in the collective instance" (TensorFlow issue 62790),
      e.g. when a script's `run` trains twice or a notebook fits a second
      model.
    - `"multi_worker"`: synchronous data parallelism over several machines,
      `tf.distribute.MultiWorkerMirroredStrategy`. Every worker runs the
      same script with its own `TF_CONFIG` (see `read_tf_config`). Create it
      at the start of the program, before any other TensorFlow op runs.
    - `"tpu"`: `tf.distribute.TPUStrategy` on the TPU named by `tpu`, else
      the one attached to this machine (a TPU VM), else the one named by
      `TPU_NAME`, `KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS` or `TPU_CONFIG`.
      Resolving a named TPU asks the Cloud TPU API and the GCE metadata
      server; it gives up after `tpu_timeout` seconds.

    Args:
        name: one of `STRATEGY_NAMES`.
        devices: optional list of device names, e.g. `["/gpu:0", "/gpu:1"]`,
            for `"one_device"` (exactly one) and `"mirrored"`.
        tpu: optional TPU name, `"grpc://host:port"` address or `"local"`,
            for `"tpu"` and `"auto"`.
        tpu_timeout: float > 0, seconds allowed to resolve a TPU.

    Returns:
        A `tf.distribute.Strategy`.

    Raises:
        ValueError: for an unknown `name`, `devices` or `tpu` given to a
            strategy that takes none, a missing or malformed `TF_CONFIG` for
            `"multi_worker"`, or no TPU for `"tpu"`.
        RuntimeError: if resolving the TPU fails or takes longer than
            `tpu_timeout`.

    Example:
    ```python
    strategy = tftransformer.distribute.get_strategy("mirrored")
    with strategy.scope():
        classifier = tftransformer.models.TextClassifier(backbone, num_classes=2)
        classifier.compile(optimizer=..., loss=..., metrics=["accuracy"])
    batch_size = tftransformer.distribute.global_batch_size(32, strategy)
    ```
    """
    check_choice("name", name, STRATEGY_NAMES)
    if devices is not None:
        if name not in ("one_device", "mirrored"):
            raise ValueError(
                "devices applies to name='one_device' or 'mirrored' only. "
                f"Received: name={name!r}, devices={devices!r}"
            )
        if (
            isinstance(devices, str)
            or not devices
            or not all(isinstance(device, str) for device in devices)
        ):
            raise ValueError(
                "devices must be a non-empty list of device names such as "
                f"['/gpu:0', '/gpu:1']. Received: devices={devices!r}"
            )
        if name == "one_device" and len(devices) != 1:
            raise ValueError(
                "name='one_device' takes exactly one device. "
                f"Received: devices={devices!r}"
            )
    if tpu is not None and name not in ("auto", "tpu"):
        raise ValueError(
            "tpu applies to name='auto' or 'tpu' only. "
            f"Received: name={name!r}, tpu={tpu!r}"
        )
    check_positive_number("tpu_timeout", tpu_timeout)

    strategy = _make_strategy(name, devices, tpu, tpu_timeout)
    if strategy is not tf.distribute.get_strategy():
        # Keras 3's `fit` needs small fixes under distributing strategies.
        _distribute_compat.install()
    return strategy


def _make_strategy(name, devices, tpu, tpu_timeout):
    if name == "auto":
        if tpu is not None or _local_tpu_present() or _tpu_named_in_environment():
            try:
                return _tpu_strategy(tpu, tpu_timeout)
            except (ValueError, RuntimeError, tf.errors.OpError) as error:
                warn(f"Not using a TPU: {error}")
        config = read_tf_config(required=False)
        if config is not None and _num_tasks(config["cluster"]) > 1:
            return tf.distribute.MultiWorkerMirroredStrategy()
        if tf.config.list_physical_devices("GPU"):
            return _mirrored_strategy(None)
        return tf.distribute.get_strategy()
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "one_device":
        if devices is None:
            devices = ["/gpu:0" if tf.config.list_physical_devices("GPU") else "/cpu:0"]
        return tf.distribute.OneDeviceStrategy(devices[0])
    if name == "mirrored":
        return _mirrored_strategy(devices)
    if name == "multi_worker":
        read_tf_config(required=True)
        return tf.distribute.MultiWorkerMirroredStrategy()
    return _tpu_strategy(tpu, tpu_timeout)


# Device names (canonical, in order) or None (all local GPUs) -> the
# process's MirroredStrategy over them (see get_strategy).
_MIRRORED_STRATEGIES = {}


def _mirrored_strategy(devices):
    key = None
    if devices is not None:
        key = tuple(tf.DeviceSpec.from_string(d).to_string() for d in devices)
    if key not in _MIRRORED_STRATEGIES:
        _MIRRORED_STRATEGIES[key] = tf.distribute.MirroredStrategy(devices)
    return _MIRRORED_STRATEGIES[key]


def read_tf_config(required=True):
    """Returns the cluster description in the `TF_CONFIG` environment variable.

    `TF_CONFIG` is JSON naming every task of the cluster and this process'
    own task, the same cluster on every worker and a different task index:

    ```
    {"cluster": {"worker": ["host1:12345", "host2:12345"]},
     "task": {"type": "worker", "index": 0}}
    ```

    Args:
        required: whether a missing `TF_CONFIG` is an error; if not, `None`
            is returned for it.

    Returns:
        The parsed dict, or `None` when `TF_CONFIG` is unset and not
        `required`.

    Raises:
        ValueError: if `TF_CONFIG` is missing (and `required`), not JSON, or
            does not name a cluster of `"host:port"` addresses and a task
            in it.

    Example:
    ```python
    config = read_tf_config()
    config["task"]  # {"type": "worker", "index": 0}
    ```
    """
    raw = os.environ.get("TF_CONFIG", "")
    if not raw.strip():
        if not required:
            return None
        raise ValueError(
            "Multi-worker training reads the cluster from the TF_CONFIG "
            "environment variable, which is not set. Set it on every worker, "
            f"with that worker's task index, e.g. TF_CONFIG='{_TF_CONFIG_EXAMPLE}'"
        )
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"TF_CONFIG must be JSON such as '{_TF_CONFIG_EXAMPLE}'. "
            f"Received: TF_CONFIG={raw!r} ({error})"
        ) from None
    cluster = config.get("cluster") if isinstance(config, dict) else None
    if (
        not isinstance(cluster, dict)
        or not ("worker" in cluster or "chief" in cluster)
        or not all(
            isinstance(addresses, list)
            and addresses
            and all(isinstance(a, str) and ":" in a for a in addresses)
            for addresses in cluster.values()
        )
    ):
        raise ValueError(
            'TF_CONFIG must have a "cluster" mapping "worker" (and optionally '
            '"chief") to lists of "host:port" addresses, e.g. '
            f"'{_TF_CONFIG_EXAMPLE}'. Received: TF_CONFIG={raw!r}"
        )
    task = config.get("task")
    task_type = task.get("type") if isinstance(task, dict) else None
    index = task.get("index") if isinstance(task, dict) else None
    if (
        task_type not in cluster
        or isinstance(index, bool)
        or not isinstance(index, int)
        or not 0 <= index < len(cluster[task_type])
    ):
        raise ValueError(
            'TF_CONFIG must have a "task" with a "type" among the cluster\'s '
            f'jobs {sorted(cluster)} and an "index" into that job\'s list. '
            f"Received: TF_CONFIG={raw!r}"
        )
    return config


def global_batch_size(per_replica_batch_size, strategy=None):
    """Returns the batch size to give `fit` so each replica gets its share.

    Keras splits each batch of a distributed run over all replicas (GPUs,
    TPU cores, workers), so the batch of the data set is the global batch.

    Args:
        per_replica_batch_size: int > 0, the examples each replica
            processes per step.
        strategy: a `tf.distribute.Strategy`; defaults to the current one.

    Returns:
        An int, `per_replica_batch_size * strategy.num_replicas_in_sync`.

    Example:
    ```python
    strategy = get_strategy("mirrored")  # on a machine with 4 GPUs
    global_batch_size(32, strategy)  # 128
    ```
    """
    if (
        isinstance(per_replica_batch_size, bool)
        or not isinstance(per_replica_batch_size, numbers.Integral)
        or per_replica_batch_size <= 0
    ):
        raise ValueError(
            "per_replica_batch_size must be an int > 0. Received: "
            f"per_replica_batch_size={per_replica_batch_size!r}"
        )
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.Strategy):
        raise ValueError(
            "strategy must be a tf.distribute.Strategy (see get_strategy, which "
            f"takes its name). Received: strategy={strategy!r}"
        )
    return int(per_replica_batch_size) * strategy.num_replicas_in_sync


def is_chief(strategy=None):
    """Returns whether this process writes the run's files.

    In a multi-worker cluster the chief is the task of type `"chief"`, or
    worker 0 when the cluster has no chief job. Every other strategy runs
    in one process, which is the chief.

    Args:
        strategy: a `tf.distribute.Strategy`; defaults to the current one.

    Returns:
        A bool.

    Example:
    ```python
    if is_chief(strategy):
        write_report(report, model_dir)
    ```
    """
    task_type, task_id, jobs = _task(strategy)
    if task_type is None:
        return True
    if "chief" in jobs:
        return task_type == "chief"
    return task_type == "worker" and task_id == 0


def write_dir(model_dir, strategy=None):
    """Returns the directory this process writes its checkpoints and logs to.

    Every worker of a multi-worker run must save (saving may take part in
    collective operations), but only the chief's files are kept: the
    chief writes to `model_dir`, any other worker to a temporary
    `model_dir/workertemp_{task_type}_{task_id}` that `cleanup_write_dir`
    removes, as in TensorFlow's multi-worker Keras tutorial.

    Args:
        model_dir: the run's directory, a local path or a `gs://` URL.
        strategy: a `tf.distribute.Strategy`; defaults to the current one.

    Returns:
        A path string; the directory exists.

    Example:
    ```python
    model.save(os.path.join(write_dir(model_dir, strategy), "model.keras"))
    cleanup_write_dir(model_dir, strategy)
    ```
    """
    path = _write_path(model_dir, strategy)
    tf.io.gfile.makedirs(path)
    return path


def cleanup_write_dir(model_dir, strategy=None):
    """Removes the temporary directory `write_dir` gave a non-chief worker.

    Does nothing on the chief.

    Args:
        model_dir: the run's directory, as given to `write_dir`.
        strategy: a `tf.distribute.Strategy`; defaults to the current one.

    Example:
    ```python
    model.fit(train, epochs=3, callbacks=training_callbacks(model_dir, strategy))
    cleanup_write_dir(model_dir, strategy)
    ```
    """
    if is_chief(strategy):
        return
    path = _write_path(model_dir, strategy)
    if tf.io.gfile.exists(path):
        tf.io.gfile.rmtree(path)


def task_type(strategy=None):
    """Returns the multi-worker task type (`"chief"`, `"worker"`, ...) or None.

    None for strategies running in one process.
    """
    return _task(strategy)[0]


def _task(strategy):
    """Returns `(task_type, task_id, job_names)` of a multi-worker task.

    `(None, None, ())` for strategies running in one process.
    """
    strategy = strategy or tf.distribute.get_strategy()
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return None, None, ()
    resolver = strategy.cluster_resolver
    if resolver is None or resolver.task_type is None:
        return None, None, ()
    jobs = tuple(resolver.cluster_spec().as_dict())
    return resolver.task_type, resolver.task_id, jobs


def _write_path(model_dir, strategy):
    model_dir = os.fspath(model_dir)
    if is_chief(strategy):
        return model_dir
    task_type, task_id, _ = _task(strategy)
    return os.path.join(model_dir, f"workertemp_{task_type}_{task_id}")


def _num_tasks(cluster):
    return sum(len(addresses) for addresses in cluster.values())


def _local_tpu_present():
    # TPU VMs expose their chips as /dev/accel* (v2-v4) or as PCI devices
    # of Google's vendor id (v5 and later, through VFIO).
    if glob.glob("/dev/accel*"):
        return True
    for vendor_file in glob.glob("/sys/bus/pci/devices/*/vendor"):
        try:
            with open(vendor_file) as f:
                if f.read().strip() == _GOOGLE_PCI_VENDOR:
                    return True
        except OSError:
            continue
    return False


def _tpu_named_in_environment():
    return any(os.environ.get(name) for name in _TPU_ENV_VARIABLES)


def _resolve_tpu(tpu, timeout):
    """Returns a `TPUClusterResolver`, failing within `timeout` seconds.

    A named TPU is resolved through the GCE metadata server and the Cloud
    TPU API, with no timeout of their own: off Google Cloud the lookup can
    hang, so it runs in a daemon thread that is abandoned after `timeout`.
    """
    if tpu is None:
        if _local_tpu_present():
            tpu = "local"
        elif not _tpu_named_in_environment():
            raise ValueError(
                "No TPU found: this machine has no TPU device and none of "
                f"{', '.join(_TPU_ENV_VARIABLES)} is set. On a Cloud TPU VM the "
                "TPU is found by itself; otherwise pass tpu='NAME' or "
                "'grpc://host:port', or pick another strategy name."
            )
    result = {}

    def resolve():
        try:
            resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
            # For a named TPU this asks the Cloud TPU API for its workers.
            resolver.cluster_spec()
            result["resolver"] = resolver
        except Exception as error:  # Reported below, in the calling thread.
            result["error"] = error

    thread = threading.Thread(target=resolve, name="resolve-tpu", daemon=True)
    thread.start()
    thread.join(timeout)
    described = "the attached TPU" if tpu in (None, "local") else f"tpu={tpu!r}"
    if thread.is_alive():
        raise RuntimeError(
            f"Could not resolve {described} within tpu_timeout={timeout}s: the "
            "GCE metadata server or the Cloud TPU API did not answer. Off Google "
            "Cloud, pass the TPU's address as tpu='grpc://host:port'."
        )
    if "error" in result:
        error = result["error"]
        raise RuntimeError(
            f"Could not resolve {described}: {type(error).__name__}: {error}"
        ) from error
    return result["resolver"]


def _tpu_strategy(tpu, timeout):
    resolver = _resolve_tpu(tpu, timeout)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)
