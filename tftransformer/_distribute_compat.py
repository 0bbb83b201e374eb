"""Lets Keras 3's `model.fit` run under our distribution strategies (private).

Keras 3 on the TensorFlow backend (checked up to 3.15.1) fails `fit` in two
places:

1. `TensorFlowTrainer._maybe_symbolic_build` builds the model from the
   first distributed batch averaged over the replicas,
   `strategy.reduce("MEAN", batch, axis=None)`. Under
   `MultiWorkerMirroredStrategy` the collective implementation cannot take
   a nested structure of `PerReplica` values (`ValueError: Attempt to
   convert a value (PerReplica:{...}) with an unsupported type ... to a
   Tensor`, before the first step); under `MirroredStrategy` a bool input,
   such as the `padding_mask` of `tftransformer.data` batches, cannot be
   summed (`InvalidArgumentError: Value for attr 'T' of bool ... AddN`).
   Building needs shapes and dtypes only, so the first local replica's
   batch does; once the model is built (every call after the first), no
   batch is drawn at all, where Keras starts a distributed iterator for one
   on every `fit`, `evaluate` and `predict`.
2. Under `MultiWorkerMirroredStrategy`, `reduce_per_replica` reduces each
   step's metric results, which are scalars, with
   `strategy.reduce(op, value, axis=0)`: there is no axis 0 to reduce.
   `axis=None` averages (or sums) them over the replicas, as Keras 2 did.

The multi-worker failures are https://github.com/keras-team/keras/issues/20585
(open as of Keras 3.15.1).

`install()` replaces both functions with versions that change only these
cases and call the originals otherwise. `tftransformer.distribute.get_strategy`
calls it when it returns a distributing strategy, never on import.

It also turns tf.data's autotuning off in the per-device datasets that
TensorFlow (checked up to 2.21) builds for every distributed iterator
(`multi_device_iterator_ops._create_device_dataset`: a `prefetch` of a fixed
buffer, new options, autotuning on whatever the input pipeline says). Their
buffers are fixed, so autotuning tunes nothing there, but each iterator
starts its autotuning thread, and deleting the iterator waits for that
thread, which in TensorFlow 2.21 can miss its wake-up and sleep out a
period of up to 60 s (see `tftransformer.data`'s `without_autotuning`).
Under a strategy, Keras deletes such an iterator after every epoch,
`evaluate` and `predict`.

Remove the Keras patches when Keras fixes both: on a Keras newer than
`_LAST_AFFECTED`, `install()` skips them, and `tests/distribute/` tells
whether `fit` works without them. If they still fail, raise `_LAST_AFFECTED`
after checking that the patched functions are unchanged upstream.
"""

import keras
import tensorflow as tf

# The newest Keras (major, minor) these patches were written and tested for.
_LAST_AFFECTED = (3, 15)

_installed = False
_device_datasets_patched = False


def _keras_version():
    major, minor = keras.__version__.split(".")[:2]
    return int(major), int("".join(ch for ch in minor if ch.isdigit()) or 0)


def is_needed():
    """Returns whether the installed Keras needs the patches."""
    return (3, 0) <= _keras_version() <= _LAST_AFFECTED


def _reads_a_batch(model):
    """Whether Keras' `Trainer._symbolic_build` reads a batch to build `model`.

    The conditions of `_symbolic_build`: the layers, the compiled metrics or
    the compiled loss are unbuilt. An unbuilt optimizer needs no batch.
    """
    return (
        not all(layer.built for layer in model._flatten_layers())
        or (model._compile_metrics is not None and not model._compile_metrics.built)
        or (model._compile_loss is not None and not model._compile_loss.built)
    )


def install():
    """Patches Keras' TensorFlow trainer for distributed `fit`, once.

    Also builds TensorFlow's per-device datasets without autotuning, on any
    Keras.

    Returns:
        Whether the Keras patches are in place (False on a Keras that does
        not need them).
    """
    global _installed
    _install_device_datasets_without_autotuning()
    if _installed or not is_needed():
        return _installed
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_build = tf_trainer.TensorFlowTrainer._maybe_symbolic_build
    original_reduce = tf_trainer.reduce_per_replica
    is_multi_worker = tf_trainer._collective_all_reduce_multi_worker

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None or iterator is None:
            return original_build(self, iterator=iterator, data_batch=data_batch)
        if not _reads_a_batch(self):
            # Every `fit`, `evaluate` or `predict` after the first: the batch
            # would go unread, and drawing it starts a distributed iterator.
            return original_build(self)
        strategy = self.distribute_strategy
        # As the original: peek at the first batch, `fit` resets the iterator.
        for _, _, it in iterator:
            data_batch = next(it)
            break
        data_batch = tf.nest.map_structure(
            lambda x: (
                strategy.experimental_local_results(x)[0]
                if isinstance(x, tf.distribute.DistributedValues)
                else x
            ),
            data_batch,
        )
        return original_build(self, data_batch=data_batch)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean", "sum") and is_multi_worker(strategy):
            op = "SUM" if reduction == "sum" else "MEAN"
            return tf.nest.map_structure(
                lambda v: strategy.reduce(op, v, axis=None), values
            )
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    # `_make_function` looks the name up in the module when a step is traced.
    tf_trainer.reduce_per_replica = reduce_per_replica
    _installed = True
    return True


def _install_device_datasets_without_autotuning():
    """Wraps `_create_device_dataset` to turn autotuning off, once."""
    global _device_datasets_patched
    if _device_datasets_patched:
        return
    from tensorflow.python.data.ops import multi_device_iterator_ops

    original = getattr(multi_device_iterator_ops, "_create_device_dataset", None)
    if original is None:
        # A TensorFlow that builds them otherwise: nothing to wrap
        # (tests/data/test_autotune.py then says whether they autotune).
        _device_datasets_patched = True
        return

    def _create_device_dataset(*args, **kwargs):
        options = tf.data.Options()
        options.autotune.enabled = False
        return original(*args, **kwargs).with_options(options)

    # `MultiDeviceIterator` looks the name up in the module for each device.
    multi_device_iterator_ops._create_device_dataset = _create_device_dataset
    _device_datasets_patched = True
