"""`get_strategy` names and errors, and the single-process helpers."""

import json
import os
import socket
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.fast_exit import python_command
from tftransformer import distribute, hardware, training
from tftransformer._onednn import machine_is_x86
from tftransformer.distribute import _local_tpu_present
from tftransformer.training.checkpointing import BACKUP_DIR

TPU_VARIABLES = ("TPU_NAME", "KUBE_GOOGLE_CLOUD_TPU_ENDPOINTS", "TPU_CONFIG")


@pytest.fixture
def no_cluster(monkeypatch):
    """No TF_CONFIG and no TPU named in the environment."""
    for name in ("TF_CONFIG",) + TPU_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def silent_metadata_server(monkeypatch):
    """A GCE metadata server on 127.0.0.1 that accepts and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{server.getsockname()[1]}")
    yield
    # Closing resets the pending connections: the abandoned lookup ends.
    server.close()


def test_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="one of .*'mirrored'.*Received: name='gpu'"):
        distribute.get_strategy("gpu")


@pytest.mark.parametrize(
    "name, devices, message",
    [
        ("default", ["/cpu:0"], "devices applies to"),
        ("mirrored", "/cpu:0", "non-empty list"),
        ("mirrored", [], "non-empty list"),
        ("one_device", ["/cpu:0", "/cpu:1"], "exactly one device"),
    ],
)
def test_bad_devices_are_rejected(name, devices, message):
    with pytest.raises(ValueError, match=message):
        distribute.get_strategy(name, devices=devices)


def test_tpu_is_only_for_tpu_strategies():
    with pytest.raises(ValueError, match="tpu applies to"):
        distribute.get_strategy("mirrored", tpu="my-tpu")


def test_bad_tpu_timeout_is_rejected():
    with pytest.raises(ValueError, match="tpu_timeout must be a finite number > 0"):
        distribute.get_strategy("tpu", tpu_timeout=0)


def test_single_process_strategies(no_cluster):
    assert distribute.get_strategy("default") is tf.distribute.get_strategy()
    one_device = distribute.get_strategy("one_device", devices=["/cpu:0"])
    assert isinstance(one_device, tf.distribute.OneDeviceStrategy)
    mirrored = distribute.get_strategy("mirrored", devices=["/cpu:0"])
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert mirrored.num_replicas_in_sync == 1
    # One per process and set of devices, however they are spelled: a
    # second one's collective ops would collide with the first one's.
    assert distribute.get_strategy("mirrored", devices=["/CPU:0"]) is mirrored
    assert distribute.get_strategy("mirrored", devices=["/device:CPU:0"]) is mirrored


@pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")) or _local_tpu_present(),
    reason="auto picks the accelerator",
)
def test_auto_without_accelerator_or_cluster_is_the_default(no_cluster):
    assert distribute.get_strategy("auto") is tf.distribute.get_strategy()


@pytest.mark.parametrize(
    "tf_config, message",
    [
        (None, "TF_CONFIG environment variable, which is not set"),
        ("{cluster: worker}", "TF_CONFIG must be JSON"),
        ('{"task": {"type": "worker", "index": 0}}', 'must have a "cluster"'),
        (
            '{"cluster": {"worker": ["127.0.0.1"]}, "task": {"type": "worker", '
            '"index": 0}}',
            '"host:port" addresses',
        ),
        (
            '{"cluster": {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}, '
            '"task": {"type": "worker", "index": 2}}',
            'an "index" into',
        ),
        (
            '{"cluster": {"worker": ["127.0.0.1:1"]}, "task": {"type": "ps", '
            '"index": 0}}',
            "jobs \\['worker'\\]",
        ),
    ],
)
def test_multi_worker_needs_a_valid_tf_config(
    no_cluster, monkeypatch, tf_config, message
):
    if tf_config is not None:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    with pytest.raises(ValueError, match=message) as error:
        distribute.get_strategy("multi_worker")
    if tf_config is not None:
        assert tf_config in str(error.value)


def test_read_tf_config(no_cluster, monkeypatch):
    assert distribute.read_tf_config(required=False) is None
    config = {
        "cluster": {"chief": ["h0:1"], "worker": ["h1:1", "h2:1"]},
        "task": {"type": "worker", "index": 1},
    }
    monkeypatch.setenv("TF_CONFIG", json.dumps(config))
    assert distribute.read_tf_config() == config


@pytest.mark.skipif(_local_tpu_present(), reason="this machine has a TPU")
def test_tpu_fails_fast_without_a_tpu(no_cluster):
    with pytest.raises(ValueError, match="No TPU found.*TPU_NAME"):
        distribute.get_strategy("tpu")


def test_tpu_lookup_is_bounded_when_the_metadata_server_hangs(
    no_cluster, silent_metadata_server
):
    with pytest.raises(RuntimeError, match="within tpu_timeout=0.5s"):
        distribute.get_strategy("tpu", tpu="my-tpu", tpu_timeout=0.5)


@pytest.mark.skipif(
    bool(tf.config.list_physical_devices("GPU")), reason="auto picks the GPUs"
)
def test_auto_falls_back_when_the_named_tpu_cannot_be_reached(
    no_cluster, silent_metadata_server, monkeypatch
):
    monkeypatch.setenv("TPU_NAME", "my-tpu")
    with pytest.warns(UserWarning, match="Not using a TPU"):
        strategy = distribute.get_strategy("auto", tpu_timeout=0.5)
    assert strategy is tf.distribute.get_strategy()


def test_global_batch_size():
    assert distribute.global_batch_size(16) == 16
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert distribute.global_batch_size(16, mirrored) == 16
    for bad in (0, -2, 2.0, True, None):
        with pytest.raises(ValueError, match="per_replica_batch_size must be"):
            distribute.global_batch_size(bad)
    with pytest.raises(ValueError, match="strategy='mirrored'"):
        distribute.global_batch_size(16, "mirrored")


def test_single_process_is_chief_and_writes_to_model_dir(tmp_path):
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    assert distribute.is_chief() and distribute.is_chief(strategy)
    model_dir = tmp_path / "run"
    assert distribute.write_dir(model_dir, strategy) == str(model_dir)
    assert model_dir.is_dir()
    distribute.cleanup_write_dir(model_dir, strategy)
    assert model_dir.is_dir()


def test_the_chief_checkpoints_into_model_dir(tmp_path):
    callbacks = training.training_callbacks(tmp_path, tensorboard=False)
    (resumable,) = [c for c in callbacks if isinstance(c, training.ResumableTraining)]
    assert not resumable.read_only
    assert resumable.directory == os.path.join(str(tmp_path), BACKUP_DIR)


def test_a_worker_budget_reads_the_time_of_its_restore_only_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(distribute, "is_chief", lambda strategy=None: False)
    callbacks = training.training_callbacks(
        tmp_path, tensorboard=False, max_train_minutes=5
    )
    (resumable,) = [c for c in callbacks if isinstance(c, training.ResumableTraining)]
    (budget,) = [c for c in callbacks if isinstance(c, training.TimeBudget)]
    assert resumable.read_only
    assert budget.resumable is resumable
    # Before the checkpoint, which then records its stop.
    assert [type(c) for c in callbacks] == [
        training.StopOnNonFiniteLoss,
        keras.callbacks.EarlyStopping,
        training.TimeBudget,
        training.EpochWeightsCheckpoint,
        training.ResumableTraining,
    ]


class _PoisonAtEpochEnd(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        kernel = self.model.layers[0].kernel
        kernel.assign(np.full(kernel.shape, np.nan, "float32"))


def test_a_worker_stops_on_non_finite_weights_as_the_chief_does(tmp_path):
    # The chief refuses to checkpoint them; a worker that trained on would
    # wait for the departed chief in its next all-reduce.
    x = np.ones((4, 3), "float32")
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(keras.optimizers.SGD(0.1), "mse")
    worker = training.ResumableTraining(tmp_path / "chief_backup", read_only=True)
    with pytest.raises(FloatingPointError, match="non-finite"):
        model.fit(
            x, x[:, :1], epochs=2, verbose=0, callbacks=[_PoisonAtEpochEnd(), worker]
        )
    assert not (tmp_path / "chief_backup").exists()


class _Interrupt(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            raise KeyboardInterrupt


def test_a_worker_resumes_from_the_chief_checkpoint_without_writing(tmp_path):
    x = np.random.default_rng(0).normal(size=(8, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)

    def model():
        m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        m.compile(keras.optimizers.SGD(0.1), "mse")
        return m

    chief_callbacks = training.training_callbacks(
        tmp_path / "chief", monitor="loss", mode="min", tensorboard=False
    )
    chief = model()
    with pytest.raises(KeyboardInterrupt):
        chief.fit(x, y, epochs=3, verbose=0, callbacks=chief_callbacks + [_Interrupt()])
    backup_dir = str(tmp_path / "chief" / BACKUP_DIR)
    files = sorted(os.listdir(backup_dir))
    stamps = [os.path.getmtime(os.path.join(backup_dir, f)) for f in files]

    (chief_resumable,) = [
        c for c in chief_callbacks if isinstance(c, training.ResumableTraining)
    ]
    worker_resumable = training.ResumableTraining(
        backup_dir,
        early_stopping=chief_resumable.early_stopping,
        run_config=chief_resumable.run_config,
        read_only=True,
    )
    assert worker_resumable.read_only
    worker = model()
    worker.fit(x, y, epochs=3, verbose=0, callbacks=[worker_resumable])
    # Resumed after epoch 1 with the chief's weights, and left its file alone.
    assert len(worker.history.history["loss"]) == 3
    assert sorted(os.listdir(backup_dir)) == files
    assert [os.path.getmtime(os.path.join(backup_dir, f)) for f in files] == stamps


# Precision support. The device readers are replaced: these tests describe
# machines other than the one they run on.

AVX2_CPU = ["processor\t: 0", "model name\t: AMD EPYC", "flags\t\t: fpu sse avx2 fma"]


def _cpu(monkeypatch, lines):
    monkeypatch.setattr(hardware, "_cpu_info_lines", lambda: lines)
    monkeypatch.setattr(hardware, "_compute_device_kind", lambda strategy: "CPU")


@pytest.mark.parametrize(
    "flags, precision, emulated",
    [
        ("fpu avx2 fma", "bfloat16", True),
        ("fpu avx2 fma", "mixed_float16", True),
        ("avx2 avx512f avx512_bf16", "mixed_bfloat16", False),
        ("avx2 avx512f avx512_bf16", "float16", True),
        ("avx2 amx_bf16 amx_tile", "bfloat16", False),
        ("avx2 avx512_fp16 amx_fp16", "float16", False),
    ],
)
def test_precision_warning_reads_the_cpu_flags(monkeypatch, flags, precision, emulated):
    _cpu(monkeypatch, ["model name\t: Some CPU", f"flags\t\t: {flags}"])
    message = hardware.precision_warning(precision)
    if emulated:
        name = precision.removeprefix("mixed_")
        assert message.startswith(f"{name} on this CPU (Some CPU): its /proc/cpuinfo")
        assert "emulated" in message
    else:
        assert message is None


def test_precision_warning_reads_arm_features(monkeypatch):
    _cpu(monkeypatch, ["processor\t: 0", "Features\t: fp asimd bf16 i8mm"])
    assert hardware.precision_warning("bfloat16") is None
    _cpu(monkeypatch, ["processor\t: 0", "Features\t: fp asimd"])
    assert hardware.precision_warning("bfloat16").startswith("bfloat16 on this CPU")


@pytest.mark.parametrize("lines", [None, ["processor\t: 0"]])
def test_precision_warning_is_silent_where_nothing_is_known(monkeypatch, lines):
    _cpu(monkeypatch, lines)
    assert hardware.precision_warning("bfloat16") is None


@pytest.mark.parametrize("precision", ["none", "float32"])
def test_float32_never_warns(monkeypatch, precision):
    _cpu(monkeypatch, AVX2_CPU)
    assert hardware.precision_warning(precision) is None


@pytest.mark.parametrize(
    "capability, precision, warns",
    [
        ((7, 5), "bfloat16", True),
        ((7, 5), "float16", False),
        ((8, 0), "bfloat16", False),
    ],
)
def test_precision_warning_reads_the_gpu_compute_capability(
    monkeypatch, capability, precision, warns
):
    monkeypatch.setattr(hardware, "_compute_device_kind", lambda strategy: "GPU")
    gpu = tf.config.PhysicalDevice("/physical_device:GPU:0", "GPU")
    monkeypatch.setattr(tf.config, "list_physical_devices", lambda kind=None: [gpu])
    monkeypatch.setattr(
        tf.config.experimental,
        "get_device_details",
        lambda device: {"device_name": "Tesla T4", "compute_capability": capability},
    )
    message = hardware.precision_warning(precision)
    if warns:
        assert message.startswith(f"{precision} on Tesla T4 (compute capability 7.5)")
        assert "8.0 or higher" in message
    else:
        assert message is None


def test_tpus_take_bfloat16_only(monkeypatch):
    monkeypatch.setattr(hardware, "_compute_device_kind", lambda strategy: "TPU")
    assert hardware.precision_warning("mixed_bfloat16") is None
    assert "use bfloat16 there" in hardware.precision_warning("mixed_float16")


def test_the_strategy_decides_the_device(monkeypatch):
    monkeypatch.setattr(hardware, "_cpu_info_lines", lambda: AVX2_CPU)
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    assert hardware._compute_device_kind(strategy) == "CPU"
    with strategy.scope():
        assert hardware._compute_device_kind(None) == "CPU"
    assert "AMD EPYC" in hardware.precision_warning("bfloat16", strategy)


@pytest.mark.parametrize("precision", ["fp16", "mixed_float32", 16, None])
def test_precision_warning_rejects_unknown_precisions(precision):
    with pytest.raises(ValueError, match=f"precision={precision!r}"):
        hardware.precision_warning(precision)


def test_describe_machine_names_the_features_that_decide_speed(monkeypatch):
    monkeypatch.setattr(
        hardware,
        "_cpu_info_lines",
        lambda: ["model name\t: Some CPU", "flags\t\t: fpu avx2 avx512f amx_bf16 sse"],
    )
    machine = hardware.describe_machine()
    assert machine["cpu"] == "Some CPU"
    assert machine["cpu_features"] == ["avx2", "avx512f", "amx_bf16"]
    assert machine["summary"].startswith("Some CPU; ")
    assert "; avx2 avx512f amx_bf16; " in machine["summary"]
    assert machine["logical_cores"] == os.cpu_count()
    assert machine["onednn"] is hardware.onednn_enabled()
    assert ("; oneDNN; " if machine["onednn"] else "; no oneDNN; ") in (
        machine["summary"]
    )


def test_describe_machine_records_the_thread_pools_a_process_set(monkeypatch):
    # TensorFlow's default (0 in tf.config.threading): not named.
    for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
        monkeypatch.delenv(variable, raising=False)
    threading = hardware.tf.config.threading
    monkeypatch.setattr(threading, "get_intra_op_parallelism_threads", lambda: 0)
    monkeypatch.setattr(threading, "get_inter_op_parallelism_threads", lambda: 0)
    machine = hardware.describe_machine()
    assert machine["intra_op_threads"] is None and machine["inter_op_threads"] is None
    assert "thread" not in machine["summary"]
    # Set through the variable TensorFlow reads at start-up (which
    # tf.config.threading does not report), or through tf.config.threading.
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "1")
    monkeypatch.setattr(threading, "get_inter_op_parallelism_threads", lambda: 3)
    machine = hardware.describe_machine()
    assert machine["intra_op_threads"] == 1 and machine["inter_op_threads"] == 3
    assert "; oneDNN; 1 intra-op thread; 3 inter-op threads; " in (
        machine["summary"].replace("; no oneDNN; ", "; oneDNN; ")
    )
    # A value TensorFlow would not take is not a setting.
    monkeypatch.setenv("TF_NUM_INTRAOP_THREADS", "one")
    assert hardware.describe_machine()["intra_op_threads"] is None


@pytest.mark.skipif(
    not machine_is_x86(),
    reason="tftransformer turns oneDNN on for x86 CPUs only",
)
def test_importing_tftransformer_first_turns_tensorflows_onednn_kernels_on():
    # conftest.py imports tftransformer before TensorFlow, as a user's
    # script does; whatever TensorFlow's own default for this CPU.
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    assert hardware.onednn_enabled()
    # A user's explicit choice stands (TensorFlow reads it once per
    # process, hence a new one).
    code = "import tftransformer as t; print(t.hardware.onednn_enabled())"
    result = subprocess.run(
        [*python_command(), "-c", code],
        env={**os.environ, "TF_ENABLE_ONEDNN_OPTS": "0"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout.split()[-1] == "False"
