"""tf.data pipelines that end without waiting on tf.data's autotuning thread."""

import tensorflow as tf


def without_autotuning(dataset):
    """`dataset` with tf.data's autotuning thread turned off.

    Every iterator of a dataset with autotuning on (tf.data's default)
    starts a thread that re-tunes the pipeline after a period that doubles
    up to 60 s. In TensorFlow 2.21 that thread can miss the wake-up sent
    when its iterator is deleted and sleep out its period while the
    deleting thread waits: Keras deletes each epoch's iterator, and the end
    of a 40-step contrastive `fit` on a busy CPU waited 16-35 s for it.
    Without autotuning, `tf.data.AUTOTUNE` parallelism and prefetch buffers
    take tf.data's fixed defaults, which still overlap input preparation
    with the consumer's work.

    Args:
        dataset: a `tf.data.Dataset`.

    Returns:
        The same elements, as a `tf.data.Dataset`.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


def prefetched(dataset):
    """The end of an input pipeline: `dataset` prefetched, without autotuning.

    `dataset.prefetch(tf.data.AUTOTUNE)` under `without_autotuning`.

    Args:
        dataset: a `tf.data.Dataset`.

    Returns:
        The same elements, as a `tf.data.Dataset`.
    """
    return without_autotuning(dataset.prefetch(tf.data.AUTOTUNE))
